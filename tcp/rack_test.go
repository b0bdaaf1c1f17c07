package tcp

// RACK (RFC 8985 §6): time-based loss marking, the reordering window, and
// a lost retransmission found without the RTO. The tests of this file and
// of tlp_test.go, prr_test.go, undo_test.go and lossbad_test.go share the
// fixture below: a connection with every option and Reno's window whose
// RACK.min_RTT is one rtt (100 ms), and a scripted SACK peer.

import (
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// lossFlight is a sender under test: an established connection (every
// option, Reno, IW10) whose warm-up segment, sent at sec and acknowledged
// one rtt later, gave RACK its min RTT (100 ms) and SRTT 100 ms; then n
// full segments, numbered 0 to n-1 from SND.UNA, went at t0.
type lossFlight struct {
	*end
	mss  seqnum.Size
	una  seqnum.Value // SND.UNA when the flight went: where segment 0 starts
	t0   time.Time    // when the flight went
	sent []sentSeg
	tsv  uint32 // the peer's timestamp clock: each ACK ticks it
}

// withReno makes the connection use Reno, whose reductions are exact halves.
func withReno(c *Config) { c.NewCongestionControl = NewReno }

// withWindow makes Reno start with an initial window of n segments.
func withWindow(n int) cfgOpt {
	return func(c *Config) {
		c.NewCongestionControl = func(mss int) CongestionControl {
			return &reno{mss: mss, cwnd: n * mss, ssthresh: 1 << 30}
		}
	}
}

// newLossFlight returns the fixture with n segments written and sent.
func newLossFlight(t *testing.T, n int, opts ...cfgOpt) *lossFlight {
	t.Helper()
	e := establishedFull(t, append([]cfgOpt{withReno}, opts...)...)
	f := &lossFlight{end: e, mss: seqnum.Size(e.c.MSS()), tsv: peerTS}
	e.write(at(sec), bytesN(100))
	e.expect(is(pshack, x+1, y+1), hasLen(100))
	f.t0 = at(sec + rtt)
	e.c.HandleSegment(f.t0, in(ack, y+1, x+101, f.ts(0)))
	e.expectNone()
	if got := e.c.loss.minRTT.get(); got != rtt || e.c.srtt != rtt {
		t.Fatalf("min RTT %v, SRTT %v after the warm-up; want %v", got, e.c.srtt, rtt)
	}
	f.una = x + 101
	e.now = f.t0
	f.sent = f.send(n)
	if len(f.sent) != n {
		t.Fatalf("%d segments of the flight sent, want %d", len(f.sent), n)
	}
	return f
}

// send writes k more full segments at t0 and returns what went.
func (f *lossFlight) send(k int) []sentSeg {
	f.t.Helper()
	f.write(f.now, bytesN(k*int(f.mss)))
	return f.take()
}

// seq is where segment i starts.
func (f *lossFlight) seq(i int) seqnum.Value { return f.una.Add(seqnum.Size(i) * f.mss) }

// idx is the segment number of a sequence number.
func (f *lossFlight) idx(s seqnum.Value) int { return int(f.una.Size(s) / f.mss) }

// ts is the peer's timestamps option echoing ecr, its clock one tick on.
func (f *lossFlight) ts(ecr uint32) func(*Segment) {
	f.tsv++
	return ts(f.tsv, ecr)
}

// blocks turns segment spans [i, j) into SACK blocks.
func (f *lossFlight) blocks(spans ...[2]int) [][2]seqnum.Value {
	var b [][2]seqnum.Value
	for _, s := range spans {
		b = append(b, [2]seqnum.Value{f.seq(s[0]), f.seq(s[1])})
	}
	return b
}

// ack delivers at now the peer's ACK of every segment below una, with
// SACK blocks for the spans (D-SACK first when it is one) and no
// timestamp echo to time (TSecr 0).
func (f *lossFlight) ack(now time.Time, una int, spans ...[2]int) {
	f.t.Helper()
	f.ackEcr(now, una, 0, spans...)
}

// ackEcr is ack echoing ecr.
func (f *lossFlight) ackEcr(now time.Time, una int, ecr uint32, spans ...[2]int) {
	f.t.Helper()
	f.c.HandleSegment(now, in(ack, y+1, f.seq(una), f.ts(ecr), sackOf(f.blocks(spans...)...)))
}

// expectSegs asserts that the sender sent exactly the segments numbered
// want, in order.
func (f *lossFlight) expectSegs(want ...int) {
	f.t.Helper()
	got := f.take()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Seq == f.seq(want[i]) && len(got[i].Payload) == int(f.mss)
	}
	if !ok {
		var nums []int
		for _, s := range got {
			nums = append(nums, f.idx(s.Seq))
		}
		f.t.Fatalf("sent segments %v (%v), want %v", nums, got, want)
	}
}

