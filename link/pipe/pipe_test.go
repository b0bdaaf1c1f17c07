package pipe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synack-net/synack/link"
)

// collector is a Dispatcher that keeps a copy of every packet.
type collector struct {
	mu   sync.Mutex
	pkts [][]byte
}

func (c *collector) DeliverPacket(pkt []byte) {
	c.mu.Lock()
	c.pkts = append(c.pkts, bytes.Clone(pkt))
	c.mu.Unlock()
}

func (c *collector) packets() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.pkts...)
}

// gate is a Dispatcher whose first DeliverPacket signals entered and then
// blocks until release is closed; it counts every packet.
type gate struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	n       atomic.Int64
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) DeliverPacket([]byte) {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	g.n.Add(1)
}

// waitFor spins, yielding the processor, until cond holds; it fails the
// test after ten seconds of wall time. It never sleeps.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// recv waits for ch with a bounded wait.
func recv(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func numbered(i, size int) []byte {
	p := make([]byte, size)
	binary.BigEndian.PutUint32(p, uint32(i))
	for j := 4; j < size; j++ {
		p[j] = byte(i + j)
	}
	return p
}

func TestPipeDeliversBothWays(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	defer b.Close()
	var ca, cb collector
	a.Attach(&ca)
	b.Attach(&cb)

	toB := [][]byte{numbered(1, 20), numbered(2, 1500), {}}
	toA := [][]byte{numbered(3, 60), numbered(4, 576)}
	for _, p := range toB {
		if err := a.WritePacket(p); err != nil {
			t.Fatalf("a.WritePacket: %v", err)
		}
	}
	for _, p := range toA {
		if err := b.WritePacket(p); err != nil {
			t.Fatalf("b.WritePacket: %v", err)
		}
	}
	waitFor(t, "delivery", func() bool {
		return b.Stats().Delivered == uint64(len(toB)) && a.Stats().Delivered == uint64(len(toA))
	})
	for name, c := range map[string]struct {
		got, want [][]byte
	}{"a->b": {cb.packets(), toB}, "b->a": {ca.packets(), toA}} {
		if len(c.got) != len(c.want) {
			t.Fatalf("%s: got %d packets, want %d", name, len(c.got), len(c.want))
		}
		for i := range c.want {
			if !bytes.Equal(c.got[i], c.want[i]) {
				t.Errorf("%s: packet %d = % x..., want % x...", name, i, c.got[i][:min(8, len(c.got[i]))], c.want[i][:min(8, len(c.want[i]))])
			}
		}
	}
	if s := a.Stats(); s != (Stats{Sent: 3, Delivered: 2}) {
		t.Errorf("a.Stats() = %+v", s)
	}
	if s := b.Stats(); s != (Stats{Sent: 2, Delivered: 3}) {
		t.Errorf("b.Stats() = %+v", s)
	}
}

func TestPipeOrderPreserved(t *testing.T) {
	const n = 10000
	a, b := New(1500)
	defer a.Close()
	defer b.Close()
	var c collector
	b.Attach(&c)
	for i := range n {
		// Pace the writer to the queue so nothing is dropped.
		waitFor(t, "queue space", func() bool { return a.Stats().Sent-b.Stats().Delivered < DefaultQueueDepth })
		if err := a.WritePacket(numbered(i, 20+i%1400)); err != nil {
			t.Fatalf("WritePacket %d: %v", i, err)
		}
	}
	waitFor(t, "all packets", func() bool { return b.Stats().Delivered == n })
	got := c.packets()
	for i, p := range got {
		if !bytes.Equal(p, numbered(i, 20+i%1400)) {
			t.Fatalf("packet %d is packet %d (len %d): order or content broken", i, binary.BigEndian.Uint32(p), len(p))
		}
	}
	if s := b.Stats(); s.Dropped != 0 {
		t.Fatalf("dropped %d packets", s.Dropped)
	}
}

func TestPipeConcurrentWritersKeepPerWriterOrder(t *testing.T) {
	const writers, per = 4, 1000
	a, b := NewWithQueue(1500, writers*per)
	defer a.Close()
	defer b.Close()
	var c collector
	b.Attach(&c)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			buf := make([]byte, 64)
			for i := range per {
				binary.BigEndian.PutUint32(buf, uint32(w))
				binary.BigEndian.PutUint32(buf[4:], uint32(i))
				if err := a.WritePacket(buf); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, "all packets", func() bool { return b.Stats().Delivered == writers*per })
	next := make([]uint32, writers)
	for _, p := range c.packets() {
		w, i := binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:])
		if i != next[w] {
			t.Fatalf("writer %d: got packet %d, want %d", w, i, next[w])
		}
		next[w]++
	}
}

