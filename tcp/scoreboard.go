package tcp

import "github.com/synack-net/synack/seqnum"

// scoreboard is the sender's record of the sequence space above SND.UNA
// the peer has SACKed (RFC 6675 §3), as disjoint ranges in order.
//
// What a peer's SACK blocks can make it hold or compute is bounded:
//   - At most sackCap ranges: one per segment of 536 bytes or more the
//     send buffer holds, at least 256 (8 bytes each: 1/67 of the send
//     buffer at most). A block that would add a range past the cap is not
//     recorded (counted in SACKScoreboardFull), which is safe: the sender
//     only knows less, and resends what it could have skipped.
//   - Each update and query finds its place by binary search; beyond that
//     it visits only the ranges it merges or removes (each added once), the
//     at most DupThresh ranges of the top that decide the lost edge, and
//     the ranges HighRxt moves over (once per recovery). The SACKed bytes
//     in all, and below HighRxt, are running totals, so pipe() walks
//     nothing. visits counts the ranges looked at, for the tests.
type scoreboard struct {
	blocks  []sackRange
	sacked  seqnum.Size  // bytes in blocks
	highRxt seqnum.Value // HighRxt: the end of the last retransmission in this recovery

	// rxtSacked is the bytes in blocks below rxtAt, a past value of
	// HighRxt: brought up to HighRxt when asked (sackedBelowRxt), so the
	// writers of highRxt need not know of it.
	rxtAt     seqnum.Value
	rxtSacked seqnum.Size
	visits    uint32 // ranges visited, a measure of the work done (tests)
}

// minSACKRanges is the least cap on the scoreboard's ranges (sackCap).
const minSACKRanges = 256

// sackCap caps the scoreboard's ranges: one per segment the send buffer
// can hold in flight, so that a slow start that loses every other segment
// of a full buffer is still recorded. A peer's small MSS does not raise
// it: segments are counted as 536 bytes at least (RFC 9293's default).
func (c *Conn) sackCap() int {
	return max(minSACKRanges, c.sndBuf.limit/max(c.mss, DefaultMSS))
}

// reset forgets everything SACKed (RFC 2018 §8: the receiver may renege).
func (s *scoreboard) reset() {
	s.blocks, s.sacked, s.rxtSacked = s.blocks[:0], 0, 0
}

