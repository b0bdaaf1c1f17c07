package tcp

import (
	"math"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// This file is RACK, the time-based loss detection of RFC 8985 §6, which
// decides what is lost on every connection that negotiated SACK: a segment
// is lost once a segment sent after it was delivered and a reordering
// window has passed since. Unlike counting duplicate ACKs (RFC 6675's
// DupThresh, kept for peers without SACK), it finds a lost retransmission
// without waiting for the retransmission timeout, and with the Tail Loss
// Probe (tlp.go) a loss at the end of a flight.

// lossState is a connection's loss detection and recovery state, made
// with the first data it sends when SACK is in use (a connection that
// never sends data has none).
type lossState struct {
	q    sentQueue // the segments in flight (sentq.go)
	rtxq sentQueue // resent segments in the order they were resent: end and xmit only

	lostOut    seqnum.Size  // bytes of lost segments, not SACKed (Linux lost_out, in bytes)
	retransOut seqnum.Size  // bytes of resent segments in flight, not SACKed (retrans_out)
	segsSACKed int          // segments wholly SACKed: RACK.segs_sacked
	everOut    int          // segments in flight resent at least once
	rtxHint    seqnum.Value // no lost segment waiting to be resent starts below it
	scan       seqnum.Value // every segment below it sent once is judged: lost or delivered

	// RACK (RFC 8985 §6.1): the most recently sent segment delivered
	// (its flag advanced is with the others below, out of the padding).
	xmit    int64         // RACK.xmit_ts
	rtt     time.Duration // RACK.rtt
	end     seqnum.Value  // RACK.end_seq
	fack    seqnum.Value  // RACK.fack: the highest end delivered
	ackFack seqnum.Value  // RACK.fack before the ACK being processed
	minRTT  minRTT        // RACK.min_RTT

	dsackRound seqnum.Value // RACK.dsack_round, when dsackOn
	reoMult    int32        // RACK.reo_wnd_mult
	reoPersist int32        // RACK.reo_wnd_persist
	dsackDups  uint64       // segments the peer reported received twice (Linux dsack_dups)

	lastXmit int64 // the latest send time given to a segment
	rtoBase  int64 // monoNanos when the RTO a probe timeout stands in for was armed

	advanced  bool      // RACK.xmit_ts moved: losses may be found
	reordSeen bool      // RACK.reordering_seen
	dsackOn   bool      // dsackRound is set
	timer     timerKind // what rtoAt is armed for
	probed    bool      // a probe went in the current stall, which began at rtoBase (reap.go)
	rearm     bool      // new data went or was acknowledged: the probe timeout restarts

	count lossCounts // for Info

	tlp  tlpState  // tlp.go
	prr  prrState  // prr.go
	undo undoState // undo.go
}

// timerKind is what the retransmission timer slot (Conn.rtoAt) is armed
// for: as in Linux, the RTO, RACK's reordering timer and the probe timeout
// take turns in one slot, since at most one of them is due next.
type timerKind uint8

const (
	timerRTO timerKind = iota
	timerReorder
	timerProbe
)

// lossOn reports whether RACK runs: SACK was negotiated.
func (c *Conn) lossOn() bool { return c.sackOK }

// lossOf returns the connection's loss state, made on first use.
func (c *Conn) lossOf() *lossState {
	if c.loss == nil {
		c.loss = &lossState{reoMult: 1, xmit: math.MinInt64, lastXmit: math.MinInt64} // nothing sent or delivered yet
		c.loss.q.start, c.loss.scan, c.loss.rtxHint, c.loss.fack = c.sndUna, c.sndUna, c.sndUna, c.sndUna
	}
	return c.loss
}

// sentAfter is RACK_sent_after of RFC 8985 §6.2: whether (t1, seq1) was
// sent after (t2, seq2), the sequence number breaking ties of one instant.
func sentAfter(t1 int64, seq1 seqnum.Value, t2 int64, seq2 seqnum.Value) bool {
	return t1 > t2 || (t1 == t2 && seq1.GreaterThan(seq2))
}

// unsacked is the bytes of segment i above SND.UNA the peer has not SACKed.
func (c *Conn) unsacked(i int) seqnum.Size {
	q := &c.loss.q
	left, end := q.left(i), q.at(i).end
	if left.LessThan(c.sndUna) {
		left = c.sndUna
	}
	if end.LessThanEq(left) {
		return 0
	}
	return left.Size(end) - c.sack.sackedIn(left, end)
}

// setFlags changes segment i's flags and keeps lostOut and retransOut
// exact: the segment's old share is taken out and its new one, its bytes
// not SACKed now, put in.
func (c *Conn) setFlags(i int, set, clear uint8) {
	l := c.loss
	s := l.q.at(i)
	old := s.counted()
	if s.has(segLost) {
		l.lostOut -= old
	}
	if s.has(segRetrans) {
		l.retransOut -= old
	}
	s.set(set)
	s.clear(clear)
	n := c.unsacked(i)
	if s.has(segLost) {
		l.lostOut += n
	}
	if s.has(segRetrans) {
		l.retransOut += n
	}
	s.setCounted(n)
}

// markLost marks segment i lost (RFC 8985 §6.2 step 5). A resent copy in
// flight is lost with it: that is a lost retransmission, found without
// the RTO (Linux TCPLostRetransmit).
func (c *Conn) markLost(i int) {
	s := c.loss.q.at(i)
	if s.has(segSACKed) {
		return
	}
	if s.has(segRetrans) {
		c.env.Stats.TCPLostRetransmit.Add(1)
		c.loss.count.lostRetrans++
	}
	c.setFlags(i, segLost, segRetrans)
	if left := c.loss.q.left(i); left.LessThan(c.loss.rtxHint) {
		c.loss.rtxHint = left
	}
}

// recordSent notes a transmission of [seq, next) at now: a new segment
// joins the queue; a retransmission gives the segments it covers a new
// send time and the resent flag, and joins the resent-order queue.
func (c *Conn) recordSent(now time.Time, seq, next seqnum.Value, retransmit bool) {
	l := c.lossOf()
	// Send times strictly increase, a nanosecond apart at least: on a
	// virtual clock, or a coarse one, a burst shares one instant, and RACK
	// must still tell a segment resent after new data from one sent before.
	x := max(monoNanos(now), l.lastXmit+1)
	l.lastXmit = x
	if !retransmit {
		l.q.push(seq, next, x)
		return
	}
	i := l.q.find(seq)
	if i < 0 {
		return
	}
	for ; i < l.q.len() && l.q.left(i).LessThan(next); i++ {
		s := l.q.at(i)
		if s.has(segSACKed) || !seq.LessThan(s.end) {
			continue
		}
		s.xmit = x
		if !s.has(segEver) {
			l.everOut++
		}
		c.setFlags(i, segRetrans|segEver, 0)
		for l.rtxq.len() > l.q.len() {
			l.rtxq.popFront() // bounded by the segments in flight; the RTO covers the oldest
		}
		l.rtxq.push(l.rtxq.start, s.end, x)
	}
}

// delivered is RFC 8985 §6.2 steps 2 and 3 for a segment newly delivered
// (cumulatively ACKed or wholly SACKed): RACK follows the most recently sent segment
// delivered, and a segment sent once delivered below RACK.fack shows the
// path reorders.
func (c *Conn) delivered(now time.Time, s *flightSeg) {
	l := c.loss
	rtt := time.Duration(monoNanos(now) - s.xmit)
	if s.has(segEver) {
		// The ACK may be for an earlier copy: a resent segment delivered
		// sooner than the min RTT after its last sending cannot have been
		// that copy (Linux's tcp_rack_advance; an echoed timestamp does not
		// tell, since a SACK echoes the last segment in order).
		if rtt < l.minRTT.get() {
			return
		}
	} else {
		l.minRTT.update(monoNanos(now), rtt) // step 1, from segments sent once
		// Step 3 takes the segments an ACK delivers in ascending order:
		// one it acknowledges cumulatively is not overtaken by what the
		// same ACK SACKs above it, only by what was delivered before it
		// (after lost ACKs such an ACK is common, and not reordering).
		if s.end.LessThan(l.ackFack) {
			l.reordSeen = true
		}
		if l.undo.frto && s.xmit < l.undo.frtoAt {
			l.undo.origAck = true // sent before the timeout, never resent: F-RTO's proof
		}
	}
	if sentAfter(s.xmit, s.end, l.xmit, l.end) {
		l.xmit, l.end, l.rtt, l.advanced = s.xmit, s.end, rtt, true
	}
	if l.fack.LessThan(s.end) {
		l.fack = s.end
	}
}

// ackedSegments drops the segments a cumulative ACK up to una covers,
// each delivered unless already SACKed, and trims the one it ends inside.
// It returns an RTT sample from the send times, finer than the timestamp
// clock's milliseconds: the time since the oldest of them was sent, when
// none of them was ever resent (Karn: Linux's seq_rtt from its skb stamps
// is dropped when the ACK covers resent data, FLAG_RETRANS_DATA_ACKED).
func (c *Conn) ackedSegments(now time.Time, una seqnum.Value) (rtt time.Duration, ok bool) {
	l := c.loss
	ambiguous := false // the ACK covers a resent segment: Karn, no sample (Linux FLAG_RETRANS_DATA_ACKED)
	for l.q.len() > 0 && l.q.at(0).end.LessThanEq(una) {
		s := l.q.at(0)
		if s.has(segEver) {
			l.everOut--
		}
		if s.has(segSACKed) {
			l.segsSACKed--
		} else {
			if s.has(segEver) {
				ambiguous = true
			} else if !ok {
				rtt, ok = time.Duration(monoNanos(now)-s.xmit), true
			}
			c.delivered(now, s)
			c.setFlags(0, 0, segLost|segRetrans)
		}
		l.q.popFront()
	}
	if l.q.len() > 0 && l.q.start.LessThan(una) {
		l.q.start = una
		c.setFlags(0, 0, 0)
	} else if l.q.len() == 0 {
		l.q.start = una
		l.rtxq.reset(0) // nothing resent is in flight
	}
	for _, v := range [...]*seqnum.Value{&l.scan, &l.rtxHint, &l.fack} {
		if v.LessThan(una) {
			*v = una
		}
	}
	if ambiguous {
		// The segments it covers waited behind the resent one: their
		// send times say nothing of the path's RTT.
		return 0, false
	}
	return max(rtt, 0), ok
}

// sackedSegments updates the segments overlapping r, a range the peer
// newly SACKed: each wholly SACKed now is delivered, the others have
// their share recounted.
func (c *Conn) sackedSegments(now time.Time, r sackRange) {
	l := c.loss
	i := l.q.find(r.left)
	if i < 0 {
		return
	}
	for ; i < l.q.len() && l.q.left(i).LessThan(r.right); i++ {
		s := l.q.at(i)
		if s.has(segSACKed) {
			continue
		}
		if c.unsacked(i) > 0 {
			c.setFlags(i, 0, 0)
			continue
		}
		c.setFlags(i, segSACKed, segLost|segRetrans)
		l.segsSACKed++
		c.delivered(now, s)
	}
}

// reoWnd is RACK_update_reo_wnd's result (RFC 8985 §6.2 step 4): zero
// while the path has not been seen to reorder and a recovery is under
// way or DupThresh segments are SACKed; else min RTT/4, times the
// multiplier D-SACKs raise, at most SRTT.
func (c *Conn) reoWnd() time.Duration {
	l := c.loss
	if !l.reordSeen && (c.inRecovery || c.inLoss() || l.segsSACKed >= dupThresh) {
		return 0
	}
	return min(time.Duration(l.reoMult)*l.minRTT.get()/4, c.srtt)
}

// rackDSACK is step 4's adaptation to a D-SACK: the reordering window
// grows by min RTT/4 for each round trip that brings one, and keeps its
// size for 16 recoveries after the last.
func (c *Conn) rackDSACK() {
	l := c.loss
	if l == nil {
		return
	}
	if l.dsackOn && c.sndUna.GreaterThanEq(l.dsackRound) {
		l.dsackOn = false
	}
	if !l.dsackOn {
		l.dsackOn, l.dsackRound = true, c.sndNxt
		l.reoMult = min(l.reoMult+1, 1<<10)
		l.reoPersist = 16
	}
}

// dsackPlausible reports whether a D-SACK block r can be true, as Linux's
// tcp_dsack_seen judges it: data reported received twice must have been
// sent twice, so a block longer than the peer's largest window, or one
// that brings the duplicate segments reported over the connection beyond
// those ever resent, is dubious, and neither grows the reordering window
// nor undoes a reduction.
func (c *Conn) dsackPlausible(r sackRange) bool {
	n := r.left.Size(r.right)
	if c.loss == nil || n > c.maxSndWnd {
		return false
	}
	c.loss.dsackDups += uint64((int(n) + c.mss - 1) / c.mss)
	return c.loss.dsackDups <= c.retrans
}

// recoveryEnded is step 4's count of recoveries without a D-SACK.
func (c *Conn) recoveryEnded() {
	l := c.loss
	if l == nil {
		return
	}
	if l.reoPersist--; l.reoPersist <= 0 {
		l.reoMult = 1
	}
}

// detectLoss is RACK_detect_loss of RFC 8985 §6.2 step 5: every segment
// sent before the most recently delivered one, and longer ago than
// RACK.rtt plus the reordering window, is lost. It returns the time until
// the next segment would be, 0 when none waits.
//
// It does not walk the whole flight: segments sent once are in send-time
// order along the sequence space, so it starts at scan (below which all
// are judged) and stops at the first sent after RACK's; resent segments
// are walked in the order they were resent, from the oldest.
func (c *Conn) detectLoss(now time.Time) time.Duration {
	l := c.loss
	l.advanced = false
	reo := c.reoWnd()
	nowN := monoNanos(now)
	var wait time.Duration
	judge := func(s *flightSeg) (lost, before bool) {
		if !sentAfter(l.xmit, l.end, s.xmit, s.end) {
			return false, false
		}
		remaining := time.Duration(s.xmit-nowN) + l.rtt + reo
		if remaining <= 0 {
			return true, true
		}
		wait = max(wait, remaining)
		return false, true
	}
	// Segments sent once, from scan on.
	judged := true
	for i := max(l.q.find(l.scan), 0); i < l.q.len(); i++ {
		s := l.q.at(i)
		if !s.has(segEver) && !s.has(segSACKed|segLost) {
			lost, before := judge(s)
			if !before {
				break
			}
			if lost {
				c.markLost(i)
			} else {
				judged = false
			}
		}
		if judged {
			l.scan = s.end
		}
	}
	// Resent segments, oldest resend first; those no longer in flight
	// as resent are dropped from the front.
	for k := 0; k < l.rtxq.len(); {
		i := c.resentAt(l.rtxq.at(k))
		if i < 0 {
			if k == 0 {
				l.rtxq.popFront()
			} else {
				k++
			}
			continue
		}
		lost, before := judge(l.q.at(i))
		if !before {
			break
		}
		if lost {
			c.markLost(i) // its entry is stale from now on
		}
		k++
	}
	return wait
}

// resentAt returns the segment a resent-order entry stands for, or -1 when
// that copy is no longer in flight: acknowledged, SACKed, lost again or
// resent since.
func (c *Conn) resentAt(e *flightSeg) int {
	q := &c.loss.q
	i := q.find(e.end.Sub(1))
	if i < 0 || q.at(i).end != e.end || q.at(i).xmit != e.xmit || q.at(i).has(segSACKed) ||
		q.at(i).flags()&(segLost|segRetrans) == segLost {
		return -1
	}
	return i
}

// inLoss reports whether an RTO recovery is under way (RFC 8985 §6.3;
// Linux's Loss state): the lost segments go again under slow start.
func (c *Conn) inLoss() bool { return c.loss != nil && c.loss.undo.loss }

// nextLost returns the first segment lost and not resent since, at or
// above rtxHint, or -1.
func (c *Conn) nextLost() int {
	l := c.loss
	i := l.q.find(l.rtxHint)
	if i < 0 {
		return -1
	}
	for ; i < l.q.len(); i++ {
		s := l.q.at(i)
		if s.has(segLost) && !s.has(segRetrans|segSACKed) {
			l.rtxHint = l.q.left(i)
			return i
		}
	}
	l.rtxHint = l.q.at(l.q.len() - 1).end
	return -1
}

// markLostOnRTO is RFC 8985 §6.3: when the RTO expires, the first
// segment and every segment that has been out longer than RACK.rtt plus
// the reordering window are lost.
func (c *Conn) markLostOnRTO(now time.Time) {
	l := c.loss
	reo := c.reoWnd()
	nowN := monoNanos(now)
	for i := 0; i < l.q.len(); i++ {
		s := l.q.at(i)
		if i == 0 || time.Duration(s.xmit-nowN)+l.rtt+reo <= 0 {
			c.markLost(i)
		}
	}
	l.rtxq.reset(0)
	l.scan = c.sndUna
}

// forgetSACKs is the sender's answer to a peer that may have reneged
// (RFC 2018 §8): the scoreboard is emptied and every segment counts as
// not SACKed again.
func (c *Conn) forgetSACKs() {
	c.sack.reset()
	l := c.loss
	if l == nil {
		return
	}
	for i := 0; i < l.q.len(); i++ {
		c.setFlags(i, 0, segSACKed)
	}
	l.segsSACKed = 0
}

// rackPipe is RFC 6675's pipe with RACK's losses (RFC 8985 §6.2 and
// Linux's tcp_packets_in_flight): the bytes above SND.UNA not SACKed, less
// those lost, plus those resent and still in flight.
func (c *Conn) rackPipe() int {
	l := c.loss
	n := int(c.sndUna.Size(c.sndMax)) - int(c.sack.sacked) - int(l.lostOut) + int(l.retransOut)
	return max(n, 0)
}

// minRTT is RACK.min_RTT: the least RTT seen over the last five minutes
// (Linux's tcp_min_rtt_wlen). It keeps the best sample and the best since
// the window's middle, so an old minimum ages out without a list of
// samples: when the best is older than the window, the other takes over.
type minRTT struct {
	best, next     time.Duration
	bestAt, nextAt int64 // monoNanos of each
	ok             bool  // a sample was taken
}

const minRTTWindow = 5 * time.Minute

func (m *minRTT) get() time.Duration { return m.best }

func (m *minRTT) update(now int64, rtt time.Duration) {
	switch {
	case !m.ok || rtt <= m.best:
		*m = minRTT{best: rtt, next: rtt, bestAt: now, nextAt: now, ok: true}
	case time.Duration(now-m.bestAt) > minRTTWindow:
		m.best, m.bestAt = m.next, m.nextAt
		if rtt <= m.best || time.Duration(now-m.bestAt) > minRTTWindow {
			m.best, m.bestAt = rtt, now
		}
		m.next, m.nextAt = rtt, now
	case rtt <= m.next || time.Duration(now-m.nextAt) > minRTTWindow/2:
		m.next, m.nextAt = rtt, now
	}
}
