package tcp

import (
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// synchronizedInput is RFC 9293 §3.10.7.4: SYN-RECEIVED and every state
// after it, step by step.
func (c *Conn) synchronizedInput(now time.Time, seg *Segment) {
	st := c.env.Stats
	// Before the sequence check, two segments that are "old" by it but
	// need an answer of their own:
	switch {
	case c.state == StateSynReceived && seg.Flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) == wire.FlagSYN && seg.Seq == c.irs:
		// The peer retransmitted its SYN: our SYN,ACK was lost. Send it
		// again, within the rate limit (as Linux's tcp_check_req).
		if !c.invalidRateLimited(now, invalidSeq) {
			c.sendSYN(true)
		}
		return
	case c.state == StateSynReceived && !c.passive && seg.Flags.Has(wire.FlagSYN|wire.FlagACK) &&
		seg.Seq == c.irs && seg.Ack == c.sndNxt:
		// Simultaneous open, Figure 8 line 6: the peer's SYN,ACK acknowledges our
		// SYN. (Linux accepts it here too rather than answering with an ACK.)
		// It is also the RTT sample of our SYN (RFC 6298 §3).
		c.lastRecv = monoAt(now)
		c.synAcked(now, seg.Ack)
		c.establish("rcv SYN,ACK")
		return
	case c.state == StateTimeWait && seg.Flags.Has(wire.FlagFIN) && !seg.Flags.Has(wire.FlagRST) &&
		seg.Seq.Add(seqnum.Size(len(seg.Payload))).Add(1) == c.rcvNxt:
		// §3.10.7.4 eighth, TIME-WAIT: a retransmission of the remote FIN.
		// Acknowledge it, and restart the 2 MSL timeout.
		c.ackNow = true
		c.closeAt = now.Add(2 * c.cfg.MSL)
		return
	}

	// First: check the sequence number, after the timestamp (RFC 7323 §5.3 R1).
	if !c.paws(now, seg) {
		return
	}
	if !c.acceptable(seg) {
		c.drop(&st.DropOutOfWindow, "DropOutOfWindow")
		// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, rate limited (ratelimit.go).
		// A SYN draws RFC 5961 §4.2's challenge ACK "irrespective of the
		// sequence number", counted and budgeted as one (as Linux).
		if seg.Flags&(wire.FlagSYN|wire.FlagRST) == wire.FlagSYN {
			c.challengeACK(now)
		} else if !seg.Flags.Has(wire.FlagRST) {
			plausible := c.plausibleData(seg)
			c.answerInvalid(now, plausible, invalidSeq) // always answered when plausible
			if n := seqnum.Size(len(seg.Payload)); plausible && n > 0 && seg.Seq.Add(n).LessThanEq(c.rcvNxt) {
				c.noteDuplicate(seg.Seq, seg.Seq.Add(n)) // a retransmission we had: RFC 2883 D-SACK
			}
		}
		return
	}
	c.updateTSRecent(now, seg) // R3
	// Second: check the RST bit (with RFC 5961 §3.2: only an exact match resets).
	if seg.Flags.Has(wire.FlagRST) {
		if seg.Seq != c.rcvNxt {
			c.challengeACK(now)
			return
		}
		c.reset()
		return
	}
	// Fourth: check the SYN bit (RFC 5961 §4 as adopted by RFC 9293).
	if seg.Flags.Has(wire.FlagSYN) {
		if c.state == StateSynReceived && c.passive {
			c.setState(StateClosed, "rcv SYN") // return to LISTEN: the listener keeps listening
			return
		}
		c.challengeACK(now)
		return
	}
	// Fifth: check the ACK field.
	if !seg.Flags.Has(wire.FlagACK) {
		c.drop(&st.DropNoACK, "DropNoACK")
		return
	}
	if !c.processAck(now, seg) {
		return
	}
	c.processText(now, seg)
}

