package stack

import (
	"time"

	"github.com/synack-net/synack/seqnum"
)

// Taking a 4-tuple over from TIME-WAIT (RFC 9293 §3.6.1 note, RFC 6191).
//
// A SYN that may end a TIME-WAIT connection (tcp.Conn.AcceptsNewSYN) goes
// to the listener first, and TIME-WAIT ends only when the listener answers
// it: with a new connection, whose ISS is the old incarnation's NextISS,
// or with a SYN cookie. A SYN the listener drops (accept queue full, SYN
// queue full without cookies) leaves TIME-WAIT as it was, so the peer's
// retransmission still finds it, still gets NextISS, and old duplicates
// are still caught meanwhile. Linux deschedules the TIME-WAIT socket
// before its listener decides (tcp_v4_rcv, TCP_TW_SYN); keeping it costs
// nothing and keeps its protection.
//
// A cookie SYN,ACK ends TIME-WAIT as Linux does: the cookie is the ISS
// (it replaces NextISS, as in tcp_conn_request), and the peer's ACK that
// brings it back must reach the listener, which it could not while the
// old connection held the 4-tuple.
//
// The new connection takes the old one's place in the table, so it needs
// no room under Config.MaxConnections.

// endTimeWaitLocked ends tw, a connection in TIME-WAIT whose 4-tuple a new
// incarnation takes over, and returns the new one's ISS (tcp.Conn.NextISS).
// A nil tw is nothing to end, and its ISS comes from the ISN generator
// (the caller's choice): endTimeWaitLocked returns 0 for it.
func (s *shard) endTimeWaitLocked(now time.Time, tw *TCPConn) seqnum.Value {
	if tw == nil {
		return 0
	}
	iss := tw.conn.NextISS()
	tw.conn.Close(now)
	s.removeLocked(tw)
	return iss
}
