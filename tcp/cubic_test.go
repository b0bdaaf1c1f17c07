package tcp

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

const cubicTestMSS = 1000 // round numbers: a window of n segments is n*1000 bytes

// cubicSim drives a CUBIC controller with a virtual ACK clock: the ACKs for
// one window arrive spread evenly over one round trip, one segment each,
// every one finding the window full (the flow is cwnd-limited). In slow
// start they arrive over the first quarter of the round trip, as from a
// path whose bottleneck the window does not fill yet (a train of ACKs
// over half the RTT would end slow start, see hystart).
type cubicSim struct {
	c   *cubic
	now time.Time
	rtt time.Duration
}

func newCubicSim(rtt time.Duration) *cubicSim {
	return &cubicSim{c: NewCUBIC(cubicTestMSS).(*cubic), now: base, rtt: rtt}
}

// acks delivers n ACKs of one segment each in one round trip, the first
// with an RTT sample.
func (s *cubicSim) acks(n int) {
	start, span := s.now, s.rtt
	if s.c.wnd < s.c.ssthresh {
		span = s.rtt / 4
	}
	for i := range n {
		var r time.Duration
		if i == 0 {
			r = s.rtt
		}
		s.c.OnAck(start.Add(span*time.Duration(i+1)/time.Duration(n)), cubicTestMSS, s.c.wnd, r)
	}
	s.now = start.Add(s.rtt)
}

// round acknowledges the whole window over one round trip.
func (s *cubicSim) round() { s.acks(max(s.c.wnd/cubicTestMSS, 1)) }

// segs is the RFC's cwnd in segments.
func (s *cubicSim) segs() float64 { return s.c.cwnd / cubicTestMSS }

// t is the time since the congestion avoidance stage began, in seconds.
func (s *cubicSim) t() float64 { return since(s.now, s.c.epoch).Seconds() }

