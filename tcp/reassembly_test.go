package tcp

// Reassembly under a hostile peer: overlapping, repeated and scattered
// out-of-order segments never make a connection hold more than its
// receive buffer, nor more ranges than maxHeldRanges, and what it reports
// in SACK blocks is what it holds.

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// oooPeer is a scripted peer sending one stream's bytes out of order.
type oooPeer struct {
	t      *testing.T
	e      *end
	stream []byte
	sent   int    // segments delivered
	read   []byte // what the reader got
}

func newOOOPeer(t *testing.T, opts ...cfgOpt) *oooPeer {
	e := establishedFull(t, opts...)
	rng := rand.New(rand.NewPCG(1, 2))
	stream := make([]byte, 4<<20)
	for i := range stream {
		stream[i] = byte(rng.Uint32())
	}
	return &oooPeer{t: t, e: e, stream: stream}
}

// off is RCV.NXT as an offset in the stream.
func (p *oooPeer) off() int { return int((y + 1).Size(p.e.c.rcvNxt)) }

// send delivers stream[from:to] and checks the bounds after it.
func (p *oooPeer) send(from, to int) {
	p.t.Helper()
	c := p.e.c
	seg := in(pshack, (y + 1).Add(seqnum.Size(from)), x+1, data(p.stream[from:to]), ts(peerTS+1, 0))
	c.HandleSegment(at(sec), seg)
	p.sent++
	p.check()
}

// check asserts the bounds: held plus queued within the buffer's limit,
// ranges within their cap, disjoint and in order, beyond RCV.NXT, their
// byte count right, and every SACK block sent held.
func (p *oooPeer) check() {
	p.t.Helper()
	c := p.e.c
	if got, limit := c.rcvBuf.Len()+c.heldBytes(), c.rcvBuf.ring.limit; got > limit {
		p.t.Fatalf("segment %d: queued %d + held %d > limit %d", p.sent, c.rcvBuf.Len(), c.heldBytes(), limit)
	}
	if n := c.heldRanges(); n > c.maxHeldRanges() {
		p.t.Fatalf("segment %d: %d held ranges, over the cap %d", p.sent, n, c.maxHeldRanges())
	}
	if c.ooo != nil {
		prev, sum := c.rcvNxt, 0
		for i, r := range c.ooo.ranges {
			if !prev.LessThan(r.left) || !r.left.LessThan(r.right) {
				p.t.Fatalf("segment %d: range %d %v not disjoint beyond %d: %v", p.sent, i, r, prev, c.ooo.ranges)
			}
			prev, sum = r.right, sum+int(r.left.Size(r.right))
			if p.sent%61 != 0 {
				continue
			}
			// The bytes held are the stream's (checked now and then: it
			// takes a while).
			from := int((y + 1).Size(r.left))
			var got []byte
			c.ooo.copyOut(r.left, r.right, func(b []byte) { got = append(got, b...) })
			if !bytes.Equal(got, p.stream[from:from+len(got)]) {
				p.t.Fatalf("segment %d: range %v holds the wrong bytes", p.sent, r)
			}
		}
		if sum != c.ooo.held {
			p.t.Fatalf("segment %d: held %d, ranges sum to %d", p.sent, c.ooo.held, sum)
		}
	}
	for _, s := range p.e.take() {
		o := s.Options
		for _, b := range o.SACKBlocks[:o.NumSACKBlocks] {
			r := sackRange{b.Left, b.Right}
			if r.right.LessThanEq(s.Ack) {
				continue // D-SACK of a duplicate below RCV.NXT
			}
			if c.ooo == nil || !c.ooo.holds(r) {
				p.t.Fatalf("segment %d: %v reports SACK block %v, which is not held", p.sent, s, r)
			}
		}
	}
}

