package tcp

import (
	"syscall"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// This file is what the engine does with an ICMP error about one of its
// segments, once the stack has matched the quoted header to the
// connection: the hard and soft errors of RFC 1122 §4.2.3.9, checked
// against the sequence space as RFC 5927 §4.1 asks, and path MTU
// discovery (RFC 1191 §6.4, RFC 1122 §4.2.2.6).

// ICMPVerdict is what the engine made of an ICMP error.
type ICMPVerdict uint8

// The verdicts of ICMPError and SetPathMTU.
const (
	// ICMPIgnored: the connection has no use for the error (a state that
	// sends nothing, an MTU that is no smaller).
	ICMPIgnored ICMPVerdict = iota
	// ICMPOutOfWindow: the quoted sequence number is not one this
	// connection has outstanding (RFC 5927 §4.1): the error is forged or
	// stale, and dropped (Linux OutOfWindowIcmps).
	ICMPOutOfWindow
	// ICMPSoft: a soft error, stored; it becomes the connection's error
	// only if the connection then times out (RFC 1122 §4.2.3.9).
	ICMPSoft
	// ICMPHard: the connection ended with the error (a connect refused).
	ICMPHard
	// ICMPMTULowered: the send MSS shrank to fit the path MTU.
	ICMPMTULowered
)

// quoteInWindow is RFC 5927 §4.1's check: an ICMP error is acted on only
// if the sequence number of the segment it quotes lies in SND.UNA =<
// SEG.SEQ < SND.MAX (SND.MAX rather than a SND.NXT that a timeout rewound),
// or is SND.UNA itself, which a bare ACK carries when nothing is
// outstanding. In SYN-SENT that is the ISS alone. A blind attacker must
// guess it, as it must guess a RST's sequence number.
func (c *Conn) quoteInWindow(seq seqnum.Value) bool {
	return seq == c.sndUna || seq.InRange(c.sndUna, c.sndMax)
}

// ICMPError is told that an ICMP destination unreachable or time exceeded
// quoted a segment of this connection numbered seq, and that the error
// stands for errno (ENETUNREACH, EHOSTUNREACH, ECONNREFUSED, ...). drop
// says the error also drops a half-open passive connection (net or host
// unreachable, time exceeded: Linux's tcp_req_err). As Linux's
// tcp_v4_err: a quote outside SND.UNA..SND.MAX is dropped; in SYN-SENT
// (and an active SYN-RECEIVED) the connect ends with errno; otherwise
// the error is soft: kept, and given instead of ETIMEDOUT if the
// connection times out (RFC 1122 §4.2.3.9, "SHOULD NOT abort").
func (c *Conn) ICMPError(now time.Time, seq seqnum.Value, errno syscall.Errno, drop bool) ICMPVerdict {
	c.now = now
	switch c.state {
	case StateClosed, StateListen, StateTimeWait:
		return ICMPIgnored
	}
	if !c.quoteInWindow(seq) {
		return ICMPOutOfWindow
	}
	switch {
	case c.state == StateSynSent || c.state == StateSynReceived && !c.passive:
		c.fail(errno, "ICMP unreachable")
		return ICMPHard
	case c.state == StateSynReceived && drop:
		// A half-open connection whose SYN,ACK cannot reach the peer is
		// dropped at once, as Linux drops the request, not kept for
		// its retries.
		c.setState(StateClosed, "ICMP unreachable")
		return ICMPHard
	}
	if errno > 0 && errno <= 255 {
		c.softErr = uint8(errno) // every errno ICMP maps to is below 256
	}
	return ICMPSoft
}

// SoftError is the last ICMP error stored on the connection (0 for none):
// RFC 1122 §4.2.3.9's soft error, which Linux keeps as sk_err_soft.
func (c *Conn) SoftError() syscall.Errno { return syscall.Errno(c.softErr) }

// timeoutErr is the error a connection that timed out ends with: the soft
// error an ICMP reported, if one did since the peer last acknowledged
// anything, else ETIMEDOUT (Linux's tcp_write_err).
func (c *Conn) timeoutErr() error {
	if c.softErr != 0 {
		return syscall.Errno(c.softErr)
	}
	return ErrTimeout
}

// minPathMTU is the smallest path MTU SetPathMTU takes (Linux's
// net.ipv4.route.min_pmtu, 552): a smaller value in a "fragmentation
// needed" is raised to it, so a forged one cannot make the connection send
// tiny segments. The stack applies the same floor to its cache.
const minPathMTU = 552

// MinPathMTU is minPathMTU for the stack.
const MinPathMTU = minPathMTU

// mssForMTU is the MSS that fits a path MTU: less the IPv4 and TCP
// headers without options (RFC 1191 §6.4, RFC 6691 §2), then less the
// timestamps this connection carries in every segment.
func (c *Conn) mssForMTU(mtu int) int {
	mss := max(mtu, minPathMTU) - 40
	if c.tsOK {
		mss -= tsLen
	}
	return mss
}

// SetPathMTU is told that the path to the peer carries at most mtu bytes
// in one datagram (an ICMP "fragmentation needed" whose quote the stack
// checked against seq, as ICMPError does). A smaller MSS takes effect at
// once, and the segments in flight that no longer fit are resent, cut to
// it, without a congestion window reduction: they were dropped for their
// size, not for congestion (Linux's tcp_simple_retransmit). An MTU that
// allows no smaller MSS is ignored.
func (c *Conn) SetPathMTU(now time.Time, seq seqnum.Value, mtu int) ICMPVerdict {
	c.now = now
	switch c.state {
	case StateClosed, StateListen, StateTimeWait:
		return ICMPIgnored
	}
	if !c.quoteInWindow(seq) {
		return ICMPOutOfWindow
	}
	if c.state == StateSynSent {
		// The MSS is settled when the peer's SYN arrives: learnPeer asks
		// the stack's cache (Env.PathMTU) then, which already holds mtu.
		return ICMPIgnored
	}
	mss := c.mssForMTU(mtu)
	if mss >= c.mss {
		return ICMPIgnored
	}
	c.mss = mss
	c.resendTooBig(now)
	c.flush(now)
	c.charge()
	return ICMPMTULowered
}

// resendTooBig marks every segment in flight longer than the MSS lost, to
// be resent now in pieces of the new size. With SACK the loss recovery
// (RFC 8985 §6.3's, entered without touching the window) resends them;
// without, SND.NXT goes back to SND.UNA as after a timeout (go-back-N),
// recover = SND.MAX keeping the duplicate ACKs of the resend from starting
// a fast recovery (RFC 6582 §3.2).
func (c *Conn) resendTooBig(now time.Time) {
	if !c.state.sending() || c.sndUna == c.sndMax {
		return
	}
	if !c.lossOn() || c.loss == nil {
		if !c.inRecovery {
			c.sndNxt, c.recover = c.sndUna, c.sndMax
		}
		return
	}
	l := c.loss
	lost := false
	for i := 0; i < l.q.len(); i++ {
		s := l.q.at(i)
		if !s.has(segSACKed) && int(l.q.left(i).Size(s.end)) > c.mss {
			c.markLost(i)
			lost = true
		}
	}
	if !lost || c.inRecovery || c.inLoss() {
		return // a recovery under way resends the lost segments itself
	}
	// Loss recovery with nothing to undo: the window was not cut (Linux
	// clears undo_marker here).
	u := &l.undo
	u.on, u.loss, u.frto, u.frtoNew, u.frtoStep2 = false, true, false, false, false
	c.recover = c.sndMax
}