// lossAt grows the window by slow start to w segments and has three
// duplicate ACKs report a loss with that whole window in flight.
func (s *cubicSim) lossAt(t *testing.T, w int) {
	t.Helper()
	s.acks(w - s.c.wnd/cubicTestMSS)
	if s.c.wnd != w*cubicTestMSS {
		t.Fatalf("slow start reached %d bytes, want %d", s.c.wnd, w*cubicTestMSS)
	}
	s.c.OnLoss(s.now, s.c.wnd)
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// TestCUBICNewInitialWindow: IW10 (RFC 6928), ssthresh arbitrarily high
// (RFC 5681 §3.1), and an MSS the option cannot carry is clamped.
func TestCUBICNewInitialWindow(t *testing.T) {
	for _, tc := range []struct{ mss, wantMSS int }{
		{1460, 1460}, {536, 536}, {1, 1}, {0, 1}, {-5, 1}, {1 << 40, 65535},
	} {
		c := NewCUBIC(tc.mss).(*cubic)
		if c.mss != tc.wantMSS || c.CWND() != 10*tc.wantMSS || c.ssthresh < 1<<30 {
			t.Errorf("NewCUBIC(%d): mss %d cwnd %d ssthresh %d, want mss %d cwnd %d ssthresh >= 2^30",
				tc.mss, c.mss, c.CWND(), c.ssthresh, tc.wantMSS, 10*tc.wantMSS)
		}
	}
}

// TestCUBICSlowStartDoublesPerRTT: RFC 5681 slow start from IW10, each ACK
// adding min(acked, 2*MSS) (RFC 9438 §4.10, RFC 3465 §2.3).
func TestCUBICSlowStartDoublesPerRTT(t *testing.T) {
	s := newCubicSim(100 * time.Millisecond)
	for i, want := range []int{20, 40, 80, 160, 320} {
		s.round()
		if s.c.CWND() != want*cubicTestMSS {
			t.Fatalf("after round %d: cwnd %d, want %d", i+1, s.c.CWND(), want*cubicTestMSS)
		}
	}
	for _, tc := range []struct{ acked, grow int }{
		{3 * cubicTestMSS, 2 * cubicTestMSS}, // one ACK of three segments grows by two
		{100, 100},                           // a small segment grows by its size
	} {
		c := NewCUBIC(cubicTestMSS)
		c.OnAck(base, tc.acked, c.CWND(), 0)
		if got := c.CWND() - 10*cubicTestMSS; got != tc.grow {
			t.Errorf("ACK of %d bytes grew cwnd by %d, want %d", tc.acked, got, tc.grow)
		}
	}
}

// TestCUBICLossReducesToBeta: a loss sets ssthresh = flight_size*β_cubic and
// cwnd to it, at least 2 MSS (RFC 9438 §4.6), and W_max to the window before;
// a flight_size that would set it above cwnd leaves it at cwnd: a loss
// never raises the window.
func TestCUBICLossReducesToBeta(t *testing.T) {
	for _, tc := range []struct {
		name     string
		inFlight int
		want     int
	}{
		{"full window", 100 * cubicTestMSS, 70 * cubicTestMSS},
		{"half the window", 50 * cubicTestMSS, 35 * cubicTestMSS},
		{"two segments", 2 * cubicTestMSS, 2 * cubicTestMSS},
		{"nothing in flight", 0, 2 * cubicTestMSS},
		// SND.MAX - SND.UNA three times the window: the rest was SACKed
		// or lost. ssthresh stays at cwnd, never above it.
		{"SACKed beyond the window", 300 * cubicTestMSS, 100 * cubicTestMSS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newCubicSim(100 * time.Millisecond)
			s.acks(90)
			s.c.OnLoss(s.now, tc.inFlight)
			if s.c.CWND() != tc.want || s.c.ssthresh != tc.want {
				t.Fatalf("cwnd %d ssthresh %d, want %d", s.c.CWND(), s.c.ssthresh, tc.want)
			}
			if s.c.wMax != 100*cubicTestMSS || s.c.cwndPrior != 100*cubicTestMSS {
				t.Fatalf("W_max %v cwnd_prior %v, want %d", s.c.wMax, s.c.cwndPrior, 100*cubicTestMSS)
			}
		})
	}
}

// TestCUBICAvoidanceKMatchesRFC: the first ACK of congestion avoidance
// computes K = cbrt((W_max - cwnd_epoch)/C) in segments (RFC 9438 §4.2
// Figure 2), which after a loss at W_max is cbrt(W_max*(1-β)/C).
func TestCUBICAvoidanceKMatchesRFC(t *testing.T) {
	for _, tc := range []struct {
		wMax int
		k    float64 // seconds, worked out by hand
	}{
		{100, 4.2172}, // cbrt(100*0.3/0.4) = cbrt(75)
		{1000, 9.0856},
		{20, 2.4662},
	} {
		s := newCubicSim(100 * time.Millisecond)
		s.lossAt(t, tc.wMax)
		s.acks(1)
		if want := math.Cbrt(float64(tc.wMax) * (1 - 0.7) / 0.4); !near(s.c.k, want, 1e-9) || !near(s.c.k, tc.k, 1e-4) {
			t.Errorf("W_max %d: K %v, want %v", tc.wMax, s.c.k, want)
		}
		if s.c.cwndEpoch != 0.7*float64(tc.wMax*cubicTestMSS) || s.c.wEst < s.c.cwndEpoch {
			t.Errorf("W_max %d: cwnd_epoch %v W_est %v", tc.wMax, s.c.cwndEpoch, s.c.wEst)
		}
	}
}

