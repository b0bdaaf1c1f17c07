package tcp

import (
	"math"
	"time"
)

// Constants of CUBIC (RFC 9438 §4.1.1) and of this implementation.
const (
	cubicC     = 0.4                                   // §5.1: C SHOULD be 0.4, in segments per second cubed
	cubicBeta  = 0.7                                   // §4.6: β_cubic SHOULD be 0.7
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta) // §4.3: α_cubic, about 0.53, Reno's average window
	cubicFast  = (1 + cubicBeta) / 2                   // §4.7: the fast-convergence factor on W_max
	cubicMaxW  = 1 << 30                               // bytes: the largest window TCP can use (RFC 7323 §2.3: 65535 << 14)
	cubicRTT0  = 333 * time.Millisecond                // RFC 9002 §6.2.2 kInitialRtt: the RTT before any sample
	cubicMSS   = 65535                                 // the largest MSS the option can carry (RFC 9293 §3.2)
)

// cubic is CUBIC congestion control (RFC 9438): after a congestion event
// the window follows W_cubic(t) = C*(t-K)^3 + W_max, concave while it climbs
// back to the W_max where the loss happened and convex beyond it, and never
// grows slower than an estimate of what Reno would have (the Reno-friendly
// region). Slow start is RFC 5681's.
//
// Windows are kept in bytes (§4.1 allows it) as float64, the curve itself in
// segments; the window the engine sees is an int. The arithmetic is
// deterministic: every product that feeds a sum goes through an explicit
// float64 conversion, which the Go spec says stops the compiler fusing it
// into an FMA, so every GOARCH computes the same bits.
//
// Choices where the RFC leaves room, or the interface limits what can be done:
//   - ssthresh is flight_size*β_cubic as §4.6 writes it, not cwnd*β_cubic as
//     Linux does; flight_size is the inFlight the engine passes, SND.MAX -
//     SND.UNA. In fast recovery it is never more than cwnd: with SACK,
//     SND.MAX - SND.UNA also counts what the peer has SACKed and what is
//     lost, and a loss found just after a recovery, with much of the
//     window SACKed above holes repaired late, would otherwise raise the
//     window above the one in use when the loss happened (on a drop-tail
//     queue, from 916 segments to 1,399), and the next stage would overflow
//     the queue at once. A congestion event never raises the window.
//   - Fast convergence (§4.7) is always on: a controller cannot know whether
//     its flow is alone on the path.
//   - RTT is the smoothed RTT of RFC 6298, as §4.1.2 defines it, fed only by
//     the samples OnAck is given (0 means no sample). Before the first one it
//     is RFC 9002's kInitialRtt, 333 ms; it only sets how far ahead the
//     target looks, and §4.2 bounds the target at 1.5*cwnd anyway.
//   - In congestion avoidance the flow is application-limited (§5.8) when
//     an ACK finds at least one MSS of the window unused: the engine fills
//     the window to the last byte, so this also catches a receive window
//     that limits it. Such ACKs grow neither cwnd nor W_est, and the time
//     since the previous ACK is cut out of t, as §4.2 requires. A sender
//     that fills its window gets an ACK at least once a round trip, so a
//     longer gap means it went idle even if it filled the window afterwards:
//     all of the gap but one RTT, the time the data was in flight, is cut
//     out too. Slow start is RFC 5681's and grows on every ACK.
//   - In congestion avoidance the engine's window grows in whole segments,
//     as Reno's does, so that fractional growth never makes it send runt
//     segments; cwnd itself grows by the fraction the RFC says.
//   - Slow start ends by HyStart++ (RFC 9406), which §4.10 recommends,
//     and by Linux's ACK-train test, which sees a bottleneck fill that an
//     unpaced sender's bursts hide from HyStart++ (hystart.go).
//   - ECN is not signalled through the interface, so §4.6's ECE response
//     is not done.
//   - Windows are capped at 2^30 bytes, the most TCP can use, so that no
//     input can overflow them or make them infinite.
type cubic struct {
	hs  hystart // slow start's exit (RFC 9406)
	mss int
	cubicWindow
	prior   cubicPrior // before the last reduction, for Undo (§4.9)
	srtt    time.Duration
	lastAck mono // the time of the last ACK, 0 before the first
	inEpoch bool // a congestion avoidance stage began at epoch (t_epoch)
	probe   bool // no W_max to return to: the next stage starts at K = 0 (§4.8, §4.10)
	rtoHeld bool // a timeout with no ACK since: another is a backoff of the same segment
	hasRTT  bool
}

// cubicPrior is what an undo restores (RFC 9438 §4.9): the window and
// threshold, W_max and cwnd_prior; K and t_epoch follow from them when the
// next congestion avoidance stage begins. Kept small: every connection
// carries one.
type cubicPrior struct {
	wnd, ssthresh   int32
	wMax, cwndPrior float64
}

