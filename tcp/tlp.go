package tcp

import (
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// This file is the Tail Loss Probe of RFC 8985 §7: when the last segments
// of a flight are lost no ACK comes to show it, and without a probe only
// the retransmission timeout would. After about two round trips of silence
// the sender sends one segment (new data, or the last one again) so that
// the ACK it draws lets RACK find the loss and fast recovery repair it.

// tlpState is one probe episode (RFC 8985 §7.1).
type tlpState struct {
	end     seqnum.Value // TLP.end_seq: SND.NXT when the probe went
	out     bool         // a probe is out (TLP.end_seq is set)
	retrans bool         // TLP.is_retrans: the probe resent the last segment
	sending bool         // sendLossProbe is sending it: the receive window bounds it, cwnd does not (RFC 8985 §7.3)
}

// wcDelAckT is WCDelAckT of RFC 8985 §7.2: the longest a receiver may
// delay an ACK for a lone segment (RFC 1122 §4.2.3.2 allows 500 ms; 200 ms
// is what is common, and Linux's TCP_DELACK_MAX).
const wcDelAckT = 200 * time.Millisecond

// ptoSlack is what the probe timeout adds to 2*SRTT when more than one
// segment is in flight, for the timer's own granularity (Linux's
// TCP_TIMEOUT_MIN, 2 ms): on a path of microseconds a probe a few round
// trips after the last ACK would race the ACKs still coming.
const ptoSlack = 2 * time.Millisecond

// pto is the probe timeout of RFC 8985 §7.2: twice SRTT, plus WCDelAckT
// when one segment is in flight (its ACK may be delayed), else plus
// ptoSlack; 1 s before any RTT sample.
func (c *Conn) pto() time.Duration {
	if !c.hasRTT {
		return time.Second
	}
	if int(c.sndUna.Size(c.sndMax)) <= c.mss {
		return 2*c.srtt + wcDelAckT
	}
	return 2*c.srtt + ptoSlack
}

// mayProbe reports whether a probe may be scheduled (RFC 8985 §7.2): SACK
// in use, data in flight, no recovery under way and no probe out.
func (c *Conn) mayProbe() bool {
	l := c.loss
	return l != nil && c.lossOn() && c.state.sending() && c.sndUna != c.sndMax &&
		!c.inRecovery && !c.inLoss() && !l.tlp.out && c.persistAt.IsZero()
}

// armTimer sets the retransmission timer slot after an ACK of new data or
// new data sent: the probe timeout when a probe may go, but never later
// than the RTO would fire (RFC 8985 §7.2: "If Now() + PTO >
// TCP_RTO_expire(), PTO = TCP_RTO_expire() - Now()", as Linux's
// tcp_schedule_loss_probe), else the RTO.
func (c *Conn) armTimer(now time.Time) {
	l := c.loss
	if l == nil || l.timer == timerReorder || c.rtoAt.IsZero() {
		return
	}
	if !c.mayProbe() {
		if l.timer == timerProbe {
			l.timer, c.rtoAt = timerRTO, c.clampToUserTimeout(now, after(now, c.rto))
		}
		return
	}
	rto := c.rtoAt
	if l.timer != timerRTO {
		rto = after(now, c.rto)
	}
	l.rtoBase = int64(rto) - int64(c.rto)
	l.timer, c.rtoAt = timerProbe, after(now, c.pto())
	if rto < c.rtoAt {
		c.rtoAt = rto // the probe goes when the RTO would have, instead of it
	}
}

// rearmProbe restarts the probe timeout once new data went or new data
// was acknowledged (RFC 8985 §7.2: "after transmitting new data or
// receiving an ACK").
func (c *Conn) rearmProbe(now time.Time) {
	if c.loss != nil && c.loss.rearm {
		c.loss.rearm = false
		c.armTimer(now)
	}
}

// sendLossProbe is TLP_send_probe of RFC 8985 §7.3: a segment of new data if
// the windows let one go, else the last segment sent, again. The RTO is
// armed after it.
func (c *Conn) sendLossProbe(now time.Time) {
	l := c.loss
	if c.retries == 0 && !l.probed {
		// The stall began when the RTO this probe stands in for was
		// armed, not now: a user timeout counts from there (reap.go).
		c.stallAt, l.probed = l.rtoBase, true
	}
	l.timer = timerRTO
	c.rtoAt = c.clampToUserTimeout(now, after(now, c.rto))
	if !c.mayProbe() {
		return
	}
	c.traceTimer("loss probe")
	l.tlp.sending = true
	defer func() { l.tlp.sending = false }()
	sent := seqnum.Size(0)
	if used := c.sndUna.Size(c.sndNxt); c.sndNxt.LessThan(c.dataEnd()) && used < c.sndWnd {
		sent = c.sendRange(now, c.sndNxt, min(c.sndWnd-used, seqnum.Size(c.segRoom())))
		l.tlp.retrans = false
	}
	if sent == 0 {
		last := l.q.len() - 1
		if last < 0 || l.q.at(last).has(segSACKed) {
			return
		}
		left := l.q.left(last)
		if left.LessThan(c.sndUna) {
			left = c.sndUna
		}
		if c.sendRange(now, left, left.Size(l.q.at(last).end)) == 0 {
			return
		}
		l.tlp.retrans = true
	}
	l.tlp.out, l.tlp.end = true, c.sndNxt
	c.env.Stats.TCPLossProbes.Add(1)
	l.count.probes++
}

// tlpAck is TLP_process_ack of RFC 8985 §7.4, as Linux's
// tcp_process_tlp_ack: an ACK at or past the probe ends the episode, and
// tells whether the probe repaired a loss, which then gets the congestion
// response a loss calls for. dsack says the ACK carried a D-SACK;
// progress that it acknowledged or SACKed anything new.
func (c *Conn) tlpAck(now time.Time, seg *Segment, dsack, progress bool) {
	t := &c.loss.tlp
	if !t.out || seg.Ack.LessThan(t.end) {
		return
	}
	switch {
	case !t.retrans, dsack: // new data delivered, or both copies arrived
		t.out = false
	case seg.Ack.GreaterThan(t.end):
		// The probe repaired a loss at the tail: the window is reduced
		// once, as for a recovery (Linux: CWR, TCPLossProbeRecovery).
		t.out = false
		c.ccOf().OnLoss(now, min(int(c.prevUna.Size(c.sndMax)), c.cwnd())) // the flight before this ACK, at most the window (reductionFlight)
		c.env.Stats.TCPLossProbeRecovery.Add(1)
	case !progress && len(seg.Payload) == 0 && !seg.Flags.Has(wire.FlagFIN):
		t.out = false // a pure duplicate: the original and the probe both arrived
	}
}