// readSome reads up to n bytes (all when n < 0).
func (p *oooPeer) readSome(n int) {
	buf := make([]byte, 4096)
	for n != 0 {
		k := len(buf)
		if n > 0 {
			k = min(k, n)
		}
		got, _ := p.e.c.Read(at(sec), buf[:k])
		if got == 0 {
			return
		}
		p.read = append(p.read, buf[:got]...)
		n -= got
		p.check() // a window update carries SACK blocks too
	}
}

// hostile sends count segments of the kinds a hostile peer mixes, inside
// the window beyond RCV.NXT.
func (p *oooPeer) hostile(rng *rand.Rand, count int) {
	grow, shrink := -1, -1
	for range count {
		base, wnd := p.off(), int(p.e.c.rcvWnd())
		if wnd < 4 {
			p.readSome(-1)
			p.e.c.HandleSegment(at(sec), in(ack, (y+1).Add(seqnum.Size(base)), x+1, ts(peerTS+1, 0)))
			p.e.take()
			continue
		}
		lo, hi := base+1, base+wnd // a segment within [lo, hi)
		kind := rng.IntN(6)
		if burst := (p.sent / 500) % 4; burst == 3 {
			kind = 1 // now and then, a run of one-byte segments with gaps
		}
		switch kind {
		case 0: // random, overlapping what came before
			a := lo + rng.IntN(hi-lo)
			p.send(a, min(hi, a+1+rng.IntN(1500)))
		case 1: // one byte, with a one-byte gap after it
			a := lo + 2*rng.IntN((hi-lo)/2)
			p.send(a, a+1)
		case 2: // a duplicate of a held range
			if c := p.e.c; c.ooo != nil && len(c.ooo.ranges) > 0 {
				r := c.ooo.ranges[rng.IntN(len(c.ooo.ranges))]
				p.send(int((y + 1).Size(r.left)), int((y + 1).Size(r.right)))
			}
		case 3: // growing to the right, a byte or more at a time
			if grow < lo || grow >= hi {
				grow = lo + rng.IntN(hi-lo)
			}
			end := min(hi, grow+1+rng.IntN(3))
			p.send(grow, end)
			grow = end
		case 4: // growing to the left
			if shrink <= lo || shrink > hi {
				shrink = lo + 1 + rng.IntN(hi-lo-1)
			}
			start := max(lo, shrink-1-rng.IntN(3))
			p.send(start, shrink)
			shrink = start
		case 5: // some text in order, now and then, and a read
			if rng.IntN(20) == 0 {
				p.send(base, base+1+rng.IntN(min(wnd, 3000)))
				p.readSome(rng.IntN(8000))
			}
		}
	}
}

// fill sends the stream in order up to what the window takes and reads it
// all, then checks the reader has exactly the stream's bytes.
func (p *oooPeer) fill() {
	p.t.Helper()
	for range 1000 {
		p.readSome(-1)
		base, wnd := p.off(), int(p.e.c.rcvWnd())
		if p.e.c.ooo == nil || wnd == 0 {
			break
		}
		p.send(base, base+min(wnd, 1400))
	}
	p.readSome(-1)
	if p.e.c.ooo != nil {
		p.t.Fatalf("text still held after the holes filled: %v", p.e.c.ooo.ranges)
	}
	if n := p.off(); len(p.read) != n || !bytes.Equal(p.read, p.stream[:n]) {
		p.t.Fatalf("reader got %d bytes, RCV.NXT is at %d; equal to the stream: %v", len(p.read), n, bytes.Equal(p.read, p.stream[:min(n, len(p.read))]))
	}
}

