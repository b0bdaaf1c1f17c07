package tcp

import (
	"net/netip"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// TIME-WAIT as a small record (RFC 9293 §3.10.7.4, TIME-WAIT state; the
// role of Linux's tcp_timewait_sock).
//
// A connection in TIME-WAIT has nothing left to send or deliver: it only
// waits 2*MSL so that old duplicates of this incarnation die in the
// network, answering a retransmitted FIN and judging a SYN that would
// reopen the 4-tuple. For that it needs a few numbers, not a TCB with its
// buffers, so the host turns a Conn that enters TIME-WAIT into a TimeWait
// (Conn.ToTimeWait) and lets the Conn go. The record keeps:
//
//   - RCV.NXT and SND.NXT (= SND.MAX, all acknowledged), the window last
//     advertised and its scale, and the span of sequence numbers an honest
//     peer may still send into: enough to send <SEQ=SND.NXT><ACK=RCV.NXT>
//     <CTL=ACK> and to tell plausible old data from a guess (ratelimit.go);
//   - the timestamp state, TS.Recent, when it was set and this side's
//     TSval offset: for PAWS (RFC 7323 §5.3) and the RFC 6191 rule by
//     which a SYN may reopen the 4-tuple, and to stamp the ACKs it sends;
//   - the deadline, and when it last answered an invalid segment, for the
//     per-connection rate limit (Config.InvalidACKRateLimit).
//
// It keeps no addresses: the host's table holds them as the record's key
// and passes them in with each call. It sends through the Env's Sender
// (SendBare), counts in the Env's Stats, and traces as the Conn did, in
// state TIME-WAIT, ending with the change to CLOSED.
//
// The Conn's own TIME-WAIT processing (input_sync.go) stays for a host
// that keeps the Conn; the record follows the same rules except where
// Linux's tcp_timewait_state_process is followed instead, each marked
// below: a RST not at RCV.NXT and a bare ACK at RCV.NXT are dropped
// without an answer.

// TimeWait is a connection in TIME-WAIT reduced to what that state needs
// (see above). Its zero value is not usable: it is made by
// Conn.ToTimeWait. Like a Conn it is not safe for concurrent use.
type TimeWait struct {
	env            *Env
	deadline       int64 // monoNanos when 2*MSL runs out
	tsRecentAt     int64 // monoNanos when TS.Recent was set (the 24-day PAWS rule)
	lastInvalidACK int64 // monoNanos of the last ACK to an invalid segment, 0 for never
	sndNxt         seqnum.Value
	rcvNxt         seqnum.Value
	tsRecent       uint32 // TS.Recent
	tsOffset       uint32 // this side's TSval offset (RFC 7323 §5.4)
	span           uint32 // the largest window this side could have advertised, plus one scale unit (plausible)
	wnd            uint16 // the window field last advertised (scaled by rcvShift)
	rcvShift       uint8
	tsOK           bool
}

// TimeWaitVerdict is what a segment did to a TIME-WAIT record.
type TimeWaitVerdict uint8

const (
	// TimeWaitKeep: the record stays (an answer may have been sent, the
	// deadline may have moved: see Deadline).
	TimeWaitKeep TimeWaitVerdict = iota
	// TimeWaitClosed: the record ended (a RST); the host forgets it.
	TimeWaitClosed
	// TimeWaitNewSYN: the segment is a SYN that may open a new
	// incarnation (AcceptsNewSYN). Nothing was sent: the host hands it
	// to its listener, and if the listener opens a connection, its ISS
	// is NextISS and the record ends (End). If the listener drops it,
	// the record stays as it was.
	TimeWaitNewSYN
)

// ToTimeWait returns the TIME-WAIT record of c, which must be in
// TIME-WAIT, and gives back what c holds that the record does not need:
// held out-of-order text and the send buffer (both empty in a normal
// TIME-WAIT), with their memory. Text received and not yet read stays,
// for the user's Reads. c's timers are stopped: from here on the record
// stands for the connection, and c must not be handed segments or
// timers.
func (c *Conn) ToTimeWait() TimeWait {
	tw := TimeWait{env: c.env, deadline: monoNanos(c.closeAt), tsRecentAt: c.tsRecentAt, lastInvalidACK: c.lastInvalidACK,
		sndNxt: c.sndMax, rcvNxt: c.rcvNxt, tsRecent: c.tsRecent, tsOffset: c.tsOffset,
		span: uint32(c.rcvBuf.ring.limit) + 1<<c.rcvShift, wnd: uint16(min(c.rcvWnd()>>c.rcvShift, 65535)),
		rcvShift: c.rcvShift, tsOK: c.tsOK}
	if c.closeAt.IsZero() {
		tw.deadline = monoNanos(c.now.Add(2 * c.cfg.MSL))
	}
	c.release()
	return tw
}

// Deadline is when TIME-WAIT ends unless a retransmitted FIN restarts it.
func (tw *TimeWait) Deadline() time.Time { return monoEpoch.Add(time.Duration(tw.deadline)) }

// NextISS is the ISS for a new incarnation that takes the 4-tuple over:
// as Conn.NextISS, the old SND.NXT + 65535 + 2, never 0.
func (tw *TimeWait) NextISS() seqnum.Value { return nextISS(tw.sndNxt) }

// AcceptsNewSYN reports whether seg is a SYN that may end TIME-WAIT and
// open a new incarnation: the rule of Conn.newIncarnation (RFC 6191 §2
// with timestamps on both, else RFC 9293 §3.6.1's note).
func (tw *TimeWait) AcceptsNewSYN(seg *Segment) bool {
	if seg.Flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) != wire.FlagSYN {
		return false
	}
	seqNewer := seg.Seq.GreaterThan(tw.rcvNxt)
	if tw.tsOK && seg.Options.HasTimestamps {
		d := int32(seg.Options.TSVal - tw.tsRecent)
		return d > 0 || d == 0 && seqNewer
	}
	return seqNewer
}