// TestCUBICAvoidanceTargetOneRTTAhead: an ACK in the cubic region moves
// cwnd by (target-cwnd)/cwnd of a segment, target being W_cubic(t+RTT)
// bounded to [cwnd, 1.5*cwnd] (RFC 9438 §4.2, §4.4), RTT the smoothed RTT.
// The first ACK of the stage, at t = 0, has W_cubic(0) = cwnd_epoch = W_est
// and grows cwnd as W_est (§4.3); the test follows it with one at t = 50 ms.
func TestCUBICAvoidanceTargetOneRTTAhead(t *testing.T) {
	k := math.Cbrt(100 * 0.3 / 0.4)
	alpha := 3 * (1 - 0.7) / (1 + 0.7)
	first := 70 + alpha/70 // segments, after the first ACK
	for _, tc := range []struct {
		rtt    time.Duration
		target float64 // segments
	}{
		{100 * time.Millisecond, 0.4*math.Pow(0.15-k, 3) + 100}, // about 72.7
		{time.Second, 0.4*math.Pow(1.05-k, 3) + 100},            // about 87.3
		{3 * time.Second, 0.4*math.Pow(3.05-k, 3) + 100},        // about 99.4
		{10 * time.Second, 1.5 * first},                         // W_cubic 179 is beyond 1.5*cwnd
	} {
		s := newCubicSim(tc.rtt)
		s.lossAt(t, 100)
		s.c.OnAck(s.now, cubicTestMSS, s.c.wnd, 0)
		if !near(s.segs(), first, 1e-9) {
			t.Fatalf("RTT %v: cwnd %.6f segments after the first ACK, want W_est %.6f", tc.rtt, s.segs(), first)
		}
		s.c.OnAck(s.now.Add(50*time.Millisecond), cubicTestMSS, s.c.wnd, 0)
		if want := first + (tc.target-first)/first; !near(s.segs(), want, 1e-9) {
			t.Errorf("RTT %v: cwnd %.6f segments after the second ACK, want %.6f", tc.rtt, s.segs(), want)
		}
	}
}

// TestCUBICAvoidanceConcaveThenConvex: after a loss at W_max = 100 segments
// on a 200 ms path (outside the Reno-friendly region), the window climbs
// back to W_max at about t = K, its growth shrinking on the way (concave,
// §4.4), then grows ever faster beyond it (convex, §4.5).
func TestCUBICAvoidanceConcaveThenConvex(t *testing.T) {
	s := newCubicSim(200 * time.Millisecond)
	s.lossAt(t, 100)
	k := math.Cbrt(75)
	perSecond := []float64{70} // cwnd in segments at t = 0, 1, 2, ... s
	atK := 0.0
	for s.now.Sub(base) < 12*time.Second {
		s.round()
		if s.c.wCubic(s.t()) < s.c.wEst {
			t.Fatalf("t=%.1f: in the Reno-friendly region: W_cubic %v < W_est %v", s.t(), s.c.wCubic(s.t()), s.c.wEst)
		}
		if s.t() >= float64(len(perSecond)) {
			perSecond = append(perSecond, s.segs())
		}
		if atK == 0 && s.t() >= k {
			atK = s.segs()
		}
	}
	if !near(atK, 100, 1) {
		t.Errorf("cwnd at t=K=%.3f s is %.2f segments, want W_max = 100", k, atK)
	}
	grow := make([]float64, len(perSecond)-1)
	for i := range grow {
		grow[i] = perSecond[i+1] - perSecond[i]
	}
	t.Logf("cwnd each second %.2f", perSecond)
	for i := 1; i <= 3; i++ { // [0,1] ... [3,4]: before K
		if grow[i] >= grow[i-1] {
			t.Errorf("concave region: growth %.2f in second %d, %.2f in the one before", grow[i], i, grow[i-1])
		}
	}
	if perSecond[4] >= 100 || perSecond[5] <= 100 {
		t.Errorf("cwnd %.2f at 4 s and %.2f at 5 s, want below and above W_max either side of K", perSecond[4], perSecond[5])
	}
	for i := 6; i < len(grow); i++ { // [5,6] onwards: after K
		if grow[i] <= grow[i-1] {
			t.Errorf("convex region: growth %.2f in second %d, %.2f in the one before", grow[i], i, grow[i-1])
		}
	}
}

