package tcp

import "github.com/synack-net/synack/seqnum"

// scoreboard is the sender's record of the sequence space above SND.UNA
// the peer has SACKed (RFC 6675 §3), as disjoint ranges that never touch.
//
// The ranges are the nodes of an AVL tree ordered by sequence number,
// each node holding the bytes SACKed in its subtree, so that every
// question the sender asks is one or a few descents of the tree, and
// every change one descent and its rebalancing on the way back up. The
// tree is at most 1.45*log2(n+2) deep (AVL), so a descent looks at no
// more nodes than that, whatever order the blocks arrive in.
//
// What a peer's SACK blocks can make it hold or compute is bounded:
//   - At most sackCap ranges: one per segment of 536 bytes or more the
//     send buffer holds, at least 256 (24 bytes each: 1/22 of the send
//     buffer at most). A block that would add a range past the cap is not
//     recorded at all (counted in SACKScoreboardFull), which is safe: the
//     sender only knows less, and resends what it could have skipped.
//   - Recording a block costs O(log n) for the block plus O(log n) for
//     each range it swallows; a cumulative ACK, O(log n) plus O(log n) for
//     each range it covers. A range is removed at most once for each time
//     one was inserted, so every update is O(log n) amortised, and no
//     update moves or copies the other ranges.
//   - Every query is O(log n): the SACKed bytes below any sequence number
//     (sackedIn, for each segment RACK weighs) from the subtree sums, a
//     hole from two descents.
//
// The nodes live in one slice, reused through a free list: after the
// slice has grown to the most ranges the connection ever held, recording
// and forgetting allocate nothing. visits counts the work done, for the
// tests: each node a descent or rebalancing passes, and each node copied
// when the slice grows.
type scoreboard struct {
	nodes  []sbNode    // nodes[0] stands for no node (height and sum 0); free ones are chained by kid[0]
	root   int32       // the tree's root; 0 when empty
	free   int32       // the first free node; 0 when none
	n      int32       // ranges in the tree
	sacked seqnum.Size // bytes in the ranges
	visits uint32      // nodes visited or copied, a measure of the work done (tests)
}

