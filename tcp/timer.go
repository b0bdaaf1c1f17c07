package tcp

import (
	"time"

	"github.com/synack-net/synack/wire"
)

// HandleTimer runs the timers that are due at now: TIME-WAIT and orphaned
// FIN-WAIT-2 expiry, retransmission (RFC 6298 §5.4-5.7) and the persist
// timer (RFC 9293 §3.8.6.1). The stack calls it at or after Deadline.
func (c *Conn) HandleTimer(now time.Time) {
	c.now = now
	if !c.closeAt.IsZero() && !now.Before(c.closeAt) {
		c.closeAt = time.Time{}
		if c.state == StateTimeWait {
			c.traceTimer("2MSL")
			c.setState(StateClosed, "timeout 2MSL")
		} else {
			c.finWait2Timeout()
		}
		return
	}
	if c.rtoAt.due(now) {
		c.rtoAt = 0
		switch c.timerKind() {
		case timerReorder:
			c.reorderTimeout(now)
		case timerProbe:
			c.sendLossProbe(now)
		default:
			c.retransmitTimeout(now)
		}
	}
	if c.persistAt.due(now) {
		c.persistAt = 0
		c.probe(now)
	}
	if c.delackAt.due(now) {
		c.delackAt = 0
		c.ackNow = true // RFC 1122 §4.2.3.2: the delayed ACK is due
	}
	if c.kaAt.due(now) {
		c.kaAt = 0
		c.keepAliveTimer(now)
	}
	if c.state != StateClosed {
		c.flush(now)
	}
}

// backoff doubles the RTO up to MaxRTO (RFC 6298 §5.5).
func (c *Conn) backoff() {
	c.rto = min(2*c.rto, c.cfg.MaxRTO)
}

// retransmitTimeout is RFC 6298 §5.4-5.6 and, for the SYN, RFC 9293
// §3.8.1 with Linux's bounded tcp_syn_retries.
func (c *Conn) retransmitTimeout(now time.Time) {
	c.env.Stats.Timeouts.Add(1)
	c.traceTimer("retransmit")
	c.retries++
	c.rttTiming = false // Karn: no sample from a retransmitted segment
	if c.state == StateSynSent || c.state == StateSynReceived {
		limit, what := c.cfg.SYNRetries, "SYN retries exhausted"
		if c.state == StateSynReceived {
			limit, what = c.cfg.SYNACKRetries, "SYN,ACK retries exhausted"
			if c.listener != nil {
				limit = c.listener.synackRetries(c) // shorter under pressure (synqueue.go)
			}
		}
		if c.retries > limit && c.userTimeout == 0 || c.synUserTimedOut(now) {
			if c.passive {
				c.setState(StateClosed, what) // the half-open connection is dropped silently
			} else {
				c.timedOut(what)
			}
			return
		}
		c.backoff()
		c.env.Stats.RetransSegs.Add(1)
		c.sendSYN(true)
		c.rtoAt = c.clampToUserTimeout(now, after(now, c.rto))
		return
	}
	if c.sndUna == c.sndMax {
		return // nothing outstanding after all
	}
	if c.rtoGiveUp(now) {
		return
	}
	c.ccOf().OnRetransmitTimeout(now, c.reductionFlight())
	c.undoStart(true)
	c.loss.count.timeouts++
	// A timeout ends any fast recovery; recover = SND.MAX keeps duplicate
	// ACKs of the resent window from starting another (RFC 6582 §3.2 step 2).
	c.inRecovery, c.inflate, c.dupAcks, c.recover = false, 0, 0, c.sndMax
	c.loss.tlp.out = false
	if c.retries > 1 || c.sack.sackedIn(c.sndUna, c.sndUna.Add(1)) > 0 {
		// RFC 2018 §8: the receiver may have reneged on what it SACKed; after
		// a second timeout in a row, resend as if nothing was. At once when
		// SND.UNA itself is SACKed: a receiver that held it would have
		// acknowledged it (Linux's tcp_timeout_mark_lost).
		c.forgetSACKs()
	}
	c.backoff()
	if c.lossOn() {
		// RFC 8985 §6.3: what has been out long enough is lost, and goes
		// again under slow start, lost segments first. F-RTO (RFC 5682)
		// watches the first timeout of a run for being spurious.
		c.markLostOnRTO(now)
		u := &c.loss.undo
		u.frto, u.frtoNew, u.frtoStep2, u.frtoAt = c.retries == 1, false, false, monoNanos(now)
	} else {
		// Without SACK, go back to SND.UNA (go-back-N).
		c.sndNxt = c.sndUna
	}
	// output resends as the windows allow and re-arms the timer with the
	// backed-off RTO (§5.6).
	c.output(now)
	if c.rtoAt.IsZero() && c.sndUna != c.sndMax && c.persistAt.IsZero() {
		c.rtoAt = after(now, c.rto)
	}
	c.rtoAt = c.clampToUserTimeout(now, c.rtoAt)
}

// probe sends a zero-window probe and backs the persist timer off. Like
// Linux, the probe is a bare ACK one byte below SND.UNA: out of window for
// the peer, which must answer with an ACK that carries its current window.
// Probing gives up on a peer that stops answering (probeGiveUp).
func (c *Conn) probe(now time.Time) {
	if !c.state.sending() || !c.sndNxt.LessThan(c.dataEnd()) || c.sndNxt != c.sndUna {
		c.probesOut = 0 // no stall: data in flight or none waiting (Linux tcp_probe_timer)
		return
	}
	if c.sndWnd > 0 {
		// The override of sender SWS avoidance (RFC 9293 §3.8.6.2.1): the
		// window is open but too small to be worth it; send what fits.
		c.traceTimer("SWS override")
		c.sendRange(now, c.sndNxt, c.sndWnd)
		return
	}
	if c.probeGiveUp(now) {
		return
	}
	c.traceTimer("persist")
	c.sendProbe()
	c.env.Stats.WinProbes.Add(1)
	c.probes++
	c.probesOut++
	d := c.rto << min(c.probes, 16)
	c.persistAt = c.clampToUserTimeout(now, after(now, min(d, c.cfg.MaxRTO)))
}

// sendProbe sends a bare ACK one byte below SND.UNA: a zero-window or
// keepalive probe. It is old for the peer, which answers with an ACK
// carrying its current RCV.NXT and window.
func (c *Conn) sendProbe() {
	c.sendSegment(wire.FlagACK, c.sndUna.Sub(1), nil, nil, false)
}

// sampleRTT folds one RTT measurement into SRTT, RTTVAR and RTO (RFC 6298 §2.2, §2.3).
func (c *Conn) sampleRTT(r time.Duration) {
	const g = time.Millisecond // clock granularity G
	if !c.hasRTT {
		// §2.2: the first measurement. Not "SRTT == 0": a sample of 0 (a
		// clock that did not tick over a fast path) is a measurement too.
		c.hasRTT = true
		c.srtt, c.rttvar = r, r/2
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4 // beta = 1/4
		c.srtt = (7*c.srtt + r) / 8     // alpha = 1/8
	}
	c.rto = min(max(c.srtt+max(g, 4*c.rttvar), c.cfg.MinRTO), c.cfg.MaxRTO) // §2.4, §2.5
}

// timerKind is what the retransmission timer slot is armed for.
func (c *Conn) timerKind() timerKind {
	if c.loss == nil {
		return timerRTO
	}
	k := c.loss.timer
	c.loss.timer = timerRTO
	return k
}
