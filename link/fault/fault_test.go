package fault_test

import (
	"bytes"
	"errors"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/wire"
)

func TestZeroConfigPassesThroughExactly(t *testing.T) {
	f := newFixture(t, fault.Config{})
	var want [][]byte
	for i := range 100 {
		p := packet(i, 4+i*13%mtu)
		want = append(want, bytes.Clone(p))
		write(t, f.e, p)
		f.inner.Inject(p)
	}
	// Everything went through at once, in order, untouched, with no timer.
	for name, got := range map[string][]arrival{"out": f.inner.Sent(), "in": f.sink.Got()} {
		if len(got) != len(want) {
			t.Fatalf("%s: %d packets passed, want %d", name, len(got), len(want))
		}
		for i, a := range got {
			if !bytes.Equal(a.pkt, want[i]) || !a.at.Equal(epoch) {
				t.Fatalf("%s: packet %d differs or was late (at %v)", name, i, a.at.Sub(epoch))
			}
		}
	}
	if n := f.clk.Pending(); n != 0 {
		t.Errorf("%d timers armed, want none", n)
	}
	out, in := f.e.Stats()
	want100 := fault.Stats{Packets: 100, Delivered: 100}
	if out != want100 || in != want100 {
		t.Errorf("Stats() = %+v, %+v; want %+v both ways", out, in, want100)
	}
	if f.e.MTU() != mtu {
		t.Errorf("MTU() = %d, want %d", f.e.MTU(), mtu)
	}
	if err := f.e.WritePacket(make([]byte, mtu+1)); !errors.Is(err, link.ErrTooBig) {
		t.Errorf("WritePacket(MTU+1) = %v, want ErrTooBig", err)
	}
}

// lossPattern writes n packets through Out with the given loss and seed
// and reports which ones arrived.
func lossPattern(t *testing.T, seed uint64, loss float64, n int) []bool {
	t.Helper()
	f := newFixture(t, fault.Config{Seed: seed, Out: fault.Direction{Loss: loss}})
	for i := range n {
		write(t, f.e, packet(i, 40))
	}
	arrived := make([]bool, n)
	for _, a := range f.inner.Sent() {
		arrived[a.seq()] = true
	}
	out, _ := f.e.Stats()
	if lost := uint64(n - len(f.inner.Sent())); out.Dropped != lost || out.Packets != uint64(n) {
		t.Fatalf("Stats() = %+v; %d of %d were lost", out, lost, n)
	}
	return arrived
}

func TestLossDropsItsShareSameForSameSeed(t *testing.T) {
	const n = 10000
	a := lossPattern(t, 1, 0.2, n)
	dropped := 0
	for _, ok := range a {
		if !ok {
			dropped++
		}
	}
	// Binomial(10000, 0.2): mean 2000, standard deviation 40.
	if dropped < 1800 || dropped > 2200 {
		t.Errorf("loss 0.2 dropped %d of %d packets, want about 2000", dropped, n)
	}
	if b := lossPattern(t, 1, 0.2, n); !slices.Equal(a, b) {
		t.Error("the same seed dropped different packets")
	}
	if c := lossPattern(t, 2, 0.2, n); slices.Equal(a, c) {
		t.Error("another seed dropped the same packets")
	}
}

func TestDuplicateSendsTwoAdjacentCopies(t *testing.T) {
	const n = 10000
	f := newFixture(t, fault.Config{Seed: 3, Out: fault.Direction{Duplicate: 0.1}})
	for i := range n {
		write(t, f.e, packet(i, 60))
	}
	got := f.inner.Sent()
	out, _ := f.e.Stats()
	if out.Duplicated < 850 || out.Duplicated > 1150 {
		t.Errorf("duplicate 0.1 duplicated %d of %d packets, want about 1000", out.Duplicated, n)
	}
	if len(got) != n+int(out.Duplicated) || out.Delivered != uint64(len(got)) {
		t.Fatalf("%d packets arrived, Stats() = %+v", len(got), out)
	}
	next, dups := 0, 0
	for i, a := range got {
		switch s := a.seq(); {
		case s == next:
			next++
		case s == next-1 && bytes.Equal(a.pkt, got[i-1].pkt):
			dups++
		default:
			t.Fatalf("arrival %d is packet %d, want %d or a copy of %d", i, s, next, next-1)
		}
	}
	if dups != int(out.Duplicated) {
		t.Errorf("%d duplicates arrived, Stats().Duplicated = %d", dups, out.Duplicated)
	}
}

