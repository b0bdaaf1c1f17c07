package stack

import (
	"net/netip"
	"time"

	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
)

// The stack's part of SYN cookies (RFC 4987 §3.6; the engine's part is
// tcp/syncookie.go): sending the stateless SYN,ACK, and making the
// connection when an ACK brings a valid cookie back.

// sendCookieLocked answers seg, a SYN to l, with a cookie SYN,ACK and
// keeps nothing (the shard's mu and l's held).
func (s *shard) sendCookieLocked(l *TCPListener, now time.Time, local, remote netip.AddrPort, seg *tcp.Segment) {
	h := l.l.CookieSYNACK(now, seg, local, remote, s.isn.TimestampOffset(local, remote))
	if s.tcp.Trace != nil {
		// The SYN first, as a child's Open reports it: a diagram then shows
		// it arriving rather than lost.
		in := trace.Event{Kind: trace.KindSegmentReceived, Host: s.tcp.Host, Local: local, Remote: remote, Flags: seg.Flags,
			Seq: seg.Seq, Ack: seg.Ack, Window: seg.Window, Len: len(seg.Payload), Options: seg.Options, State: "LISTEN"}
		s.tcp.Trace.Event(&in)
		e := trace.Event{Kind: trace.KindSegmentSent, Host: s.tcp.Host, Local: local, Remote: remote, Flags: h.Flags,
			Seq: h.Seq, Ack: h.Ack, Window: h.Window, Options: h.Options, State: "LISTEN", Cause: "syncookie"}
		s.tcp.Trace.Event(&e)
	}
	s.tcp.Stats.OutSegs.Add(1)
	s.sendTCP(nil, local.Addr(), remote.Addr(), &h, nil, nil)
}

// cookieACKLocked tries seg, an ACK for no connection that reached l, as
// the end of a cookie handshake. It reports whether seg was taken (a
// connection made, or the segment dropped while the accept queue is full
// or the stack holds Config.MaxConnections); if not, the caller answers it
// as LISTEN does.
func (s *shard) cookieACKLocked(l *TCPListener, now time.Time, local, remote netip.AddrPort, seg *tcp.Segment) bool {
	ck, act := l.l.CheckCookie(now, seg, local, remote)
	switch act {
	case tcp.ListenOpen:
		if !s.admitConnLocked(now) {
			// A cookie keeps no state, so the limit is checked here, where
			// the connection would be made; the ACK is dropped (counted) as
			// Linux drops a final ACK it has no room for, and the peer's
			// retransmission may find room.
			s.traceDrop("ConnLimitDrops", local, remote, seg, "LISTEN")
			return true
		}
		c := s.newConnLocked(now, local, remote)
		l.adopt(c)
		c.conn.SetTimestampOffset(s.isn.TimestampOffset(local, remote))
		l.l.OpenFromCookie(now, c.conn, seg, ck)
		s.afterLocked(c)
		return true
	case tcp.ListenDrop:
		return true
	}
	return false
}