// stat is a counter's value.
func stat(c interface{ Load() uint64 }) uint64 { return c.Load() }

// TestEstablishedOriginalBelowFACKSetsReorderingSeen: RFC 8985 §6.2 step
// 3. Segment 0 of ten is overtaken by segment 1:
//
//	t0+rtt     <- ACK 0, SACK 1          segment 0 waits: min RTT/4 = 25 ms
//	t0+rtt+1ms <- ACK 2                  segment 0, sent once, delivered below RACK.fack
//
// The second ACK shows the path reorders: RACK.reordering_seen is set,
// nothing was resent, and the reordering timer is gone.
func TestEstablishedOriginalBelowFACKSetsReorderingSeen(t *testing.T) {
	f := newLossFlight(t, 10)
	now := f.t0.Add(rtt)
	f.ack(now, 0, [2]int{1, 2})
	f.expectNone()
	if f.c.loss.reordSeen || f.c.loss.timer != timerReorder {
		t.Fatalf("after the SACK: reordering seen %v, timer %v; want false, the reordering timer", f.c.loss.reordSeen, f.c.loss.timer)
	}
	f.ack(now.Add(time.Millisecond), 2)
	f.expectNone()
	if !f.c.loss.reordSeen {
		t.Fatal("segment 0 delivered below RACK.fack did not set reordering seen")
	}
	if f.c.loss.timer == timerReorder || stat(&f.env.Stats.RetransSegs) != 0 || f.c.inRecovery {
		t.Fatalf("timer %v, retransmissions %d, recovery %v; want no reordering timer, nothing resent",
			f.c.loss.timer, stat(&f.env.Stats.RetransSegs), f.c.inRecovery)
	}
}

// TestEstablishedACKWithSACKAboveNoReordering: RFC 8985 §6.2 step 3
// takes the segments an ACK delivers in ascending order. One ACK that
// acknowledges segments 0 and 1 and SACKs 3-5 shows a hole at 2, not
// that 0 and 1 were overtaken: no reordering is seen, the window stays
// zero with three segments SACKed, and 2 is resent at once.
//
//	t0+rtt <- ACK 2, SACK 3-5     -> segment 2
func TestEstablishedACKWithSACKAboveNoReordering(t *testing.T) {
	f := newLossFlight(t, 10)
	f.ack(f.t0.Add(rtt), 2, [2]int{3, 6})
	if f.c.loss.reordSeen {
		t.Fatal("an ACK that SACKs above what it acknowledges set reordering seen")
	}
	f.expectSegs(2)
}

// reorderedFlight is newLossFlight(n) after segment 0 was overtaken by
// segment 1 and then delivered (the exchange of the test above): the
// path is known to reorder. It returns the time of the last ACK.
func reorderedFlight(t *testing.T, n int, opts ...cfgOpt) (*lossFlight, time.Time) {
	t.Helper()
	f := newLossFlight(t, n, opts...)
	now := f.t0.Add(rtt)
	f.ack(now, 0, [2]int{1, 2})
	now = now.Add(time.Millisecond)
	f.ack(now, 2)
	f.expectNone()
	if !f.c.loss.reordSeen {
		t.Fatal("no reordering seen")
	}
	return f, now
}

