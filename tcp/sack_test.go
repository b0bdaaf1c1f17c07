package tcp

// Selective acknowledgment: the blocks a receiver sends (RFC 2018 §4,
// RFC 2883) and loss recovery from the scoreboard (RFC 6675).

import (
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// hasSACK checks the SACK blocks of a sent segment, in order.
func hasSACK(blocks ...[2]seqnum.Value) check {
	return func(t *testing.T, s *sentSeg) {
		t.Helper()
		o := s.Options
		if o.NumSACKBlocks != len(blocks) {
			t.Fatalf("%v: %d SACK blocks %v, want %v", s, o.NumSACKBlocks, o.SACKBlocks[:o.NumSACKBlocks], blocks)
		}
		for i, b := range blocks {
			if o.SACKBlocks[i].Left != b[0] || o.SACKBlocks[i].Right != b[1] {
				t.Fatalf("%v: SACK blocks %v, want %v", s, o.SACKBlocks[:o.NumSACKBlocks], blocks)
			}
		}
	}
}

func TestScoreboardAddMergesAndCounts(t *testing.T) {
	var s scoreboard
	steps := []struct {
		l, r   seqnum.Value
		newly  seqnum.Size
		blocks []sackRange
	}{
		{200, 300, 100, []sackRange{{200, 300}}},
		{400, 500, 100, []sackRange{{200, 300}, {400, 500}}},
		{250, 450, 100, []sackRange{{200, 500}}},             // joins both, only 300-400 is new
		{200, 500, 0, []sackRange{{200, 500}}},               // nothing new
		{100, 150, 50, []sackRange{{100, 150}, {200, 500}}},  // before the first
		{500, 600, 100, []sackRange{{100, 150}, {200, 600}}}, // adjacent: merged
	}
	for i, st := range steps {
		if got, _ := s.add(sackRange{st.l, st.r}, minSACKRanges); got != st.newly {
			t.Fatalf("step %d: add [%d,%d) newly %d, want %d", i, st.l, st.r, got, st.newly)
		}
		got := s.ranges()
		if len(got) != len(st.blocks) {
			t.Fatalf("step %d: blocks %v, want %v", i, got, st.blocks)
		}
		var total seqnum.Size
		for j, b := range st.blocks {
			if got[j] != b {
				t.Fatalf("step %d: blocks %v, want %v", i, got, st.blocks)
			}
			total += b.left.Size(b.right)
		}
		if s.sacked != total {
			t.Fatalf("step %d: sacked %d, want %d", i, s.sacked, total)
		}
	}
	s.trim(250)
	if got := s.ranges(); len(got) != 1 || got[0] != (sackRange{250, 600}) || s.sacked != 350 {
		t.Fatalf("after trim(250): %v sacked %d", got, s.sacked)
	}
	if h := s.hole(100, 700); h != (sackRange{100, 250}) {
		t.Fatalf("hole(100) = %v", h)
	}
	if h := s.hole(300, 700); h != (sackRange{600, 700}) {
		t.Fatalf("hole(300) = %v, want the range after the block", h)
	}
	if got := s.sackedIn(200, 300); got != 50 {
		t.Fatalf("sackedIn(200,300) = %d, want 50", got)
	}
}

// TestEstablishedOutOfOrderSendsSACKBlocks: each ACK for out-of-order data
// reports the block holding the segment that arrived first, then the
// others (RFC 2018 §4); filling the hole drops the blocks it reaches.
func TestEstablishedOutOfOrderSendsSACKBlocks(t *testing.T) {
	e := establishedFull(t)
	tv := e.c.tsVal(at(sec))
	in100 := func(off seqnum.Size) *Segment {
		return in(pshack, (y + 1).Add(off), x+1, data(bytesN(100)), ts(peerTS+1, 0))
	}
	e.c.HandleSegment(at(sec), in100(100))
	e.expect(is(ack, x+1, y+1), hasSACK([2]seqnum.Value{y + 101, y + 201}), hasTS(tv, peerTS))
	e.c.HandleSegment(at(sec), in100(300))
	e.expect(is(ack, x+1, y+1), hasSACK([2]seqnum.Value{y + 301, y + 401}, [2]seqnum.Value{y + 101, y + 201}))
	e.c.HandleSegment(at(sec), in100(200)) // joins the two blocks
	e.expect(is(ack, x+1, y+1), hasSACK([2]seqnum.Value{y + 101, y + 401}))
	e.c.HandleSegment(at(sec), in100(0)) // fills the hole
	e.expect(is(ack, x+1, y+401), hasSACK())
}

// TestEstablishedDuplicateSendsDSACK: data received twice is reported in the
// first SACK block of the ACK, below the cumulative ACK (RFC 2883 §4).
func TestEstablishedDuplicateSendsDSACK(t *testing.T) {
	e := establishedFull(t)
	seg := in(pshack, y+1, x+1, data(bytesN(100)), ts(peerTS+1, 0))
	e.c.HandleSegment(at(sec), seg)
	e.expect(is(ack, x+1, y+101), hasSACK())
	e.c.HandleSegment(at(sec), seg)
	e.expect(is(ack, x+1, y+101), hasSACK([2]seqnum.Value{y + 1, y + 101}))
	if e.env.Stats.DSACKsSent.Load() != 1 {
		t.Fatal("DSACKsSent not counted")
	}
}

// TestEstablishedSACKRecoveryRepairsSeveralLosses: three segments of one
// window of twenty are lost. The SACKs of the others repair all three in
// one recovery, each resent once, with no timeout (RFC 6675 §5).
func TestEstablishedSACKRecoveryRepairsSeveralLosses(t *testing.T) {
	e := establishedFull(t)
	const n = 20
	mss := seqnum.Size(e.c.MSS())
	e.write(at(sec), bytesN(n*int(mss)))
	sent := e.take()
	if len(sent) != 10 { // IW10
		t.Fatalf("%d segments in the initial window, want 10", len(sent))
	}
	start := func(i int) seqnum.Value { return (x + 1).Add(seqnum.Size(i) * mss) }
	lost := map[int]bool{1: true, 7: true, 13: true}
	now := at(sec + rtt)
	tsv := peerTS + 1
	// The receiver: what it holds decides each ACK.
	have := make([]bool, n)
	ackFor := func() *Segment {
		una := 0
		for una < n && have[una] {
			una++
		}
		var blocks [][2]seqnum.Value
		for i := una; i < n; {
			if !have[i] {
				i++
				continue
			}
			j := i
			for j < n && have[j] {
				j++
			}
			blocks = append([][2]seqnum.Value{{start(i), start(j)}}, blocks...) // most recent first, roughly
			i = j
		}
		if len(blocks) > 3 {
			blocks = blocks[:3]
		}
		tsv++
		return in(ack, y+1, start(una), ts(tsv, 0), sackOf(blocks...))
	}
	queue := sent
	sends := map[seqnum.Value]int{}
	for steps := 0; len(queue) > 0 && steps < 200; steps++ {
		s := queue[0]
		queue = queue[1:]
		i := int(start(0).Size(s.Seq) / mss)
		if have[i] {
			t.Fatalf("resent segment %d, which the peer holds", i)
		}
		if sends[s.Seq]++; lost[i] && sends[s.Seq] == 1 {
			continue // the first copy is lost
		}
		have[i] = true
		e.c.HandleSegment(now, ackFor())
		queue = append(queue, e.take()...)
	}
	if e.c.SndUna() != start(n) {
		t.Fatalf("SND.UNA %d, want everything acknowledged (%d)", e.c.SndUna(), start(n))
	}
	for i := range n {
		if want := map[bool]int{true: 2, false: 1}[lost[i]]; sends[start(i)] != want {
			t.Errorf("segment %d sent %d times, want %d", i, sends[start(i)], want)
		}
	}
	st := e.env.Stats
	if st.FastRetransmits.Load() != 1 || st.Timeouts.Load() != 0 || st.RetransSegs.Load() != 3 {
		t.Fatalf("recoveries %d, timeouts %d, retransmissions %d; want 1, 0, 3",
			st.FastRetransmits.Load(), st.Timeouts.Load(), st.RetransSegs.Load())
	}
	if e.c.inRecovery {
		t.Fatal("still in recovery")
	}
}

// TestEstablishedBogusSACKBlocksIgnored: SACK blocks that are empty,
// reversed, for data never sent or far below the window are ignored and
// counted (RFC 2018 §3 and §8): no recovery, no retransmission, no panic.
func TestEstablishedBogusSACKBlocksIgnored(t *testing.T) {
	e := establishedFull(t)
	e.write(at(sec), bytesN(5*e.c.MSS()))
	e.take()
	end := e.c.SndNxt()
	for i, blocks := range [][][2]seqnum.Value{
		{{x + 200, x + 200}},                   // empty
		{{x + 300, x + 200}},                   // reversed
		{{end, end.Add(100)}},                  // beyond SND.MAX: never sent
		{{x + 100, end.Add(1)}},                // reaches past SND.MAX
		{{x.Sub(1 << 20), x.Sub(1<<20 - 100)}}, // a window or more below SND.UNA
	} {
		// Each a window update, so not a duplicate ACK by RFC 5681's rule:
		// only the blocks could start a recovery.
		e.c.HandleSegment(at(sec+rtt), in(ack, y+1, x+1, wnd(uint16(60000+i)), ts(peerTS+uint32(1+i), 0), sackOf(blocks...)))
	}
	e.expectNone()
	if got := e.env.Stats.BadSACKBlocks.Load(); got != 5 {
		t.Fatalf("BadSACKBlocks %d, want 5", got)
	}
	if e.c.sack.sacked != 0 || e.c.inRecovery || e.env.Stats.RetransSegs.Load() != 0 {
		t.Fatalf("bogus blocks changed the sender: sacked %d recovery %v", e.c.sack.sacked, e.c.inRecovery)
	}
}

// TestEstablishedLostRetransmissionEndsInRTO: when the fast retransmission
// is lost too, nothing but the retransmission timer can repair it (RFC
// 6675 §5.1): it fires, resends the segment, and backs off, doubling the
// RTO each time it expires again (RFC 6298 §5.5); the ACK that finally
// comes ends it all.
func TestEstablishedLostRetransmissionEndsInRTO(t *testing.T) {
	e := establishedFull(t)
	mss := seqnum.Size(e.c.MSS())
	e.write(at(sec), bytesN(10*int(mss)))
	if len(e.take()) != 10 {
		t.Fatal("the initial window is not ten segments")
	}
	start := func(i int) seqnum.Value { return (x + 1).Add(seqnum.Size(i) * mss) }
	now := at(sec + rtt)
	for i := 1; i < 10; i++ { // segment 0 is lost; the others are SACKed
		e.c.HandleSegment(now, in(ack, y+1, x+1, ts(peerTS+uint32(i), 0), sackOf([2]seqnum.Value{start(1), start(i + 1)})))
	}
	e.expect(is(ack, x+1, y+1), hasLen(int(mss))) // the fast retransmission: lost as well
	e.expectNone()
	rto := e.c.RTO()
	for k := 1; k <= 3; k++ {
		when := e.fire()
		e.expect(is(ack, x+1, y+1), hasLen(int(mss))) // only the hole: the rest is SACKed
		e.expectNone()
		if e.env.Stats.Timeouts.Load() != uint64(k) || e.c.RTO() != rto<<k {
			t.Fatalf("timeout %d: Timeouts %d, RTO %v; want %v", k, e.env.Stats.Timeouts.Load(), e.c.RTO(), rto<<k)
		}
		e.deadline(when.Add(rto << k))
	}
	e.c.HandleSegment(e.c.Deadline(), in(ack, y+1, start(10), ts(peerTS+20, 0)))
	if e.c.SndUna() != start(10) || e.c.inRecovery {
		t.Fatalf("SND.UNA %d recovery %v after the ACK of everything", e.c.SndUna(), e.c.inRecovery)
	}
	e.deadline(time.Time{})
}
