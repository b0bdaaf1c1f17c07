package stack

import (
	"net/netip"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// connKey is a connection's 4-tuple, packed for a fast map key.
type connKey struct {
	laddr, raddr [4]byte
	lport, rport uint16
}

func keyOf(local, remote netip.AddrPort) connKey {
	return connKey{laddr: local.Addr().As4(), raddr: remote.Addr().As4(), lport: local.Port(), rport: remote.Port()}
}

// sender is a shard seen as the engine's tcp.Sender.
type sender shard

// Send wraps one segment in an IPv4 packet and queues it (the shard's mu
// is held: the engine is only ever called under it). Headers are written in place in
// front of the payload in one pooled buffer.
func (o *sender) Send(c *tcp.Conn, h *wire.TCPFields, payload, more []byte) {
	s := (*shard)(o)
	if s.share != nil && len(payload) >= minSharedText && len(more) == 0 {
		if ref := c.ShareText(payload); ref != nil { // share.go
			s.sendShared(c.Local.Addr(), c.Remote.Addr(), h, payload, ref)
			return
		}
	}
	s.sendTCP(c, c.Local.Addr(), c.Remote.Addr(), h, payload, more)
}

// SendBare queues a segment of no connection: a TIME-WAIT record's ACK.
func (o *sender) SendBare(local, remote netip.Addr, h *wire.TCPFields) {
	(*shard)(o).sendTCP(nil, local, remote, h, nil, nil)
}

// sendTCP queues a TCP segment whose text is payload then more, held in
// place by c on a gathering link (nil for no connection: copied).
func (s *shard) sendTCP(c textHolder, src, dst netip.Addr, h *wire.TCPFields, payload, more []byte) {
	if s.gso != nil {
		s.sendTCPGSO(c, src, dst, h, payload, more) // gso.go
		return
	}
	hl := h.Len()
	n := wire.IPv4MinHeaderLen + hl + len(payload) + len(more)
	p := s.packet(n)
	s.ipv4Header(p, wire.ProtocolTCP, src, dst, n)
	t := wire.TCP(p[wire.IPv4MinHeaderLen:])
	h.Encode(t)
	copy(t[hl+copy(t[hl:], payload):], more)
	if s.csumOffload { // link.ChecksumOffloader: the pseudo-header sum alone
		t.SetChecksum(wire.PseudoHeaderChecksum(wire.ProtocolTCP, src, dst, uint16(len(t))))
		return
	}
	t.FillChecksum(src, dst)
}

// tcpInput validates a segment (RFC 9293 §3.10.7: checksum first) and
// hands it to its connection, its listener, or answers it as CLOSED does.
// lent is the packet's buffer when the link lends it; tcpInput reports
// whether a connection kept it (tcp.Segment.Lent). apart, if not nil, is
// the segment's text where it lies apart from ip, which then holds the
// headers alone, and kept says whether a connection kept that text
// (tcp.Segment.Shared; share.go). partial says the
// checksum is partial, from the host at the link's far end: not verified
// (gso.go). r, when not nil, is the run of a batch the segment may join
// or open, if it is an established connection's (run.go).
func (st *Stack) tcpInput(ip wire.IPv4, lent []byte, apart *sharedText, partial bool, r *inputRun) (kept bool) {
	t, err := wire.ParseTCP(ip.Payload())
	if err != nil {
		st.stats.TCPInErrs.Add(1) // no ports: a drop of no connection, not traced
		return
	}
	var seg tcp.Segment
	if !partial && !st.tcpChecksumValid(ip, t, apart) {
		tcp.SegmentFrom(t, &seg)
		st.dropTCP(&st.stats.TCPInErrs, "TCPInErrs", ip, t, &seg)
		return
	}
	if err := tcp.SegmentFrom(t, &seg); err != nil {
		st.dropTCP(&st.stats.TCPInErrs, "TCPInErrs", ip, t, &seg) // an option with a bad length
		return
	}
	seg.Lent = lent
	if apart != nil {
		seg.Payload, seg.Shared = apart.text, apart.ref
	}
	local := netip.AddrPortFrom(ip.Dst(), t.DstPort())
	remote := netip.AddrPortFrom(ip.Src(), t.SrcPort())
	k := keyOf(local, remote)
	if r.holds(k) { // the run's connection: its shard's mu is held
		if !r.c.conn.HandleSegmentInRun(st.clk.Now(), &seg) || !r.next() {
			r.end()
		}
		return seg.Kept
	}
	r.end()
	s := st.shardOf(k)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	now := s.clk.Now()
	l := s.listenerFor(local, k)
	// A connection, then a TIME-WAIT record, then a listener.
	if c := s.conns[k]; c != nil {
		cl := c.lockListener()
		if r != nil && cl == nil { // an accepted connection's segment may open a run
			if c.conn.HandleSegmentInRun(now, &seg) {
				r.begin(s, c, k)
				return seg.Kept
			}
			s.afterLocked(c)
			s.unlockAndFlush()
			return seg.Kept
		}
		c.conn.HandleSegment(now, &seg)
		s.afterLocked(c)
		unlockListener(cl)
		s.unlockAndFlush()
		return seg.Kept
	}
	if tw := s.tws[k]; tw != nil {
		s.timeWaitInput(tw, l, now, local, remote, &seg) // timewait.go
		s.unlockAndFlush()
		return false
	}
	if l != nil {
		s.listenInput(l, now, local, remote, &seg, nil)
		s.unlockAndFlush()
		return seg.Kept
	}
	s.noSocket(local, remote, &seg)
	s.resetLocked(local, remote, &seg)
	s.unlockAndFlush()
	return seg.Kept
}

// resetLocked answers a segment for no connection (RFC 9293 §3.10.7.1).
func (s *shard) resetLocked(local, remote netip.AddrPort, seg *tcp.Segment) {
	h, ok := tcp.ResetFor(seg)
	if !ok {
		return
	}
	h.SrcPort, h.DstPort = local.Port(), remote.Port()
	s.tcp.Stats.OutRsts.Add(1)
	if s.tcp.Trace != nil {
		e := traceEvent(s.tcp.Host, local, remote, &h)
		s.tcp.Trace.Event(&e)
	}
	s.sendTCP(nil, local.Addr(), remote.Addr(), &h, nil, nil)
}

// listenInput is a segment for a listener (RFC 9293 §3.10.7.2). tw is
// the TIME-WAIT record that seg, a SYN, may take the 4-tuple over from
// (tcp.TimeWait.AcceptsNewSYN), or nil. It runs under the shard's mu and
// takes l's.
func (s *shard) listenInput(l *TCPListener, now time.Time, local, remote netip.AddrPort, seg *tcp.Segment, tw *twEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		// Closed since it was looked up: as if it had not been there.
		s.noSocket(local, remote, seg)
		s.resetLocked(local, remote, seg)
		return
	}
	switch l.l.ClassifyFrom(local, remote, seg) {
	case tcp.ListenReset:
		if !s.cookieACKLocked(l, now, local, remote, seg) {
			s.resetLocked(local, remote, seg)
		}
	case tcp.ListenCookie:
		s.endTimeWaitLocked(tw)
		s.sendCookieLocked(l, now, local, remote, seg) // syncookie.go
	case tcp.ListenOpen:
		// A takeover of TIME-WAIT needs room too: records are not
		// connections. Without it TIME-WAIT stays as it was.
		if !s.admitConnLocked(now) {
			s.traceDrop("ConnLimitDrops", local, remote, seg, "LISTEN")
			return // counted; the peer's SYN retries find room or time out
		}
		var iss seqnum.Value
		if tw != nil {
			iss = s.endTimeWaitLocked(tw)
		} else {
			iss = s.isn.ISN(now, local, remote)
		}
		c := s.newConnLocked(now, local, remote)
		l.adopt(c)
		c.conn.SetTimestampOffset(s.isn.TimestampOffset(local, remote))
		l.l.Open(now, c.conn, seg, iss)
		s.afterLocked(c)
	}
}