// TestEstablishedReorderingSeenLossWaitsReorderWindow: RFC 8985 §6.2
// step 5 with the window of step 4. Once the path was seen to reorder,
// three segments SACKed above a hole do not mark it at once:
//
//	t     <- ACK 2, SACK 3-5     segment 2 waits min RTT/4 = 25 ms
//	t+25ms   (reordering timer)  segment 2 is lost: -> segment 2
//
// It is resent when the reordering timer fires, not before, and the
// recovery it starts owes nothing to the RTO.
func TestEstablishedReorderingSeenLossWaitsReorderWindow(t *testing.T) {
	f, now := reorderedFlight(t, 10)
	now = now.Add(time.Millisecond)
	f.ack(now, 2, [2]int{3, 6})
	f.expectNone()
	if f.c.loss.timer != timerReorder {
		t.Fatalf("timer %v, want the reordering timer", f.c.loss.timer)
	}
	// RACK.rtt is now minus segment 5's send time; segment 2 went 3 ns
	// before it (send times in one instant are a nanosecond apart).
	reo := rtt / 4
	if d := f.c.Deadline().Sub(now); d > reo || d < reo-time.Microsecond {
		t.Fatalf("the reordering timer is due in %v, want min RTT/4 = %v", d, reo)
	}
	f.c.HandleTimer(f.c.Deadline().Add(-time.Microsecond))
	f.expectNone()
	f.fire()
	f.expectSegs(2)
	st := f.env.Stats
	if stat(&st.TCPSackRecovery) != 1 || stat(&st.Timeouts) != 0 || !f.c.inRecovery {
		t.Fatalf("recoveries %d, timeouts %d, in recovery %v; want 1, 0, true",
			stat(&st.TCPSackRecovery), stat(&st.Timeouts), f.c.inRecovery)
	}
}

// TestEstablishedThreeSACKedNoReorderingMarksAtOnce: RFC 8985 §6.2 step
// 4: on a path never seen to reorder, the window is zero once DupThresh
// segments are SACKed, so the third SACK marks the hole lost at once:
//
//	t0+rtt <- ACK 0, SACK 1     segment 0 waits min RTT/4 (reordering timer)
//	t0+rtt <- ACK 0, SACK 1-2   still waits
//	t0+rtt <- ACK 0, SACK 1-3   three SACKed: -> segment 0
func TestEstablishedThreeSACKedNoReorderingMarksAtOnce(t *testing.T) {
	f := newLossFlight(t, 10)
	now := f.t0.Add(rtt)
	f.ack(now, 0, [2]int{1, 2})
	f.expectNone()
	if d := f.c.Deadline().Sub(now); f.c.loss.timer != timerReorder || d > rtt/4 || d < rtt/4-time.Microsecond {
		t.Fatalf("timer %v due in %v, want the reordering timer in min RTT/4", f.c.loss.timer, d)
	}
	f.ack(now, 0, [2]int{1, 3})
	f.expectNone()
	f.ack(now, 0, [2]int{1, 4})
	f.expectSegs(0)
	if stat(&f.env.Stats.TCPSackRecovery) != 1 || f.c.loss.timer == timerReorder {
		t.Fatalf("recoveries %d, timer %v; want one recovery and no reordering timer",
			stat(&f.env.Stats.TCPSackRecovery), f.c.loss.timer)
	}
}

// TestEstablishedDSACKRoundGrowsReorderWindow: RFC 8985 §6.2 step 4.
// Thirteen segments are in flight (an initial window of 13).
// Retransmissions the peer reports as duplicates show RACK was too quick:
// the window grows by min RTT/4 for the round trip that brings a D-SACK,
// once however many D-SACKs that round brings.
//
//	t      <- ACK 2, SACK 3-5, 7-10    (reordering seen) timer in 25 ms
//	t+25ms    timer                    -> segment 2
//	t+26ms <- ACK 2, SACK 3-5, 7-11    -> segment 6
//	t+27ms <- ACK 6, D-SACK 2          the original arrived: window x2,
//	                                   the round lasts until SND.NXT (13)
//	t+27ms <- ACK 12, D-SACK 6         same round: stays x2
//	t+28ms <- ACK 13                   the round is over
//	          ten more segments, 13 to 22
//	t2     <- ACK 13, SACK 14-16       segment 13 waits 2 * min RTT/4 = 50 ms
func TestEstablishedDSACKRoundGrowsReorderWindow(t *testing.T) {
	f, now := reorderedFlight(t, 13, withWindow(13))
	now = now.Add(time.Millisecond)
	f.ack(now, 2, [2]int{3, 6}, [2]int{7, 11})
	now = f.fire()
	f.expectSegs(2)
	now = now.Add(time.Millisecond)
	f.ack(now, 2, [2]int{3, 6}, [2]int{7, 12})
	f.expectSegs(6)
	now = now.Add(time.Millisecond)
	f.ack(now, 6, [2]int{2, 3}, [2]int{7, 12})
	if f.c.loss.reoMult != 2 {
		t.Fatalf("window multiplier %d after a D-SACK, want 2", f.c.loss.reoMult)
	}
	f.ack(now, 12, [2]int{6, 7})
	if f.c.loss.reoMult != 2 || stat(&f.env.Stats.DSACKsReceived) != 2 || stat(&f.env.Stats.BadSACKBlocks) != 0 {
		t.Fatalf("window multiplier %d after a second D-SACK in the round (D-SACKs %d, bad %d), want 2",
			f.c.loss.reoMult, stat(&f.env.Stats.DSACKsReceived), stat(&f.env.Stats.BadSACKBlocks))
	}
	now = now.Add(time.Millisecond)
	f.ack(now, 13)
	f.take()
	f.now = now
	if sent := f.send(10); len(sent) == 0 || sent[0].Seq != f.seq(13) {
		t.Fatalf("sent %v, want segments from 13", sent)
	}
	now = now.Add(rtt)
	f.ack(now, 13, [2]int{14, 17})
	f.expectNone()
	if d := f.c.Deadline().Sub(now); f.c.loss.timer != timerReorder || d > rtt/2 || d < rtt/2-time.Microsecond {
		t.Fatalf("timer %v due in %v, want the reordering timer in 2 * min RTT/4 = %v", f.c.loss.timer, d, rtt/2)
	}
}

