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
//
// RFC 9406 compares the least RTT of each round with the last round's. A
// sender that is not paced sends each round as a burst, which a bottleneck
// spreads out: while a round's burst takes less than a round trip to
// drain, the queue empties between rounds and the first ACKs of every
// round see no queue at all, so the round's least RTT never rises. The
// window then doubles until the queue overflows, by up to a whole
// bandwidth-delay product. So, as Linux's CUBIC does (HYSTART_ACK_TRAIN),
// slow start also ends when the ACKs of one round arrive as one train,
// each within hsAckDelta of the last, for longer than half the least RTT:
// the bottleneck is then busy for half of every round trip, and the
// doubling window fills it and its queue within the next round.
type hystart struct {
	acked    int64 // bytes acknowledged so far
	roundEnd int64 // acked at which the current round ends

	lastMin, curMin time.Duration // min RTT of the last and the current round; 0: none
	cssBaseline     time.Duration // the current round's min RTT when CSS began
	samples         int32         // RTT samples in the current round
	cssRounds       int32         // rounds spent in CSS
	css             bool          // in Conservative Slow Start
	done            bool          // slow start is over: ssthresh takes over

	baseMin    time.Duration // the least RTT seen (Linux's delay_min); 0: none
	trainStart int64         // monoNanos of the current round's first ACK
	trainLast  int64         // monoNanos of the last ACK of the round's train
}

// RFC 9406 §4.3 constants, and Linux's for the ACK train.
const (
	hsMinRTTThresh    = 4 * time.Millisecond
	hsMaxRTTThresh    = 16 * time.Millisecond
	hsMinRTTDivisor   = 8
	hsNRTTSample      = 8
	hsCSSGrowthDiv    = 4
	hsCSSRounds       = 5
	hsMaxGrowthPerAck = 2                    // L, in segments: RFC 3465's limit, so delayed ACKs still double the window
	hsAckDelta        = 2 * time.Millisecond // Linux hystart_ack_delta_us: the most between two ACKs of one train
	hsLowWindow       = 16                   // Linux hystart_low_window: segments below which the train is not watched
)

// grow returns how much a window of cwnd bytes in slow start grows for an
// ACK at now of acked bytes with inFlight outstanding before it and an RTT
// sample rtt (0: none), and whether slow start should end now (ssthresh =
// cwnd): after CSS_ROUNDS rounds of Conservative Slow Start (RFC 9406
// §4.3), or when the round's ACK train shows the bottleneck full.
func (h *hystart) grow(now time.Time, acked, inFlight, cwnd, mss int, rtt time.Duration) (inc int, exit bool) {
	t := monoNanos(now)
	if h.acked >= h.roundEnd {
		// A round begins (RFC 9406 §4.2).
		h.lastMin, h.curMin, h.samples = h.curMin, 0, 0
		h.roundEnd = h.acked + int64(inFlight)
		h.trainStart, h.trainLast = t, t
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
		if h.baseMin == 0 || rtt < h.baseMin {
			h.baseMin = rtt
		}
		h.samples++
	}
	if h.train(t, cwnd, mss) {
		h.done = true
		return 0, true
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

// train is the ACK-train test (Linux's hystart_update): an ACK at t that
// comes within hsAckDelta of the last extends the round's train, which
// ends slow start once it is longer than half the least RTT. A gap breaks
// the train for the rest of the round. Small windows, and a connection
// with no RTT sample yet, are not judged.
func (h *hystart) train(t int64, cwnd, mss int) bool {
	if time.Duration(t-h.trainLast) > hsAckDelta {
		return false
	}
	h.trainLast = t
	return cwnd >= hsLowWindow*mss && h.baseMin > 0 && time.Duration(t-h.trainStart) > h.baseMin/2
}

// reset starts over after a loss or timeout: HyStart++ applies to every
// slow start (RFC 9406 §4.3 "after an RTO"). The least RTT seen stays.
func (h *hystart) reset() {
	*h = hystart{acked: h.acked, roundEnd: h.acked, baseMin: h.baseMin}
}