// HandleSegment processes a segment for the record's 4-tuple, local to
// remote, at now: RFC 9293 §3.10.7.4 in TIME-WAIT. reopen says a listener
// could take a new incarnation; without one, a SYN that could start it is
// answered as any other SYN.
func (tw *TimeWait) HandleSegment(now time.Time, local, remote netip.AddrPort, seg *Segment, reopen bool) TimeWaitVerdict {
	st := tw.env.Stats
	st.InSegs.Add(1)
	if tw.env.Trace != nil {
		tw.trace(trace.KindSegmentReceived, local, remote, seg.Flags, seg.Seq, seg.Ack, seg.Window, len(seg.Payload), &seg.Options)
	}
	if reopen && tw.AcceptsNewSYN(seg) {
		return TimeWaitNewSYN // the listener decides (RFC 6191, RFC 9293 §3.6.1 note)
	}
	// First, the timestamp check (RFC 7323 §5.3 R1), as in every
	// synchronized state; Linux too (tcp_timewait_state_process).
	if !tw.paws(now, local, remote, seg) {
		return TimeWaitKeep
	}
	f := seg.Flags
	switch {
	case f.Has(wire.FlagRST):
		if seg.Seq == tw.rcvNxt {
			// §3.10.7.4 second: a RST in TIME-WAIT closes. Linux does so
			// with tcp_rfc1337 = 0, its default ("TIME_WAIT
			// assassination", inet_twsk_deschedule_put); RFC 1337's
			// alternative of ignoring it is not taken.
			tw.End(local, remote, "rcv RST")
			return TimeWaitClosed
		}
		// Not at RCV.NXT: dropped without the challenge ACK of RFC 5961
		// §3.2, as Linux answers no RST in TIME-WAIT.
		tw.env.dropFor(&st.DropOutOfWindow, "DropOutOfWindow", local, remote, seg, StateTimeWait)
	case f.Has(wire.FlagFIN) && !f.Has(wire.FlagSYN) && seg.Seq.Add(seqnum.Size(len(seg.Payload))).Add(1) == tw.rcvNxt:
		// §3.10.7.4 eighth: a retransmission of the remote FIN.
		// Acknowledge it, and restart the 2 MSL timeout.
		tw.deadline = monoNanos(now.Add(2 * tw.env.Config.MSL))
		tw.sendAck(now, local, remote)
	case f.Has(wire.FlagSYN):
		tw.challengeACK(now, local, remote) // RFC 5961 §4.2
	case seg.Seq == tw.rcvNxt && seg.Len() == 0:
		// A bare ACK at RCV.NXT is acceptable and asks for nothing (as
		// Linux: "it may be only reset or bare ack"); its timestamp is
		// TS.Recent's next value (RFC 7323 §5.3 R3).
		if tw.tsOK && seg.Options.HasTimestamps && int32(seg.Options.TSVal-tw.tsRecent) >= 0 {
			tw.tsRecent, tw.tsRecentAt = seg.Options.TSVal, monoNanos(now)
		}
	default:
		// §3.10.7.4 first: anything else is an old duplicate: a duplicate
		// ACK, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, within the rate limit
		// (ratelimit.go). The deadline stays: only the FIN restarts it
		// (Linux restarts it for any segment with ACK set).
		tw.env.dropFor(&st.DropOutOfWindow, "DropOutOfWindow", local, remote, seg, StateTimeWait)
		tw.answerInvalid(now, local, remote, tw.plausibleData(seg))
	}
	return TimeWaitKeep
}