// TestEstablishedLostRetransmissionResentWithoutRTO: RFC 8985 §6.2: a
// retransmission is judged by its own send time, so when new data sent
// after it is SACKed and it is not, it is lost too, and goes again:
//
//	t0+rtt    <- ACK 0, SACK 1-3    -> segment 0 (the fast retransmit: lost), 10
//	t0+rtt    <- ACK 0, SACK 1-9    -> 11, 12, 13 (as PRR allows)
//	t0+2rtt   <- ACK 0, SACK 1-10   segment 10 went after the retransmission
//	                                -> segment 0 again, TCPLostRetransmit
//
// no retransmission timeout involved.
func TestEstablishedLostRetransmissionResentWithoutRTO(t *testing.T) {
	f := newLossFlight(t, 10)
	f.write(f.t0, bytesN(10*int(f.mss))) // segments 10-19 wait for room
	f.expectNone()
	now := f.t0.Add(rtt)
	f.ack(now, 0, [2]int{1, 4})
	f.expectSegs(0, 10)
	f.ack(now, 0, [2]int{1, 10})
	f.expectSegs(11, 12, 13)
	now = now.Add(rtt)
	f.ack(now, 0, [2]int{1, 11})
	got := f.take()
	if len(got) == 0 || got[0].Seq != f.seq(0) {
		t.Fatalf("sent %v, want segment 0 again first", got)
	}
	st := f.env.Stats
	if stat(&st.TCPLostRetransmit) != 1 || stat(&st.Timeouts) != 0 || stat(&st.TCPSackRecovery) != 1 {
		t.Fatalf("lost retransmissions %d, timeouts %d, recoveries %d; want 1, 0, 1",
			stat(&st.TCPLostRetransmit), stat(&st.Timeouts), stat(&st.TCPSackRecovery))
	}
	// The second retransmission arrives: everything sent is acknowledged.
	f.ack(now.Add(rtt), 14)
	if f.c.inRecovery || stat(&st.Timeouts) != 0 {
		t.Fatalf("in recovery %v, timeouts %d after the repair", f.c.inRecovery, stat(&st.Timeouts))
	}
}

// TestEstablishedACKOfResentSegmentTakesNoSendTimeSample: Karn's rule for
// the send-time RTT samples (Linux's FLAG_RETRANS_DATA_ACKED). Segment 0
// of ten is lost and resent; the cumulative ACK that the resend draws also
// covers segments 4-9, which waited at the peer behind the hole: their
// send times would give an RTT of two round trips. No sample is taken from
// them, and, with no timestamp echo either, SRTT stays one rtt.
//
//	t0+rtt   <- ACK 0, SACK 1-4          RACK: 0 lost -> segment 0
//	t0+2rtt  <- ACK 10                   covers the resend: no sample
func TestEstablishedACKOfResentSegmentTakesNoSendTimeSample(t *testing.T) {
	f := newLossFlight(t, 10)
	now := f.t0.Add(rtt)
	f.ack(now, 0, [2]int{1, 4})
	f.expectSegs(0)
	f.ack(now.Add(rtt), 10)
	if f.c.SndUna() != f.seq(10) {
		t.Fatalf("SND.UNA %d, want everything acknowledged", f.c.SndUna())
	}
	if f.c.srtt != rtt {
		t.Fatalf("SRTT %v after an ACK covering a resent segment, want %v: no sample from the segments behind it", f.c.srtt, rtt)
	}
}