// checksummed returns a random packet of n bytes whose Internet checksum
// is valid: wire.Checksum over it is 0xffff.
func checksummed(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	p[0], p[1] = 0, 0
	c := ^wire.Checksum(p, 0)
	p[0], p[1] = byte(c>>8), byte(c)
	return p
}

func TestCorruptFlipsOneBitOfACopy(t *testing.T) {
	const n = 10000
	f := newFixture(t, fault.Config{Seed: 4, Out: fault.Direction{Corrupt: 0.1}, In: fault.Direction{Corrupt: 0.1}})
	rng := rand.New(rand.NewPCG(4, 4))
	var want [][]byte
	for range n {
		p := checksummed(rng, 20+rng.IntN(200))
		orig := bytes.Clone(p)
		want = append(want, orig)
		write(t, f.e, p)
		f.inner.Inject(p)
		if !bytes.Equal(p, orig) {
			t.Fatal("the caller's buffer was modified")
		}
	}
	out, in := f.e.Stats()
	for _, c := range []struct {
		name  string
		got   []arrival
		stats fault.Stats
	}{{"out", f.inner.Sent(), out}, {"in", f.sink.Got(), in}} {
		if len(c.got) != n {
			t.Fatalf("%s: %d packets arrived, want %d", c.name, len(c.got), n)
		}
		flipped := 0
		for i, a := range c.got {
			d := 0
			for j := range a.pkt {
				d += bits.OnesCount8(a.pkt[j] ^ want[i][j])
			}
			switch d {
			case 0:
			case 1:
				flipped++
				if wire.Checksum(a.pkt, 0) == 0xffff {
					t.Fatalf("%s: packet %d has a bit flipped and a valid checksum", c.name, i)
				}
			default:
				t.Fatalf("%s: packet %d differs in %d bits", c.name, i, d)
			}
		}
		if flipped != int(c.stats.Corrupted) {
			t.Errorf("%s: %d packets corrupted, Stats().Corrupted = %d", c.name, flipped, c.stats.Corrupted)
		}
		if flipped < 850 || flipped > 1150 {
			t.Errorf("%s: corrupt 0.1 flipped %d of %d packets, want about 1000", c.name, flipped, n)
		}
	}
}

func TestDelayHoldsUntilDeadline(t *testing.T) {
	const delay = 10 * time.Millisecond
	f := newFixture(t, fault.Config{Out: fault.Direction{Delay: delay}, In: fault.Direction{Delay: delay}})
	for i := range 5 {
		p := packet(i, 100)
		write(t, f.e, p)
		f.inner.Inject(p)
		p[4] = 0xee // the wrapper kept copies
	}
	f.clk.Advance(delay - time.Nanosecond)
	if n, m := len(f.inner.Sent()), len(f.sink.Got()); n != 0 || m != 0 {
		t.Fatalf("%d out, %d in arrived before the delay", n, m)
	}
	f.clk.Advance(time.Nanosecond)
	for name, got := range map[string][]arrival{"out": f.inner.Sent(), "in": f.sink.Got()} {
		if s := seqs(got); !slices.Equal(s, []int{0, 1, 2, 3, 4}) {
			t.Fatalf("%s: arrived %v, want [0 1 2 3 4]", name, s)
		}
		for i, a := range got {
			if !a.at.Equal(epoch.Add(delay)) || !bytes.Equal(a.pkt, packet(i, 100)) {
				t.Errorf("%s: packet %d arrived after %v, changed %v", name, i, a.at.Sub(epoch), !bytes.Equal(a.pkt, packet(i, 100)))
			}
		}
	}
	if out, _ := f.e.Stats(); out.Delayed != 5 || out.Delivered != 5 {
		t.Errorf("Stats() = %+v, want 5 delayed and delivered", out)
	}
	if n := f.clk.Pending(); n != 0 {
		t.Errorf("%d timers still armed with nothing held", n)
	}
}

