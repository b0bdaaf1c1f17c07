package tcp

import (
	"slices"

	"github.com/synack-net/synack/seqnum"
)

// heldSegment is text that arrived beyond RCV.NXT, kept until the hole
// before it is filled.
type heldSegment struct {
	seq  seqnum.Value
	data []byte
	fin  bool // a FIN follows the data
}

// holdOutOfOrder keeps a copy of text that lies inside the window but
// beyond RCV.NXT, in sequence order. It is always inside the window last
// advertised, so the receive buffer has room for it once the hole fills,
// and what is held never exceeds the window.
func (c *Conn) holdOutOfOrder(seq seqnum.Value, payload []byte, fin bool) {
	i, found := slices.BinarySearchFunc(c.ooo, seq, func(h heldSegment, s seqnum.Value) int {
		switch {
		case h.seq.LessThan(s):
			return -1
		case h.seq == s:
			return 0
		}
		return 1
	})
	if found && len(c.ooo[i].data) >= len(payload) && (c.ooo[i].fin || !fin) {
		return // a duplicate of what is held
	}
	h := heldSegment{seq: seq, data: append([]byte(nil), payload...), fin: fin}
	if found {
		c.ooo[i] = h
		return
	}
	c.ooo = slices.Insert(c.ooo, i, h)
}

// reassemble moves held text that now follows RCV.NXT into the receive
// buffer. It reports whether it reached a FIN, which then sits at RCV.NXT.
func (c *Conn) reassemble() (fin bool) {
	n := 0
	for ; n < len(c.ooo); n++ {
		h := &c.ooo[n]
		if h.seq.GreaterThan(c.rcvNxt) {
			break
		}
		end := h.seq.Add(seqnum.Size(len(h.data)))
		if end.GreaterThan(c.rcvNxt) {
			rest := h.data[h.seq.Size(c.rcvNxt):]
			c.rcvBuf.Put(rest) // held inside a window already advertised
			c.rcvNxt = c.rcvNxt.Add(seqnum.Size(len(rest)))
			c.bytesRcvd += uint64(len(rest))
			c.events |= EventReadable
		}
		if h.fin && end == c.rcvNxt {
			c.ooo = nil // nothing can follow a FIN
			return true
		}
	}
	c.ooo = slices.Delete(c.ooo, 0, n)
	if len(c.ooo) == 0 {
		c.ooo = nil
	}
	return false
}