// acceptable is the segment acceptability test of RFC 9293 §3.10.7.4
// against the window last advertised. When the window is zero, a segment
// starting at RCV.NXT is let through so its ACK and RST are still seen; its
// text is not kept (processText trims it).
//
// A segment with no data numbered exactly at the right edge, RCV.NXT+RCV.WND,
// is accepted too, as Linux's tcp_sequence does and as §3.10.7.4's "special
// allowance ... to accept valid ACKs" permits: a peer that filled our window
// numbers its bare ACKs from there, and while the first of that data is
// missing, dropping them would throw away the ACKs of everything we sent.
// Not for a RST: its window stays the strict one of RFC 5961 §3.2.
func (c *Conn) acceptable(seg *Segment) bool {
	wnd := c.rcvWnd()
	n := seg.Len()
	switch {
	case n == 0 && !seg.Flags.Has(wire.FlagRST):
		return seg.Seq.InWindow(c.rcvNxt, wnd+1)
	case n == 0 && wnd == 0:
		return seg.Seq == c.rcvNxt
	case n == 0:
		return seg.Seq.InWindow(c.rcvNxt, wnd)
	case wnd == 0:
		return seg.Seq == c.rcvNxt
	default:
		return seg.Seq.InWindow(c.rcvNxt, wnd) || seg.Seq.Add(n-1).InWindow(c.rcvNxt, wnd)
	}
}

// reset is step two for an acceptable RST.
func (c *Conn) reset() {
	switch c.state {
	case StateSynReceived:
		if c.passive {
			// Figure 9: the half-open connection made by an old duplicate SYN
			// goes back to LISTEN; here that means it is freed.
			c.setState(StateClosed, "rcv RST")
			return
		}
		c.fail(ErrConnectionRefused, "rcv RST")
	case StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		c.rcvBuf.Reset() // "all segment queues should be flushed"
		c.fail(ErrConnectionReset, "rcv RST")
	default: // CLOSING, LAST-ACK, TIME-WAIT
		c.setState(StateClosed, "rcv RST")
	}
}

// processAck is step five. It reports whether processing goes on.
func (c *Conn) processAck(now time.Time, seg *Segment) bool {
	if c.state == StateSynReceived && !c.ackSynReceived(now, seg) {
		return false
	}
	if !c.ackEstablished(now, seg) {
		return false
	}
	c.updateSendWindow(seg)
	return c.ackOfFIN(now)
}

// ackSynReceived is step five in SYN-RECEIVED: an ACK of our SYN enters
// ESTABLISHED (or FIN-WAIT-1, with a close requested). It reports whether
// processing goes on, in the state entered.
func (c *Conn) ackSynReceived(now time.Time, seg *Segment) bool {
	st := c.env.Stats
	// If SND.UNA < SEG.ACK =< SND.NXT, enter ESTABLISHED; else send a reset.
	if !seg.Ack.InRange(c.sndUna.Add(1), c.sndNxt.Add(1)) {
		c.drop(&st.DropBadACK, "DropBadACK")
		c.sendReset(seg.Ack)
		return false
	}
	if c.listener != nil && c.listener.acceptQueueFull() {
		// Linux's default (tcp_abort_on_overflow = 0): drop the final ACK;
		// the peer's retransmissions or our SYN,ACK's complete it later.
		c.drop(&st.ListenOverflows, "ListenOverflows")
		return false
	}
	c.synAcked(now, seg.Ack)
	if rtt, ok := c.tsRTT(now, seg); ok && !c.hasRTT {
		c.sampleRTT(rtt) // the SYN,ACK was retransmitted: its timestamp still times it
	}
	c.sndWnd, c.sndWl1, c.sndWl2 = c.segWnd(seg), seg.Seq, seg.Ack
	c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
	c.cc = nil // made at first use (ccOf), with the MSS now settled
	c.establish("rcv ACK")
	return c.state == StateEstablished || c.state == StateFinWait1
}