// sbNode is a range of the scoreboard and its place in the tree.
type sbNode struct {
	r      sackRange
	sum    seqnum.Size // bytes in the ranges of the subtree rooted here
	kid    [2]int32    // the subtrees of the ranges below and above r
	height int32       // of the subtree rooted here: 1 for a leaf
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

// reset forgets everything SACKed (RFC 2018 §8: the receiver may renege),
// keeping the nodes' memory.
func (s *scoreboard) reset() {
	if len(s.nodes) > 0 {
		s.nodes = s.nodes[:1]
	}
	s.root, s.free, s.n, s.sacked = 0, 0, 0, 0
}

// add marks r SACKed and returns how many bytes were not SACKed before;
// ok is false when r would have made a range past limit and was not
// recorded.
func (s *scoreboard) add(r sackRange, limit int) (newly seqnum.Size, ok bool) {
	merged := r
	var covered seqnum.Size
	merges := 0
	for ; ; merges++ {
		t := s.ceil(r.left, true) // the first range touching r or after it
		if t == 0 || s.nodes[t].r.left.GreaterThan(r.right) {
			break
		}
		b := s.nodes[t].r
		covered += overlap(b, r)
		merged.left, merged.right = seqMin(merged.left, b.left), seqMax(merged.right, b.right)
		s.delete(b.left)
	}
	if merges == 0 && int(s.n) >= limit {
		return 0, false // nothing touched r: it would be a range more
	}
	newly = r.left.Size(r.right) - covered
	s.sacked += newly
	s.insert(merged, limit)
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
func (s *scoreboard) trim(una seqnum.Value) {
	for s.root != 0 {
		b := s.nodes[s.first()].r
		if una.LessThanEq(b.left) {
			break
		}
		s.delete(b.left)
		if una.LessThan(b.right) { // the ACK ends inside b: the rest stays
			s.sacked -= b.left.Size(una)
			s.insert(sackRange{una, b.right}, 0) // in b's node, just freed
			break
		}
		s.sacked -= b.left.Size(b.right)
	}
}

// sackedIn is how many bytes of [a, b) are SACKed.
func (s *scoreboard) sackedIn(a, b seqnum.Value) seqnum.Size {
	if s.root == 0 || b.LessThanEq(a) {
		return 0
	}
	return s.sackedBelow(b) - s.sackedBelow(a)
}

// sackedBelow is how many bytes below v are SACKed: the sums of the
// subtrees left behind on the way down to v.
func (s *scoreboard) sackedBelow(v seqnum.Value) seqnum.Size {
	var n seqnum.Size
	for t := s.root; t != 0; {
		s.visits++
		x := &s.nodes[t]
		switch {
		case v.LessThanEq(x.r.left):
			t = x.kid[0]
		case x.r.right.LessThanEq(v):
			n += s.nodes[x.kid[0]].sum + x.r.left.Size(x.r.right)
			t = x.kid[1]
		default: // v is inside x
			return n + s.nodes[x.kid[0]].sum + x.r.left.Size(v)
		}
	}
	return n
}

// hole returns the first range at or after from that is not SACKed, ending
// at the next SACKed block or at limit; empty when there is none below limit.
func (s *scoreboard) hole(from, limit seqnum.Value) sackRange {
	t := s.ceil(from, false) // the first range ending beyond from
	if t != 0 && s.nodes[t].r.left.LessThanEq(from) {
		from = s.nodes[t].r.right // inside a SACKed block: the hole starts after it
		t = s.ceil(from, false)   // ranges never touch: the next starts beyond
	}
	if t != 0 && s.nodes[t].r.left.LessThan(limit) {
		return sackRange{from, s.nodes[t].r.left}
	}
	if from.LessThan(limit) {
		return sackRange{from, limit}
	}
	return sackRange{from, from}
}

// ceil returns the first range whose right edge is beyond v (at or
// beyond it when touching is set), 0 when there is none. Ranges are
// disjoint, so their right edges are in the order of their left ones.
func (s *scoreboard) ceil(v seqnum.Value, touching bool) int32 {
	var found int32
	for t := s.root; t != 0; {
		s.visits++
		x := &s.nodes[t]
		if x.r.right.LessThan(v) || (!touching && x.r.right == v) {
			t = x.kid[1]
		} else {
			found, t = t, x.kid[0]
		}
	}
	return found
}

func (s *scoreboard) first() int32 { return s.end(0) }

func (s *scoreboard) end(d int) int32 {
	t := s.root
	for t != 0 && s.nodes[t].kid[d] != 0 {
		s.visits++
		t = s.nodes[t].kid[d]
	}
	return t
}

// insert adds r, which touches no range of the tree, which holds fewer
// than limit.
func (s *scoreboard) insert(r sackRange, limit int) {
	x := s.free
	if x != 0 {
		s.free = s.nodes[x].kid[0]
	} else {
		if len(s.nodes) == cap(s.nodes) {
			s.grow(limit)
		}
		s.nodes = append(s.nodes, sbNode{})
		x = int32(len(s.nodes) - 1)
	}
	s.nodes[x] = sbNode{r: r, sum: r.left.Size(r.right), height: 1}
	s.root = s.insertAt(s.root, x)
	s.n++
}

// grow doubles the room for nodes, to limit ranges at most: the nodes
// copied to grow are fewer than twice the most it ever held.
func (s *scoreboard) grow(limit int) {
	n := min(max(2*cap(s.nodes), 16), limit+1) // node 0 is none
	s.visits += uint32(len(s.nodes))           // the nodes are copied
	nodes := make([]sbNode, max(len(s.nodes), 1), max(n, len(s.nodes)+1))
	copy(nodes, s.nodes)
	s.nodes = nodes
}

// insertAt puts node x in the subtree t and returns the subtree's root.
func (s *scoreboard) insertAt(t, x int32) int32 {
	if t == 0 {
		return x
	}
	s.visits++
	d := 0
	if s.nodes[t].r.left.LessThan(s.nodes[x].r.left) {
		d = 1
	}
	k := s.insertAt(s.nodes[t].kid[d], x)
	s.nodes[t].kid[d] = k
	return s.balance(t)
}

// delete removes the range that starts at left, which the tree holds,
// and frees its node.
func (s *scoreboard) delete(left seqnum.Value) {
	s.root = s.deleteAt(s.root, left)
	s.n--
}

// deleteAt removes the range that starts at left from the subtree t and
// returns the subtree's root.
func (s *scoreboard) deleteAt(t int32, left seqnum.Value) int32 {
	s.visits++
	x := s.nodes[t]
	switch {
	case left.LessThan(x.r.left):
		k := s.deleteAt(x.kid[0], left)
		s.nodes[t].kid[0] = k
	case left.GreaterThan(x.r.left):
		k := s.deleteAt(x.kid[1], left)
		s.nodes[t].kid[1] = k
	default:
		s.nodes[t] = sbNode{kid: [2]int32{s.free}}
		s.free = t
		if x.kid[1] == 0 {
			return x.kid[0] // one node at most, balanced
		}
		rest, m := s.deleteFirst(x.kid[1])
		s.nodes[m].kid = [2]int32{x.kid[0], rest}
		return s.balance(m)
	}
	return s.balance(t)
}

// deleteFirst takes the lowest node out of the subtree t, and returns the
// subtree's new root and that node.
func (s *scoreboard) deleteFirst(t int32) (root, first int32) {
	s.visits++
	l := s.nodes[t].kid[0]
	if l == 0 {
		return s.nodes[t].kid[1], t
	}
	k, first := s.deleteFirst(l)
	s.nodes[t].kid[0] = k
	return s.balance(t), first
}

// balance brings node t's height and sum up to date after a change below
// it, and rotates it (AVL) if its subtrees' heights differ by two; it
// returns the subtree's root.
func (s *scoreboard) balance(t int32) int32 {
	s.fix(t)
	x := &s.nodes[t]
	diff := s.nodes[x.kid[1]].height - s.nodes[x.kid[0]].height
	if diff >= -1 && diff <= 1 {
		return t
	}
	d := 0 // the higher side
	if diff > 0 {
		d = 1
	}
	if k := &s.nodes[x.kid[d]]; s.nodes[k.kid[1-d]].height > s.nodes[k.kid[d]].height {
		x.kid[d] = s.rotate(x.kid[d], 1-d) // the inner grandchild first
	}
	return s.rotate(t, d)
}

// rotate lifts t's child on side d into t's place and returns it.
func (s *scoreboard) rotate(t int32, d int) int32 {
	s.visits++
	k := s.nodes[t].kid[d]
	s.nodes[t].kid[d] = s.nodes[k].kid[1-d]
	s.nodes[k].kid[1-d] = t
	s.fix(t)
	s.fix(k)
	return k
}

// fix computes node t's height and sum from its children's.
func (s *scoreboard) fix(t int32) {
	x := &s.nodes[t]
	l, r := &s.nodes[x.kid[0]], &s.nodes[x.kid[1]]
	x.height = max(l.height, r.height) + 1
	x.sum = l.sum + r.sum + x.r.left.Size(x.r.right)
}
