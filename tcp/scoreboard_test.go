package tcp

// The SACK scoreboard under a hostile peer: its ranges stay within their
// cap and each ACK's work, counted in ranges visited, stays within a
// bound, whatever blocks arrive; and it answers as a plain model does.

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/synack-net/synack/seqnum"
)

// TestScoreboardMatchesModel: random adds, trims and moves of HighRxt;
// every answer (SACKed bytes in a range, below HighRxt, the holes, the
// lost edge) equals the one of a byte-by-byte model of what was recorded.
func TestScoreboardMatchesModel(t *testing.T) {
	const space = 4000
	rng := rand.New(rand.NewPCG(3, 4))
	base := seqnum.Value(0xffffff00) // across the wrap of sequence numbers
	at := func(i int) seqnum.Value { return base.Add(seqnum.Size(i)) }
	var s scoreboard
	model := make([]bool, space)
	una := 0
	countIn := func(a, b int) seqnum.Size {
		var n seqnum.Size
		for i := max(a, una); i < b; i++ {
			if model[i] {
				n++
			}
		}
		return n
	}
	for step := range 20000 {
		switch k := rng.IntN(10); {
		case k < 6:
			l := una + rng.IntN(space-una)
			r := min(space, l+1+rng.IntN(1+rng.IntN(300)))
			newly, ok := s.add(sackRange{at(l), at(r)}, minSACKRanges)
			if want := seqnum.Size(r-l) - countIn(l, r); ok && newly != want {
				t.Fatalf("step %d: add [%d,%d) newly %d, want %d", step, l, r, newly, want)
			}
			if ok {
				for i := l; i < r; i++ {
					model[i] = true
				}
			}
		case k < 7 && una < space-100:
			una += rng.IntN(60)
			s.trim(at(una))
		}
		if s.n > minSACKRanges {
			t.Fatalf("step %d: %d ranges", step, s.n)
		}
		s.check(t)
		if s.sacked != countIn(una, space) {
			t.Fatalf("step %d: sacked %d, model %d", step, s.sacked, countIn(una, space))
		}
		v := una + rng.IntN(space-una+1)
		if got := s.sackedIn(at(una), at(v)); got != countIn(una, v) {
			t.Fatalf("step %d: sackedIn(una, %d) %d, model %d", step, v, got, countIn(una, v))
		}
		a := una + rng.IntN(space-una+1)
		if got := s.sackedIn(at(a), at(v)); a < v && got != countIn(a, v) {
			t.Fatalf("step %d: sackedIn(%d, %d) %d, model %d", step, a, v, got, countIn(a, v))
		}
		// The first hole at or after a, below space.
		hl := a
		for hl < space && model[hl] {
			hl++
		}
		hr := hl
		for hr < space && !model[hr] {
			hr++
		}
		if got := s.hole(at(a), at(space)); int(at(0).Size(got.left)) != hl || int(at(0).Size(got.right)) != hr {
			t.Fatalf("step %d: hole(%d) = [%d,%d), model [%d,%d)", step, a, at(0).Size(got.left), at(0).Size(got.right), hl, hr)
		}
	}
}

