package tcp

import "sync/atomic"

// This file is a stack's buffer memory (Linux tcp_mem): the bytes all its
// connections hold received (queued for the reader, and held out of
// order) and to send, against Config.MaxStackReceiveMemory and
// MaxStackSendMemory. At the receive limit, receive buffers stop growing
// by autotuning, out-of-order text is pruned first, and text arriving in
// order is dropped (Linux TCPRcvQDrop) until readers make room; at the
// send limit, send buffers stop growing (each still takes
// SendBufferSize, which Write fills).
//
// A connection counts its bytes in its own rcvCharged and sndCharged and
// brings the stack's totals up to date at the end of each call that
// changes them (charge), so the hot path adds one atomic operation per
// call, not per buffer change.

// Memory is a stack's count of buffered bytes; it may be read at any time
// from any goroutine.
type Memory struct {
	rcv, snd atomic.Int64
}

// Receive is the bytes the stack's connections hold received and unread,
// in order or not.
func (m *Memory) Receive() int64 { return m.rcv.Load() }

// Send is the bytes the stack's connections hold to send or resend.
func (m *Memory) Send() int64 { return m.snd.Load() }

// Limit names a bound a peer or an application ran into, for Env.LimitHit.
type Limit uint8

// The limits reported to Env.LimitHit.
const (
	// LimitOutOfOrder: held out-of-order text was pruned, or a segment
	// not held, for the receive buffer or the range cap (reassembly.go).
	LimitOutOfOrder Limit = iota
	// LimitSACKScoreboard: SACK information was dropped at the
	// scoreboard's cap (scoreboard.go).
	LimitSACKScoreboard
	// LimitReceiveMemory: the stack's receive memory was at its limit.
	LimitReceiveMemory
	// LimitSendMemory: the stack's send memory was at its limit.
	LimitSendMemory
	// NumLimits is the number of Limit values.
	NumLimits
)

// String names the limit for logs.
func (l Limit) String() string {
	switch l {
	case LimitOutOfOrder:
		return "out-of-order queue"
	case LimitSACKScoreboard:
		return "SACK scoreboard"
	case LimitReceiveMemory:
		return "stack receive memory"
	case LimitSendMemory:
		return "stack send memory"
	}
	return "unknown"
}

// limitHit tells the stack, if it listens, that a limit was hit.
func (c *Conn) limitHit(l Limit) {
	if f := c.env.LimitHit; f != nil {
		f(c.now, l)
	}
}

// charge brings the stack's Memory up to date with this connection's
// buffers. Every engine entry that changes them calls it before returning.
func (c *Conn) charge() {
	if r := int32(c.rcvBuf.Len() + c.heldBytes()); r != c.rcvCharged {
		c.env.Memory.rcv.Add(int64(r - c.rcvCharged))
		c.rcvCharged = r
	}
	if s := int32(c.sndBuf.Len()); s != c.sndCharged {
		c.env.Memory.snd.Add(int64(s - c.sndCharged))
		c.sndCharged = s
	}
}

// rcvUsed is the stack's receive memory in use, this connection's bytes
// counted as they are now rather than as last charged.
func (c *Conn) rcvUsed() int64 {
	return c.env.Memory.rcv.Load() - int64(c.rcvCharged) + int64(c.rcvBuf.Len()+c.heldBytes())
}

// sndUsed is the stack's send memory in use, this connection's bytes
// counted as they are now.
func (c *Conn) sndUsed() int64 {
	return c.env.Memory.snd.Load() - int64(c.sndCharged) + int64(c.sndBuf.Len())
}

// rcvMemoryRoom reports whether the stack's receive memory has room for n
// more bytes of this connection's.
func (c *Conn) rcvMemoryRoom(n int) bool {
	return c.rcvUsed()+int64(n) <= int64(c.cfg.MaxStackReceiveMemory)
}

// sndMemoryRoom reports whether the stack's send memory has room for n
// more bytes of this connection's.
func (c *Conn) sndMemoryRoom(n int) bool {
	return c.sndUsed()+int64(n) <= int64(c.cfg.MaxStackSendMemory)
}

// rcvFree is the room the window may offer: the receive buffer's, and no
// more than the stack's receive memory has left, so that at the stack's
// limit windows close, as Linux's do under memory pressure, and senders
// wait with zero-window probes rather than retransmit into drops. (The
// edge already advertised stays: it never moves left.) Windows of many
// connections may still offer the same room; what does not fit is
// dropped (admitInOrder).
func (c *Conn) rcvFree() int {
	free := c.rcvBuf.Free()
	if room := int64(c.cfg.MaxStackReceiveMemory) - c.rcvUsed(); room < int64(free) {
		free = int(max(room, 0))
	}
	return free
}

// rcvMemoryLimited counts a hit of the stack's receive memory limit.
func (c *Conn) rcvMemoryLimited() {
	c.env.Stats.RcvMemoryLimited.Add(1)
	c.limitHit(LimitReceiveMemory)
}

// admitInOrder decides whether n bytes arriving at RCV.NXT are queued.
// When the stack's receive memory lacks room for them and this
// connection's held out-of-order text is enough to make it, held text is
// pruned (makeRoomInOrder; Linux tcp_prune_queue). When it is not, the
// memory is other connections', and pruning would throw away text the
// peer was told we hold (SACKed) for nothing: the n bytes are dropped and
// the held text kept, and the ACK that answers says where the stream
// stands (Linux TCPRcvQDrop). Held text is pruned too for room in the
// receive buffer's own limit.
func (c *Conn) admitInOrder(n int) bool {
	if short := c.rcvUsed() + int64(n) - int64(c.cfg.MaxStackReceiveMemory); short > int64(c.heldBytes()) {
		c.drop(&c.env.Stats.RcvQDrop, "RcvQDrop")
		c.rcvMemoryLimited()
		c.ackNow = true
		return false
	}
	if c.ooo != nil {
		c.makeRoomInOrder(n)
	}
	return true
}

// mayGrowReceiveBuffer reports whether autotuning may raise the receive
// buffer's limit by n: not while the stack's receive memory could not
// hold that much more.
func (c *Conn) mayGrowReceiveBuffer(n int) bool {
	if c.rcvMemoryRoom(n) {
		return true
	}
	c.rcvMemoryLimited()
	return false
}

// mayGrowSendBuffer reports whether the send buffer's limit may grow by n.
func (c *Conn) mayGrowSendBuffer(n int) bool {
	if c.sndMemoryRoom(n) {
		return true
	}
	c.env.Stats.SndMemoryLimited.Add(1)
	c.limitHit(LimitSendMemory)
	return false
}