// TestEstablishedHostileOutOfOrderStaysInBuffer: thousands of overlapping,
// repeated, one-byte and growing segments never hold more than the
// receive buffer or more ranges than the cap; the SACK blocks sent are
// always held; the reader gets exactly the stream once the holes fill.
func TestEstablishedHostileOutOfOrderStaysInBuffer(t *testing.T) {
	for _, limit := range []int{16 << 10, 64 << 10} {
		p := newOOOPeer(t, func(c *Config) { c.ReceiveBufferSize = limit })
		rng := rand.New(rand.NewPCG(uint64(limit), 7))
		for range 5 {
			p.hostile(rng, 4000)
			p.fill()
		}
		st := p.e.env.Stats
		if st.OfoPruned.Load()+st.OFODrop.Load() == 0 {
			t.Fatalf("limit %d: pruned %d, dropped %d: the cap was never reached", limit, st.OfoPruned.Load(), st.OFODrop.Load())
		}
		t.Logf("limit %d: %d segments, %d bytes read, %d ranges pruned, %d segments dropped",
			limit, p.sent, len(p.read), st.OfoPruned.Load(), st.OFODrop.Load())
	}
}

// TestEstablishedOverlappingSegmentsHeldOnce: the attack of issue 12, many
// segments overlapping one another in the window, holds each byte once.
func TestEstablishedOverlappingSegmentsHeldOnce(t *testing.T) {
	p := newOOOPeer(t, func(c *Config) { c.ReceiveBufferSize = 64 << 10 })
	wnd := int(p.e.c.rcvWnd())
	for i := range 20000 {
		a := 1 + (i*7)%(wnd-1500)
		p.send(a, a+1400)
	}
	if h := p.e.c.heldBytes(); h >= wnd {
		t.Fatalf("held %d bytes in a %d-byte window", h, wnd)
	}
	if n := p.e.c.heldRanges(); n != 1 {
		t.Fatalf("%d ranges held, want the one they merge into", n)
	}
	p.fill()
}

// TestEstablishedPrunedRangeNotSACKed: when a segment below the held
// ranges does not fit the range cap, the highest range is pruned and the
// next ACK reports the new segment's block and no block of the pruned one.
func TestEstablishedPrunedRangeNotSACKed(t *testing.T) {
	p := newOOOPeer(t, func(c *Config) { c.ReceiveBufferSize = 64 << 10 })
	maxHeldRanges := p.e.c.maxHeldRanges()
	top := 2 * (maxHeldRanges + 1)
	for a := 2; a <= 2*maxHeldRanges; a += 2 { // maxHeldRanges ranges of one byte
		p.send(top-a+2, top-a+3)
	}
	c := p.e.c
	if c.heldRanges() != maxHeldRanges {
		t.Fatalf("%d ranges held, want %d", c.heldRanges(), maxHeldRanges)
	}
	highest := c.ooo.ranges[maxHeldRanges-1]
	c.rcvSACK.noteReceived(highest) // as if it had arrived last: reported first
	seg := in(pshack, y+2, x+1, data(p.stream[1:2]), ts(peerTS+1, 0))
	c.HandleSegment(at(sec), seg)
	s := p.e.expect(is(ack, x+1, y+1))
	if c.heldRanges() != maxHeldRanges || c.ooo.ranges[0] != (sackRange{y + 2, y + 3}) || c.ooo.holds(highest) {
		t.Fatalf("after pruning: ranges %v", c.ooo.ranges)
	}
	if p.e.env.Stats.OfoPruned.Load() != 1 {
		t.Fatalf("OfoPruned = %d, want 1", p.e.env.Stats.OfoPruned.Load())
	}
	o := s.Options
	if o.NumSACKBlocks == 0 || o.SACKBlocks[0].Left != y+2 || o.SACKBlocks[0].Right != y+3 {
		t.Fatalf("%v: SACK blocks %v, want [%d,%d) first", s, o.SACKBlocks[:o.NumSACKBlocks], y+2, y+3)
	}
	for _, b := range o.SACKBlocks[:o.NumSACKBlocks] {
		if b.Left == highest.left {
			t.Fatalf("%v: reports the pruned block %v", s, highest)
		}
	}
	// A segment above every held range, with the cap reached, is dropped.
	p.send(top+10, top+11)
	if p.e.env.Stats.OFODrop.Load() != 1 || c.heldRanges() != maxHeldRanges {
		t.Fatalf("OFODrop = %d, %d ranges: the segment above them all was not dropped", p.e.env.Stats.OFODrop.Load(), c.heldRanges())
	}
	p.fill()
}

