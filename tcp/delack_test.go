package tcp

// Delayed ACKs (RFC 1122 §4.2.3.2, RFC 5681 §4.2), Nagle's algorithm
// (RFC 9293 §3.7.4) and sender silly window avoidance (§3.8.6.2.1).

import (
	"testing"
	"time"
)

// delayed turns delayed ACKs on at their default.
func delayed(c *Config) { c.DelayedACK = DefaultDelayedACK }

// TestEstablishedDelayedACK: one segment of in-order data is ACKed only
// when the delayed-ACK timer fires, 40 ms later (at most 200 ms, RFC 1122).
func TestEstablishedDelayedACK(t *testing.T) {
	e := established(t, delayed)
	now := at(sec)
	e.c.HandleSegment(now, in(pshack, y+1, x+1, data([]byte("hello"))))
	e.expectNone()
	e.deadline(now.Add(DefaultDelayedACK))
	e.fire()
	e.expect(is(ack, x+1, y+6))
	e.deadline(time.Time{})
}

// TestEstablishedDelayedACKEverySecondSegment: the second full-sized
// segment is ACKed at once (RFC 5681 §4.2: at least every second one).
func TestEstablishedDelayedACKEverySecondSegment(t *testing.T) {
	e := established(t, delayed)
	now := at(sec)
	mss := 536
	e.c.HandleSegment(now, in(ack, y+1, x+1, data(bytesN(mss))))
	e.expectNone()
	e.c.HandleSegment(now, in(ack, y+1+536, x+1, data(bytesN(mss))))
	e.expect(is(ack, x+1, y+1+2*536))
	e.deadline(time.Time{})
}

// TestEstablishedDelayedACKNotForOutOfOrder: out-of-order data, and the
// data that fills the hole, are ACKed at once (RFC 5681 §4.2).
func TestEstablishedDelayedACKNotForOutOfOrder(t *testing.T) {
	e := established(t, delayed)
	now := at(sec)
	e.c.HandleSegment(now, in(ack, y+11, x+1, data(bytesN(10))))
	e.expect(is(ack, x+1, y+1))
	e.c.HandleSegment(now, in(ack, y+1, x+1, data(bytesN(10))))
	e.expect(is(ack, x+1, y+21))
}

// TestEstablishedDelayedACKRidesOnData: a reply written before the timer
// fires carries the ACK, and the timer is cancelled.
func TestEstablishedDelayedACKRidesOnData(t *testing.T) {
	e := established(t, delayed)
	now := at(sec)
	e.c.HandleSegment(now, in(pshack, y+1, x+1, data([]byte("ping"))))
	e.expectNone()
	e.write(now.Add(time.Millisecond), []byte("pong"))
	e.expect(is(pshack, x+1, y+5), hasLen(4))
	e.deadline(now.Add(time.Millisecond).Add(e.c.RTO())) // the retransmission timer only
}

// TestEstablishedNagle: with Nagle on (SetNoDelay(false)) a short segment
// waits while earlier data is unacknowledged, and the bytes written
// meanwhile go together on the ACK; with it off (the default, as Go's net)
// each write goes at once.
func TestEstablishedNagle(t *testing.T) {
	e := established(t)
	e.c.SetNoDelay(at(sec), false)
	e.write(at(sec), []byte("a"))
	e.expect(is(pshack, x+1, y+1), hasLen(1))
	e.write(at(sec), []byte("b"))
	e.write(at(sec), []byte("c"))
	e.expectNone()
	e.c.HandleSegment(at(sec+rtt), in(ack, y+1, x+2))
	e.expect(is(pshack, x+2, y+1), hasData([]byte("bc")))

	e = established(t)
	e.write(at(sec), []byte("a"))
	e.expect(hasLen(1))
	e.write(at(sec), []byte("b"))
	e.expect(is(pshack, x+2, y+1), hasData([]byte("b")))
	// Turning Nagle off sends what it held.
	e = established(t)
	e.c.SetNoDelay(at(sec), false)
	e.write(at(sec), []byte("a"))
	e.write(at(sec), []byte("b"))
	e.take()
	e.c.SetNoDelay(at(sec), true)
	e.expect(hasData([]byte("b")))
}

// TestEstablishedSenderSWSAvoidance: a window that leaves room only for a
// sliver of a segment (less than a segment and less than half the largest
// window offered) is not used (RFC 9293 §3.8.6.2.1); with nothing in
// flight the override timer sends what fits.
func TestEstablishedSenderSWSAvoidance(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, wnd(700)))
	e.write(at(sec), bytesN(3000))
	e.expect(is(ack, x+1, y+1), hasLen(536)) // 164 more would fit: a sliver
	now := at(sec + rtt)
	e.c.HandleSegment(now, in(ack, y+1, x+537, wnd(100)))
	e.expectNone()
	e.deadline(now.Add(e.c.RTO())) // the override (persist) timer
	e.fire()
	e.expect(is(ack, x+537, y+1), hasLen(100))
}
