package tcp

import "time"

// This file sizes the buffers to the path, as Linux does: the receive
// buffer grows while the application keeps up with a fast sender (Linux's
// tcp_rcv_space_adjust, "dynamic right-sizing"), the send buffer grows
// with the window in use (tcp_sndbuf_expand), each up to its cap in Config.

// delayAck decides when in-order data is acknowledged (RFC 1122 §4.2.3.2,
// RFC 5681 §4.2): at once when more than one full-sized segment is
// unacknowledged, so every second full segment is ACKed; otherwise within
// Config.DelayedACK, unless data sent meanwhile carries the ACK.
func (c *Conn) delayAck(now time.Time) {
	if c.ackNow {
		return
	}
	if c.cfg.DelayedACK < 0 || c.unacked > c.rcvMSS {
		c.ackNow = true
		return
	}
	if c.delackAt.IsZero() {
		c.delackAt = after(now, c.cfg.DelayedACK)
	}
}

// measureRcvRTT, told that n bytes of seg were just queued, keeps the
// receiver's estimate of the round-trip time from the timestamps echoed in
// arriving data (Linux tcp_rcv_rtt_measure_ts): a receiver that sends no
// data has no other measure. It takes one sample per echoed tick, from
// the first full-sized segment that echoes it, as Linux does
// (rcv_rtt_last_tsecr): later segments echoing the same tick left the
// sender later and would only add its queueing.
//
// The timestamp clock ticks in milliseconds, too coarse for a path whose
// RTT is microseconds, where autotuning needs the RTT most (see autotune).
// So the sample is timed from when the first segment of the echoed tick
// went out: the sender echoes the latest TSval it has seen, and the first
// data it sends after our first segment of a tick echoes that tick. This
// needs the tick to be the latest we sent in; an older one gives the
// millisecond sample.
func (c *Conn) measureRcvRTT(now time.Time, seg *Segment, n int) {
	ecr := seg.Options.TSEcr
	rtt, ok := c.tsRTT(now, seg)
	if !ok || ecr == c.tsSampled || n < c.rcvMSS {
		return
	}
	c.tsSampled = ecr
	if ecr == c.tsSentTick {
		// The fine sample must agree with the ticks, which a wall clock
		// stepped in between (the ticks follow it) would break.
		fine := time.Duration(monoNanos(now) - c.tsSentAt)
		if fine < 0 || fine > rtt+time.Millisecond {
			return
		}
		rtt = fine
	}
	if rtt <= 0 {
		return
	}
	if c.rcvRTT > 0 && rtt > c.rcvRTT && c.rcvBuf.Len() > n {
		// A reader that has not caught up keeps the window, and so
		// what the sender may queue, short: a longer RTT now says more
		// about that queue than about the path (as Linux skips it).
		return
	}
	if c.rcvRTT == 0 || rtt < c.rcvRTT {
		c.rcvRTT = rtt
	} else {
		c.rcvRTT = (7*c.rcvRTT + rtt) / 8
	}
}

// lowRTT is the RTT below which autotuning grows the receive buffer
// in proportion to the RTT rather than for a sender doubling its rate
// (Linux's tcp_rcvbuf_low_rtt, default 1 ms). On such a path a few more
// RTTs to reach full rate cost little, while a buffer grown past what the
// path needs only holds bytes long enough to fall out of the CPU caches:
// a receiver is usually slower than its sender, and the window it
// advertises is what the sender queues in front of it.
const lowRTT = time.Millisecond

// minRcvSpacePeriod is the shortest time over which autotuning measures
// the reader's rate. On a path whose RTT is microseconds, what a reader
// takes in one RTT is a read or none: the rate comes from a longer look,
// and the bytes per RTT from rate times RTT.
const minRcvSpacePeriod = time.Millisecond

// rcvStall is how long the receive buffer must stay full, the sender
// waiting on the reader, for autotuning to take the reader's pace rather
// than the path's as the measure: a reader that drains the buffer every
// few milliseconds needs it to hold what arrives in between, however short
// the RTT, while a reader that falls behind for a moment does not.
const rcvStall = minRcvSpacePeriod / 4