// ackEstablished is step five's ESTABLISHED processing, which every later
// state does too: an ACK outside [SND.UNA - MAX.SND.WND, SND.MAX] is
// answered and dropped (RFC 5961 §5.2); one of new data advances SND.UNA;
// a duplicate counts toward fast retransmit (RFC 5681, RFC 6675). It
// reports whether the ACK was acceptable.
func (c *Conn) ackEstablished(now time.Time, seg *Segment) bool {
	if !seg.Ack.InRange(c.sndUna.Sub(c.maxSndWnd), c.sndMax.Add(1)) {
		// RFC 5961 §5.2: acceptable only in [SND.UNA - MAX.SND.WND, SND.MAX].
		c.unacceptableACK(now, seg)
		return false
	}
	c.peerAlive(now, seg.Ack)
	una, sackedBefore := c.sndUna, c.sack.sacked
	episode := c.inRecovery || c.inLoss() // before this ACK can end it
	var sacked seqnum.Size
	var dsack bool
	if c.loss != nil {
		c.loss.ackFack = c.loss.fack
	}
	if c.sackOK && seg.Options.NumSACKBlocks > 0 {
		sacked, dsack = c.takeSACK(now, seg)
	}
	if c.sndUna.LessThan(seg.Ack) {
		c.newAck(now, seg)
	} else if seg.Ack == c.sndUna && c.sndUna != c.sndMax && (sacked > 0 || (len(seg.Payload) == 0 &&
		seg.Flags&(wire.FlagSYN|wire.FlagFIN) == 0 && c.segWnd(seg) == c.sndWnd)) {
		// RFC 5681 §2's duplicate ACK, or RFC 6675 §2's: one that SACKs
		// data not SACKed before.
		c.dupAck(now)
	}
	if c.loss != nil {
		delivered := int(una.Size(c.sndUna)) + int(c.sack.sacked) - int(sackedBefore) // RFC 6937 DeliveredData
		c.lossAck(now, seg, una != c.sndUna, sacked > 0, dsack, delivered, episode)
	}
	return true
}

// lossAck is the loss detection and recovery an ACK drives: undo of a
// spurious reduction (undo.go), the end of a loss probe (tlp.go), RACK's
// marking and the recovery it starts (RFC 8985 §6.2 steps 5-6), and PRR's
// share of what to send (prr.go). episode says a recovery or an RTO
// recovery was under way when the ACK came.
func (c *Conn) lossAck(now time.Time, seg *Segment, advanced, sacked, dsack bool, delivered int, episode bool) {
	l := c.loss
	if advanced && episode {
		// Eifel judges the ACKs of a recovery, the one that ends it
		// too; after it, an old echo is the peer's error (Linux tries
		// timestamp undo only in Recovery and Loss).
		c.undoByTimestamp(seg)
	}
	c.frtoAck(advanced, sacked)
	c.tlpAck(now, seg, dsack, advanced || sacked)
	if !c.lossOn() || c.sndUna == c.sndMax {
		return
	}
	if l.advanced {
		c.rackTimer(now, c.detectLoss(now))
	}
	if !c.inRecovery && !c.inLoss() && l.lostOut > 0 {
		c.enterRecovery(now)
	}
	if c.inRecovery {
		c.prrAck(delivered)
	}
}

// rackTimer arms RACK's reordering timer for wait, or, when nothing waits
// and it was armed, puts the RTO back (RFC 8985 §6.2 step 5).
func (c *Conn) rackTimer(now time.Time, wait time.Duration) {
	l := c.loss
	switch {
	case wait > 0:
		l.timer, c.rtoAt = timerReorder, after(now, wait)
	case l.timer == timerReorder:
		l.timer, c.rtoAt = timerRTO, c.clampToUserTimeout(now, after(now, c.rto))
	}
}

// reorderTimeout is RACK's reordering timer expiring (RFC 8985 §6.2
// step 5): the segments it waited for are judged again, now without a new
// ACK, and a loss found starts recovery.
func (c *Conn) reorderTimeout(now time.Time) {
	l := c.loss
	l.timer, c.rtoAt = timerRTO, c.clampToUserTimeout(now, after(now, c.rto))
	c.traceTimer("reorder")
	c.rackTimer(now, c.detectLoss(now))
	if !c.inRecovery && !c.inLoss() && l.lostOut > 0 {
		c.enterRecovery(now)
		c.prrAck(0)
	}
}

