package tcp

import (
	"cmp"
	"slices"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// This file undoes window reductions that prove spurious: a fast recovery
// or a retransmission timeout started by a segment that was only delayed
// or reordered, not lost. Three proofs are taken, as Linux takes them:
//   - Timestamps (Eifel detection, RFC 3522): the ACK that first covers a
//     resent segment echoes a TSval older than the first retransmission,
//     so it was the original that arrived.
//   - D-SACK (RFC 2883 §5, RFC 3708): the peer reports every segment
//     resent in the episode as a duplicate.
//   - F-RTO (RFC 5682 §3, its SACK variant §4, as Linux's tcp_process_loss):
//     after a timeout, an ACK that newly covers data sent before the
//     timeout and never resent.
//
// The response is RFC 4015's and RFC 9438 §4.9's: the congestion state
// from before the reduction comes back and the recovery ends.

// undoState is one episode's undo bookkeeping (Linux undo_marker,
// undo_retrans, retrans_stamp).
type undoState struct {
	on        bool         // a reduction of this episode may still be undone
	loss      bool         // in RTO recovery (Linux's Loss state)
	frto      bool         // F-RTO is watching this timeout
	frtoNew   bool         // F-RTO step 2b: this ACK sends new data instead of resending
	frtoStep2 bool         // F-RTO step 2b was taken: the next ACK decides
	origAck   bool         // this ACK newly covered data sent before the timeout and never resent
	marker    seqnum.Value // SND.UNA when the episode began
	frtoAt    int64        // monoNanos of the timeout F-RTO watches
	stamp     uint32       // TSval of the episode's first retransmission, 0 before it
	stamped   bool
	// resent are the ranges resent in this episode not yet reported as
	// duplicates, for D-SACK undo; at most maxUndoRanges, past which the
	// episode can only be undone by timestamps.
	resent    []sackRange
	overflown bool
}

// maxUndoRanges bounds the resent ranges remembered for D-SACK undo.
const maxUndoRanges = 64

// lossCounts are a connection's recovery events, for Info.
type lossCounts struct {
	probes, lostRetrans, recoveries, timeouts, spuriousRTOs, dsackUndos, tsUndos uint32
}

// CongestionUndo is implemented by a congestion controller whose last
// reduction can be undone. Controllers without it keep their reductions.
type CongestionUndo interface {
	// Undo restores the window and threshold from before the last
	// OnLoss or OnRetransmitTimeout, which the engine found spurious.
	Undo()
}

// undoStart opens an episode: a fast recovery (loss false) or a timeout.
// A timeout inside an episode keeps its marker, as Linux's tcp_enter_loss.
func (c *Conn) undoStart(loss bool) {
	l := c.lossOf()
	u := &l.undo
	if !u.on || !loss {
		u.marker, u.resent, u.overflown = c.sndUna, u.resent[:0], false
		// The stamp stays while a segment resent before is still in
		// flight (Linux keeps retrans_stamp until no retransmission is
		// outstanding): its late ACK echoes a TSval from before this
		// episode's first retransmission and must not read as proof.
		if l.everOut == 0 {
			u.stamped = false
		}
	}
	u.on, u.loss = true, loss
}

// undoResent notes a retransmission of [seq, next) at now.
func (c *Conn) undoResent(now time.Time, seq, next seqnum.Value) {
	l := c.lossOf()
	u := &l.undo
	if !u.on {
		return
	}
	if !u.stamped {
		u.stamp, u.stamped = c.tsVal(now), true
	}
	if u.overflown {
		return
	}
	if len(u.resent) == maxUndoRanges {
		u.overflown, u.resent = true, u.resent[:0]
		return
	}
	u.resent = append(u.resent, sackRange{seq, next})
}

// undoDSACK takes a D-SACK block r: a resent range it covers was
// delivered twice, so resending it was needless, and the path reorders.
func (c *Conn) undoDSACK(r sackRange) {
	if c.loss == nil {
		return
	}
	u := &c.loss.undo
	if !u.on || u.overflown {
		return
	}
	for i, x := range u.resent {
		if x.left.GreaterThanEq(r.left) && x.right.LessThanEq(r.right) {
			// The original arrived after all: the path reorders or
			// delays, and RACK's window must allow for it (RFC 8985
			// §6.2 steps 3-4; Linux counts a D-SACKed retransmission as
			// reordering in tcp_sacktag_one).
			c.loss.reordSeen = true
			u.resent[i] = u.resent[len(u.resent)-1]
			u.resent = u.resent[:len(u.resent)-1]
			if len(u.resent) == 0 {
				c.undo(&c.env.Stats.TCPDSACKUndo, &c.loss.count.dsackUndos)
			}
			return
		}
	}
}

// undoByTimestamp is Eifel detection (RFC 3522 §3.2) on an ACK of new
// data: it echoes a TSval from before the first retransmission.
func (c *Conn) undoByTimestamp(seg *Segment) {
	u := &c.loss.undo
	if !u.on || !u.stamped || !c.tsOK || !seg.Options.HasTimestamps || seg.Options.TSEcr == 0 ||
		!seg.Ack.GreaterThan(u.marker) {
		return
	}
	if int32(seg.Options.TSEcr-u.stamp) < 0 {
		if u.loss {
			c.undo(&c.env.Stats.TCPLossUndo, &c.loss.count.tsUndos)
		} else {
			c.undo(&c.env.Stats.TCPFullUndo, &c.loss.count.tsUndos)
		}
	}
}

// frtoAck is F-RTO's decision on an ACK after a timeout (RFC 5682 §4,
// Linux tcp_process_loss): data sent before the timeout and never resent,
// newly acknowledged, shows the timeout was spurious; an ACK that only
// covers the resent segment lets new data go instead of more resends
// (step 2b); after that, a duplicate or a SACK shows the loss was real
// (step 3a).
func (c *Conn) frtoAck(advanced, sacked bool) {
	u := &c.loss.undo
	u.frtoNew = false // new data only for the ACK of step 2b (Linux REXMIT_NEW)
	if !u.frto {
		return
	}
	switch {
	case u.origAck:
		c.env.Stats.TCPSpuriousRTOs.Add(1)
		c.loss.count.spuriousRTOs++
		c.undo(&c.env.Stats.TCPLossUndo, nil)
	case u.frtoStep2:
		if sacked || !advanced {
			u.frto, u.frtoNew = false, false // step 3a: the loss was real; resend
		}
	case advanced:
		if c.sndNxt.LessThan(c.dataEnd()) && c.sndUna.Size(c.sndNxt) < c.sndWnd {
			u.frtoNew, u.frtoStep2 = true, true // step 2b: send new data, see what its ACK says
		} else {
			u.frto = false // nothing new to send: cannot tell
		}
	}
	u.origAck = false
}

// undo restores the congestion state from before the episode and ends
// its recovery: nothing was lost after all.
func (c *Conn) undo(stat interface{ Add(uint64) uint64 }, count *uint32) {
	l := c.loss
	u := &l.undo
	if !u.on {
		return
	}
	if cu, ok := c.ccOf().(CongestionUndo); ok {
		cu.Undo()
	}
	stat.Add(1)
	if count != nil {
		*count++
	}
	u.on, u.loss, u.frto, u.frtoNew, u.frtoStep2 = false, false, false, false, false
	c.inRecovery, c.inflate, c.dupAcks = false, 0, 0
	// The segments marked lost were not: unmark them (Linux
	// tcp_undo_cwnd_reduction with unmark_loss).
	for i := 0; i < l.q.len(); i++ {
		if l.q.at(i).has(segLost) {
			c.setFlags(i, 0, segLost)
		}
	}
	l.scan, l.rtxHint = c.sndUna, c.sndUna
	c.rejudgeResent()
	c.recoveryEnded()
}

// rejudgeResent gives RACK back every segment resent and in flight: a
// segment resent and then deemed lost, now unmarked, has its last copy in
// flight again, and RACK judges resent segments only through the
// resent-order queue (from which a loss, or the RTO, took it). The queue
// is rebuilt in send-time order.
func (c *Conn) rejudgeResent() {
	l := c.loss
	l.rtxq.reset(0)
	for i := 0; i < l.q.len(); i++ {
		if s := l.q.at(i); s.has(segEver) && !s.has(segSACKed) {
			l.rtxq.push(0, s.end, s.xmit)
		}
	}
	slices.SortFunc(l.rtxq.buf[:l.rtxq.n], func(a, b flightSeg) int { return cmp.Compare(a.xmit, b.xmit) })
}
