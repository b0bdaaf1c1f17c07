package tcp

import (
	"time"

	"github.com/synack-net/synack/seqnum"
)

// Reaping connections to dead peers, and the sequence-number edges of
// ending and reusing a connection.
//
// A peer that stops answering is found by one of three timers, and each
// gives up after a count or, when the user set one, after a time:
//
//   - retransmission (data in flight): Config.Retries expirations in a
//     row (Linux tcp_retries2);
//   - persist (a zero window, data waiting): Config.Retries probes in a
//     row with no acceptable ACK between them (Linux tcp_probe_timer);
//   - keepalive (idle): KeepAlive.Count unanswered probes.
//
// TCP_USER_TIMEOUT (RFC 5482) bounds all three in time instead, as Linux's
// TCP_USER_TIMEOUT socket option does. Every give-up ends the connection
// with ETIMEDOUT and counts in Stats.AbortOnTimeout.

// SetUserTimeout sets the connection's user timeout (RFC 5482; Linux's
// TCP_USER_TIMEOUT socket option): when data stays unacknowledged, or
// zero-window or keepalive probes go unanswered, for d, the connection
// ends with ErrTimeout whatever the retry counts say. 0 (the default)
// turns it off; a negative d is taken as 0.
func (c *Conn) SetUserTimeout(now time.Time, d time.Duration) {
	c.now = now
	c.userTimeout = max(d, 0)
}

// UserTimeout is the connection's user timeout, 0 when off.
func (c *Conn) UserTimeout() time.Duration { return c.userTimeout }

// timedOut ends the connection because the peer stopped answering: Linux's
// tcp_write_err, counted as LINUX_MIB_TCPABORTONTIMEOUT. An ICMP error
// reported since the peer last acknowledged data is the error, not
// ETIMEDOUT (RFC 1122 §4.2.3.9; icmp.go).
func (c *Conn) timedOut(cause string) {
	c.env.Stats.AbortOnTimeout.Add(1)
	c.fail(c.timeoutErr(), cause)
}

// userTimedOut reports whether the user timeout has run out for the stall
// that began at stallAt.
func (c *Conn) userTimedOut(now time.Time) bool {
	return c.userTimeout > 0 && time.Duration(monoNanos(now)-c.stallAt) >= c.userTimeout
}

// clampToUserTimeout moves a retransmission or persist deadline t back to
// when the user timeout runs out, if that is sooner, so the connection
// ends on time rather than at the next backed-off expiry (Linux's
// tcp_clamp_rto_to_user_timeout and tcp_clamp_probe0_to_user_timeout).
func (c *Conn) clampToUserTimeout(now time.Time, t mono) mono {
	if c.userTimeout <= 0 || t.IsZero() {
		return t
	}
	return min(t, mono(c.stallAt+int64(c.userTimeout)))
}

// rtoGiveUp decides, at an expiry of the retransmission timer with data
// outstanding (retries already counts this one), whether the peer is taken
// for dead. The run of expirations began when the timer that first expired
// was armed: when the oldest unacknowledged data was sent or last moved on
// by an ACK, which is what RFC 5482 times ("how long transmitted data may
// remain unacknowledged"; Linux's retrans_stamp); when a loss probe went
// first, when the RTO it stood in for was armed (tlp.go). With a user timeout the
// time alone decides, replacing the count (RFC 5482 §2: it replaces R2;
// Linux's retransmits_timed_out uses it in place of tcp_retries2).
func (c *Conn) rtoGiveUp(now time.Time) bool {
	if c.retries == 1 && (c.loss == nil || !c.loss.probed) {
		c.stallAt = monoNanos(now) - int64(c.rto) // c.rto is not backed off yet
	}
	if c.userTimeout > 0 {
		if !c.userTimedOut(now) {
			return false
		}
		c.timedOut("user timeout: data unacknowledged")
		return true
	}
	if c.retries <= c.cfg.Retries {
		return false
	}
	c.timedOut("retransmission retries exhausted")
	return true
}

// synUserTimedOut applies the user timeout to an active open, as Linux
// does to a connect (tcp_write_timeout): set, it replaces SYNRetries, and
// the time counts from the first SYN.
func (c *Conn) synUserTimedOut(now time.Time) bool {
	if c.retries == 1 {
		c.stallAt = monoNanos(now) - int64(c.rto) // when the first SYN went
	}
	return c.userTimeout > 0 && c.userTimedOut(now)
}

// probeGiveUp decides, as the persist timer fires in a zero-window stall,
// whether the peer is taken for dead before another probe is sent. It is
// Linux's tcp_probe_timer: the stall is timed from its first probe
// (icsk_probes_tstamp), and only a window that opens ends it, so the user
// timeout ends even a stall whose peer keeps answering with window 0
// (Linux since "tcp: fix TCP_USER_TIMEOUT with zero window", 2021);
// without one, Config.Retries probes in a row with no acceptable ACK
// between them (icsk_probes_out against tcp_retries2) end it, while a peer
// that answers every probe is kept however long (RFC 9293 §3.8.6.1, RFC
// 1122 §4.2.2.17). Linux's shorter limit for orphaned connections
// (tcp_orphan_retries) is not applied.
//
// Like the retransmission timeout's give-up, it ends the connection
// without a segment (Linux's tcp_write_err; RFC 9293 §3.10.8 only signals
// the user): the peer is taken for dead, or, under a user timeout, has
// had its window closed longer than the user allows. Only the keepalive
// timer's give-up sends a RST, as Linux's does.
func (c *Conn) probeGiveUp(now time.Time) bool {
	var cause string
	switch {
	case c.probes == 0:
		c.stallAt = monoNanos(now) // the stall's first probe
		return false
	case c.userTimedOut(now):
		cause = "user timeout: zero window"
	case c.probesOut >= int32(c.cfg.Retries):
		cause = "zero-window probes unanswered"
	default:
		return false
	}
	c.traceTimer("persist")
	c.env.Stats.WinProbeAborts.Add(1)
	c.timedOut(cause)
	return true
}