// TestCUBICAvoidanceRenoFriendly: on a 1 ms path with a small W_max the cubic
// curve is slower than Reno, so cwnd follows W_est (RFC 9438 §4.3): α_cubic
// ≈ 0.53 segments per RTT until W_est reaches cwnd_prior, 1 afterwards.
func TestCUBICAvoidanceRenoFriendly(t *testing.T) {
	s := newCubicSim(time.Millisecond)
	s.lossAt(t, 20)
	alpha := 3 * (1 - 0.7) / (1 + 0.7)
	check := func(rounds int, perRound float64) {
		t.Helper()
		from := s.segs()
		for range rounds {
			s.round()
			if cub := s.c.wCubic(s.t()); cub >= s.c.wEst || s.c.cwnd != s.c.wEst {
				t.Fatalf("t=%v: cwnd %v W_est %v W_cubic %v, want cwnd = W_est > W_cubic", s.t(), s.c.cwnd, s.c.wEst, cub)
			}
		}
		if got := (s.segs() - from) / float64(rounds); !near(got, perRound, 0.05) {
			t.Errorf("from %.2f segments: %.3f segments per RTT, want %.3f", from, got, perRound)
		}
	}
	check(10, alpha) // 14 -> about 19.3, below cwnd_prior = 20
	for s.c.wEst < s.c.cwndPrior {
		s.round()
	}
	check(20, 1)
}

// TestCUBICLossFastConvergence: a loss before the window is back at W_max
// lowers W_max to cwnd*(1+β)/2 (RFC 9438 §4.7); one beyond it takes cwnd.
func TestCUBICLossFastConvergence(t *testing.T) {
	for _, tc := range []struct {
		name   string
		until  time.Duration // of congestion avoidance after the first loss at 100 segments
		factor float64
	}{
		{"before W_max", 2 * time.Second, (1 + 0.7) / 2},
		{"beyond W_max", 6 * time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newCubicSim(100 * time.Millisecond)
			s.lossAt(t, 100)
			for end := s.now.Add(tc.until); s.now.Before(end); {
				s.round()
			}
			before := s.c.cwnd
			if (before < 100*cubicTestMSS) != (tc.factor < 1) {
				t.Fatalf("cwnd %.0f, the case needs it on the other side of W_max", before)
			}
			s.c.OnLoss(s.now, s.c.wnd)
			if want := before * tc.factor; !near(s.c.wMax, want, 1e-6) {
				t.Fatalf("W_max %.1f after a loss at cwnd %.1f, want %.1f", s.c.wMax, before, want)
			}
			s.acks(1)
			want := math.Cbrt((s.c.wMax - s.c.cwndEpoch) / cubicTestMSS / 0.4)
			if !near(s.c.k, want, 1e-9) {
				t.Fatalf("K %v, want %v", s.c.k, want)
			}
		})
	}
}

// TestCUBICTimeoutOneSegment: a timeout sets cwnd to one segment and
// ssthresh as §4.6 does (RFC 9438 §4.8); a repeated timeout with no ACK in
// between holds ssthresh (RFC 5681 §3.1).
func TestCUBICTimeoutOneSegment(t *testing.T) {
	for _, tc := range []struct {
		name     string
		inFlight []int // per timeout
		ackIn    bool  // an ACK arrives between the timeouts
		want     int   // ssthresh
	}{
		{"full window", []int{100 * cubicTestMSS}, false, 70 * cubicTestMSS},
		{"nothing in flight", []int{0}, false, 2 * cubicTestMSS},
		{"backoff holds ssthresh", []int{100 * cubicTestMSS, 3 * cubicTestMSS}, false, 70 * cubicTestMSS},
		{"new timeout after an ACK", []int{100 * cubicTestMSS, 10 * cubicTestMSS}, true, 7 * cubicTestMSS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newCubicSim(100 * time.Millisecond)
			s.acks(90)
			for i, f := range tc.inFlight {
				if i > 0 && tc.ackIn {
					s.c.OnAck(s.now, cubicTestMSS, f, 0)
				}
				s.c.OnRetransmitTimeout(s.now, f)
			}
			if s.c.CWND() != cubicTestMSS || s.c.ssthresh != tc.want {
				t.Fatalf("cwnd %d ssthresh %d, want %d and %d", s.c.CWND(), s.c.ssthresh, cubicTestMSS, tc.want)
			}
		})
	}
}

