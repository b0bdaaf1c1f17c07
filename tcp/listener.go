package tcp

import (
	"net/netip"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// Listener is a socket in LISTEN (RFC 9293 §3.10.7.2) with its two queues:
// the SYN queue of half-open connections (SYN-RECEIVED) and the accept queue
// of established ones waiting for Accept, bounded by the backlog given to
// listen. The handshake is completed by the engine whether or not the
// application calls Accept. When the SYN queue is full, SYNs are answered
// with SYN cookies and keep no state (syncookie.go, synqueue.go).
type Listener struct {
	env      *Env
	backlog  int
	halfOpen int     // connections in SYN-RECEIVED made by this listener
	young    int     // of those, the ones whose SYN,ACK has not timed out yet (synqueue.go)
	ready    []*Conn // the accept queue, oldest first

	secrets  cookieSecrets // SYN cookie keys (syncookie.go)
	cookieAt time.Time     // when the last cookie was sent; zero: never
}

// NewListener returns a listener whose accept queue holds at most backlog
// connections (at least 1).
func NewListener(env *Env, backlog int) *Listener {
	env.init()
	return &Listener{env: env, backlog: max(backlog, 1)}
}

// Backlog is the bound on the accept queue.
func (l *Listener) Backlog() int { return l.backlog }

// HalfOpen is the length of the SYN queue.
func (l *Listener) HalfOpen() int { return l.halfOpen }

// Ready is the length of the accept queue.
func (l *Listener) Ready() int { return len(l.ready) }

func (l *Listener) acceptQueueFull() bool { return len(l.ready) >= l.backlog }

// ListenAction says what the stack does with a segment that reached a listener.
type ListenAction uint8

// The answers of Classify.
const (
	// ListenDrop: drop the segment (its reason is counted).
	ListenDrop ListenAction = iota
	// ListenReset: answer with ResetFor(seg).
	ListenReset
	// ListenOpen: make a new Conn and call Open with it.
	ListenOpen
	// ListenCookie: answer with CookieSYNACK, keeping nothing (RFC 4987 §3.6).
	ListenCookie
)

// Classify is RFC 9293 §3.10.7.2, LISTEN: an RST is ignored, an ACK is
// answered with <SEQ=SEG.ACK><CTL=RST> (unless CheckCookie finds it
// completes a cookie handshake), a SYN opens a half-open connection if the
// queues have room, anything else is dropped. As Linux's tcp_conn_request:
// a SYN is dropped while the accept queue is full, cookies or not; with
// SYNCookiesAlways every other SYN gets a cookie; a SYN that finds the SYN
// queue full gets a cookie, or with SYNCookiesOff is dropped.
func (l *Listener) Classify(seg *Segment) ListenAction {
	return l.ClassifyFrom(netip.AddrPort{}, netip.AddrPort{}, seg)
}

// ClassifyFrom is Classify for seg from remote to local, which names the
// segment in the trace of a drop.
func (l *Listener) ClassifyFrom(local, remote netip.AddrPort, seg *Segment) ListenAction {
	st, env := l.env.Stats, l.env
	switch {
	case seg.Flags.Has(wire.FlagRST):
		return ListenDrop
	case seg.Flags.Has(wire.FlagACK):
		return ListenReset
	case !seg.Flags.Has(wire.FlagSYN) || seg.Flags.Has(wire.FlagFIN):
		env.dropFor(&st.DropBadFlags, "DropBadFlags", local, remote, seg, StateListen)
		return ListenDrop
	case l.acceptQueueFull():
		// Linux's tcp_conn_request counts it in both (LINUX_MIB_LISTENOVERFLOWS,
		// then LISTENDROPS at drop).
		st.ListenOverflows.Add(1)
		env.dropFor(&st.ListenDrops, "ListenOverflows", local, remote, seg, StateListen)
		return ListenDrop
	case l.env.Config.SYNCookies == SYNCookiesAlways:
		return ListenCookie
	case l.synQueueFull():
		if l.env.Config.SYNCookies == SYNCookiesOff {
			st.ListenDrops.Add(1)
			env.dropFor(&st.TCPReqQFullDrop, "TCPReqQFullDrop", local, remote, seg, StateListen)
			return ListenDrop
		}
		st.TCPReqQFullDoCookies.Add(1)
		return ListenCookie
	}
	return ListenOpen
}

// Open makes c, a new connection in CLOSED for the SYN's 4-tuple, the
// half-open child of a SYN: it records IRS and RCV.NXT = SEG.SEQ+1, sends
// <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and enters SYN-RECEIVED. Text in the
// SYN is not kept (the peer sends it again), as Linux does without TFO.
func (l *Listener) Open(now time.Time, c *Conn, seg *Segment, iss seqnum.Value) {
	c.state = StateListen // the child starts as a copy of the listening TCB
	c.passive, c.listener = true, l
	l.addHalfOpen()
	c.now = now
	c.learnPeer(now, seg)
	c.iss, c.sndUna, c.sndNxt, c.sndMax, c.recover = iss, iss, iss.Add(1), iss.Add(1), iss
	c.rttTiming, c.rttSeq, c.rttStart = true, c.sndNxt, monoNanos(now)
	l.env.Stats.PassiveOpens.Add(1)
	l.env.Stats.InSegs.Add(1)
	c.segsIn++
	if c.env.Trace != nil {
		// The SYN is the child's first event: the diagram shows it arriving.
		c.traceSegment(trace.KindSegmentReceived, seg.Flags, seg.Seq, seg.Ack, seg.Window, len(seg.Payload), &seg.Options)
	}
	c.setState(StateSynReceived, "rcv SYN")
	c.sendSYN(false)
	c.rtoAt = after(now, c.rto)
}

// established moves c from the SYN queue to the accept queue.
func (l *Listener) established(c *Conn) {
	l.removeHalfOpen(false) // matured counted it out of the young ones
	l.ready = append(l.ready, c)
}

// forget removes c, now CLOSED, from whichever queue holds it.
func (l *Listener) forget(c *Conn) {
	c.listener = nil
	for i, r := range l.ready {
		if r == c {
			l.ready = append(l.ready[:i], l.ready[i+1:]...)
			return
		}
	}
	l.removeHalfOpen(c.retries == 0)
}

// Accept takes the oldest established connection off the accept queue, or
// returns nil when it is empty.
func (l *Listener) Accept() *Conn {
	if len(l.ready) == 0 {
		return nil
	}
	c := l.ready[0]
	l.ready[0] = nil
	l.ready = l.ready[1:]
	c.listener = nil
	return c
}
