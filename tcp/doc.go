// Package tcp is the TCP engine: the transmission control block (TCB) of
// RFC 9293 with its 11 states, the send and receive sequence spaces, the
// segment-arrival steps of §3.10.7, retransmission (RFC 6298), window
// management, TIME-WAIT (also as a small record) and the listen queues,
// with SYN cookies when the SYN queue is full (RFC 4987 §3.6), and loss
// recovery: with SACK, RACK-TLP (RFC 8985), Proportional Rate Reduction
// (RFC 6937) and the undo of spurious reductions (RFC 3522, 3708, 5682);
// without it, NewReno (RFC 6582). docs/LOSS_RECOVERY.md in the repository
// tells how they fit.
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
// What a peer can make a connection hold or compute is bounded, and each
// bound is written where it is enforced:
//   - out-of-order text (reassembly.go): held once per byte, in merged
//     ranges, at most one range per full segment of the receive buffer
//     (64 at least), and with the text queued for the reader never more
//     than the receive buffer's limit; what does not fit is pruned from
//     the top (OfoPruned) or dropped (OFODrop);
//   - the SACK scoreboard (scoreboard.go): at most one range per 536-byte
//     segment of the send buffer (256 at least), in a balanced tree: each
//     query O(log n), each update O(log n) amortised;
//   - the per-segment records of what is in flight (sentq.go): one of 16
//     bytes per segment between SND.UNA and SND.MAX, and one more per
//     resend still in flight; the ranges an undo remembers, 64 an episode;
//   - the segment size (limits.go): a peer's MSS is taken as 48 at least;
//   - a stack's buffers (memory.go): the bytes all its connections hold
//     received and to send, against Config.MaxStackReceiveMemory and
//     MaxStackSendMemory.
//
// TIME-WAIT (timewait.go) has two forms. A Conn can wait out 2*MSL itself,
// as the RFC describes; a host that holds many closed connections instead
// turns the Conn into a [TimeWait] record as it enters TIME-WAIT
// ([Conn.ToTimeWait]): 56 bytes with what the state needs (RCV.NXT,
// SND.NXT, the window, the timestamp state, the deadline and the rate
// limit's clock), which answers segments ([TimeWait.HandleSegment]),
// reports a SYN that may open a new incarnation and its ISS, and ends by
// RST, takeover or timeout, as Linux's tcp_timewait_sock does. The host
// keeps the addresses as the record's key and bounds how many it holds.
//
// The engine must not know about goroutines, locks, time.Now, IP headers or
// the link: the stack package owns those.
package tcp
