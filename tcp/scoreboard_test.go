package tcp

// The SACK scoreboard under a hostile peer: its ranges stay within their
// cap and each ACK's work, counted in ranges visited, stays within a
// bound, whatever blocks arrive; and it answers as a plain model does.

import (
	"math/bits"
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
		case k < 9:
			s.highRxt = at(una + rng.IntN(space-una))
		default:
			s.highRxt = at(una)
		}
		if len(s.blocks) > minSACKRanges {
			t.Fatalf("step %d: %d ranges", step, len(s.blocks))
		}
		if s.sacked != countIn(una, space) {
			t.Fatalf("step %d: sacked %d, model %d", step, s.sacked, countIn(una, space))
		}
		h := int(at(0).Size(seqMax(s.highRxt, at(una))))
		if got := s.sackedBelowRxt(); got != countIn(una, h) {
			t.Fatalf("step %d: below HighRxt (%d) %d, model %d", step, h, got, countIn(una, h))
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
// disjoint, random and overlapping, each inserted at the front, over a
// megabyte in flight: the scoreboard never holds more than its cap, and
// the ranges each ACK visits (recording the blocks, the cumulative ACK,
// and the pipe and NextSeg of every segment it lets out) stay within
// C*log2(cap) per ACK but for ranges merged or removed, each of which was
// added once: the total is bounded by that too.
func TestEstablishedHostileSACKBoundedWork(t *testing.T) {
	e := establishedFull(t, func(c *Config) { c.MSS = 1460; c.SendBufferSize = 2 << 20 })
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
	logCap := bits.Len(uint(sackCap)) // log2(cap)+1
	const perACK = 16                 // C: visits per ACK per log2(cap)
	var total, worst, blocks, acks, totalSent uint64
	tsv := peerTS + 1
	front := flight - 2
	for blocks < 100000 {
		var bl [][2]seqnum.Value
		for range 4 {
			var l, r int
			switch phase := (blocks / 10000) % 4; phase {
			case 0: // tiny and disjoint
				l = 2 * rng.IntN(flight/2-1)
				r = l + 1
			case 1: // random, overlapping
				l = rng.IntN(flight - 1)
				r = min(flight, l+1+rng.IntN(20000))
			case 2: // tiny, each below the last: inserted at the front
				if front < 2 {
					front = flight - 2
				}
				l, r = front, front+1
				front -= 2
			case 3: // tiny, with a large one now and then that swallows many
				l = 2 * rng.IntN(flight/2-1)
				r = l + 1
				if rng.IntN(50) == 0 {
					r = min(flight, l+rng.IntN(200000))
				}
			}
			bl = append(bl, [2]seqnum.Value{off(l), off(r)})
			blocks++
		}
		ackNum := c.sndUna
		if rng.IntN(100) == 0 && c.sndUna.LessThan(c.sndMax.Sub(200000)) {
			ackNum = c.sndUna.Add(seqnum.Size(rng.IntN(3000))) // a little of it is acknowledged
		}
		tsv++
		before, ranges := c.sack.visits, len(c.sack.blocks)
		c.HandleSegment(at(sec+rtt), in(ack, y+1, ackNum, ts(tsv, 0), sackOf(bl...)))
		v := uint64(c.sack.visits - before)
		sent := uint64(len(e.out.segs))
		e.out.segs = e.out.segs[:0]
		acks++
		total += v
		worst = max(worst, v)
		if len(c.sack.blocks) > sackCap {
			t.Fatalf("ACK %d: %d ranges, over the cap %d", acks, len(c.sack.blocks), sackCap)
		}
		// Per ACK: C*log2(cap) for it and for each segment it let out,
		// plus the ranges merged or removed.
		merged := uint64(max(ranges+4-len(c.sack.blocks), 0))
		if bound := (1+sent)*uint64(perACK*logCap) + merged; v > bound {
			t.Fatalf("ACK %d: visited %d ranges (%d segments sent, %d ranges merged or removed), over %d", acks, v, sent, merged, bound)
		}
		totalSent += sent
	}
	if bound := (acks+totalSent)*uint64(perACK*logCap) + 4*acks; total > bound {
		t.Fatalf("visited %d ranges in %d ACKs, over %d", total, acks, bound)
	}
	if e.env.Stats.SACKScoreboardFull.Load() == 0 {
		t.Fatal("the cap was never reached: the test does not test it")
	}
	t.Logf("cap %d: %d blocks in %d ACKs, %d segments sent: %d ranges visited, %.1f per ACK, at most %d; %d blocks not recorded at the cap",
		sackCap, blocks, acks, totalSent, total, float64(total)/float64(acks), worst, e.env.Stats.SACKScoreboardFull.Load())
}