// updateSendWindow is step five's window update: from a segment newer
// than the last update, SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and
// SND.WL2 =< SEG.ACK), with SND.UNA =< SEG.ACK.
func (c *Conn) updateSendWindow(seg *Segment) {
	if !c.sndUna.LessThanEq(seg.Ack) ||
		!(c.sndWl1.LessThan(seg.Seq) || (c.sndWl1 == seg.Seq && c.sndWl2.LessThanEq(seg.Ack))) {
		return
	}
	wnd := c.segWnd(seg)
	if seg.Ack.Add(wnd).LessThan(c.sndWl2.Add(c.sndWnd)) {
		// The peer moved its right edge left, which RFC 9293 §3.8.6.2.2
		// discourages but a sender must survive: nothing more is sent
		// beyond the new edge; what was sent past it is resent, if
		// need be, when the window opens again (§3.8.6.2.2, RFC 1122
		// §4.2.2.16).
		c.env.Stats.WindowShrunk.Add(1)
	}
	c.sndWnd, c.sndWl1, c.sndWl2 = wnd, seg.Seq, seg.Ack
	c.maxSndWnd = max(c.maxSndWnd, wnd)
	if c.sndWnd > 0 && !c.persistAt.IsZero() {
		c.persistAt, c.probes = 0, 0
	}
}

// ackOfFIN is step five's FIN-WAIT-1, CLOSING and LAST-ACK processing: the
// ACK of our FIN moves them on. It reports whether processing goes on
// (not in CLOSING and LAST-ACK, where only the ACK matters).
func (c *Conn) ackOfFIN(now time.Time) bool {
	finAcked := c.finSent && c.sndUna == c.finSeq.Add(1)
	switch c.state {
	case StateFinWait1:
		if finAcked {
			c.setState(StateFinWait2, "rcv ACK of FIN")
			c.events |= EventWritable // writes fail now; a lingering Close returns
			if c.rdClosed {
				c.closeAt = now.Add(c.cfg.FinWait2Timeout)
			}
		}
	case StateClosing:
		if finAcked {
			c.events |= EventWritable // a lingering Close returns
			c.enterTimeWait(now, "rcv ACK of FIN")
		}
		return false
	case StateLastAck:
		if finAcked {
			c.setState(StateClosed, "rcv ACK of FIN")
		}
		return false
	}
	return true
}

// newAck handles SND.UNA < SEG.ACK =< SND.MAX: drop what is acknowledged
// from the send buffer, take an RTT sample, and restart or stop the
// retransmission timer (RFC 6298 §5.2, §5.3).
func (c *Conn) newAck(now time.Time, seg *Segment) {
	ack := seg.Ack
	inFlight := int(c.sndUna.Size(c.sndMax))
	acked := c.sndUna.Size(ack)
	data := min(int(acked), c.sndBuf.Len())
	c.sndBuf.discard(data)
	c.bytesAcked += uint64(data)
	c.prevUna, c.sndUna = c.sndUna, ack
	c.softErr = 0 // the path works again: an ICMP error before this is forgotten (as Linux's tcp_ack)
	c.sack.trim(ack)
	var sentRTT time.Duration
	var timed bool
	if c.loss != nil {
		c.loss.rearm = true // RFC 8985 §7.2: an ACK of new data restarts the probe timeout
		if c.lossOn() {
			sentRTT, timed = c.ackedSegments(now, ack)
		}
	}
	if c.sndNxt.LessThan(ack) {
		c.sndNxt = ack // after a go-back-N rewind the ACK may pass SND.NXT
	}
	// RTT: from the send times of the segments acknowledged when they are
	// kept (SACK), else from the echoed timestamp (RFC 7323 §4.1, every
	// ACK of new data), else from the one timed segment (RFC 6298 §3).
	rtt, ok := c.tsRTT(now, seg)
	if timed {
		rtt, ok = sentRTT, true
	}
	if c.rttTiming && c.rttSeq.LessThanEq(ack) {
		c.rttTiming = false
		if !ok {
			rtt, ok = time.Duration(monoNanos(now)-c.rttStart), true
		}
	}
	if ok {
		c.sampleRTT(rtt)
	} else {
		rtt = 0
	}
	c.retries = 0
	if c.loss != nil {
		c.loss.probed = false // the stall, if any, is over
	}
	switch {
	case !c.inRecovery:
		c.dupAcks = 0
		// Grow the window only while it limits the sender (RFC 7661 §4.1,
		// Linux's tcp_is_cwnd_limited): a window the peer's window or the
		// application keeps half empty says nothing about the path.
		if 2*inFlight >= c.cwnd() {
			c.ccOf().OnAck(now, int(acked), inFlight, rtt)
		}
	case ack.GreaterThanEq(c.recover):
		// RFC 6582 §3.2 step 6 and RFC 6675 §5: a full ACK ends recovery;
		// the window deflates to ssthresh (RFC 6937: cwnd = ssthresh).
		c.inRecovery, c.inflate, c.dupAcks = false, 0, 0
		c.recoveryEnded()
	case !c.sackOK:
		// RFC 6582 step 5, a partial ACK: the next hole was lost too. Resend
		// it at once, deflate by what was acked, add back one segment.
		c.inflate = max(c.inflate-int(acked)+c.mss, 0)
		c.retransmitFirst(now)
	}
	if c.inLoss() && ack.GreaterThanEq(c.recover) {
		c.loss.undo.loss = false // RTO recovery is over (RFC 8985 §6.3)
		c.recoveryEnded()
	}
	if c.sndUna == c.sndMax {
		c.rtoAt = 0
	} else {
		c.rtoAt = after(now, c.rto)
	}
	if c.loss != nil {
		c.loss.timer = timerRTO
	}
	c.growSendBuffer()
	if data > 0 {
		c.writeSpace()
	}
}