// TestEstablishedOutOfOrderFINHeld: a FIN held after out-of-order text is
// reached once the hole fills; text beyond a held FIN is not kept.
func TestEstablishedOutOfOrderFINHeld(t *testing.T) {
	e := establishedFull(t)
	c := e.c
	c.HandleSegment(at(sec), in(pshack|fin, y+101, x+1, data(bytesN(100)), ts(peerTS+1, 0)))
	e.expect(is(ack, x+1, y+1), hasSACK([2]seqnum.Value{y + 101, y + 202}))
	c.HandleSegment(at(sec), in(pshack, y+201, x+1, data(bytesN(50)), ts(peerTS+1, 0)))
	e.take()
	if c.heldBytes() != 100 {
		t.Fatalf("held %d bytes, want the 100 before the FIN", c.heldBytes())
	}
	c.HandleSegment(at(sec), in(pshack, y+1, x+1, data(bytesN(100)), ts(peerTS+1, 0)))
	e.expect(is(ack, x+1, y+202))
	e.state(StateCloseWait)
	if c.ooo != nil {
		t.Fatal("held text remains after the FIN")
	}
}

// TestEstablishedStackMemoryPrunesOutOfOrder: at the stack's receive
// memory limit out-of-order text is not held, text in order that does
// not fit is dropped, and both are counted.
func TestEstablishedStackMemoryPrunesOutOfOrder(t *testing.T) {
	p := newOOOPeer(t, func(c *Config) { c.ReceiveBufferSize = 64 << 10 })
	// The limit comes down after the window was offered (as when other
	// connections fill the stack): the window stays, the memory does not.
	p.e.env.Config.MaxStackReceiveMemory = 8000
	p.send(5000, 9000)
	p.send(1000, 4000) // 7000 held: fits
	if p.e.c.heldBytes() != 7000 {
		t.Fatalf("held %d, want 7000", p.e.c.heldBytes())
	}
	p.send(10000, 12000) // above the rest: not held
	st := p.e.env.Stats
	if st.OFODrop.Load() != 1 || st.RcvMemoryLimited.Load() == 0 {
		t.Fatalf("OFODrop %d RcvMemoryLimited %d", st.OFODrop.Load(), st.RcvMemoryLimited.Load())
	}
	p.send(0, 1000) // in order: fills the first hole, 8000 in all
	if p.e.env.Memory.Receive() != 8000 {
		t.Fatalf("stack receive memory %d, want 8000", p.e.env.Memory.Receive())
	}
	p.send(4000, 4500) // in order, but the stack is full: held text goes first
	if st.OfoPruned.Load() != 1 || p.e.c.ooo != nil || p.off() != 4500 {
		t.Fatalf("OfoPruned %d, held %v, RCV.NXT at %d", st.OfoPruned.Load(), p.e.c.ooo, p.off())
	}
	p.send(4500, 9000) // nothing held to prune: dropped
	if st.RcvQDrop.Load() != 1 || p.off() != 4500 {
		t.Fatalf("RcvQDrop %d, RCV.NXT at %d", st.RcvQDrop.Load(), p.off())
	}
	p.readSome(-1)
	if p.e.env.Memory.Receive() != 0 {
		t.Fatalf("stack receive memory %d after reading all", p.e.env.Memory.Receive())
	}
	p.send(4500, 9000)
	p.readSome(-1)
	if !bytes.Equal(p.read, p.stream[:9000]) {
		t.Fatal("reader got the wrong bytes")
	}
}

// nopSender drops what the engine sends, allocating nothing.
type nopSender struct{}

func (nopSender) Send(*Conn, *wire.TCPFields, []byte, []byte)      {}
func (nopSender) SendBare(netip.Addr, netip.Addr, *wire.TCPFields) {}

