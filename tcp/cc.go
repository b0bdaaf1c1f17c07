package tcp

import "time"

// CongestionControl decides the congestion window (RFC 5681 cwnd). The
// engine calls it on every event that matters and never sends more than
// CWND bytes beyond snd.una. Implementations are per connection and need no
// locking.
type CongestionControl interface {
	// CWND is the congestion window in bytes.
	CWND() int
	// OnAck is told that acked bytes of new data were acknowledged, with
	// the bytes in flight before the ACK and, when one was taken, an RTT sample.
	OnAck(now time.Time, acked, inFlight int, rtt time.Duration)
	// OnRetransmitTimeout is told that the retransmission timer expired
	// with inFlight bytes outstanding (the flight size, capped at the
	// window: see OnLoss).
	OnRetransmitTimeout(now time.Time, inFlight int)
	// OnLoss is told that a loss was found (by RACK, three duplicate
	// ACKs or a loss probe) with inFlight bytes outstanding (RFC 5681
	// §3.2 step 2): it sets ssthresh and cwnd for the recovery the engine
	// then runs. inFlight is SND.MAX - SND.UNA capped at the window, so
	// data SACKed above a hole never makes a reduction raise the window.
	OnLoss(now time.Time, inFlight int)
}

// reno is slow start and congestion avoidance of RFC 5681 §3.1 with the
// initial window of RFC 6928. The engine detects losses and runs NewReno
// fast recovery (RFC 6582); this decides the windows.
type reno struct {
	hs       hystart // slow start's exit (RFC 9406)
	mss      int
	cwnd     int
	ssthresh int
	acc      int // bytes acked in congestion avoidance, toward one MSS of growth
	// The window and threshold before the last reduction, for Undo;
	// held says a timeout in a row keeps them (the first one's count).
	priorCwnd, priorSsthresh int
	held                     bool
}

// NewReno returns the default congestion controller for a connection whose
// segments carry at most mss bytes.
func NewReno(mss int) CongestionControl {
	return &reno{mss: mss, cwnd: 10 * mss, ssthresh: 1 << 30} // RFC 6928 IW10; RFC 5681 §3.1: ssthresh arbitrarily high
}

func (r *reno) CWND() int { return r.cwnd }

func (r *reno) OnAck(now time.Time, acked, inFlight int, rtt time.Duration) {
	r.held = false // a timeout after this ACK starts a new run
	if r.cwnd < r.ssthresh {
		// RFC 5681 (2): slow start, with RFC 3465 §2.3's L=2*SMSS for
		// delayed ACKs and HyStart++'s exit (RFC 9406).
		inc, exit := r.hs.grow(now, acked, inFlight, r.cwnd, r.mss, rtt)
		r.cwnd += inc
		if exit {
			r.ssthresh = r.cwnd
		}
		return
	}
	r.acc += acked // RFC 5681 (3): about one MSS per RTT
	if r.acc >= r.cwnd {
		r.acc -= r.cwnd
		r.cwnd += r.mss
	}
}

func (r *reno) OnLoss(_ time.Time, inFlight int) {
	r.hs.reset()
	r.priorCwnd, r.priorSsthresh, r.held = r.cwnd, r.ssthresh, false
	r.ssthresh = r.halved(inFlight)
	r.cwnd = r.ssthresh // the engine adds the 3*SMSS inflation (RFC 6582 step 2)
	r.acc = 0
}

func (r *reno) OnRetransmitTimeout(_ time.Time, inFlight int) {
	r.hs.reset()
	if !r.held {
		r.priorCwnd, r.priorSsthresh, r.held = r.cwnd, r.ssthresh, true
	}
	r.ssthresh = max(inFlight/2, 2*r.mss) // RFC 5681 (4)
	r.cwnd = r.mss                        // loss window: one segment
	r.acc = 0
}

// halved is RFC 5681 (4)'s ssthresh for a fast recovery, FlightSize/2 and
// at least two segments, for inFlight bytes outstanding, but never above
// cwnd: with SACK, what is outstanding counts what the peer has SACKed
// and what is lost, and a loss found just after a recovery must not
// raise the window (see cubic).
func (r *reno) halved(inFlight int) int {
	return min(max(inFlight/2, 2*r.mss), max(r.cwnd, 2*r.mss))
}

// Undo is RFC 4015's response to a spurious reduction: the window and
// threshold return to what they were (Linux tcp_undo_cwnd_reduction:
// never below what they are now).
func (r *reno) Undo() {
	r.cwnd = max(r.cwnd, r.priorCwnd)
	r.ssthresh = max(r.ssthresh, r.priorSsthresh)
	r.held = false
}