// dupAck counts a duplicate ACK: the third starts fast retransmit and
// recovery (RFC 5681 §3.2, RFC 6582 §3.2, RFC 6675 §5); in NewReno
// recovery each further one inflates the window by a segment that has
// left the network.
func (c *Conn) dupAck(now time.Time) {
	c.dupAcks++
	switch {
	case c.inRecovery:
		if !c.sackOK {
			c.inflate += c.mss // RFC 6582 step 4
		}
	case c.dupAcks >= dupThresh && !c.lossOn():
		c.enterRecovery(now) // with SACK, RACK decides (lossAck)
	}
}

// enterRecovery starts fast recovery: the congestion controller cuts the
// window (RFC 5681 §3.2 step 2, RFC 6582 §3.2 step 2). Without SACK the
// first unacknowledged segment is resent at once (step 3); with SACK the
// segments RACK found lost go as PRR allows (RFC 8985 §6.2 step 6,
// RFC 6937). A loss found inside the window of an earlier recovery or
// timeout starts none.
func (c *Conn) enterRecovery(now time.Time) {
	if !c.mayEnterRecovery() {
		return
	}
	st := c.env.Stats
	st.FastRetransmits.Add(1)
	flight := c.reductionFlight()
	c.undoStart(false)
	c.loss.count.recoveries++
	c.ccOf().OnLoss(now, flight)
	c.inRecovery, c.recover = true, c.sndMax
	c.rttTiming = false // Karn: the retransmitted segment gives no sample
	if c.lossOn() {
		// RACK found the losses; PRR paces what recovery sends (output).
		st.TCPSackRecovery.Add(1)
		c.prrStart(flight)
		c.loss.tlp.out = false // this reduction answers the probe's loss too (Linux tcp_init_cwnd_reduction)
		if c.loss.timer == timerProbe {
			// No probe goes in recovery: the slot is the RTO's again,
			// restarted for the retransmission (as Linux's
			// tcp_xmit_retransmit_queue), not after a futile probe timeout.
			c.loss.timer, c.rtoAt = timerRTO, c.clampToUserTimeout(now, after(now, c.rto))
		}
		return
	}
	st.TCPRenoRecovery.Add(1)
	c.inflate = dupThresh * c.mss
	c.retransmitFirst(now)
}

// reductionFlight is the flight size a congestion event reduces from
// (RFC 5681 (4), RFC 9438 §4.6): SND.MAX - SND.UNA, but no more than the
// window in force, as Linux's ssthresh functions take cwnd. With SACK the
// sender keeps sending as segments above a hole are SACKed, so SND.MAX -
// SND.UNA grows past what the window lets into the network; a reduction
// from it would raise the window rather than cut it.
func (c *Conn) reductionFlight() int {
	return min(int(c.sndUna.Size(c.sndMax)), c.cwnd())
}

