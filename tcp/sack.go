package tcp

import (
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// This file is selective acknowledgment: the blocks a receiver reports
// (RFC 2018 §4, with the duplicate report of RFC 2883) and the sender's
// scoreboard of what the peer holds (RFC 6675 §3, §4).

// sackRange is the sequence space [left, right).
type sackRange struct{ left, right seqnum.Value }

func (r sackRange) empty() bool { return r.left == r.right }

// sackBlocks are the blocks a receiver reports, the most recently changed
// first (RFC 2018 §4: the first block holds the segment that triggered the
// ACK; the others repeat the most recent ones, so each block is sent in
// several ACKs and survives their loss).
type sackBlocks struct {
	n int
	b [4]sackRange // RFC 2018 §3: at most four fit in the option space
}

// noteReceived puts the block r (already merged with the held data around
// it) first, dropping older blocks it covers or joins.
func (s *sackBlocks) noteReceived(r sackRange) {
	var out sackBlocks
	out.b[0], out.n = r, 1
	for _, o := range s.b[:s.n] {
		if o.right.LessThan(r.left) || r.right.LessThan(o.left) {
			if out.n < len(out.b) {
				out.b[out.n] = o
				out.n++
			}
		}
	}
	*s = out
}

// trim drops blocks that RCV.NXT has reached.
func (s *sackBlocks) trim(rcvNxt seqnum.Value) {
	k := 0
	for _, o := range s.b[:s.n] {
		if o.left.GreaterThan(rcvNxt) {
			s.b[k] = o
			k++
		}
	}
	s.n = k
}

// noteOutOfOrder records that text at seq was held beyond RCV.NXT: the
// held range around it, merged with its neighbours, goes first.
func (c *Conn) noteOutOfOrder(seq seqnum.Value) {
	if !c.sackOK || c.ooo == nil {
		return
	}
	if r, ok := c.ooo.heldRangeOf(seq); ok {
		c.rcvSACK.noteReceived(r)
	}
}

// noteDuplicate records text that arrived again, [seq, end), to report
// first in the next ACK as a D-SACK block (RFC 2883 §4).
func (c *Conn) noteDuplicate(seq, end seqnum.Value) {
	if c.sackOK && seq.LessThan(end) {
		c.dsack = sackRange{seq, end}
		c.env.Stats.DSACKsSent.Add(1)
	}
}

// fillSACK puts the blocks to report into an ACK carrying payloadLen bytes
// of data: a D-SACK block first, then the held blocks, as many as fit in
// the option space (layout in wire) and in the segment size the peer
// accepts (RFC 6691: the options come out of the MSS).
func (c *Conn) fillSACK(o *wire.TCPOptions, payloadLen int) {
	room := c.mss - payloadLen // c.mss already leaves out the timestamps
	add := func(r sackRange) {
		if o.NumSACKBlocks < len(o.SACKBlocks) && room >= 4+8*(o.NumSACKBlocks+1) {
			o.SACKBlocks[o.NumSACKBlocks] = wire.SACKBlock{Left: r.left, Right: r.right}
			o.NumSACKBlocks++
		}
	}
	if !c.dsack.empty() {
		add(c.dsack)
		c.dsack = sackRange{}
	}
	for _, r := range c.rcvSACK.b[:c.rcvSACK.n] {
		add(r)
	}
}

// sackOptLen is the option space the SACK blocks of the next ACK take,
// which data segments leave free so the packet still fits.
func (c *Conn) sackOptLen() int {
	n := c.rcvSACK.n
	if !c.dsack.empty() {
		n++
	}
	if !c.sackOK || n == 0 {
		return 0
	}
	return 4 + 8*min(n, 3)
}

// scoreboard is the sender's record of the sequence space above SND.UNA
// the peer has SACKed (RFC 6675 §3), as disjoint ranges in order.
type scoreboard struct {
	blocks  []sackRange
	sacked  seqnum.Size  // bytes in blocks
	highRxt seqnum.Value // HighRxt: the end of the last retransmission in this recovery
}

// reset forgets everything SACKed (RFC 2018 §8: the receiver may renege).
func (s *scoreboard) reset() {
	s.blocks, s.sacked = s.blocks[:0], 0
}

// add marks r SACKed and returns how many bytes were not SACKed before.
func (s *scoreboard) add(r sackRange) seqnum.Size {
	// Find the first block that ends at or after r.left.
	i := 0
	for i < len(s.blocks) && s.blocks[i].right.LessThan(r.left) {
		i++
	}
	j := i
	merged := r
	var covered seqnum.Size
	for j < len(s.blocks) && s.blocks[j].left.LessThanEq(r.right) {
		b := s.blocks[j]
		covered += overlap(b, r)
		if b.left.LessThan(merged.left) {
			merged.left = b.left
		}
		if b.right.GreaterThan(merged.right) {
			merged.right = b.right
		}
		s.sacked -= b.left.Size(b.right)
		j++
	}
	s.sacked += merged.left.Size(merged.right)
	switch {
	case i == j:
		s.blocks = append(s.blocks, sackRange{})
		copy(s.blocks[i+1:], s.blocks[i:])
		s.blocks[i] = merged
	default:
		s.blocks[i] = merged
		s.blocks = append(s.blocks[:i+1], s.blocks[j:]...)
	}
	return r.left.Size(r.right) - covered
}

// overlap is the size of the intersection of a and b.
func overlap(a, b sackRange) seqnum.Size {
	l, r := a.left, a.right
	if b.left.GreaterThan(l) {
		l = b.left
	}
	if b.right.LessThan(r) {
		r = b.right
	}
	if r.LessThanEq(l) {
		return 0
	}
	return l.Size(r)
}

// trim forgets what lies below una, which the cumulative ACK now covers.
func (s *scoreboard) trim(una seqnum.Value) {
	k := 0
	for k < len(s.blocks) && s.blocks[k].right.LessThanEq(una) {
		s.sacked -= s.blocks[k].left.Size(s.blocks[k].right)
		k++
	}
	if k > 0 {
		s.blocks = append(s.blocks[:0], s.blocks[k:]...)
	}
	if len(s.blocks) > 0 && s.blocks[0].left.LessThan(una) {
		s.sacked -= s.blocks[0].left.Size(una)
		s.blocks[0].left = una
	}
}

// sackedIn is how many bytes of [a, b) are SACKed.
func (s *scoreboard) sackedIn(a, b seqnum.Value) seqnum.Size {
	if len(s.blocks) == 0 || b.LessThanEq(a) {
		return 0
	}
	var n seqnum.Size
	for _, r := range s.blocks {
		if r.left.GreaterThanEq(b) {
			break
		}
		n += overlap(r, sackRange{a, b})
	}
	return n
}

// hole returns the first range at or after from that is not SACKed, ending
// at the next SACKed block or at limit; empty when there is none below limit.
func (s *scoreboard) hole(from, limit seqnum.Value) sackRange {
	for _, r := range s.blocks {
		if r.right.LessThanEq(from) {
			continue
		}
		if r.left.LessThanEq(from) {
			from = r.right // inside a SACKed block: the hole starts after it
			continue
		}
		if r.left.LessThan(limit) {
			return sackRange{from, r.left}
		}
		break
	}
	if from.LessThan(limit) {
		return sackRange{from, limit}
	}
	return sackRange{from, from}
}

// highSACKed is the end of the highest SACKed block, or una when none.
func (s *scoreboard) highSACKed(una seqnum.Value) seqnum.Value {
	if len(s.blocks) == 0 {
		return una
	}
	return s.blocks[len(s.blocks)-1].right
}

// dupThresh is DupThresh of RFC 6675 §2 (RFC 5681's three duplicate ACKs).
const dupThresh = 3

// lostEdge is where IsLost of RFC 6675 §4 stops holding: every byte below
// it that is not SACKed has DupThresh discontiguous SACKed segments, or
// more than (DupThresh-1)*SMSS SACKed bytes, above it. Holes below the
// edge are lost; it is una when nothing is.
func (s *scoreboard) lostEdge(una seqnum.Value, mss int) seqnum.Value {
	var bytes seqnum.Size
	segs := 0
	for i := len(s.blocks) - 1; i >= 0; i-- {
		n := s.blocks[i].left.Size(s.blocks[i].right)
		bytes += n
		segs += (int(n) + mss - 1) / mss
		if segs >= dupThresh || int(bytes) > (dupThresh-1)*mss {
			return s.blocks[i].left
		}
	}
	return una
}

// takeSACK reads the SACK blocks of an arriving ACK into the scoreboard,
// after checking each (RFC 2018 §3, RFC 2883 §4): a first block at or below
// the cumulative ACK, or inside the second block, is a D-SACK report of a
// duplicate; a block that is empty, reversed, reaches beyond SND.MAX (data
// never sent) or starts more than a window below SND.UNA is bogus and
// ignored. It returns how many bytes were newly SACKed.
func (c *Conn) takeSACK(seg *Segment) seqnum.Size {
	o := &seg.Options
	st := &c.env.Stats
	var newly seqnum.Size
	for i, b := range o.SACKBlocks[:o.NumSACKBlocks] {
		r := sackRange{b.Left, b.Right}
		if !r.left.LessThan(r.right) || r.right.GreaterThan(c.sndMax) ||
			r.left.LessThan(c.sndUna.Sub(max(c.maxSndWnd, seqnum.Size(c.mss)))) {
			st.BadSACKBlocks.Add(1)
			continue
		}
		if i == 0 && (r.right.LessThanEq(seg.Ack) ||
			(o.NumSACKBlocks > 1 && o.SACKBlocks[1].Left.LessThanEq(r.left) && r.right.LessThanEq(o.SACKBlocks[1].Right))) {
			st.DSACKsReceived.Add(1)
			continue
		}
		if r.right.LessThanEq(c.sndUna) {
			continue // old news
		}
		if r.left.LessThan(c.sndUna) {
			r.left = c.sndUna
		}
		newly += c.sack.add(r)
	}
	return newly
}

// pipe is RFC 6675 §4's estimate of the bytes in flight: every byte above
// SND.UNA that is neither SACKed nor lost, plus every byte retransmitted
// in this recovery (below HighRxt) and not SACKed since.
func (c *Conn) pipe() int {
	s := &c.sack
	una, max_ := c.sndUna, c.sndMax
	unsacked := func(to seqnum.Value) seqnum.Size {
		if to.LessThanEq(una) {
			return 0
		}
		return una.Size(to) - s.sackedIn(una, to)
	}
	lost := s.lostEdge(una, c.mss)
	n := unsacked(max_) - unsacked(lost) + unsacked(s.highRxt)
	return int(n)
}

// nextSeg is NextSeg of RFC 6675 §4: the range to send next in recovery.
// Rule 1: the first lost hole above HighRxt. Rule 2: new data the peer's
// window allows (or the FIN). Rule 3: a hole above HighRxt below the
// highest SACKed byte. It returns the start and the most sequence space
// to send, 0 when there is nothing.
func (c *Conn) nextSeg() (seqnum.Value, seqnum.Size) {
	s := &c.sack
	from := s.highRxt
	if from.LessThan(c.sndUna) {
		from = c.sndUna
	}
	if lost := s.lostEdge(c.sndUna, c.mss); from.LessThan(lost) {
		if h := s.hole(from, lost); !h.empty() {
			return h.left, h.left.Size(h.right) // rule 1
		}
	}
	// Rule 2: new data, as far as the peer's window allows, or the FIN.
	if end := c.dataEnd(); c.sndNxt.LessThan(end) {
		if used := c.sndUna.Size(c.sndNxt); used < c.sndWnd {
			return c.sndNxt, c.sndWnd - used
		}
	} else if c.finQueued && !c.finSent {
		return end, 1
	}
	if h := s.hole(from, s.highSACKed(c.sndUna)); !h.empty() {
		return h.left, h.left.Size(h.right) // rule 3
	}
	return from, 0
}
