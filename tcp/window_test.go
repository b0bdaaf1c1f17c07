package tcp

// Flow control: the send window (RFC 9293 §3.8.6), zero windows and the
// persist timer (§3.8.6.1), and the window the receiver advertises
// (§3.8.6.2.2).

import (
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// withinWindow asserts that no sent segment carried a byte beyond
// SND.UNA+SND.WND as they stood when it was sent.
func withinWindow(t *testing.T, segs []sentSeg) {
	t.Helper()
	for _, sg := range segs {
		end := sg.Seq.Add(seqnum.Size(len(sg.Payload)))
		if len(sg.Payload) > 0 && end.GreaterThan(sg.una.Add(sg.wnd)) {
			t.Fatalf("%v ends at %d, beyond SND.UNA %d + SND.WND %d", sg, end, sg.una, sg.wnd)
		}
	}
}

// payloadLen sums the payload bytes of segs.
func payloadLen(segs []sentSeg) int {
	n := 0
	for _, sg := range segs {
		n += len(sg.Payload)
	}
	return n
}

// TestEstablishedWriteStopsAtSendWindow: no more than SND.WND beyond
// SND.UNA is ever in flight; each ACK that slides the window lets exactly
// that much more go. (The window is two segments: a window that leaves a
// short tail makes sender SWS avoidance hold the tail, swsavoid_test.go.)
func TestEstablishedWriteStopsAtSendWindow(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, wnd(1072)))
	e.write(at(sec), bytesN(3000))
	segs := e.take()
	withinWindow(t, segs)
	if payloadLen(segs) != 1072 || e.c.SndNxt() != x+1073 {
		t.Fatalf("sent %d bytes, snd.nxt %d; want 1072 and %d", payloadLen(segs), e.c.SndNxt(), x+1073)
	}
	e.c.HandleSegment(at(sec+rtt), in(ack, y+1, x+537, wnd(1072)))
	segs = e.take()
	withinWindow(t, segs)
	if len(segs) != 1 || segs[0].Seq != x+1073 || len(segs[0].Payload) != 536 {
		t.Fatalf("after the window slid by 536 sent %v, want <SEQ=%d><LEN=536>", segs, x+1073)
	}
}

// TestEstablishedRecvShrunkWindowSendsNothing: when the peer shrinks its
// window below what is in flight, nothing new is sent until the ACKs
// catch up.
func TestEstablishedRecvShrunkWindowSendsNothing(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, wnd(1000)))
	e.write(at(sec), bytesN(1000))
	e.take()
	before := e.env.Stats.WindowShrunk.Load() // (65535 to 1000 above was one too)
	e.c.HandleSegment(at(sec+rtt), in(ack, y+1, x+1, wnd(500)))
	if n := e.env.Stats.WindowShrunk.Load() - before; n != 1 {
		t.Fatalf("WindowShrunk grew by %d, want the shrink counted once", n)
	}
	e.write(at(sec+rtt), bytesN(500))
	e.expectNone()
	e.c.HandleSegment(at(sec+2*rtt), in(ack, y+1, x+1001, wnd(500)))
	sg := e.expect(is(pshack, x+1001, y+1), hasLen(500))
	withinWindow(t, []sentSeg{*sg})
}

// TestEstablishedRecvZeroWindowProbesWithBackoff: a zero window stops the
// sender; the persist timer sends probes (a bare ACK at SND.UNA-1, which
// the peer must answer) at RTO, then doubling; the connection is never
// timed out while the peer answers; when the window opens the data flows
// at once (RFC 9293 §3.8.6.1).
func TestEstablishedRecvZeroWindowProbesWithBackoff(t *testing.T) {
	e := established(t, func(c *Config) { c.Retries = 2 })
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, wnd(1072)))
	e.write(at(sec), bytesN(3000))
	e.take()
	// The ACK samples 100 ms: RTO 250 ms.
	e.c.HandleSegment(at(sec+rtt), in(ack, y+1, x+1073, wnd(0)))
	e.expectNone()
	when := at(sec + rtt)
	for i, gap := range []time.Duration{250, 500, 1000, 2000, 4000} {
		when = when.Add(gap * time.Millisecond)
		e.deadline(when)
		e.c.HandleTimer(when.Add(-time.Nanosecond))
		e.expectNone()
		e.c.HandleTimer(when)
		e.expect(is(ack, x+1072, y+1), hasLen(0))
		// The peer answers with its window, still zero.
		e.c.HandleSegment(when.Add(rtt), in(ack, y+1, x+1073, wnd(0)))
		e.expectNone()
		e.state(StateEstablished)
		if e.c.SndNxt() != x+1073 {
			t.Fatalf("probe %d: snd.nxt moved to %d", i+1, e.c.SndNxt())
		}
	}
	if e.env.Stats.RetransSegs.Load() != 0 {
		t.Fatalf("RetransSegs = %d: probes are not retransmissions", e.env.Stats.RetransSegs.Load())
	}
	open := when.Add(2 * rtt)
	e.c.HandleSegment(open, in(ack, y+1, x+1073, wnd(2144)))
	segs := e.take()
	withinWindow(t, segs)
	if payloadLen(segs) != 1928 || segs[0].Seq != x+1073 {
		t.Fatalf("after the window opened sent %v, want the other 1928 bytes from %d", segs, x+1073)
	}
	e.deadline(open.Add(e.c.RTO())) // the retransmission timer, not persist
}