// TestCUBICTimeoutNextStageStartsAtZero: after a timeout, slow start climbs
// to ssthresh and the next stage has K = 0 and W_max = W_est = cwnd_epoch
// (RFC 9438 §4.8): the curve has no concave part.
func TestCUBICTimeoutNextStageStartsAtZero(t *testing.T) {
	s := newCubicSim(100 * time.Millisecond)
	s.lossAt(t, 100)
	for range 10 {
		s.round()
	}
	s.c.OnRetransmitTimeout(s.now, s.c.wnd)
	for s.c.CWND() < s.c.ssthresh {
		s.acks(1)
	}
	epoch := s.c.cwnd
	if epoch < float64(s.c.ssthresh) || epoch >= float64(s.c.ssthresh+cubicTestMSS) || epoch >= 100*cubicTestMSS {
		t.Fatalf("slow start ended at cwnd %v, want ssthresh %d, below the W_max of the loss", epoch, s.c.ssthresh)
	}
	s.acks(1)
	if s.c.k != 0 || s.c.wMax != epoch || s.c.cwndEpoch != epoch || s.c.wEst <= epoch {
		t.Fatalf("K %v W_max %v cwnd_epoch %v W_est %v, want 0 and %v", s.c.k, s.c.wMax, s.c.cwndEpoch, s.c.wEst, epoch)
	}
	// W_cubic(t) = C*t^3 + cwnd_epoch starts flat, so the Reno-friendly
	// W_est leads at first; from about 4 s the convex curve takes over.
	var last, lastGrow float64 = s.segs(), 0
	for sec := 1; sec <= 9; sec++ {
		for range 10 {
			s.round()
		}
		grow := s.segs() - last
		if sec > 5 && grow <= lastGrow {
			t.Fatalf("second %d: growth %.2f after %.2f: not convex", sec, grow, lastGrow)
		}
		last, lastGrow = s.segs(), grow
	}
	if s.c.wCubic(s.t()) <= s.c.wEst {
		t.Fatalf("t=%.1f s: W_cubic %.0f still below W_est %.0f", s.t(), s.c.wCubic(s.t()), s.c.wEst)
	}
}

// TestCUBICAppLimitedNoGrowth: ACKs that find the window not full neither
// grow it nor advance t (RFC 9438 §5.8, §4.2): afterwards the window grows
// exactly as if the application-limited stretch had never been.
func TestCUBICAppLimitedNoGrowth(t *testing.T) {
	busy := newCubicSim(100 * time.Millisecond)
	busy.lossAt(t, 100)
	for range 5 {
		busy.round()
	}
	limited := &cubicSim{c: new(cubic), now: busy.now, rtt: busy.rtt}
	*limited.c = *busy.c
	cwnd, wEst, tBefore := limited.c.cwnd, limited.c.wEst, limited.t()
	for range 20 {
		start := limited.now
		for i := range 10 {
			limited.c.OnAck(start.Add(10*time.Millisecond*time.Duration(i+1)), cubicTestMSS, 3*cubicTestMSS, 0)
		}
		limited.now = start.Add(limited.rtt)
	}
	if limited.c.cwnd != cwnd || limited.c.wEst != wEst || !near(limited.t(), tBefore, 1e-9) {
		t.Fatalf("application-limited: cwnd %v W_est %v t %v, were %v %v %v", limited.c.cwnd, limited.c.wEst, limited.t(), cwnd, wEst, tBefore)
	}
	for range 30 {
		busy.round()
		limited.round()
	}
	if !near(limited.c.cwnd, busy.c.cwnd, 1e-6) {
		t.Fatalf("cwnd %v after an application-limited stretch, %v without", limited.c.cwnd, busy.c.cwnd)
	}
}