func TestJitterStaysInBoundsAndKeepsOrder(t *testing.T) {
	const (
		n      = 2000
		delay  = 10 * time.Millisecond
		jitter = 5 * time.Millisecond
		gap    = 100 * time.Microsecond
	)
	f := newFixture(t, fault.Config{Seed: 5, Out: fault.Direction{Delay: delay, Jitter: jitter}})
	for i := range n {
		write(t, f.e, packet(i, 100))
		f.clk.Advance(gap)
	}
	f.clk.Advance(time.Second)
	got := f.inner.Sent()
	if len(got) != n {
		t.Fatalf("%d packets arrived, want %d", len(got), n)
	}
	seen := map[time.Duration]bool{}
	for i, a := range got {
		if a.seq() != i {
			t.Fatalf("arrival %d is packet %d: jitter reordered", i, a.seq())
		}
		d := a.at.Sub(epoch.Add(time.Duration(i) * gap))
		if d < delay || d > delay+jitter {
			t.Fatalf("packet %d took %v, want within [%v, %v]", i, d, delay, delay+jitter)
		}
		seen[d] = true
	}
	if len(seen) < n/2 {
		t.Errorf("only %d distinct delays among %d packets: no jitter", len(seen), n)
	}
	if out, _ := f.e.Stats(); out.Reordered != 0 {
		t.Errorf("Stats().Reordered = %d without Reorder", out.Reordered)
	}
}

func TestReorderHoldsBackAndIsOvertaken(t *testing.T) {
	const (
		n    = 2000
		hold = 2 * time.Millisecond
		gap  = 100 * time.Microsecond
	)
	f := newFixture(t, fault.Config{Seed: 6, Out: fault.Direction{Reorder: 0.1, ReorderDelay: hold}})
	for i := range n {
		write(t, f.e, packet(i, 100))
		f.clk.Advance(gap)
	}
	f.clk.Advance(time.Second)
	got := f.inner.Sent()
	if len(got) != n {
		t.Fatalf("%d packets arrived, want %d", len(got), n)
	}
	out, _ := f.e.Stats()
	if out.Reordered < 170 || out.Reordered > 230 {
		t.Errorf("reorder 0.1 held back %d of %d packets, want about 200", out.Reordered, n)
	}
	held, overtaken, maxSeen := 0, 0, -1
	for _, a := range got {
		sent := epoch.Add(time.Duration(a.seq()) * gap)
		switch d := a.at.Sub(sent); d {
		case 0:
		case hold:
			held++
		default:
			t.Fatalf("packet %d took %v, want 0 or %v", a.seq(), d, hold)
		}
		if a.seq() < maxSeen {
			overtaken++
		}
		maxSeen = max(maxSeen, a.seq())
	}
	if held != int(out.Reordered) {
		t.Errorf("%d packets arrived %v late, Stats().Reordered = %d", held, hold, out.Reordered)
	}
	// 20 packets go by during a hold: nearly every held packet is overtaken.
	if overtaken < held*9/10 {
		t.Errorf("%d packets overtaken, %d held back", overtaken, held)
	}
	s := seqs(got)
	slices.Sort(s)
	for i, v := range s {
		if v != i {
			t.Fatalf("packet %d lost or duplicated", i)
		}
	}
}

func TestRateSpacesPackets(t *testing.T) {
	rate, err := fault.ParseRate("8mbit")
	if err != nil {
		t.Fatal(err)
	}
	for _, delay := range []time.Duration{0, 5 * time.Millisecond} {
		f := newFixture(t, fault.Config{Out: fault.Direction{Rate: rate, Delay: delay}})
		for i := range 10 {
			write(t, f.e, packet(i, 1000))
		}
		f.clk.Advance(time.Second)
		got := f.inner.Sent()
		if len(got) != 10 {
			t.Fatalf("delay %v: %d packets arrived, want 10", delay, len(got))
		}
		for i, a := range got {
			// 1000 bytes at 8 Mbit/s take 1 ms each.
			want := epoch.Add(delay + time.Duration(i+1)*time.Millisecond)
			if a.seq() != i || !a.at.Equal(want) {
				t.Errorf("delay %v: arrival %d is packet %d at %v, want packet %d at %v",
					delay, i, a.seq(), a.at.Sub(epoch), i, want.Sub(epoch))
			}
		}
	}
}

