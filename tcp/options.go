package tcp

import (
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// This file holds the options negotiated on the SYNs: window scaling and
// timestamps with PAWS (RFC 7323), and SACK-permitted (RFC 2018 §2).

// maxWindowShift is the largest window scale shift (RFC 7323 §2.3).
const maxWindowShift = 14

// tsLen is the room the timestamps option takes in every segment once
// negotiated: NOP, NOP, kind 8, length 10 (RFC 7323 Appendix A layout).
const tsLen = 12

// pawsIdle is how long TS.Recent stays valid without a segment that
// updates it (RFC 7323 §5.5: 24 days, below half the 32-bit space at 1 ms).
const pawsIdle = 24 * 24 * time.Hour

// windowShift returns the smallest shift that lets a 16-bit window field
// describe a buffer of size bytes (RFC 7323 §2.3), at most 14.
func windowShift(size int) uint8 {
	var s uint8
	for s < maxWindowShift && size>>s > 65535 {
		s++
	}
	return s
}

// SetTimestampOffset sets the per-connection offset added to this side's
// timestamp clock (RFC 7323 §5.4), so that TSval reveals neither uptime
// nor a relation between connections. The stack calls it before Connect or
// Open with a keyed hash of the 4-tuple.
func (c *Conn) SetTimestampOffset(off uint32) { c.tsOffset = off }

// tsVal is this side's timestamp clock at now, with the connection's offset.
func (c *Conn) tsVal(now time.Time) uint32 { return tsClock(now, c.tsOffset) }

// tsClock is the timestamp clock at now for a connection whose offset is
// off: milliseconds (RFC 7323 §5.4 allows 1 ms to 1 s per tick), plus off.
func tsClock(now time.Time, off uint32) uint32 { return uint32(now.UnixMilli()) + off }

// stampTS fills the timestamps option of a segment sent now (RFC 7323
// §3.2: TSval our clock, TSecr TS.Recent) and notes when the first segment
// of each tick went out, for the receiver's RTT (measureRcvRTT).
func (c *Conn) stampTS(o *wire.TCPOptions) {
	o.HasTimestamps, o.TSVal, o.TSEcr = true, c.tsVal(c.now), c.tsRecent
	if o.TSVal != c.tsSentTick || c.tsSentAt == 0 {
		c.tsSentTick, c.tsSentAt = o.TSVal, monoNanos(c.now)
	}
}

// synOptions fills the options of a SYN or SYN,ACK: the MSS always
// (RFC 9293 §3.7.1); the RFC 7323 and RFC 2018 options when this side
// offers them (an active SYN) or when the peer's SYN offered them (a
// SYN,ACK: an option is never sent in a SYN,ACK unless it was in the SYN).
func (c *Conn) synOptions(o *wire.TCPOptions) {
	o.HasMSS, o.MSS = true, uint16(min(c.cfg.MSS, 65535))
	if u := c.userMaxSegment(); u > 0 && c.state == StateSynSent {
		o.MSS = uint16(min(int(o.MSS), u)) // TCP_MAXSEG (sockopt.go)
	}
	offer := c.state == StateSynSent
	if (offer && !c.cfg.NoWindowScaling) || c.wsOK {
		o.HasWindowScale, o.WindowScale = true, c.rcvShift
	}
	if (offer && !c.cfg.NoSACK) || c.sackOK {
		o.SACKPermitted = true
	}
	if (offer && !c.cfg.NoTimestamps) || c.tsOK {
		c.stampTS(o)
	}
}

// negotiate records which options the peer's SYN (or SYN,ACK) agreed to.
// An active opener offered each option it has enabled, a passive one
// answers only those offered, so on both sides an option is in use when
// this side enables it and the peer's SYN carries it.
func (c *Conn) negotiate(now time.Time, o *wire.TCPOptions) {
	c.wsOK = o.HasWindowScale && !c.cfg.NoWindowScaling
	if c.wsOK {
		c.sndShift = o.WindowScale
		if c.sndShift > maxWindowShift {
			// RFC 7323 §2.3: use 14 instead of a larger value, and log it.
			c.env.Stats.WindowScaleClamped.Add(1)
			c.sndShift = maxWindowShift
		}
		c.rcvShift = windowShift(c.cfg.MaxReceiveBufferSize)
	} else {
		// RFC 7323 §2.2: without the option from both sides, neither
		// scales, and the 16-bit window bounds the receive buffer.
		c.sndShift, c.rcvShift = 0, 0
		c.rcvBuf.ring.limit = min(c.rcvBuf.ring.limit, 65535)
	}
	c.sackOK = o.SACKPermitted && !c.cfg.NoSACK
	c.tsOK = o.HasTimestamps && !c.cfg.NoTimestamps
	if c.tsOK {
		c.tsRecent, c.tsRecentAt = o.TSVal, monoNanos(now)
	}
}

// rcvLimit is the most the receive buffer may grow to.
func (c *Conn) rcvLimit() int {
	if !c.wsOK {
		return min(c.cfg.MaxReceiveBufferSize, 65535)
	}
	return c.cfg.MaxReceiveBufferSize
}

// segWnd is the peer's window in a segment: scaled by its shift, except
// in a SYN, whose window is never scaled (RFC 7323 §2.2).
func (c *Conn) segWnd(seg *Segment) seqnum.Size {
	if seg.Flags.Has(wire.FlagSYN) {
		return seqnum.Size(seg.Window)
	}
	return seqnum.Size(seg.Window) << c.sndShift
}

// paws is the timestamp check of RFC 7323 §5.3 for a segment on a
// synchronized connection, made before the sequence check. It reports
// whether the segment may be processed; a segment that fails is dropped
// and, unless it is a RST, answered with an ACK.
func (c *Conn) paws(now time.Time, seg *Segment) bool {
	if !c.tsOK {
		return true
	}
	o := &seg.Options
	if !o.HasTimestamps {
		if seg.Flags.Has(wire.FlagRST) {
			return true // RFC 7323 §3.2: a RST is accepted without the option
		}
		// §3.2: a non-RST segment without the option after both sides
		// agreed to send it in every segment is dropped silently.
		c.drop(&c.env.Stats.DropNoTimestamp, "DropNoTimestamp")
		return false
	}
	// R1: SEG.TSval < TS.Recent means an old duplicate, unless TS.Recent
	// is so old (24 days idle) that the comparison means nothing (§5.5).
	if int32(o.TSVal-c.tsRecent) < 0 && !seg.Flags.Has(wire.FlagRST) {
		if time.Duration(monoNanos(now)-c.tsRecentAt) > pawsIdle {
			c.tsRecent, c.tsRecentAt = o.TSVal, monoNanos(now)
			return true
		}
		c.drop(&c.env.Stats.DropPAWS, "DropPAWS")
		c.answerInvalid(now, c.plausibleData(seg), invalidPAWS) // rate limited (ratelimit.go)
		return false
	}
	return true
}

// updateTSRecent is R3 of RFC 7323 §5.3 (with the §4.3 rule): an acceptable
// segment whose TSval is not older than TS.Recent and which starts at or
// before Last.ACK.sent sets TS.Recent, so the TSecr sent echoes the earliest
// segment an ACK covers and the RTT measured includes the ACK's delay.
func (c *Conn) updateTSRecent(now time.Time, seg *Segment) {
	if c.tsOK && seg.Options.HasTimestamps && int32(seg.Options.TSVal-c.tsRecent) >= 0 &&
		seg.Seq.LessThanEq(c.lastAckSent) {
		c.tsRecent, c.tsRecentAt = seg.Options.TSVal, monoNanos(now)
	}
}

// tsRTT is the round-trip time a segment's TSecr shows (RFC 7323 §4.1),
// and false when it carries none.
func (c *Conn) tsRTT(now time.Time, seg *Segment) (time.Duration, bool) {
	if !c.tsOK || !seg.Options.HasTimestamps || seg.Options.TSEcr == 0 {
		return 0, false
	}
	d := int32(c.tsVal(now) - seg.Options.TSEcr)
	if d < 0 {
		return 0, false // echoes a time from our future: not ours
	}
	return time.Duration(d) * time.Millisecond, true
}