// newConnLocked makes and registers a connection for the 4-tuple, born
// now.
func (s *shard) newConnLocked(now time.Time, local, remote netip.AddrPort) *TCPConn {
	c := &TCPConn{s: s, conn: tcp.NewConn(&s.tcp, local, remote), heapIdx: -1, born: s.stampOf(now)}
	s.conns[keyOf(local, remote)] = c
	return c
}

// listenerFor is the listener a segment for local with 4-tuple k reaches,
// or nil: of a group, the member k hashes to (reuseport.go).
func (s *Stack) listenerFor(local netip.AddrPort, k connKey) *TCPListener {
	g := (*s.listeners.Load())[local.Port()]
	if len(g) == 0 {
		return nil
	}
	l := g.pick(k)
	if l.addr.IsValid() && l.addr != local.Addr() {
		return nil
	}
	return l
}

// removeLocked forgets a connection that reached CLOSED.
func (s *shard) removeLocked(c *TCPConn) {
	k := keyOf(c.conn.Local, c.conn.Remote)
	if s.conns[k] == c {
		delete(s.conns, k)
		s.nconns.Add(-1)
	}
	if c.listener != nil {
		delete(c.listener.children, c.conn) // its lock is held (lockListener)
	}
	s.timers.remove(c)
}

// afterLocked carries out what an engine call left behind: wake waiters,
// move the connection's timer, replace it by its record in TIME-WAIT,
// forget it when CLOSED. For an ended socket, it lets the tcp.Conn go
// once its text is read.
func (s *shard) afterLocked(c *TCPConn) {
	if c.conn == nil {
		return
	}
	ev := c.conn.TakeEvents()
	if ev != 0 {
		if ev&(tcp.EventReadable|tcp.EventEstablished|tcp.EventClosed) != 0 {
			c.rd.signal()
		}
		if ev&(tcp.EventWritable|tcp.EventEstablished|tcp.EventClosed) != 0 {
			c.wr.signal()
		}
		if ev&tcp.EventEstablished != 0 && c.listener != nil && c.conn.Listener() != nil {
			c.listener.ready.signal()
		}
	}
	switch {
	case c.tw != nil:
		c.releaseLocked()
		return
	case c.conn.State() == tcp.StateClosed:
		s.removeLocked(c)
		return
	case c.conn.State() == tcp.StateTimeWait:
		s.enterTimeWaitLocked(c) // timewait.go
		return
	}
	s.schedule(c)
}

// traceEvent describes a segment the stack itself sends (a RST for no connection).
func traceEvent(host string, local, remote netip.AddrPort, h *wire.TCPFields) trace.Event {
	return trace.Event{Kind: trace.KindSegmentSent, Host: host, Local: local, Remote: remote, Flags: h.Flags, Seq: h.Seq, Ack: h.Ack,
		Window: h.Window, Options: h.Options, State: "CLOSED", Cause: "no socket"}
}