// Expire ends the record if its deadline has passed at now (the 2*MSL
// timeout), tracing it as the Conn's HandleTimer does, and reports
// whether it did.
func (tw *TimeWait) Expire(now time.Time, local, remote netip.AddrPort) bool {
	if monoNanos(now) < tw.deadline {
		return false
	}
	if tw.env.Trace != nil {
		e := trace.Event{Kind: trace.KindTimer, Host: tw.env.Host, Local: local, Remote: remote, State: StateTimeWait.String(), Cause: "2MSL"}
		tw.env.Trace.Event(&e)
	}
	tw.End(local, remote, "timeout 2MSL")
	return true
}

// End records the end of TIME-WAIT for cause: the change to CLOSED in
// the trace. The host calls it when a new incarnation takes the 4-tuple
// over or when it has no room for the record; Expire and HandleSegment
// call it for the timeout and a RST.
func (tw *TimeWait) End(local, remote netip.AddrPort, cause string) {
	if tw.env.Trace != nil {
		e := trace.Event{Kind: trace.KindStateChange, Host: tw.env.Host, Local: local, Remote: remote,
			State: StateClosed.String(), From: StateTimeWait.String(), Cause: cause}
		tw.env.Trace.Event(&e)
	}
}

// paws is Conn.paws for the record.
func (tw *TimeWait) paws(now time.Time, local, remote netip.AddrPort, seg *Segment) bool {
	if !tw.tsOK {
		return true
	}
	o := &seg.Options
	rst := seg.Flags.Has(wire.FlagRST)
	if !o.HasTimestamps {
		if rst {
			return true // RFC 7323 §3.2
		}
		tw.env.dropFor(&tw.env.Stats.DropNoTimestamp, "DropNoTimestamp", local, remote, seg, StateTimeWait)
		return false
	}
	if int32(o.TSVal-tw.tsRecent) < 0 && !rst {
		if time.Duration(monoNanos(now)-tw.tsRecentAt) > pawsIdle {
			tw.tsRecent, tw.tsRecentAt = o.TSVal, monoNanos(now)
			return true
		}
		tw.env.dropFor(&tw.env.Stats.DropPAWS, "DropPAWS", local, remote, seg, StateTimeWait)
		tw.answerInvalid(now, local, remote, tw.plausibleData(seg))
		return false
	}
	return true
}

