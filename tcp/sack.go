package tcp

import (
	"time"

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

// dupThresh is DupThresh of RFC 6675 §2 (RFC 5681's three duplicate ACKs).
const dupThresh = 3

// takeSACK reads the SACK blocks of an arriving ACK into the scoreboard,
// after checking each (RFC 2018 §3, RFC 2883 §4): a first block at or below
// the cumulative ACK, or inside the second block, is a D-SACK report of a
// duplicate; a block that is empty, reversed, reaches beyond SND.MAX (data
// never sent) or starts more than a window below SND.UNA is bogus and
// ignored. It returns how many bytes were newly SACKed and whether a
// D-SACK came; the segments newly SACKed are delivered to RACK.
func (c *Conn) takeSACK(now time.Time, seg *Segment) (newly seqnum.Size, dsack bool) {
	o := &seg.Options
	st := c.env.Stats
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
			if !c.dsackPlausible(r) {
				st.BadSACKBlocks.Add(1) // data never sent twice (Linux TCPDSACKIgnoredDubious)
				continue
			}
			dsack = true
			c.rackDSACK()
			c.undoDSACK(r)
			continue
		}
		if r.right.LessThanEq(c.sndUna) {
			continue // old news
		}
		if r.left.LessThan(c.sndUna) {
			r.left = c.sndUna
		}
		n := c.addSACK(now, r)
		newly += n
	}
	return newly, dsack
}

// addSACK records block r and hands each part of it not SACKed before to
// RACK, so a block repeated in ACK after ACK costs its parts once.
func (c *Conn) addSACK(now time.Time, r sackRange) seqnum.Size {
	var parts [4]sackRange // the first new parts; more are found after the add
	np := 0
	for from := r.left; np < len(parts); {
		h := c.sack.hole(from, r.right)
		if h.empty() {
			break
		}
		parts[np], np = h, np+1
		from = h.right
	}
	n, ok := c.sack.add(r, c.sackCap())
	if !ok {
		c.env.Stats.SACKScoreboardFull.Add(1) // the sender just knows less
		c.limitHit(LimitSACKScoreboard)
		return 0
	}
	if n > 0 && c.loss != nil {
		if np == len(parts) {
			parts[np-1].right = r.right // the rest: its segments are walked once
		}
		for _, p := range parts[:np] {
			c.sackedSegments(now, p)
		}
	}
	return n
}
