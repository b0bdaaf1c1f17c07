package tcp

import "github.com/synack-net/synack/seqnum"

// Accessors for checks from outside the engine (the stack's fuzz target,
// netstat-like tools). They read the TCB and change nothing.

// SndMax is SND.MAX: the highest sequence number sent so far, SND.NXT
// before any go-back-N rewind after a retransmission timeout. SND.UNA <=
// SND.NXT <= SND.MAX always holds.
func (c *Conn) SndMax() seqnum.Value { return c.sndMax }

// OutOfOrderBytes is the text held beyond RCV.NXT for reassembly, each
// byte once (overlaps are merged). With the bytes queued for the reader it
// never exceeds the receive buffer limit (Info.RcvBuf).
func (c *Conn) OutOfOrderBytes() int { return c.heldBytes() }

// SACKRanges is the number of disjoint ranges the SACK scoreboard holds
// (RFC 6675 §3); it never exceeds SACKRangeCap.
func (c *Conn) SACKRanges() int { return int(c.sack.n) }

// SACKRangeCap is the most ranges the SACK scoreboard may hold for the
// current send buffer and MSS (scoreboard.go).
func (c *Conn) SACKRangeCap() int { return c.sackCap() }

// HeldRanges is the number of disjoint ranges of text held out of order
// for reassembly; it never exceeds HeldRangeCap.
func (c *Conn) HeldRanges() int {
	if c.ooo == nil {
		return 0
	}
	return len(c.ooo.ranges)
}

// HeldRangeCap is the most ranges of out-of-order text the connection may
// hold for its current receive buffer (reassembly.go).
func (c *Conn) HeldRangeCap() int { return c.maxHeldRanges() }