// peerAlive notes an acceptable ACK (RFC 5961 §5.2's range, after the
// sequence, PAWS, RST and SYN checks): only such a segment shows the peer
// is there, and it restarts the keepalive idle time and the user timeout's
// silence (lastRecv; Linux sets rcv_tstamp in tcp_ack, after
// tcp_validate_incoming). A segment failing a check does not: anyone can
// send one, and one per keepalive interval would otherwise keep a
// connection to a dead peer forever. The peer's answer to a keepalive probe
// (numbered SND.UNA-1) is an ACK of SND.UNA at its SND.NXT, so it counts.
//
// An ACK of SND.UNA or beyond also starts the count of unanswered
// zero-window probes over, even if the window is still zero (Linux tcp_ack:
// icsk_probes_out = 0). The persist timer's backoff and the stall's start
// stay until the window opens (tcp_ack_probe).
func (c *Conn) peerAlive(now time.Time, ack seqnum.Value) {
	c.lastRecv = monoAt(now)
	if c.sndUna.LessThanEq(ack) {
		c.probesOut = 0
	}
}

// keepAliveGiveUp is Linux's rule in tcp_keepalive_timer: with a user
// timeout, the peer is dead once a probe is out and nothing has come from
// it for the user timeout; without one, after KeepAlive.Count probes.
func (c *Conn) keepAliveGiveUp(now time.Time) bool {
	if c.userTimeout > 0 {
		return c.kaProbes > 0 && since(now, c.lastRecv) >= c.userTimeout
	}
	return c.kaProbes >= c.ka.Count
}

// rstSeq numbers a RST this connection sends on its own (an abort, a
// timeout). Not SND.NXT: a retransmission timeout rewinds it to SND.UNA,
// below what the peer may have received, and a RST numbered there fails
// the peer's check (RFC 9293 §3.10.7.4, RFC 5961 §3.2) and is dropped.
// SND.MAX instead, capped at the right edge of the peer's window, as
// Linux's tcp_send_active_reset numbers it (tcp_acceptable_seq).
func (c *Conn) rstSeq() seqnum.Value { return c.ackSeq() }

// NextISS is the ISS for a new connection that takes this one's 4-tuple
// over from TIME-WAIT: beyond anything this incarnation sent, so no old
// duplicate of it can fall in the new one's window. It is Linux's choice in
// tcp_timewait_state_process: the old SND.NXT (our SND.MAX) + 65535 + 2,
// never 0 (the stack reads 0 as "none").
func (c *Conn) NextISS() seqnum.Value { return nextISS(c.sndMax) }

// nextISS is the ISS after an incarnation whose highest sequence number
// sent is sndMax.
func nextISS(sndMax seqnum.Value) seqnum.Value {
	iss := sndMax.Add(65535 + 2)
	if iss == 0 {
		iss = 1
	}
	return iss
}

// newIncarnation is the rule by which a SYN may end TIME-WAIT and open the
// 4-tuple again. With timestamps on the old connection and in the SYN (and
// so on the new one), RFC 6191 §2: its TSval is newer than TS.Recent, or
// equal to it with a sequence number beyond RCV.NXT; an older TSval is
// refused whatever its sequence number (as Linux's PAWS check in
// tcp_timewait_state_process). Otherwise RFC 9293 §3.6.1's note: SEG.SEQ >
// RCV.NXT.
func (c *Conn) newIncarnation(seg *Segment) bool {
	seqNewer := seg.Seq.GreaterThan(c.rcvNxt)
	if c.tsOK && seg.Options.HasTimestamps {
		d := int32(seg.Options.TSVal - c.tsRecent)
		return d > 0 || d == 0 && seqNewer
	}
	return seqNewer
}

// finWait2Timeout ends an orphaned FIN-WAIT-2 connection at
// Config.FinWait2Timeout with a RST, as Linux does when tcp_fin_timeout
// runs out on a full socket (tcp_keepalive_timer: tcp_send_active_reset),
// so a peer that still holds its side open learns it is gone.
func (c *Conn) finWait2Timeout() {
	c.traceTimer("FIN-WAIT-2 timeout")
	c.env.Stats.FinWait2Timeouts.Add(1)
	c.sendReset(c.rstSeq())
	c.setState(StateClosed, "FIN-WAIT-2 timeout")
}

// closeUnread is Close with received data the user never read, in a
// synchronized state where a RST can still tell the peer: the data is
// lost, so the connection is aborted with a RST (RFC 9293 §3.10.4 via RFC
// 1122 §4.2.2.13 and RFC 2525 §2.17; Linux tcp_close, TCPAbortOnClose).
// That holds after a half-close too, in FIN-WAIT-1 and FIN-WAIT-2. It
// reports whether it aborted.
func (c *Conn) closeUnread(now time.Time) bool {
	if c.rcvBuf.Len() == 0 {
		return false
	}
	switch c.state {
	case StateSynReceived, StateEstablished, StateCloseWait, StateFinWait1, StateFinWait2:
		c.env.Stats.AbortOnClose.Add(1)
		c.Abort(now)
		return true
	}
	return false
}
