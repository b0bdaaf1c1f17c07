package tcp

import (
	"testing"

	"github.com/synack-net/synack/seqnum"

	"github.com/synack-net/synack/wire"
)

// TestSynSentRecvSYNACKWithMSS1SendsSegmentsOf48: a peer announcing MSS 1
// gets 48-byte segments (Linux tcp_min_snd_mss), not 200 one-byte ones.
func TestSynSentRecvSYNACKWithMSS1SendsSegmentsOf48(t *testing.T) {
	e := synSent(t, func(c *Config) { c.MSS = 1460 })
	e.c.HandleSegment(at(rtt), in(synack, y, x+1, wnd(60000), mssOpt(1)))
	e.expect(is(ack, x+1, y+1))
	if e.env.Stats.MinMSSRaised.Load() != 1 {
		t.Fatal("MinMSSRaised not counted")
	}
	e.write(at(rtt), bytesN(200))
	segs := e.take()
	if len(segs) != 5 {
		t.Fatalf("sent %d segments for 200 bytes at MSS 48: %v", len(segs), segs)
	}
	for i, s := range segs {
		want := 48
		if i == 4 {
			want = 200 - 4*48
		}
		if len(s.Payload) != want {
			t.Fatalf("segment %d: %v, want %d bytes", i, s, want)
		}
	}
}

// TestSynSentRecvSYNACKWithMSS1AndTimestamps: with timestamps the floor
// is on the MSS before options, as Linux's: 48 less 12 bytes of them.
func TestSynSentRecvSYNACKWithMSS1AndTimestamps(t *testing.T) {
	e := synSent(t, func(c *Config) { c.MSS = 1460 })
	e.c.HandleSegment(at(rtt), in(synack, y, x+1, wnd(60000), mssOpt(1),
		withOpts(func(o *wire.TCPOptions) { o.HasTimestamps, o.TSVal, o.TSEcr = true, 1, e.c.tsVal(base) })))
	e.expect(is(ack, x+1, y+1))
	if e.c.MSS() != 36 {
		t.Fatalf("MSS = %d, want 36 (48 less the timestamps)", e.c.MSS())
	}
}

// TestSynSentRecvSYNACKWithMSS0Uses536: an MSS option of 0 is ignored, as
// Linux ignores it, and the default of RFC 9293 §3.7.1 holds.
func TestSynSentRecvSYNACKWithMSS0Uses536(t *testing.T) {
	e := synSent(t, func(c *Config) { c.MSS = 1460 })
	e.c.HandleSegment(at(rtt), in(synack, y, x+1, wnd(60000), mssOpt(0)))
	if e.c.MSS() != 536 {
		t.Fatalf("MSS = %d, want 536", e.c.MSS())
	}
}

// TestEstablishedSendBufferStopsGrowingAtStackMemory: the send buffer
// grows with the window in use, but not past the stack's send memory.
func TestEstablishedSendBufferStopsGrowingAtStackMemory(t *testing.T) {
	e := establishedFull(t, func(c *Config) { c.MaxStackSendMemory = 300 << 10 })
	c := e.c
	e.write(at(sec), bytesN(c.sndBuf.limit))
	if got := e.env.Memory.Send(); got != int64(c.sndBuf.Len()) {
		t.Fatalf("stack send memory %d, want the %d bytes queued", got, c.sndBuf.Len())
	}
	before := c.sndBuf.limit
	c.sndWnd, c.inflate = 1<<20, 1<<20 // a window in use that asks for 2 MiB
	c.growSendBuffer()
	if c.sndBuf.limit != before || e.env.Stats.SndMemoryLimited.Load() != 1 {
		t.Fatalf("send buffer %d (was %d), SndMemoryLimited %d", c.sndBuf.limit, before, e.env.Stats.SndMemoryLimited.Load())
	}
	c.cfg.MaxStackSendMemory = 1 << 30
	c.growSendBuffer()
	if c.sndBuf.limit != 2<<20 {
		t.Fatalf("send buffer %d with room in the stack, want 2 MiB", c.sndBuf.limit)
	}
}

// TestEstablishedAutotuneStopsAtStackMemory: autotuning does not grow the
// receive buffer past what the stack's receive memory could hold.
func TestEstablishedAutotuneStopsAtStackMemory(t *testing.T) {
	e := establishedFull(t, func(c *Config) { c.MaxStackReceiveMemory = 100 << 10 })
	c := e.c
	before := c.rcvBuf.ring.limit
	if c.mayGrowReceiveBuffer(200<<10) || e.env.Stats.RcvMemoryLimited.Load() != 1 {
		t.Fatal("growth past the stack's receive memory allowed, or not counted")
	}
	if c.rcvBuf.ring.limit != before {
		t.Fatal("limit changed")
	}
}

// TestEstablishedWindowClosesAtStackMemory: the window offered stops at
// what the stack's receive memory has left, as Linux's does under memory
// pressure, so a sender waits instead of sending into drops.
func TestEstablishedWindowClosesAtStackMemory(t *testing.T) {
	e := establishedFull(t, func(c *Config) { c.MaxStackReceiveMemory = 8000 })
	c := e.c
	unit := seqnum.Size(1) << c.rcvShift // the window field's rounding
	if w := c.rcvWnd(); w > 8000+unit {
		t.Fatalf("window %d offered with 8000 bytes of stack memory", w)
	}
	c.HandleSegment(at(sec), in(pshack, y+1, x+1, data(bytesN(3000)), ts(peerTS+1, 0)))
	e.expect(is(ack, x+1, y+3001))
	if w := c.rcvWnd(); w > 5000+unit {
		t.Fatalf("window %d with 5000 bytes of stack memory left", w)
	}
	if e.env.Memory.Receive() != 3000 {
		t.Fatalf("stack receive memory %d, want 3000", e.env.Memory.Receive())
	}
}

// TestEstablishedSendBufferGrowsOnlyWhenItHoldsSendingBack: as Linux's
// tcp_should_expand_sndbuf, the send buffer grows with the window only
// while the bytes queued and not yet sent fall short of what the window
// lets out; a sender the window holds back keeps its buffer.
func TestEstablishedSendBufferGrowsOnlyWhenItHoldsSendingBack(t *testing.T) {
	e := establishedFull(t, func(c *Config) { c.MaxStackSendMemory = 1 << 30 })
	c := e.c
	c.sndWnd = 1 << 20
	e.write(at(sec), bytesN(c.sndBuf.limit))
	before := c.sndBuf.limit
	// A congestion window that lets out exactly what is queued unsent.
	c.inflate += c.sndBuf.Len() - c.cwnd()
	c.growSendBuffer()
	if c.sndBuf.limit != before {
		t.Fatalf("window-limited sender: send buffer grew from %d to %d", before, c.sndBuf.limit)
	}
	// A window larger than the unsent bytes: the buffer holds sending back.
	c.inflate += 64 << 10
	c.growSendBuffer()
	if want := min(2*min(c.cwnd(), int(c.sndWnd)), c.cfg.MaxSendBufferSize); c.sndBuf.limit != want {
		t.Fatalf("buffer-limited sender: send buffer %d, want %d (twice the window)", c.sndBuf.limit, want)
	}
}