// TestCUBICIdleNotCounted: a sender idle for a minute that then fills its
// window again does not find W_cubic(t) a minute further along (RFC 9438
// §4.2, §5.8): of the pause, at most the one RTT its data was in flight
// counts, so it ends no further along than a twin that never paused and
// acked one more window.
func TestCUBICIdleNotCounted(t *testing.T) {
	idle := newCubicSim(100 * time.Millisecond)
	idle.lossAt(t, 100)
	for range 5 {
		idle.round()
	}
	twin := &cubicSim{c: new(cubic), now: idle.now, rtt: idle.rtt}
	*twin.c = *idle.c
	twin.round()
	twin.round()
	before := idle.segs()
	idle.now = idle.now.Add(time.Minute)
	idle.round()
	if idle.segs() <= before || idle.c.cwnd > twin.c.cwnd {
		t.Fatalf("cwnd %.2f segments before a minute idle, %.2f after the next round; %.2f for the twin two rounds on",
			before, idle.segs(), twin.segs())
	}
}

// TestCUBICWindowWholeSegments: in congestion avoidance the engine's window
// grows a whole segment at a time and trails the RFC's cwnd by less than one.
func TestCUBICWindowWholeSegments(t *testing.T) {
	s := newCubicSim(10 * time.Millisecond)
	s.lossAt(t, 100)
	grew := 0
	for range 500 {
		before := s.c.CWND()
		s.acks(1)
		w := s.c.CWND()
		if w%cubicTestMSS != 0 || float64(w) > s.c.cwnd || s.c.cwnd-float64(w) >= cubicTestMSS {
			t.Fatalf("window %d with cwnd %.1f", w, s.c.cwnd)
		}
		if w > before {
			grew++
		}
	}
	if grew == 0 {
		t.Fatal("the window never grew")
	}
}

// TestCUBICSmoothedRTT: RTT is the smoothed RTT of RFC 6298 over the samples
// given; 0 (no sample) and negatives are ignored; kInitialRtt before any.
func TestCUBICSmoothedRTT(t *testing.T) {
	for _, tc := range []struct {
		samples []time.Duration
		want    time.Duration
	}{
		{nil, 333 * time.Millisecond},
		{[]time.Duration{0, -time.Second}, 333 * time.Millisecond},
		{[]time.Duration{80 * time.Millisecond}, 80 * time.Millisecond},
		{[]time.Duration{80 * time.Millisecond, 0, 160 * time.Millisecond}, 90 * time.Millisecond},
	} {
		c := NewCUBIC(cubicTestMSS).(*cubic)
		for _, r := range tc.samples {
			c.OnAck(base, cubicTestMSS, c.CWND(), r)
		}
		if c.rtt() != tc.want {
			t.Errorf("samples %v: RTT %v, want %v", tc.samples, c.rtt(), tc.want)
		}
	}
}