func TestPipeWriterMayReuseBuffer(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	defer b.Close()
	g := newGate()
	var c collector
	b.Attach(dispatcherFunc(func(p []byte) { g.DeliverPacket(p); c.DeliverPacket(p) }))

	buf := numbered(0, 100)
	if err := a.WritePacket(buf); err != nil {
		t.Fatal(err)
	}
	recv(t, g.entered, "first delivery")
	// The deliverer is blocked: the next packets sit in the queue while the
	// writer scribbles over its buffer after each write.
	for i := 1; i < 50; i++ {
		copy(buf, numbered(i, 100))
		if err := a.WritePacket(buf); err != nil {
			t.Fatal(err)
		}
		clear(buf)
	}
	close(g.release)
	waitFor(t, "all packets", func() bool { return b.Stats().Delivered == 50 })
	for i, p := range c.packets() {
		if !bytes.Equal(p, numbered(i, 100)) {
			t.Fatalf("packet %d was changed by the writer reusing its buffer", i)
		}
	}
}

type dispatcherFunc func([]byte)

func (f dispatcherFunc) DeliverPacket(p []byte) { f(p) }

func TestPipeTooBigRefused(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	defer b.Close()
	var c collector
	b.Attach(&c)
	if err := a.WritePacket(make([]byte, 1501)); !errors.Is(err, link.ErrTooBig) {
		t.Fatalf("WritePacket(1501 bytes) = %v, want ErrTooBig", err)
	}
	if err := a.WritePacket(make([]byte, 1500)); err != nil {
		t.Fatalf("WritePacket(1500 bytes) = %v, want nil", err)
	}
	a.SetMTU(576)
	if a.MTU() != 576 || b.MTU() != 1500 {
		t.Fatalf("after a.SetMTU(576): a.MTU() = %d, b.MTU() = %d; want 576, 1500", a.MTU(), b.MTU())
	}
	if err := a.WritePacket(make([]byte, 577)); !errors.Is(err, link.ErrTooBig) {
		t.Fatalf("WritePacket(577 bytes) at MTU 576 = %v, want ErrTooBig", err)
	}
	// Raising the MTU past the pooled buffers' size still carries the
	// packet whole.
	a.SetMTU(9000)
	big := numbered(7, 9000)
	if err := a.WritePacket(big); err != nil {
		t.Fatalf("WritePacket(9000 bytes) at MTU 9000 = %v", err)
	}
	waitFor(t, "delivery", func() bool { return b.Stats().Delivered == 2 })
	if got := c.packets(); len(got[0]) != 1500 || !bytes.Equal(got[1], big) {
		t.Fatalf("delivered lengths %d, %d; want 1500 and an intact 9000", len(got[0]), len(got[1]))
	}
	if s := a.Stats(); s.Sent != 2 || s.Dropped != 2 || s.DroppedTooBig != 2 {
		t.Fatalf("a.Stats() = %+v, want Sent 2, Dropped 2 (too big)", s)
	}
}