// TestEstablishedHostileSACKBoundedWork: 100,000 SACK blocks, tiny and
// disjoint, random and overlapping, each inserted at the front or at the
// back, now and then one that swallows many, over a megabyte in flight: the scoreboard never holds more than its cap, and
// the work each ACK does (every node of the tree it visits, rotates or
// copies: recording the blocks, the cumulative ACK, and the pipe and
// NextSeg of every segment it lets out) stays within C descents of the
// tree for the ACK, for each segment it let out and for each range it
// removed (each of which was inserted once), a descent being no deeper
// than an AVL tree of cap ranges (1.45*log2(cap+2)); plus the nodes
// copied when the node slice grows, which happens log2(cap) times at
// most and copies under 2*cap nodes in all.
func TestEstablishedHostileSACKBoundedWork(t *testing.T) {
	e := establishedFull(t, func(c *Config) { c.MSS = 1460; c.SendBufferSize = 4 << 20 })
	c := e.c
	const flight = 1 << 20
	e.write(at(sec), bytesN(flight))
	// As if the whole megabyte had been sent and the peer's window held it.
	c.sndNxt, c.sndMax = c.sndUna.Add(flight), c.sndUna.Add(flight)
	c.sndWnd, c.maxSndWnd = flight, flight
	e.out.segs = nil
	rng := rand.New(rand.NewPCG(5, 6))
	una := c.sndUna
	off := func(i int) seqnum.Value { return una.Add(seqnum.Size(i)) }
	sackCap := c.sackCap()
	depth := uint64(math.Ceil(1.45 * math.Log2(float64(sackCap+2))))
	// C: descents per ACK (4 blocks, each a search, an insert and its
	// rotations, and a merge or two), per segment sent (pipe and NextSeg,
	// and the output's holes and SACKed bytes: about 20) and per range
	// removed (a search and a delete). Measured: under 5 (the tree is
	// seldom as deep as AVL allows).
	const perDescent = 16
	var total, worst, blocks, acks, totalSent, grown uint64
	tsv := peerTS + 1
	var front, back int
	for blocks < 100000 {
		phase := (blocks / 10000) % 5
		if blocks%10000 == 0 {
			// Each phase from nothing SACKed, as after a retransmission
			// timeout (timer.go): the phase before may have SACKed all.
			c.sack.reset()
			front, back = flight/2-2, flight/2
		}
		var bl [][2]seqnum.Value
		for range 4 {
			var l, r int
			switch phase {
			case 0: // tiny and disjoint
				l = 2 * rng.IntN(flight/2-1)
				r = l + 1
			case 1: // random, overlapping
				l = rng.IntN(flight - 1)
				r = min(flight, l+1+rng.IntN(1+rng.IntN(2000)))
			case 2: // one that swallows the top half, then tiny ones each
				// below the last: every one inserted at the front
				if front == flight/2-2 {
					l, r = flight/2, flight
					front--
					break
				}
				l, r = front, front+1
				front -= 2
			case 3: // tiny, with a large one now and then that swallows many
				l = 2 * rng.IntN(flight/2-1)
				r = l + 1
				if rng.IntN(50) == 0 {
					r = min(flight, l+rng.IntN(200000))
				}
			case 4: // tiny, each above the last: every one inserted at the back
				l, r = back, back+1
				back += 2
			}
			bl = append(bl, [2]seqnum.Value{off(l), off(r)})
			blocks++
		}
		ackNum := c.sndUna
		if rng.IntN(100) == 0 && c.sndUna.LessThan(c.sndMax.Sub(200000)) {
			ackNum = c.sndUna.Add(seqnum.Size(rng.IntN(3000))) // a little of it is acknowledged
		}
		tsv++
		before, ranges, nodes, room := c.sack.visits, int(c.sack.n), uint64(len(c.sack.nodes)), cap(c.sack.nodes)
		c.HandleSegment(at(sec+rtt), in(ack, y+1, ackNum, ts(tsv, 0), sackOf(bl...)))
		v := uint64(c.sack.visits - before)
		sent := uint64(len(e.out.segs))
		e.out.segs = e.out.segs[:0]
		acks++
		total += v
		worst = max(worst, v)
		if int(c.sack.n) > sackCap {
			t.Fatalf("ACK %d: %d ranges, over the cap %d", acks, c.sack.n, sackCap)
		}
		// Ranges removed: at most 4 blocks and the rest of one the
		// cumulative ACK cuts are inserted.
		removed := uint64(max(ranges+5-int(c.sack.n), 0))
		var grew uint64
		if cap(c.sack.nodes) != room {
			grew = nodes // at most this many nodes copied to grow
		}
		grown += grew
		if bound := (1+sent+removed)*perDescent*depth + grew; v > bound {
			t.Fatalf("ACK %d: %d nodes visited (%d segments sent, %d ranges removed, %d nodes copied), over %d",
				acks, v, sent, removed, grew, bound)
		}
		totalSent += sent
	}
	// Each range removed was inserted, 5 at most per ACK.
	if bound := (6*acks+totalSent)*perDescent*depth + grown; total > bound {
		t.Fatalf("%d nodes visited in %d ACKs, over %d", total, acks, bound)
	}
	if grown > 2*uint64(sackCap) {
		t.Fatalf("%d nodes copied growing the slice, over twice the cap %d", grown, sackCap)
	}
	if e.env.Stats.SACKScoreboardFull.Load() == 0 {
		t.Fatal("the cap was never reached: the test does not test it")
	}
	t.Logf("cap %d (depth %d): %d blocks in %d ACKs, %d segments sent: %d nodes visited, %.1f per ACK, at most %d; %d copied to grow; %d blocks not recorded at the cap",
		sackCap, depth, blocks, acks, totalSent, total, float64(total)/float64(acks), worst, grown, e.env.Stats.SACKScoreboardFull.Load())
}

// ranges lists the scoreboard's ranges in order.
func (s *scoreboard) ranges() []sackRange {
	var out []sackRange
	var walk func(t int32)
	walk = func(t int32) {
		if t != 0 {
			walk(s.nodes[t].kid[0])
			out = append(out, s.nodes[t].r)
			walk(s.nodes[t].kid[1])
		}
	}
	walk(s.root)
	return out
}

// check fails t unless the tree is a sound AVL tree: its ranges in order,
// disjoint and not touching, each node's height and sum right, heights of
// siblings differing by one at most, and n and sacked its totals.
func (s *scoreboard) check(t *testing.T) {
	t.Helper()
	var walk func(x int32) (height int32, sum seqnum.Size)
	walk = func(x int32) (int32, seqnum.Size) {
		if x == 0 {
			return 0, 0
		}
		nd := s.nodes[x]
		if !nd.r.left.LessThan(nd.r.right) {
			t.Fatalf("node %d: empty range %v", x, nd.r)
		}
		lh, ls := walk(nd.kid[0])
		rh, rs := walk(nd.kid[1])
		if lh-rh > 1 || rh-lh > 1 {
			t.Fatalf("node %d: subtrees of heights %d and %d", x, lh, rh)
		}
		h, sum := max(lh, rh)+1, ls+rs+nd.r.left.Size(nd.r.right)
		if nd.height != h || nd.sum != sum {
			t.Fatalf("node %d: height %d sum %d, want %d and %d", x, nd.height, nd.sum, h, sum)
		}
		return h, sum
	}
	_, sum := walk(s.root)
	rs := s.ranges()
	for i := 1; i < len(rs); i++ {
		if !rs[i-1].right.LessThan(rs[i].left) {
			t.Fatalf("ranges %v and %v touch or are out of order", rs[i-1], rs[i])
		}
	}
	if int(s.n) != len(rs) || s.sacked != sum {
		t.Fatalf("n %d sacked %d, the tree holds %d ranges of %d bytes", s.n, s.sacked, len(rs), sum)
	}
}