// save notes the state a congestion event is about to change.
func (c *cubic) save() {
	c.prior = cubicPrior{wnd: int32(c.wnd), ssthresh: int32(c.ssthresh), wMax: c.wMax, cwndPrior: c.cwndPrior}
}

// cubicWindow is the state a congestion event changes.
type cubicWindow struct {
	wnd       int     // the window the engine sees, bytes
	ssthresh  int     // bytes
	cwnd      float64 // the RFC's cwnd, bytes: wnd plus growth of less than a segment
	cwndPrior float64 // §4.1.2 cwnd_prior: cwnd when ssthresh was last set
	wMax      float64 // §4.1.2 W_max, bytes
	k         float64 // §4.1.2 K, seconds
	cwndEpoch float64 // §4.1.2 cwnd_epoch, bytes
	wEst      float64 // §4.3 W_est, bytes
	epoch     mono    // §4.2 t_epoch, when inEpoch
}

var _ CongestionControl = (*cubic)(nil)

// NewCUBIC returns a CUBIC congestion controller (RFC 9438) for a connection
// whose segments carry at most mss bytes: slow start from an initial window
// of ten segments (RFC 6928), then the cubic window growth of RFC 9438 with
// its Reno-friendly region, β_cubic = 0.7 and fast convergence. It is a
// value for Config.NewCongestionControl. An mss out of [1, 65535] is
// clamped into it.
func NewCUBIC(mss int) CongestionControl {
	mss = min(max(mss, 1), cubicMSS)
	return &cubic{mss: mss, cubicWindow: cubicWindow{
		wnd:      10 * mss, // RFC 6928 IW10
		cwnd:     float64(10 * mss),
		ssthresh: cubicMaxW, // RFC 5681 §3.1: arbitrarily high
	},
		probe: true, // §4.10: no W_max before the first congestion event
	}
}

func (c *cubic) CWND() int { return c.wnd }

func (c *cubic) OnAck(now time.Time, acked, inFlight int, rtt time.Duration) {
	if rtt > 0 {
		c.sampleRTT(rtt)
	}
	var gap time.Duration
	if c.lastAck != 0 {
		gap = max(since(now, c.lastAck), 0)
	}
	c.lastAck = monoAt(now)
	c.rtoHeld = false
	if acked <= 0 {
		return
	}
	if c.wnd < c.ssthresh {
		// RFC 5681 (2) slow start, RFC 9438 §4.10, with HyStart++ (RFC
		// 9406), counting up to two segments per ACK (RFC 3465 §2.3,
		// L=2*SMSS) so that delayed ACKs do not slow it down.
		inc, exit := c.hs.grow(now, acked, inFlight, c.wnd, c.mss, rtt)
		c.cwnd = min(c.cwnd+float64(inc), cubicMaxW)
		c.wnd = int(c.cwnd)
		if exit {
			c.ssthresh = c.wnd // RFC 9406 §4.3: on to congestion avoidance
		}
		return
	}
	c.avoid(now, gap, acked, inFlight)
}

// avoid is congestion avoidance on an ACK of new data (RFC 9438 §4.2-§4.5).
func (c *cubic) avoid(now time.Time, gap time.Duration, acked, inFlight int) {
	if !c.inEpoch {
		c.startEpoch(now)
	}
	if inFlight <= c.wnd-c.mss {
		c.skip(now, gap) // §5.8: application-limited, no growth, and §4.2: t excludes it
		return
	}
	if r := c.rtt(); gap > r {
		c.skip(now, gap-r) // §4.2: an idle period is not part of t either
	}
	t := max(since(now, c.epoch).Seconds(), 0)    // §4.2: t = t_current - t_epoch
	target := c.wCubic(t + c.rtt().Seconds())     // §4.2: W_cubic(t+RTT) ...
	target = min(max(target, c.cwnd), 1.5*c.cwnd) // ... bounded to [cwnd, 1.5*cwnd]
	a := min(float64(acked), c.cwnd)              // one ACK counts for at most a window
	alpha := cubicAlpha                           // §4.3 Figure 4
	if c.wEst >= c.cwndPrior {
		alpha = 1 // §4.3: W_est >= cwnd_prior, grow as Reno does
	}
	c.wEst = min(c.wEst+alpha*a*float64(c.mss)/c.cwnd, cubicMaxW) // §4.3 Figure 4, in bytes
	if c.wCubic(t) < c.wEst {
		c.cwnd = max(c.cwnd, c.wEst) // §4.3: the Reno-friendly region, cwnd = W_est (never shrunk by an ACK)
	} else {
		c.cwnd += float64((target - c.cwnd) / c.cwnd * a) // §4.4, §4.5: (target-cwnd)/cwnd per segment acked
	}
	c.cwnd = min(c.cwnd, cubicMaxW)
	if w := int(c.cwnd); w >= c.wnd+c.mss {
		c.wnd += (w - c.wnd) / c.mss * c.mss // whole segments, as Reno grows
	}
}