// TestEstablishedZeroWindowProbeBackoffCappedAtMaxRTO: the probe interval
// stops doubling at MaxRTO.
func TestEstablishedZeroWindowProbeBackoffCappedAtMaxRTO(t *testing.T) {
	e := established(t, func(c *Config) { c.MaxRTO = sec })
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, wnd(0)))
	e.write(at(sec), bytesN(10))
	e.expectNone()
	when := at(sec)
	for _, gap := range []time.Duration{300, 600, 1000, 1000} {
		when = when.Add(gap * time.Millisecond)
		e.deadline(when)
		e.fire()
		e.expect(is(ack, x, y+1), hasLen(0))
	}
}

// TestEstablishedRecvDataAdvertisesFreeBuffer: the window offered is the
// free receive buffer; a full buffer advertises zero.
func TestEstablishedRecvDataAdvertisesFreeBuffer(t *testing.T) {
	e := synSent(t, func(c *Config) { c.ReceiveBufferSize = 1000 })
	e.c.HandleSegment(at(rtt), in(synack, y, x+1))
	e.expect(is(ack, x+1, y+1), hasWnd(1000))
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, data(bytesN(300))))
	e.expect(is(ack, x+1, y+301), hasWnd(700))
	e.c.HandleSegment(at(sec), in(ack, y+301, x+1, data(bytesN(700))))
	e.expect(is(ack, x+1, y+1001), hasWnd(0))
	if e.c.RcvWnd() != 0 {
		t.Fatalf("RcvWnd = %d, want 0", e.c.RcvWnd())
	}
}

// TestEstablishedReadSendsWindowUpdate: reading from a closed window sends
// a window update once it has grown by min(buffer/2, MSS), not for every
// byte read (receiver-side SWS avoidance, RFC 9293 §3.8.6.2.2).
func TestEstablishedReadSendsWindowUpdate(t *testing.T) {
	e := established(t, func(c *Config) { c.ReceiveBufferSize = 1000 })
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, data(bytesN(1000))))
	e.expect(is(ack, x+1, y+1001), hasWnd(0))
	buf := make([]byte, 1000)
	if n, _ := e.c.Read(at(sec), buf[:100]); n != 100 {
		t.Fatalf("Read = %d, want 100", n)
	}
	e.expectNone() // 100 bytes free is below the 500-byte step
	e.c.Read(at(sec), buf[:400])
	e.expect(is(ack, x+1, y+1001), hasWnd(500))
	e.c.Read(at(sec), buf)
	e.expect(is(ack, x+1, y+1001), hasWnd(1000))
}

// TestEstablishedZeroWindowRecvProbeACKs: whichever probe the peer uses,
// a byte of new data at RCV.NXT or an old bare ACK, a closed window still
// answers with an ACK carrying the current window (RFC 9293 §3.8.6.1:
// "the receiving TCP must respond").
func TestEstablishedZeroWindowRecvProbeACKs(t *testing.T) {
	e := established(t, func(c *Config) { c.ReceiveBufferSize = 1000 })
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, data(bytesN(1000))))
	e.expect(is(ack, x+1, y+1001), hasWnd(0))

	e.c.HandleSegment(at(2*sec), in(ack, y+1001, x+1, data([]byte("?"))))
	e.expect(is(ack, x+1, y+1001), hasWnd(0))
	e.c.HandleSegment(at(3*sec), in(ack, y+1000, x+1))
	e.expect(is(ack, x+1, y+1001), hasWnd(0))
	if e.c.RecvQueue() != 1000 {
		t.Fatalf("recv queue %d, want 1000: the probe byte is not kept", e.c.RecvQueue())
	}

	// The update after a read was lost; the next probe learns the window.
	e.c.Read(at(4*sec), make([]byte, 1000))
	e.take()
	e.c.HandleSegment(at(5*sec), in(ack, y+1001, x+1, data([]byte("?"))))
	e.expect(is(ack, x+1, y+1002), hasWnd(999))
}

// TestEstablishedRecvZeroWindowStillTakesACK: with the window closed an
// ACK exactly at RCV.NXT is still processed (§3.10.7.4: "special allowance
// should be made to accept valid ACKs").
func TestEstablishedRecvZeroWindowStillTakesACK(t *testing.T) {
	e := established(t, func(c *Config) { c.ReceiveBufferSize = 1000 })
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, data(bytesN(1000))))
	e.take()
	e.write(at(sec), bytesN(10))
	e.take()
	e.c.HandleSegment(at(sec+rtt), in(ack, y+1001, x+11))
	e.expectNone()
	if e.c.SndUna() != x+11 {
		t.Fatalf("snd.una = %d, want %d", e.c.SndUna(), x+11)
	}
}

// TestOutOfOrderTextTrimmedToTheWindow: text that arrives beyond RCV.NXT
// is trimmed at the right edge of the window advertised, RCV.NXT+RCV.WND,
// not RCV.WND bytes past its own start (RFC 9293 §3.10.7.4): once the hole
// fills, the receive buffer holds no more than its limit.
func TestOutOfOrderTextTrimmedToTheWindow(t *testing.T) {
	e := established(t, func(c *Config) { c.ReceiveBufferSize = 1000 })
	if w := e.c.rcvWnd(); w != 1000 {
		t.Fatalf("RCV.WND %d, want 1000", w)
	}
	e.c.HandleSegment(e.now, in(ack, y+1+500, x+1, data(bytesN(800)))) // 500..1300: 300 past the edge
	e.expect(is(ack, x+1, y+1))
	e.c.HandleSegment(e.now, in(ack, y+1, x+1, data(bytesN(500))))
	e.expect(is(ack, x+1, y+1+1000), hasWnd(0))
	if n := e.c.RecvQueue(); n != 1000 {
		t.Fatalf("%d bytes queued after the hole filled, want the window's 1000", n)
	}
}