func TestRateQueueTailDropsAtDepth(t *testing.T) {
	f := newFixture(t, fault.Config{Out: fault.Direction{Rate: 8_000_000, QueueDepth: 10}})
	for i := range 15 {
		write(t, f.e, packet(i, 1000))
	}
	if out, _ := f.e.Stats(); out.QueueDrops != 5 {
		t.Fatalf("15 packets into a queue of 10: Stats().QueueDrops = %d, want 5", out.QueueDrops)
	}
	f.clk.Advance(time.Millisecond) // packet 0 is through: one place frees up
	write(t, f.e, packet(15, 1000))
	write(t, f.e, packet(16, 1000))
	f.clk.Advance(time.Second)
	want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15}
	if s := seqs(f.inner.Sent()); !slices.Equal(s, want) {
		t.Errorf("arrived %v, want %v", s, want)
	}
	if out, _ := f.e.Stats(); out.QueueDrops != 6 || out.Delivered != 11 {
		t.Errorf("Stats() = %+v, want 6 queue drops and 11 delivered", out)
	}
}

func TestDirectionsAreIndependent(t *testing.T) {
	f := newFixture(t, fault.Config{Out: fault.Direction{Loss: 1}})
	for i := range 100 {
		write(t, f.e, packet(i, 40))
		f.inner.Inject(packet(i, 40))
	}
	if n, m := len(f.inner.Sent()), len(f.sink.Got()); n != 0 || m != 100 {
		t.Errorf("loss 1 outbound only: %d went out and %d came in, want 0 and 100", n, m)
	}

	// Inbound traffic, however disturbed, does not change the outbound
	// decisions, and the other way round.
	out := fault.Direction{Loss: 0.3, Duplicate: 0.1, Corrupt: 0.1, Jitter: time.Millisecond}
	in := fault.Direction{Loss: 0.5, Reorder: 0.2, Delay: time.Millisecond}
	run := func(cfg fault.Config, outbound, inbound bool) (sent, got []arrival) {
		f := newFixture(t, cfg)
		for i := range 1000 {
			if outbound {
				write(t, f.e, packet(i, 80))
			}
			if inbound {
				f.inner.Inject(packet(i, 80))
			}
			f.clk.Advance(100 * time.Microsecond)
		}
		f.clk.Advance(time.Second)
		return f.inner.Sent(), f.sink.Got()
	}
	alone, _ := run(fault.Config{Seed: 9, Out: out, In: in}, true, false)
	both, gotBoth := run(fault.Config{Seed: 9, Out: out, In: in}, true, true)
	if !sameArrivals(alone, both) {
		t.Error("inbound traffic changed what went out")
	}
	_, gotAlone := run(fault.Config{Seed: 9, Out: out, In: in}, false, true)
	if !sameArrivals(gotAlone, gotBoth) {
		t.Error("outbound traffic changed what came in")
	}
}

// sameArrivals reports whether a and b are the same packets at the same
// times.
func sameArrivals(a, b []arrival) bool {
	return slices.EqualFunc(a, b, func(x, y arrival) bool { return x.at.Equal(y.at) && bytes.Equal(x.pkt, y.pkt) })
}

func TestSameSeedSameRun(t *testing.T) {
	d := fault.Direction{
		Loss: 0.05, Duplicate: 0.05, Corrupt: 0.05, Reorder: 0.05,
		Delay: 5 * time.Millisecond, Jitter: 3 * time.Millisecond,
		Rate: 10_000_000, QueueDepth: 20,
	}
	run := func(seed uint64) (sent, got []arrival) {
		f := newFixture(t, fault.Config{Seed: seed, Out: d, In: d})
		for burst := range 40 {
			for i := range 30 {
				p := packet(burst*30+i, 200+i*40)
				write(t, f.e, p)
				f.inner.Inject(p)
			}
			f.clk.Advance(5 * time.Millisecond)
		}
		f.clk.Advance(time.Second)
		out, in := f.e.Stats()
		if out.QueueDrops == 0 || out.Dropped == 0 || out.Reordered == 0 || in.Duplicated == 0 || in.Corrupted == 0 {
			t.Fatalf("the scenario misses a fault: %+v, %+v", out, in)
		}
		return f.inner.Sent(), f.sink.Got()
	}
	sent1, got1 := run(10)
	sent2, got2 := run(10)
	if !sameArrivals(sent1, sent2) || !sameArrivals(got1, got2) {
		t.Error("two runs with the same seed differ")
	}
	sent3, got3 := run(11)
	if sameArrivals(sent1, sent3) || sameArrivals(got1, got3) {
		t.Error("another seed gave the same run")
	}
}

