// Package tcp is the TCP engine: the transmission control block (TCB) of
// RFC 9293 with its 11 states, the send and receive sequence spaces, the
// segment-arrival steps of §3.10.7, retransmission (RFC 6298), window
// management, TIME-WAIT and the listen queues, with SYN cookies when the SYN
// queue is full (RFC 4987 §3.6).
//
// The engine is sans-I/O. It is handed a segment ([Conn.HandleSegment]), an
// application call ([Conn.Write], [Conn.Read], [Conn.Close], ...) or the
// current time ([Conn.HandleTimer]), and it answers by handing segments to a
// [Sender], by moving its timer deadline ([Conn.Deadline]) and by raising
// [Events] that say what the application may now do. It starts no goroutine,
// takes no lock and never reads a wall clock: time is always passed in. That
// is what lets every rule of the RFC be tested in a few lines with virtual
// time, and the same engine run under a real driver or a simulator.
//
// The engine must not know about goroutines, locks, time.Now, IP headers or
// the link: the stack package owns those.
package tcp
