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
		c.delackAt = now.Add(c.cfg.DelayedACK)
	}
}

// measureRcvRTT keeps the receiver's estimate of the round-trip time from
// the timestamps echoed in arriving data (Linux tcp_rcv_rtt_measure_ts): a
// receiver that sends no data has no other measure.
func (c *Conn) measureRcvRTT(now time.Time, seg *Segment) {
	rtt, ok := c.tsRTT(now, seg)
	if !ok {
		return
	}
	if c.rcvRTT == 0 || rtt < c.rcvRTT {
		c.rcvRTT = rtt
	} else {
		c.rcvRTT = (7*c.rcvRTT + rtt) / 8
	}
}

// autotune is told that the application read n bytes. Once per receiver
// RTT it compares what was read in that time with the most read in one
// RTT before; when the application reads more, the buffer grows to twice
// that plus room for the sender's growth, so the window never limits a
// sender the application keeps up with. A reader that falls behind does
// not grow it: memory follows what the application takes.
func (c *Conn) autotune(now time.Time, n int) {
	limit := c.rcvLimit()
	if c.rcvBuf.limit >= limit {
		return // at the cap, or the size was fixed by the user
	}
	c.rcvCopied += n
	rtt := c.rcvRTT
	if rtt == 0 {
		if !c.hasRTT {
			return
		}
		rtt = c.srtt
	}
	rtt = max(rtt, time.Millisecond)
	if c.rcvSpaceAt.IsZero() {
		c.rcvSpaceAt = now
		return
	}
	if now.Sub(c.rcvSpaceAt) < rtt {
		return
	}
	copied, prev := c.rcvCopied, c.rcvSpace
	c.rcvCopied, c.rcvSpaceAt = 0, now
	if copied <= prev {
		return
	}
	c.rcvSpace = copied
	target := 2*copied + 16*c.mss
	if prev > 0 {
		// The sender is still growing: leave room for the next round too.
		target += 2 * int(int64(target)*int64(copied-prev)/int64(prev))
	}
	if target > c.rcvBuf.limit {
		c.rcvBuf.limit = min(target, limit)
		c.env.Stats.ReceiveBufferGrown.Add(1)
	}
}

// growSendBuffer lets Write queue twice the window in use, so the sender
// always has the next window's data at hand, up to MaxSendBufferSize.
func (c *Conn) growSendBuffer() {
	want := 2 * min(c.cwnd(), int(c.sndWnd))
	if want > c.sndBuf.limit && c.sndBuf.limit < c.cfg.MaxSendBufferSize {
		c.sndBuf.limit = min(want, c.cfg.MaxSendBufferSize)
		c.events |= EventWritable
	}
}