func TestCloseStopsPendingTimers(t *testing.T) {
	d := fault.Direction{Delay: 10 * time.Millisecond}
	f := newFixture(t, fault.Config{Out: d, In: d})
	for i := range 5 {
		write(t, f.e, packet(i, 100))
		f.inner.Inject(packet(i, 100))
	}
	if n := f.clk.Pending(); n != 2 {
		t.Fatalf("%d timers armed, want one per direction", n)
	}
	if err := f.e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := f.clk.Pending(); n != 0 {
		t.Errorf("%d timers armed after Close", n)
	}
	f.clk.Advance(time.Second)
	f.inner.Inject(packet(5, 100))
	if n, m := len(f.inner.Sent()), len(f.sink.Got()); n != 0 || m != 0 {
		t.Errorf("%d out, %d in delivered after Close", n, m)
	}
	if err := f.e.WritePacket(packet(6, 100)); !errors.Is(err, link.ErrClosed) {
		t.Errorf("WritePacket after Close = %v, want ErrClosed", err)
	}
	if !f.inner.closed {
		t.Error("Close left the inner endpoint open")
	}
	out, in := f.e.Stats()
	if out.Discarded != 5 || in.Discarded != 5 {
		t.Errorf("Stats() = %+v, %+v; want 5 discarded each way", out, in)
	}
	if err := f.e.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestDetachDiscardsHeldInbound(t *testing.T) {
	f := newFixture(t, fault.Config{In: fault.Direction{Delay: time.Millisecond}})
	for i := range 3 {
		f.inner.Inject(packet(i, 100))
	}
	f.e.Attach(nil)
	f.clk.Advance(time.Second)
	if n := len(f.sink.Got()); n != 0 {
		t.Errorf("%d packets delivered after Attach(nil)", n)
	}
	if _, in := f.e.Stats(); in.Discarded != 3 {
		t.Errorf("Stats().Discarded = %d, want 3", in.Discarded)
	}
}

// callbackSink writes a reply through the Endpoint from DeliverPacket, as
// a stack answering a segment does, and checks that deliveries never
// overlap.
type callbackSink struct {
	e      *fault.Endpoint
	busy   atomic.Bool
	n      atomic.Int64
	errors atomic.Int64
}

func (c *callbackSink) DeliverPacket(pkt []byte) {
	if !c.busy.CompareAndSwap(false, true) {
		c.errors.Add(1)
	}
	c.n.Add(1)
	c.e.WritePacket(pkt)
	c.busy.Store(false)
}

func TestConcurrentWritersAndReentrantDispatcher(t *testing.T) {
	d := fault.Direction{Loss: 0.1, Duplicate: 0.1, Reorder: 0.2, Jitter: 2 * time.Millisecond, Rate: 100_000_000}
	f := newFixture(t, fault.Config{Seed: 12, Out: d, In: d})
	cs := &callbackSink{e: f.e}
	f.e.Attach(cs)
	const writers, each = 4, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p := packet(w*each+i, 100)
				f.e.WritePacket(p)
				f.inner.Inject(p)
			}
		})
	}
	stop := make(chan struct{})
	var clockDone sync.WaitGroup
	clockDone.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				f.clk.Advance(50 * time.Microsecond)
			}
		}
	})
	wg.Wait()
	close(stop)
	clockDone.Wait()
	f.clk.Advance(time.Second)
	if n := cs.errors.Load(); n != 0 {
		t.Errorf("%d deliveries overlapped another", n)
	}
	out, in := f.e.Stats()
	// Every copy is accounted for, and nothing is left behind.
	for name, s := range map[string]fault.Stats{"out": out, "in": in} {
		if s.Packets+s.Duplicated != s.Dropped+s.QueueDrops+s.Delivered+s.Discarded {
			t.Errorf("%s: copies unaccounted for: %+v", name, s)
		}
	}
	if in.Delivered != uint64(cs.n.Load()) || out.Packets != writers*each+in.Delivered {
		t.Errorf("in %+v, out %+v, %d delivered", in, out, cs.n.Load())
	}
	if n := f.clk.Pending(); n != 0 {
		t.Errorf("%d timers armed with nothing held", n)
	}
}