// TestCUBICRobustInputs feeds zero, negative, huge and random arguments and
// a clock that jumps both ways: the window stays within [MSS, 2^30], ssthresh
// at least 2 MSS, and no state becomes NaN or infinite.
func TestCUBICRobustInputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ints := []int{0, -1, 1, cubicTestMSS, 1 << 30, math.MaxInt, math.MinInt}
	durs := []time.Duration{0, -1, 1, time.Millisecond, time.Hour, math.MaxInt64, math.MinInt64}
	pick := func(edge []int, scale int) int {
		if rng.IntN(2) == 0 {
			return edge[rng.IntN(len(edge))]
		}
		return rng.IntN(scale)
	}
	for _, mss := range []int{cubicTestMSS, 1, 0, -7, 65535, 1 << 40} {
		c := NewCUBIC(mss).(*cubic)
		now := base
		for i := range 20000 {
			switch rng.IntN(4) {
			case 0:
				now = now.Add(durs[rng.IntN(len(durs))])
			case 1:
				now = now.Add(time.Duration(rng.Int64N(int64(2*time.Second))) - time.Second)
			default:
				now = now.Add(time.Duration(rng.IntN(int(time.Millisecond))))
			}
			if rng.IntN(100) == 0 {
				now = time.Time{}
			}
			switch op := rng.IntN(20); {
			case op == 0:
				c.OnLoss(now, pick(ints, 1<<22))
			case op == 1:
				c.OnRetransmitTimeout(now, pick(ints, 1<<22))
			default:
				rtt := time.Duration(0)
				if rng.IntN(3) == 0 {
					rtt = durs[rng.IntN(len(durs))]
				}
				acked := c.mss
				if rng.IntN(4) == 0 {
					acked = pick(ints, 1<<20)
				}
				inFlight := c.CWND()
				if rng.IntN(4) == 0 {
					inFlight = pick(ints, 1<<22)
				}
				c.OnAck(now, acked, inFlight, rtt)
			}
			if w := c.CWND(); w < c.mss || w > 1<<30 || c.ssthresh < 2*c.mss || c.ssthresh > 1<<30 {
				t.Fatalf("mss %d, step %d: cwnd %d ssthresh %d", mss, i, w, c.ssthresh)
			}
			for _, v := range []float64{c.cwnd, c.cwndPrior, c.wMax, c.k, c.cwndEpoch, c.wEst, c.wCubic(since(now, c.epoch).Seconds())} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("mss %d, step %d: state %+v", mss, i, *c)
				}
			}
			if c.cwnd < float64(c.mss) || c.cwnd > 1<<30 {
				t.Fatalf("mss %d, step %d: cwnd %v", mss, i, c.cwnd)
			}
		}
	}
}

// TestCUBICOnAckNoAllocs: the per-ACK path allocates nothing.
func TestCUBICOnAckNoAllocs(t *testing.T) {
	s := newCubicSim(10 * time.Millisecond)
	s.lossAt(t, 100)
	now := s.now
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(100 * time.Microsecond)
		s.c.OnAck(now, cubicTestMSS, s.c.wnd, 10*time.Millisecond)
	}); n != 0 {
		t.Fatalf("%v allocations per ACK", n)
	}
}

func BenchmarkCUBICOnAck(b *testing.B) {
	c := NewCUBIC(1460).(*cubic)
	c.OnLoss(base, 100*1460)
	now := base
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%100000 == 0 {
			c.OnLoss(now, c.wnd) // stay on the curve rather than at the 2^30 cap
		}
		now = now.Add(100 * time.Microsecond)
		c.OnAck(now, 1460, c.wnd, 10*time.Millisecond)
	}
}

// TestRenoLossNeverRaisesTheWindow: a loss sets ssthresh and cwnd to half
// the flight (RFC 5681 (4)), at least two segments, but a flight of more
// than twice cwnd (SACKed or lost data still below SND.MAX) leaves them at
// cwnd: a loss never raises the window.
func TestRenoLossNeverRaisesTheWindow(t *testing.T) {
	for _, tc := range []struct {
		name           string
		inFlight, want int // in segments
	}{
		{"full window", 40, 20},
		{"half the window", 20, 10},
		{"SACKed beyond the window", 120, 40},
		{"nothing in flight", 0, 2},
	} {
		r := NewReno(cubicTestMSS).(*reno)
		for r.cwnd < 40*cubicTestMSS {
			r.OnAck(base, cubicTestMSS, r.cwnd, 0)
		}
		r.OnLoss(base, tc.inFlight*cubicTestMSS)
		if r.cwnd != tc.want*cubicTestMSS || r.ssthresh != tc.want*cubicTestMSS {
			t.Errorf("%s: cwnd %d ssthresh %d, want %d", tc.name, r.cwnd, r.ssthresh, tc.want*cubicTestMSS)
		}
	}
}