func TestPipeQueueFullDropsAndCounts(t *testing.T) {
	const depth = 8
	a, b := NewWithQueue(1500, depth)
	defer a.Close()
	defer b.Close()
	g := newGate()
	b.Attach(g)
	if err := a.WritePacket([]byte{0}); err != nil {
		t.Fatal(err)
	}
	recv(t, g.entered, "first delivery")
	// The first packet is being delivered and still holds its place.
	const extra = 20
	for i := range extra {
		if err := a.WritePacket([]byte{byte(i)}); err != nil {
			t.Fatalf("WritePacket to a full queue = %v, want nil (dropped silently)", err)
		}
	}
	close(g.release)
	waitFor(t, "delivery", func() bool { return b.Stats().Delivered == depth })
	if s := b.Stats(); s.DroppedQueueFull != extra+1-depth || s.Dropped != extra+1-depth {
		t.Fatalf("b.Stats() = %+v, want %d dropped for a full queue", s, extra+1-depth)
	}
	if s := a.Stats(); s.Sent != extra+1 || s.Dropped != 0 {
		t.Fatalf("a.Stats() = %+v, want Sent %d, Dropped 0", s, extra+1)
	}
	// Once drained, the queue takes packets again.
	if err := a.WritePacket([]byte{1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after drain", func() bool { return b.Stats().Delivered == depth+1 })
}

func TestPipeDetachedDropsCounted(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	defer b.Close()
	for range 3 {
		if err := a.WritePacket([]byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
	}
	if s := b.Stats(); s.DroppedDetached != 3 || s.Dropped != 3 {
		t.Fatalf("b.Stats() before Attach = %+v, want 3 dropped (detached)", s)
	}
	var c collector
	b.Attach(&c)
	a.WritePacket([]byte{4})
	waitFor(t, "delivery", func() bool { return b.Stats().Delivered == 1 })
	b.Attach(nil)
	a.WritePacket([]byte{5})
	waitFor(t, "drop", func() bool { return b.Stats().DroppedDetached == 4 })
	if s := b.Stats(); s.Delivered != 1 || len(c.packets()) != 1 {
		t.Fatalf("delivered %d packets (%d recorded) after Attach(nil), want 1", s.Delivered, len(c.packets()))
	}
	if s := a.Stats(); s.Sent != 5 {
		t.Fatalf("a.Stats().Sent = %d, want 5", s.Sent)
	}
}

func TestPipeWriteAfterCloseReturnsErrClosed(t *testing.T) {
	a, b := New(1500)
	defer b.Close()
	var c collector
	a.Attach(&c)
	if err := a.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close() = %v, want nil", err)
	}
	if err := a.WritePacket([]byte{1}); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("WritePacket after Close = %v, want ErrClosed", err)
	}
	if s := a.Stats(); s.Sent != 0 || s.Dropped != 0 {
		t.Fatalf("a refused write counted: %+v", s)
	}
	// The peer may still write; the closed end drops and counts.
	if err := b.WritePacket([]byte{1}); err != nil {
		t.Fatalf("write to a closed peer = %v, want nil", err)
	}
	if s := a.Stats(); s.DroppedDetached != 1 || s.Delivered != 0 {
		t.Fatalf("a.Stats() = %+v, want one drop, no delivery", s)
	}
	a.Attach(&c) // does nothing after Close
	b.WritePacket([]byte{2})
	if s := a.Stats(); s.DroppedDetached != 2 || len(c.packets()) != 0 {
		t.Fatalf("Attach after Close revived delivery: %+v", s)
	}
}

func TestPipeCloseDropsQueuedPackets(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	g := newGate()
	b.Attach(g)
	for range 10 {
		a.WritePacket([]byte{1})
	}
	recv(t, g.entered, "first delivery")
	b.Close() // from outside the dispatcher, while it is blocked
	close(g.release)
	waitFor(t, "queue drained", func() bool {
		s := b.Stats()
		return s.Delivered+s.Dropped == 10
	})
	if s := b.Stats(); s.Delivered != 1 || s.DroppedDetached != 9 {
		t.Fatalf("b.Stats() = %+v, want 1 delivered (in progress at Close) and 9 dropped", s)
	}
}

func TestPipeDispatcherMayCloseAndWrite(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	var c collector
	a.Attach(&c)
	// b echoes each packet back, then closes itself on the third.
	n := 0
	b.Attach(dispatcherFunc(func(p []byte) {
		n++
		if err := b.WritePacket(p); err != nil {
			t.Errorf("echo: %v", err)
		}
		if n == 3 {
			b.Close()
		}
	}))
	for i := range 5 {
		a.WritePacket(numbered(i, 8))
	}
	waitFor(t, "echoes", func() bool { return a.Stats().Delivered == 3 })
	waitFor(t, "drops", func() bool { s := b.Stats(); return s.Delivered+s.Dropped == 5 })
	if s := b.Stats(); s.Delivered != 3 || s.DroppedDetached != 2 {
		t.Fatalf("b.Stats() = %+v, want 3 delivered and 2 dropped", s)
	}
}

func TestPipeCloseEndsGoroutines(t *testing.T) {
	start := runtime.NumGoroutine()
	for range 10 {
		a, b := New(1500)
		var ca, cb collector
		a.Attach(&ca)
		b.Attach(&cb)
		a.Attach(&ca) // a second Attach starts no second goroutine
		for i := range 100 {
			a.WritePacket(numbered(i, 40))
			b.WritePacket(numbered(i, 40))
		}
		waitFor(t, "delivery", func() bool { return a.Stats().Delivered == 100 && b.Stats().Delivered == 100 })
		a.Close()
		b.Close()
	}
	// Closed endpoints that were never attached start nothing either.
	a, b := New(1500)
	a.Close()
	b.Close()
	waitFor(t, "delivery goroutines to exit", func() bool { return runtime.NumGoroutine() <= start })
}

func TestPipeSteadyStateAllocatesNothing(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	defer b.Close()
	got := make(chan struct{}, 1)
	b.Attach(dispatcherFunc(func([]byte) { got <- struct{}{} }))
	pkt := make([]byte, 1400)
	roundTrip := func() {
		a.WritePacket(pkt)
		<-got
	}
	for range 100 {
		roundTrip() // warm the pool and the queue
	}
	if n := testing.AllocsPerRun(1000, roundTrip); n > 0.01 {
		t.Fatalf("%v allocations per packet, want 0", n)
	}
}