// startEpoch begins a congestion avoidance stage at now (RFC 9438 §4.2).
func (c *cubic) startEpoch(now time.Time) {
	c.epoch, c.inEpoch = monoAt(now), true // §4.2: t_epoch
	c.cwndEpoch = c.cwnd                   // §4.2: cwnd_epoch
	c.wEst = c.cwnd                        // §4.3: W_est = cwnd_epoch at the start of the stage
	if c.probe || c.wMax <= c.cwndEpoch {
		// §4.8 after a timeout, §4.10 after a slow start that saw no loss:
		// K = 0 and W_max = cwnd_epoch. So too when fast convergence or a
		// small flight left W_max at or below cwnd_epoch: there is nothing
		// to climb back to, and a negative K would be convex from the start.
		c.wMax, c.k = c.cwndEpoch, 0
		c.probe = false
		return
	}
	c.k = math.Cbrt((c.wMax - c.cwndEpoch) / float64(c.mss) / cubicC) // §4.2 Figure 2, in segments
}

// skip cuts d out of the current stage's t, without moving t_epoch past now.
func (c *cubic) skip(now time.Time, d time.Duration) {
	c.epoch = min(c.epoch+mono(d), monoAt(now))
}

// wCubic is W_cubic(t) in bytes (RFC 9438 §4.2 Figure 1; C is in segments).
func (c *cubic) wCubic(t float64) float64 {
	d := t - c.k
	return float64(cubicC*d*d*d*float64(c.mss)) + c.wMax
}

// rtt is §4.1.2's RTT: the smoothed RTT, or kInitialRtt before a sample.
func (c *cubic) rtt() time.Duration {
	if !c.hasRTT {
		return cubicRTT0
	}
	return c.srtt
}

// sampleRTT folds a sample into the smoothed RTT (RFC 6298 §2.2, §2.3).
func (c *cubic) sampleRTT(r time.Duration) {
	if !c.hasRTT {
		c.srtt, c.hasRTT = r, true
		return
	}
	c.srtt += (r - c.srtt) / 8 // alpha = 1/8
}

// OnLoss is a congestion event found by duplicate ACKs (RFC 9438 §4.6, §4.7).
func (c *cubic) OnLoss(_ time.Time, inFlight int) {
	c.hs.reset()
	c.save()
	if c.cwnd < c.wMax {
		c.wMax = c.cwnd * cubicFast // §4.7: fast convergence, release bandwidth
	} else {
		c.wMax = c.cwnd // §4.7 otherwise, §4.1.2: cwnd just before the reduction
	}
	c.cwndPrior = c.cwnd                                             // §4.6: cwnd_prior = cwnd
	c.ssthresh = min(c.reduced(inFlight), max(int(c.cwnd), 2*c.mss)) // never above cwnd (see the type's doc)
	c.cwnd = float64(c.ssthresh)                                     // §4.6: cwnd = max(ssthresh, 2); the engine adds the 3*SMSS inflation
	c.wnd = c.ssthresh
	c.inEpoch, c.probe, c.rtoHeld = false, false, false // a new stage begins when avoidance resumes
}

// OnRetransmitTimeout is RFC 9438 §4.8: cwnd as Reno's, ssthresh as §4.6.
func (c *cubic) OnRetransmitTimeout(_ time.Time, inFlight int) {
	c.hs.reset()
	if !c.rtoHeld {
		// RFC 5681 §3.1: when the segment timing out was already resent by
		// a timeout, ssthresh is held; so are cwnd_prior and W_max.
		c.save()
		c.cwndPrior = c.cwnd
		c.ssthresh = c.reduced(inFlight) // §4.8: ssthresh as in §4.6
	}
	c.cwnd, c.wnd = float64(c.mss), c.mss             // §4.8, RFC 5681 §3.1: the loss window, one segment
	c.inEpoch, c.probe, c.rtoHeld = false, true, true // §4.8: the next stage starts at K = 0
}

// reduced is the ssthresh of RFC 9438 §4.6 Figure 5 for inFlight bytes.
func (c *cubic) reduced(inFlight int) int {
	flight := min(max(inFlight, 0), cubicMaxW)
	return max(int(math.Round(float64(flight)*cubicBeta)), 2*c.mss) // §4.6: flight_size*β_cubic, at least 2 MSS
}

// Undo is §4.9's response to a spurious congestion event, which the
// engine finds by timestamps, D-SACK or F-RTO: the window, threshold,
// W_max and cwnd_prior from before the event come back, the window never
// below what it is now, and a new stage starts from them.
func (c *cubic) Undo() {
	p := c.prior
	if w := int(p.wnd); w > c.wnd {
		c.wnd, c.cwnd = w, float64(w)
	}
	c.ssthresh = max(int(p.ssthresh), c.ssthresh)
	c.wMax, c.cwndPrior = p.wMax, p.cwndPrior
	c.inEpoch, c.probe, c.rtoHeld = false, false, false
}
