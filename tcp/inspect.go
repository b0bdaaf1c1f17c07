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