// search returns the index of the first range whose right edge is beyond
// v (at or beyond it when touching is set), by binary search.
func (s *scoreboard) search(v seqnum.Value, touching bool) int {
	lo, hi := 0, len(s.blocks)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		s.visits++
		r := s.blocks[m].right
		if r.LessThan(v) || (!touching && r == v) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// add marks r SACKed and returns how many bytes were not SACKed before;
// ok is false when r would have made a range past limit and was not
// recorded.
func (s *scoreboard) add(r sackRange, limit int) (newly seqnum.Size, ok bool) {
	if len(s.blocks) == 0 {
		s.rxtAt, s.rxtSacked = r.left, 0 // none below: a sane start
	}
	i := s.search(r.left, true) // the first range touching r or after it
	j := i
	merged := r
	var covered seqnum.Size
	for j < len(s.blocks) && s.blocks[j].left.LessThanEq(r.right) {
		s.visits++
		b := s.blocks[j]
		covered += overlap(b, r)
		merged.left, merged.right = seqMin(merged.left, b.left), seqMax(merged.right, b.right)
		j++
	}
	if i == j && len(s.blocks) >= limit {
		return 0, false
	}
	newly = r.left.Size(r.right) - covered
	s.sacked += newly
	if s.rxtAt.GreaterThan(r.left) {
		// The new bytes below rxtAt: r's there, less what was there before.
		below := sackRange{r.left, seqMin(r.right, s.rxtAt)}
		n := below.left.Size(below.right)
		for _, b := range s.blocks[i:j] {
			n -= overlap(b, below)
		}
		s.rxtSacked += n
	}
	if i == j {
		s.blocks = append(s.blocks, sackRange{})
		copy(s.blocks[i+1:], s.blocks[i:])
		s.blocks[i] = merged
		return newly, true
	}
	s.blocks[i] = merged
	s.blocks = append(s.blocks[:i+1], s.blocks[j:]...)
	return newly, true
}

// overlap is the size of the intersection of a and b.
func overlap(a, b sackRange) seqnum.Size {
	l, r := seqMax(a.left, b.left), seqMin(a.right, b.right)
	if r.LessThanEq(l) {
		return 0
	}
	return l.Size(r)
}

// trim forgets what lies below una, which the cumulative ACK now covers.
// HighRxt below una is taken as una, which changes nothing it decides.
func (s *scoreboard) trim(una seqnum.Value) {
	var removed seqnum.Size
	k := s.search(una, false) // ranges [0, k) end at or below una
	for _, b := range s.blocks[:k] {
		s.visits++
		removed += b.left.Size(b.right)
	}
	if k > 0 {
		s.blocks = append(s.blocks[:0], s.blocks[k:]...)
	}
	if len(s.blocks) > 0 && s.blocks[0].left.LessThan(una) {
		removed += s.blocks[0].left.Size(una)
		s.blocks[0].left = una
	}
	s.sacked -= removed
	if s.rxtAt.LessThanEq(una) {
		s.rxtAt, s.rxtSacked = una, 0
	} else {
		s.rxtSacked -= removed // all of it lay below rxtAt
	}
	if s.highRxt.LessThan(una) {
		s.highRxt = una
	}
}

// sackedBelowRxt is how many bytes below HighRxt are SACKed, moving the
// running total from where it was last asked over the ranges in between.
func (s *scoreboard) sackedBelowRxt() seqnum.Size {
	switch {
	case s.rxtAt == s.highRxt:
	case len(s.blocks) == 0 || s.highRxt.LessThanEq(s.blocks[0].left):
		s.rxtSacked = 0
	case s.rxtAt.LessThan(s.highRxt):
		s.rxtSacked += s.walk(s.rxtAt, s.highRxt)
	default:
		s.rxtSacked -= s.walk(s.highRxt, s.rxtAt)
	}
	s.rxtAt = s.highRxt
	return s.rxtSacked
}

// walk is how many bytes of [a, b) are SACKed, visiting the ranges there.
func (s *scoreboard) walk(a, b seqnum.Value) seqnum.Size {
	var n seqnum.Size
	for i := s.search(a, false); i < len(s.blocks) && s.blocks[i].left.LessThan(b); i++ {
		s.visits++
		n += overlap(s.blocks[i], sackRange{a, b})
	}
	return n
}

// sackedIn is how many bytes of [a, b) are SACKed. From below every range
// (SND.UNA, as the sender asks) it is the running total below HighRxt
// plus or minus the ranges between HighRxt and b, which in a resend after
// a timeout (the one caller whose b is below SND.MAX) are few: HighRxt
// follows SND.NXT there.
func (s *scoreboard) sackedIn(a, b seqnum.Value) seqnum.Size {
	if len(s.blocks) == 0 || b.LessThanEq(a) {
		return 0
	}
	first, last := s.blocks[0], s.blocks[len(s.blocks)-1]
	if a.GreaterThan(first.left) {
		return s.walk(a, b)
	}
	if last.right.LessThanEq(b) {
		return s.sacked
	}
	if s.highRxt.LessThan(first.left) || s.highRxt.GreaterThan(last.right) {
		return s.walk(first.left, b) // HighRxt is not in use
	}
	below := s.sackedBelowRxt()
	if s.highRxt.LessThanEq(b) {
		return below + s.walk(s.highRxt, b)
	}
	return below - s.walk(b, s.highRxt)
}

// hole returns the first range at or after from that is not SACKed, ending
// at the next SACKed block or at limit; empty when there is none below limit.
func (s *scoreboard) hole(from, limit seqnum.Value) sackRange {
	i := s.search(from, false) // the first range ending beyond from
	if i < len(s.blocks) && s.blocks[i].left.LessThanEq(from) {
		from = s.blocks[i].right // inside a SACKed block: the hole starts after it
		i++                      // ranges never touch: the next starts beyond
	}
	if i < len(s.blocks) && s.blocks[i].left.LessThan(limit) {
		s.visits++
		return sackRange{from, s.blocks[i].left}
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

// lostEdge is where IsLost of RFC 6675 §4 stops holding: every byte below
// it that is not SACKed has DupThresh discontiguous SACKed segments, or
// more than (DupThresh-1)*SMSS SACKed bytes, above it. Holes below the
// edge are lost; it is una when nothing is.
func (s *scoreboard) lostEdge(una seqnum.Value, mss int) seqnum.Value {
	edge, _ := s.lostEdgeAbove(una, mss)
	return edge
}

// lostEdgeAbove is lostEdge and the bytes SACKed above it. Every range
// counts at least one segment, so it looks at DupThresh ranges at most.
func (s *scoreboard) lostEdgeAbove(una seqnum.Value, mss int) (seqnum.Value, seqnum.Size) {
	var bytes seqnum.Size
	segs := 0
	for i := len(s.blocks) - 1; i >= 0; i-- {
		s.visits++
		n := s.blocks[i].left.Size(s.blocks[i].right)
		bytes += n
		segs += (int(n) + mss - 1) / mss
		if segs >= dupThresh || int(bytes) > (dupThresh-1)*mss {
			return s.blocks[i].left, bytes
		}
	}
	return una, 0
}
