package tcp

import "time"

// hystart is HyStart++ (RFC 9406): slow start that watches the round-trip
// time and leaves for congestion avoidance when queues start to build,
// before a doubling window overflows them and loses half a window at once.
// The controllers (Reno, CUBIC) ask it how much to grow on each ACK while
// below ssthresh.
//
// Rounds are counted in bytes acknowledged: a round ends once everything
// in flight when it began is acknowledged, RFC 9406's "SND.UNA passes
// windowEnd" in a form the controller can see.
type hystart struct {
	acked    int64 // bytes acknowledged so far
	roundEnd int64 // acked at which the current round ends

	lastMin, curMin time.Duration // min RTT of the last and the current round; 0: none
	samples         int           // RTT samples in the current round
	css             bool          // in Conservative Slow Start
	cssBaseline     time.Duration // the current round's min RTT when CSS began
	cssRounds       int           // rounds spent in CSS
	done            bool          // slow start is over: ssthresh takes over
}

// RFC 9406 §4.3 constants.
const (
	hsMinRTTThresh    = 4 * time.Millisecond
	hsMaxRTTThresh    = 16 * time.Millisecond
	hsMinRTTDivisor   = 8
	hsNRTTSample      = 8
	hsCSSGrowthDiv    = 4
	hsCSSRounds       = 5
	hsMaxGrowthPerAck = 2 // L, in segments: RFC 3465's limit, so delayed ACKs still double the window
)

// grow returns how much a window in slow start grows for an ACK of acked
// bytes with inFlight outstanding before it and an RTT sample rtt (0: none),
// and whether slow start should end now (ssthresh = cwnd, RFC 9406 §4.3:
// after CSS_ROUNDS rounds of Conservative Slow Start).
func (h *hystart) grow(acked, inFlight, mss int, rtt time.Duration) (inc int, exit bool) {
	if h.acked >= h.roundEnd {
		// A round begins (RFC 9406 §4.2).
		h.lastMin, h.curMin, h.samples = h.curMin, 0, 0
		h.roundEnd = h.acked + int64(inFlight)
		if h.css {
			if h.cssRounds++; h.cssRounds >= hsCSSRounds {
				h.done = true
				return 0, true
			}
		}
	}
	h.acked += int64(acked)
	if rtt > 0 {
		if h.curMin == 0 || rtt < h.curMin {
			h.curMin = rtt
		}
		h.samples++
	}
	inc = min(acked, hsMaxGrowthPerAck*mss)
	if h.css {
		if h.curMin > 0 && h.curMin < h.cssBaseline {
			// The RTT fell back: the increase was spurious, resume slow
			// start (§4.3).
			h.css, h.cssRounds = false, 0
			return inc, false
		}
		return inc / hsCSSGrowthDiv, false
	}
	if h.samples >= hsNRTTSample && h.lastMin > 0 && h.curMin > 0 {
		thresh := min(max(h.lastMin/hsMinRTTDivisor, hsMinRTTThresh), hsMaxRTTThresh)
		if h.curMin >= h.lastMin+thresh {
			// The queue is growing: Conservative Slow Start (§4.3).
			h.css, h.cssBaseline, h.cssRounds = true, h.curMin, 0
			return inc / hsCSSGrowthDiv, false
		}
	}
	return inc, false
}

// reset starts over after a loss or timeout: HyStart++ applies to every
// slow start (RFC 9406 §4.3 "after an RTO").
func (h *hystart) reset() { *h = hystart{acked: h.acked, roundEnd: h.acked} }