// plausibleData is Conn.plausibleData for the record: what an honest
// peer may send outside the window, answered without the rate limit.
func (tw *TimeWait) plausibleData(seg *Segment) bool {
	if seg.Flags.Has(wire.FlagSYN) {
		return false
	}
	if len(seg.Payload) == 0 {
		return seg.Flags&(wire.FlagFIN|wire.FlagRST) == 0 && seg.Seq == tw.rcvNxt.Sub(1) // a probe
	}
	w := seqnum.Size(tw.span)
	rcvWnd := seqnum.Size(tw.wnd) << tw.rcvShift
	return seg.Seq.InWindow(tw.rcvNxt.Sub(w), w+rcvWnd+w+1)
}

// answerInvalid is Conn.answerInvalid for the record.
func (tw *TimeWait) answerInvalid(now time.Time, local, remote netip.AddrPort, plausible bool) {
	if !plausible && tw.rateLimited(now) {
		return
	}
	tw.env.Stats.OutOfWindowACKs.Add(1)
	tw.sendAck(now, local, remote)
}

// challengeACK is Conn.challengeACK for the record: within the rate limit
// and the stack's budget (RFC 5961 §7).
func (tw *TimeWait) challengeACK(now time.Time, local, remote netip.AddrPort) {
	if tw.rateLimited(now) {
		return
	}
	if !tw.env.challengeBudget(now) {
		tw.env.Stats.TCPChallengeACKOverBudget.Add(1)
		return
	}
	tw.env.Stats.TCPChallengeACK.Add(1)
	tw.sendAck(now, local, remote)
}

// rateLimited is Conn.invalidRateLimited for the record, whose skips
// count as Linux's TCPACKSkippedTimeWait.
func (tw *TimeWait) rateLimited(now time.Time) bool {
	limit := tw.env.Config.InvalidACKRateLimit
	if limit < 0 {
		return false
	}
	t := monoNanos(now)
	if tw.lastInvalidACK != 0 {
		if d := time.Duration(t - tw.lastInvalidACK); d >= 0 && d < limit {
			tw.env.Stats.TCPACKSkippedTimeWait.Add(1)
			return true
		}
	}
	tw.lastInvalidACK = t
	return false
}

// sendAck sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> with the window last
// advertised and, once negotiated, timestamps (RFC 7323 §3.2), as
// Linux's tcp_v4_timewait_ack. It carries no SACK blocks: nothing is
// held out of order.
func (tw *TimeWait) sendAck(now time.Time, local, remote netip.AddrPort) {
	h := &tw.env.hdr
	*h = wire.TCPFields{SrcPort: local.Port(), DstPort: remote.Port(), Seq: tw.sndNxt, Ack: tw.rcvNxt,
		Flags: wire.FlagACK, Window: tw.wnd}
	if tw.tsOK {
		h.Options.HasTimestamps, h.Options.TSVal, h.Options.TSEcr = true, tsClock(now, tw.tsOffset), tw.tsRecent
	}
	tw.env.Stats.OutSegs.Add(1)
	tw.env.Out.SendBare(local.Addr(), remote.Addr(), h)
	if tw.env.Trace != nil {
		tw.trace(trace.KindSegmentSent, local, remote, h.Flags, h.Seq, h.Ack, h.Window, 0, &h.Options)
	}
}

// trace records a segment the record received or sent.
func (tw *TimeWait) trace(k trace.Kind, local, remote netip.AddrPort, flags wire.TCPFlags, seq, ack seqnum.Value, wnd uint16, n int, opts *wire.TCPOptions) {
	e := trace.Event{Kind: k, Host: tw.env.Host, Local: local, Remote: remote,
		Flags: flags, Seq: seq, Ack: ack, Window: wnd, Len: n, Options: *opts, State: StateTimeWait.String()}
	tw.env.Trace.Event(&e)
}