// autotune is told that the application read n bytes. Once per receiver
// RTT (and at most once a millisecond) it compares what was read per RTT
// with the most read per RTT before; when the application reads more, the
// buffer grows to twice that plus room for the sender's growth, so the
// window never limits a sender the application keeps up with. A reader
// that falls behind does not grow it: memory follows what the application
// takes. Per RTT means the rate read times the RTT, unless the buffer sat
// full (rcvStall): then what was read in the whole period, which the
// buffer must hold between two visits of the reader.
func (c *Conn) autotune(now time.Time, n int) {
	limit := c.rcvLimit()
	if c.rcvBuf.ring.limit >= limit || c.user&userRcvBuf != 0 {
		return // at the cap, or the size was fixed by the user (SetReceiveBufferSize)
	}
	c.rcvCopied += n
	if c.rcvFullAt != 0 && c.rcvBuf.Free() >= c.rcvMSS {
		if time.Duration(monoNanos(now)-c.rcvFullAt) >= rcvStall {
			c.rcvStalled = true
		}
		c.rcvFullAt = 0
	}
	rtt := c.rcvRTT
	if rtt == 0 {
		if !c.hasRTT {
			return
		}
		rtt = c.srtt
	}
	if c.rcvSpaceAt == 0 {
		c.rcvSpaceAt = monoNanos(now)
		return
	}
	period := time.Duration(monoNanos(now) - c.rcvSpaceAt)
	if period < max(rtt, minRcvSpacePeriod) {
		return
	}
	// What the reader took, less what it left queued: bytes it drains
	// from a backlog say how far behind it was, not how fast the path is
	// (Linux's receive queue awareness). Over a period longer than the
	// RTT, the rate seen times the RTT. After a stall all of it: the
	// period ends at the reader's first read after the wait, with the
	// buffer still nearly full, and what it holds is what the reader needs.
	copied, prev := c.rcvCopied, c.rcvSpace
	if !c.rcvStalled {
		copied -= c.rcvBuf.Len()
		if period > rtt {
			copied = int(int64(copied) * int64(rtt) / int64(period))
		}
	}
	c.rcvCopied, c.rcvSpaceAt, c.rcvStalled = 0, monoNanos(now), false
	if copied <= prev {
		return
	}
	c.rcvSpace = copied
	target := 2*copied + 16*c.mss
	switch {
	case rtt < lowRTT:
		target += int(int64(target) * int64(rtt) / int64(lowRTT))
	case prev > 0:
		// The sender is still growing: leave room for the next round too.
		target += 2 * int(int64(target)*int64(copied-prev)/int64(prev))
	}
	if target > c.rcvBuf.ring.limit && c.mayGrowReceiveBuffer(min(target, limit)-c.rcvBuf.ring.limit) {
		c.rcvBuf.ring.limit = min(target, limit)
		c.env.Stats.ReceiveBufferGrown.Add(1)
	}
}

// growSendBuffer lets Write queue twice the window in use, so the sender
// always has the next window's data at hand, up to MaxSendBufferSize; but
// only when the send buffer is what holds sending back, in the spirit of
// Linux's tcp_should_expand_sndbuf (which declines while the packets in
// flight fill the congestion window): not while the bytes queued, sent or
// not, already cover the window (congestion or receive, the smaller). A
// sender the window holds back gains nothing from a larger buffer, which
// only spreads its bytes over more memory: measured in a bulk transfer
// between two stacks in one process, the buffer no longer grew to twice
// a window inflated by a queue, and the transfer ran 5% faster for it.
func (c *Conn) growSendBuffer() {
	window := min(c.cwnd(), int(c.sndWnd))
	if c.sndBuf.Len() >= window {
		return
	}
	want := 2 * window
	if want > c.sndBuf.limit && c.sndBuf.limit < c.cfg.MaxSendBufferSize && c.user&userSndBuf == 0 &&
		c.mayGrowSendBuffer(min(want, c.cfg.MaxSendBufferSize)-c.sndBuf.limit) {
		c.sndBuf.limit = min(want, c.cfg.MaxSendBufferSize)
		c.writeSpace()
	}
}
