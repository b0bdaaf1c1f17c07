// Package trace is synack's observability layer: the stream of events a
// connection goes through (segments sent and received, state changes, timers
// that fired, segments dropped), and two ways to look at it: one line of text
// or JSON per event, and the sequence diagram that textbooks draw for the
// three-way handshake and the four-way close.
//
// The layer sits beside the stack, not inside it: the TCP engine and the stack
// report to a Sink, and trace only knows what the events say. It must not know
// TCP internals: it imports no engine package, states are the RFC 9293
// spellings the engine prints ("SYN-RECEIVED"), and it never infers protocol
// behaviour beyond matching a received segment to the one that was sent.
//
// A Recorder keeps every event; Rings keeps a bounded ring per connection,
// closed connections' for a set time, for a long-running stack to show any
// connection's recent history; WritePcap rebuilds a connection's segments
// as a pcap from its events (headers only). Diagram draws one connection:
//
//	rec := new(trace.Recorder)
//	// ... run a client and a server that report to rec ...
//	trace.Diagram(os.Stdout, rec.Events(), clientAddr, serverAddr)
package trace