// mayEnterRecovery reports whether a loss found now may start a new fast
// recovery, given "recover" (RecoveryPoint), SND.MAX when the last recovery
// or timeout began. With SACK, RFC 6675 §5 ends a recovery, and so allows
// the next, once the cumulative ACK is greater than or equal to
// RecoveryPoint: a segment lost just after a recovery ended is repaired
// at once, not by the RTO. Without SACK, RFC 6582 §3.2 step 2 asks for an
// ACK that covers more than "recover", and its §4.1 ACK heuristic lets
// duplicate ACKs that do not through when the window is above one segment
// and the last advance of SND.UNA was at most 4*SMSS: after a timeout the
// window is one segment and go-back-N moves SND.UNA in larger steps, so
// the duplicates a needless retransmission draws start nothing.
func (c *Conn) mayEnterRecovery() bool {
	switch {
	case c.lossOn():
		// RACK marks only what it finds lost, each loss once: outside a
		// recovery, any loss starts one (as Linux's tcp_time_to_recover).
		return true
	case c.sndUna.GreaterThan(c.recover):
		return true
	}
	return c.cwnd() > c.mss && c.prevUna.Size(c.sndUna) <= seqnum.Size(4*c.mss)
}

// processText is steps six to eight: URG (ignored, RFC 6093), the segment
// text, and the FIN.
func (c *Conn) processText(now time.Time, seg *Segment) {
	payload, seq, fin := c.trimText(seg)
	finAt := seg.Seq.Add(seqnum.Size(len(seg.Payload))) // where this segment's FIN sits
	if seq != c.rcvNxt {
		c.holdText(seq, payload, fin)
		return
	}
	// Seventh: process the segment text.
	if len(payload) > 0 {
		switch c.state {
		case StateEstablished, StateFinWait1, StateFinWait2:
			reached, ok := c.segmentText(now, seg, payload)
			if !ok {
				return
			}
			if reached {
				fin, finAt = true, c.rcvNxt // the held segments reached a FIN
			}
		}
	}
	// Eighth: check the FIN bit.
	if fin && finAt == c.rcvNxt {
		c.processFIN(now)
	}
}

// trimText trims the segment to its new part, as step one's note says
// (only the new parts are processed): what was already received is cut
// from the front (and reported as a D-SACK), what lies beyond the window
// from the back. It returns the text left, where it starts, and whether
// the FIN still follows it.
func (c *Conn) trimText(seg *Segment) (payload []byte, seq seqnum.Value, fin bool) {
	payload, seq, fin = seg.Payload, seg.Seq, seg.Flags.Has(wire.FlagFIN)
	// Trim what was already received.
	if seq.LessThan(c.rcvNxt) {
		skip := seq.Size(c.rcvNxt)
		if len(payload) > 0 {
			c.noteDuplicate(seq, seq.Add(min(skip, seqnum.Size(len(payload))))) // RFC 2883 D-SACK
		}
		if int(skip) >= len(payload) {
			if fin && int(skip) > len(payload) {
				fin = false // the FIN too was received before
			}
			payload = nil
		} else {
			payload = payload[skip:]
		}
		seq = c.rcvNxt
	}
	// Trim what lies beyond the window: its right edge is RCV.NXT+RCV.WND
	// whatever the segment's start, so text held out of order never
	// reaches past it either.
	if wnd := max(int(c.rcvWnd())-int(c.rcvNxt.Size(seq)), 0); len(payload) > wnd {
		// Text past the window is not acceptable and must be acknowledged
		// (RFC 9293 §3.10.7.4 first). With a zero window this is how a
		// one-byte zero-window probe at RCV.NXT gets the ACK that tells
		// the peer our current window (§3.8.6.1: "the receiving TCP must
		// respond"); without it a lost window update stalls both sides.
		payload, fin = payload[:wnd], false
		c.ackNow = true
	}
	return payload, seq, fin
}

// holdText is step seven for text (or a FIN) beyond RCV.NXT: held for
// later processing (§3.10.7.4 seventh allows it) and answered at once
// with a duplicate ACK, so the sender learns of the hole (RFC 5681 §4.2).
func (c *Conn) holdText(seq seqnum.Value, payload []byte, fin bool) {
	if len(payload) == 0 && !fin {
		return
	}
	st := c.env.Stats
	if (c.state == StateEstablished || c.state == StateFinWait1 || c.state == StateFinWait2) && c.user&userReadShut == 0 {
		if c.holdOutOfOrder(seq, payload, fin) {
			st.OutOfOrderQueued.Add(1)
			c.noteOutOfOrder(seq)
		}
	} else {
		c.drop(&st.DropOutOfOrder, "DropOutOfOrder")
	}
	c.ackNow = true
}