// TestEstablishedReceiveAllocatesNothing: in steady state neither text in
// order nor a hole filled after out-of-order text allocates: held text
// lives in pooled chunks, its bookkeeping in a pooled reasm.
func TestEstablishedReceiveAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops sync.Pool items at random")
	}
	e := establishedFull(t, func(c *Config) { c.ReceiveBufferSize = 64 << 10 })
	e.env.Out = nopSender{}
	c := e.c
	payload := bytesN(1400)
	buf := make([]byte, 8192)
	seq := y + 1
	segs := [3]Segment{}
	step := func() {
		// In order; then one beyond a hole, and the one that fills it.
		for i, off := range [3]seqnum.Size{0, 2 * 1400, 1400} {
			segs[i] = Segment{Seq: seq.Add(off), Ack: x + 1, Flags: pshack, Window: 1000, Payload: payload}
			segs[i].Options.HasTimestamps, segs[i].Options.TSVal = true, peerTS+1
			c.HandleSegment(at(sec), &segs[i])
		}
		seq = seq.Add(3 * 1400)
		for {
			if n, _ := c.Read(at(sec), buf); n == 0 {
				break
			}
		}
	}
	for range 10 {
		step() // warm the pools and the buffers
	}
	if n := testing.AllocsPerRun(200, step); n != 0 {
		t.Fatalf("%.1f allocations per round of receiving", n)
	}
	if c.RcvNxt() != seq {
		t.Fatalf("RCV.NXT %d, want %d: the segments were not all taken", c.RcvNxt(), seq)
	}
}

// TestEstablishedHolesFilledMoveFewRanges: the ranges of held text are a
// slice. Holes filled one by one below hundreds of ranges, and a window of
// ranges sliding up (one added at the top as one is taken off the bottom),
// move O(1) ranges in memory per range taken, not the ranges above it; a
// segment that makes a range below all others moves each of them once.
func TestEstablishedHolesFilledMoveFewRanges(t *testing.T) {
	p := newOOOPeer(t, func(c *Config) { c.ReceiveBufferSize = 1 << 20 })
	c := p.e.c
	n := c.maxHeldRanges() - 1
	moved := func() int {
		if c.ooo == nil {
			return 0
		}
		return c.ooo.moved
	}
	// One byte at 2, 4, ..., 2n: n ranges, each added at the top, and a
	// hole of one byte below each.
	p.send(0, 1)
	for i := 1; i <= n; i++ {
		p.send(2*i, 2*i+1)
	}
	if c.heldRanges() != n {
		t.Fatalf("%d ranges held, want %d", c.heldRanges(), n)
	}
	// Slide: a range more at the top, then the hole below the lowest filled.
	top, total := 2*n, 0
	for range 4 * n {
		top += 2
		before := moved()
		p.send(top, top+1)
		total += moved() - before
		before = moved()
		p.send(p.off(), p.off()+1)
		total += moved() - before
		if c.heldRanges() != n {
			t.Fatalf("%d ranges held, want %d", c.heldRanges(), n)
		}
	}
	if total > 2*4*n {
		t.Fatalf("sliding %d ranges through %d held moved %d ranges, over %d", 4*n, n, total, 2*4*n)
	}
	t.Logf("sliding %d ranges through %d held: %d moved", 4*n, n, total)
	// The holes filled one by one, from the bottom.
	total = 0
	for c.ooo != nil {
		before := moved()
		p.send(p.off(), p.off()+1)
		if c.ooo != nil { // else the last hole filled: the rest went with it
			total += moved() - before
		}
	}
	if total != 0 {
		t.Fatalf("filling %d holes from the bottom moved %d ranges, want none", n, total)
	}
	p.readSome(-1)
	// One byte each below the last: each a new lowest range.
	base := p.off()
	for i := n; i >= 1; i-- {
		before, held := moved(), c.heldRanges()
		p.send(base+2*i, base+2*i+1)
		if got := moved() - before; got > 2*held {
			t.Fatalf("a range below %d others moved %d", held, got)
		}
	}
	p.fill()
}