// segmentText is step seven in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2 for
// text at RCV.NXT: it goes to the receive buffer, and held text that now
// follows it goes with it. It reports whether held text reached a FIN
// (which then sits at RCV.NXT), and in ok whether the text was taken.
func (c *Conn) segmentText(now time.Time, seg *Segment, payload []byte) (fin, ok bool) {
	if c.rdClosed || (c.user&userReadShut != 0 && c.state != StateEstablished) {
		// The user closed (or shut both sides) and will never read it: RFC 1122 §4.2.2.13
		// says send a RST to show data was lost, and Linux does
		// (LINUX_MIB_TCPABORTONDATA) rather than let the peer write
		// into the void until the FIN-WAIT-2 timeout.
		c.env.Stats.AbortOnData.Add(1)
		c.sendReset(c.rstSeq())
		c.setState(StateClosed, "data after close")
		return false, false
	}
	if c.user&userReadShut != 0 {
		c.discardText(now, payload) // CloseRead (sockopt.go)
		return false, true
	}
	if !c.admitInOrder(len(payload)) {
		return false, false // no room in the stack's memory (memory.go)
	}
	c.queueText(seg, payload) // trimmed to the window above
	if c.rcvFullAt == 0 && c.rcvBuf.Free() < c.rcvMSS {
		c.rcvFullAt = monoNanos(now) // the sender must wait for the reader
	}
	c.events |= EventReadable
	c.rcvNxt = c.rcvNxt.Add(seqnum.Size(len(payload)))
	c.bytesRcvd += uint64(len(payload))
	c.rcvMSS = min(max(c.rcvMSS, len(payload)), c.cfg.MSS) // never more than we offered
	c.unacked += len(payload)
	c.measureRcvRTT(now, seg, len(payload))
	if c.ooo != nil {
		// It fills (part of) a hole: ACK at once (RFC 5681 §4.2).
		c.ackNow = true
		fin = c.reassemble()
		c.rcvSACK.trim(c.rcvNxt)
	}
	c.delayAck(now)
	return fin, true
}

// processFIN is step eight for a FIN at RCV.NXT: it is acknowledged, the
// reader sees the end of the stream, and the state moves on.
func (c *Conn) processFIN(now time.Time) {
	c.rcvNxt = c.rcvNxt.Add(1)
	c.finRcvd = true
	if c.ooo != nil {
		// Nothing follows a FIN: text still held beyond it can never be
		// delivered, so it is dropped now and its memory given back, not
		// kept until CLOSED (Linux's tcp_fin purges the out-of-order queue).
		c.drop(&c.env.Stats.DropOutOfOrder, "DropOutOfOrder")
		c.dropHeld()
		c.reportHeldOnly()
	}
	c.events |= EventReadable
	c.ackNow = true
	switch c.state {
	case StateSynReceived, StateEstablished:
		c.setState(StateCloseWait, "rcv FIN")
	case StateFinWait1:
		if c.finSent && c.sndUna == c.finSeq.Add(1) {
			c.enterTimeWait(now, "rcv FIN")
		} else {
			c.setState(StateClosing, "rcv FIN")
		}
	case StateFinWait2:
		c.enterTimeWait(now, "rcv FIN")
	case StateTimeWait:
		c.closeAt = now.Add(2 * c.cfg.MSL)
	}
}

// enterTimeWait starts the 2*MSL wait (RFC 9293 §3.10.7.4), turning off
// the other timers.
func (c *Conn) enterTimeWait(now time.Time, cause string) {
	c.setState(StateTimeWait, cause)
	c.rtoAt, c.persistAt = 0, 0
	c.closeAt = now.Add(2 * c.cfg.MSL)
	c.loss = nil // nothing will be in flight again
}

// AcceptsNewSYN reports whether a SYN for this 4-tuple may end this
// TIME-WAIT connection and open a new one: by its timestamp (RFC 6191) or
// its sequence number (RFC 9293 §3.6.1 note), see newIncarnation. The new
// connection's ISS is then NextISS.
func (c *Conn) AcceptsNewSYN(seg *Segment) bool {
	return c.state == StateTimeWait && seg.Flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) == wire.FlagSYN &&
		c.newIncarnation(seg)
}
