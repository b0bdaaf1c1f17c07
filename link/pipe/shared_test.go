package pipe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/synack-net/synack/link"
)

// hold is a link.Releaser that counts its releases and fails the test on
// a second one.
type hold struct {
	t testing.TB
	n atomic.Int32
}

func (h *hold) Release() {
	if n := h.n.Add(1); n != 1 {
		h.t.Errorf("hold %p released %d times", h, n)
	}
}

func (h *hold) released() int { return int(h.n.Load()) }

func newHolds(t testing.TB, n int) []*hold {
	hs := make([]*hold, n)
	for i := range hs {
		hs[i] = &hold{t: t}
	}
	return hs
}

// allReleased reports whether every hold has been released.
func allReleased(hs []*hold) bool {
	for _, h := range hs {
		if h.released() == 0 {
			return false
		}
	}
	return true
}

// sendBuffer stands for a sending stack's send buffer: the texts of shared
// packets are slices of it.
func sendBuffer(n int) []byte {
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	return buf
}

// hdrSize and textSize make the shared packets of these tests.
const hdrSize, textSize = 40, 1000

// writeShared writes shared packet i: headers numbered i in a NewBuffer
// buffer, text the i-th textSize bytes of sb.
func writeShared(t testing.TB, a *Endpoint, i int, sb []byte, h link.Releaser) error {
	t.Helper()
	hdr := a.NewBuffer(hdrSize)
	copy(hdr, numbered(i, hdrSize))
	return a.WriteShared(hdr, sb[i*textSize:(i+1)*textSize], h)
}

// wholeShared is shared packet i as one slice: its headers, then its text.
func wholeShared(i int, sb []byte) []byte {
	return append(numbered(i, hdrSize), sb[i*textSize:(i+1)*textSize]...)
}

// seenPacket is what a sharer saw of one packet.
type seenPacket struct {
	num    uint32
	hdr    []byte // a copy of pkts[i]
	text   *byte  // &texts[i][0], nil for a packet not shared
	tlen   int
	kept   link.Releaser
	inLent bool
}

// sharer is a link.SharedDispatcher (and Borrower) that records what it
// is given, keeps the holds of the packets whose number is 1 modulo 3,
// and blocks its first call until release is closed when gated.
type sharer struct {
	mu      sync.Mutex
	seen    []seenPacket
	batches int // DeliverBatch calls
	other   int // DeliverPacket and DeliverBorrowed calls
	gated   bool
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newSharer(gated bool) *sharer {
	return &sharer{gated: gated, entered: make(chan struct{}), release: make(chan struct{})}
}

func (d *sharer) DeliverPacket([]byte) { d.mu.Lock(); d.other++; d.mu.Unlock() }
func (d *sharer) DeliverBorrowed([]byte) bool {
	d.mu.Lock()
	d.other++
	d.mu.Unlock()
	return false
}

func (d *sharer) DeliverBatch(pkts [][]byte, lent bool) {
	d.mu.Lock()
	d.batches++
	d.mu.Unlock()
	d.DeliverShared(pkts, make([][]byte, len(pkts)), make([]link.Releaser, len(pkts)), lent)
}

func (d *sharer) DeliverShared(pkts, texts [][]byte, refs []link.Releaser, lent bool) {
	if d.gated {
		d.once.Do(func() {
			close(d.entered)
			<-d.release
		})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, p := range pkts {
		s := seenPacket{num: binary.BigEndian.Uint32(p), hdr: bytes.Clone(p), inLent: lent}
		if texts[i] != nil {
			s.text, s.tlen = &texts[i][0], len(texts[i])
			if s.num%3 == 1 {
				s.kept, refs[i] = refs[i], nil
			}
		}
		d.seen = append(d.seen, s)
	}
}

func (d *sharer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

var _ link.SharedDispatcher = (*sharer)(nil)

// TestPipeSharedTextDeliveredInPlace: a SharedDispatcher gets each shared
// packet's text where the writer keeps it (the same memory) and its
// headers intact, in a batch with the plain packets written among them;
// the pipe releases once each hold the Dispatcher did not keep and none
// of those it kept, and counts the packets Shared and none Flattened.
func TestPipeSharedTextDeliveredInPlace(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	defer b.Close()
	d := newSharer(true)
	b.Attach(d)
	const n = 30
	sb := sendBuffer(n * textSize)
	hs := newHolds(t, n)
	shared := func(i int) bool { return i%5 != 4 } // every fifth is plain
	write := func(i int) {
		if !shared(i) {
			buf := a.NewBuffer(200)
			copy(buf, numbered(i, 200))
			if err := a.WriteOwned(buf); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err := writeShared(t, a, i, sb, hs[i]); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	recv(t, d.entered, "the first delivery")
	for i := 1; i < n; i++ { // one batch, behind the gate
		write(i)
	}
	close(d.release)
	waitFor(t, "every packet", func() bool { return d.count() == n })
	// One plain packet more: once it is delivered, the pipe is done with
	// the batches before it, and has released what it releases.
	write(n + 4) // plain
	waitFor(t, "the last packet", func() bool { return d.count() == n+1 })

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.other != 0 || d.batches != 1 {
		t.Fatalf("%d packets delivered one by one, %d batches with DeliverBatch; want all with DeliverShared but the last, alone", d.other, d.batches)
	}
	for i, s := range d.seen[:n] {
		if s.num != uint32(i) || !s.inLent {
			t.Fatalf("packet %d seen as number %d (lent %v)", i, s.num, s.inLent)
		}
		if !shared(i) {
			if s.text != nil || !bytes.Equal(s.hdr, numbered(i, 200)) {
				t.Fatalf("plain packet %d changed or given a text", i)
			}
			continue
		}
		if s.text != &sb[i*textSize] || s.tlen != textSize {
			t.Fatalf("packet %d: text of %d bytes at %p, want %d at %p in the send buffer", i, s.tlen, s.text, textSize, &sb[i*textSize])
		}
		if !bytes.Equal(s.hdr, numbered(i, hdrSize)) {
			t.Fatalf("packet %d: headers % x, want % x", i, s.hdr[:8], numbered(i, 8))
		}
		want := 1
		if s.kept != nil {
			want = 0
		}
		if got := hs[i].released(); got != want {
			t.Fatalf("packet %d (kept %v): hold released %d times by the pipe, want %d", i, s.kept != nil, got, want)
		}
		if s.kept != nil {
			s.kept.Release() // the reader is done: once, and only now
		}
	}
	for i, h := range hs {
		if shared(i) && h.released() != 1 {
			t.Fatalf("packet %d: hold released %d times in all", i, h.released())
		}
	}
	sharedN := uint64(n - n/5)
	if st := a.Stats(); st.Sent != n+1 || st.Shared != sharedN || st.Dropped != 0 {
		t.Fatalf("a.Stats() = %+v, want Sent %d, Shared %d", st, n+1, sharedN)
	}
	if st := b.Stats(); st.Flattened != 0 || st.Dropped != 0 {
		t.Fatalf("b.Stats() = %+v, want nothing flattened or dropped", st)
	}
}

// recorder takes packets whole, as a capture wrapper does: a plain
// Dispatcher, a Borrower or a BatchDispatcher by kind. It keeps a copy of
// each packet, and the Borrower and the BatchDispatcher keep the buffers
// too.
type recorder struct {
	mu     sync.Mutex
	copies [][]byte
	kept   [][]byte
}

func (r *recorder) DeliverPacket(p []byte) {
	r.mu.Lock()
	r.copies = append(r.copies, bytes.Clone(p))
	r.mu.Unlock()
}

func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.copies) }

type borrowAll struct{ *recorder }

func (r borrowAll) DeliverBorrowed(p []byte) bool {
	r.DeliverPacket(p)
	r.mu.Lock()
	r.kept = append(r.kept, p)
	r.mu.Unlock()
	return true
}

type batchAll struct{ borrowAll } // a Borrower, so its batches are lent

func (r batchAll) DeliverBatch(pkts [][]byte, lent bool) {
	for i, p := range pkts {
		r.DeliverPacket(p)
		if lent {
			r.mu.Lock()
			r.kept = append(r.kept, p)
			r.mu.Unlock()
			pkts[i] = nil
		}
	}
}

// TestPipeSharedFlattenedForOtherDispatchers: a Dispatcher that does not
// take shared packets apart, of each kind, gets each one whole: headers
// then text byte for byte, in a buffer of the pipe's (the writer may
// change its send buffer once the hold is released, and a kept packet
// stays as delivered). Each hold is released once and each packet counted
// Flattened.
func TestPipeSharedFlattenedForOtherDispatchers(t *testing.T) {
	for _, kind := range []string{"plain", "borrower", "batch"} {
		t.Run(kind, func(t *testing.T) {
			a, b := New(1500)
			defer a.Close()
			defer b.Close()
			r := &recorder{}
			switch kind {
			case "plain":
				b.Attach(r)
			case "borrower":
				b.Attach(borrowAll{r})
			case "batch":
				b.Attach(batchAll{borrowAll{r}})
			}
			const n = 40
			sb := sendBuffer(n * textSize)
			hs := newHolds(t, n)
			for i := range n {
				if err := writeShared(t, a, i, sb, hs[i]); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "every hold released", func() bool { return allReleased(hs) })
			waitFor(t, "every packet", func() bool { return r.count() == n })
			want := make([][]byte, n)
			for i := range n {
				want[i] = wholeShared(i, sb)
			}
			clear(sb) // the writer reuses its send buffer
			r.mu.Lock()
			defer r.mu.Unlock()
			for i, p := range r.copies {
				if !bytes.Equal(p, want[i]) {
					t.Fatalf("packet %d delivered as %d bytes, not its headers and text", i, len(p))
				}
			}
			if kind != "plain" && len(r.kept) != n {
				t.Fatalf("kept %d buffers, want %d", len(r.kept), n)
			}
			for i, p := range r.kept {
				if !bytes.Equal(p, want[i]) {
					t.Fatalf("kept packet %d changed after its hold was released", i)
				}
			}
			waitFor(t, "the delivery count", func() bool { return b.Stats().Delivered == n })
			if st := b.Stats(); st.Flattened != n || st.Dropped != 0 {
				t.Fatalf("b.Stats() = %+v, want %d flattened", st, n)
			}
			if st := a.Stats(); st.Shared != n || st.Sent != n {
				t.Fatalf("a.Stats() = %+v, want Sent and Shared %d", st, n)
			}
		})
	}
}

// TestPipeSharedDropsReleaseOnce: a shared packet refused (too big,
// closed) or dropped (nobody attached, a full queue, detached or closed
// while queued) has its hold released once, at once, and is counted as a
// packet written with WriteOwned would be; the refused headers' buffer is
// kept for reuse.
func TestPipeSharedDropsReleaseOnce(t *testing.T) {
	a, b := NewWithQueue(1500, 4)
	defer b.Close()
	sb := sendBuffer(8 * textSize)
	released := func(what string, h *hold) {
		t.Helper()
		if h.released() != 1 {
			t.Fatalf("%s: hold released %d times, want once", what, h.released())
		}
	}

	h := &hold{t: t}
	if err := writeShared(t, a, 0, sb, h); err != nil {
		t.Fatal(err)
	}
	released("nobody attached", h)
	if st := b.Stats(); st.DroppedDetached != 1 {
		t.Fatalf("b.Stats() = %+v, want 1 dropped detached", st)
	}

	h = &hold{t: t}
	hdr := a.NewBuffer(hdrSize)
	if err := a.WriteShared(hdr, make([]byte, 1500-hdrSize+1), h); !errors.Is(err, link.ErrTooBig) {
		t.Fatalf("WriteShared of 1501 bytes = %v, want ErrTooBig", err)
	}
	released("too big", h)
	if next := a.NewBuffer(10); &next[0] != &hdr[0] {
		t.Fatal("too big: the headers' buffer was not kept for reuse")
	}
	if st := a.Stats(); st.DroppedTooBig != 1 || st.Sent != 1 || st.Shared != 1 {
		t.Fatalf("a.Stats() = %+v, want Sent 1, Shared 1, 1 too big", st)
	}

	// A full queue: the first packet, plain, holds the gate; three shared
	// ones fill the queue of four; the fifth finds it full.
	g := newGate()
	b.Attach(g)
	a.WriteOwned(a.NewBuffer(100))
	recv(t, g.entered, "the first delivery")
	queued := newHolds(t, 3)
	for i, h := range queued {
		writeShared(t, a, i+1, sb, h)
	}
	h = &hold{t: t}
	writeShared(t, a, 4, sb, h)
	released("full queue", h)
	for _, h := range queued {
		if h.released() != 0 {
			t.Fatal("a queued packet's hold was released")
		}
	}
	if st := b.Stats(); st.DroppedQueueFull != 1 {
		t.Fatalf("b.Stats() = %+v, want 1 dropped at a full queue", st)
	}

	// Detached while queued: the three are dropped as the gate opens.
	b.Attach(nil)
	close(g.release)
	waitFor(t, "the queued packets dropped", func() bool { return b.Stats().DroppedDetached == 4 })
	waitFor(t, "their holds released", func() bool { return allReleased(queued) })
	if st := b.Stats(); st.Delivered != 1 || st.Flattened != 0 {
		t.Fatalf("b.Stats() = %+v, want 1 delivered, none flattened", st)
	}

	// Closed while queued: Close releases the holds before it returns.
	g = newGate()
	b.Attach(g)
	a.WriteOwned(a.NewBuffer(100))
	recv(t, g.entered, "the delivery after Attach")
	queued = newHolds(t, 3)
	for i, h := range queued {
		writeShared(t, a, i+1, sb, h)
	}
	b.Close()
	for _, h := range queued {
		released("closed with it queued", h)
	}
	close(g.release)
	if st := b.Stats(); st.DroppedDetached != 7 {
		t.Fatalf("b.Stats() = %+v, want 7 dropped detached", st)
	}

	// Written to a closed peer, then by a closed end.
	h = &hold{t: t}
	writeShared(t, a, 0, sb, h)
	released("closed peer", h)
	a.Close()
	h = &hold{t: t}
	if err := writeShared(t, a, 0, sb, h); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("WriteShared after Close = %v, want ErrClosed", err)
	}
	released("closed", h)
	if st := a.Stats(); st.Sent != 11 || st.Shared != 9 || st.Dropped != 1 {
		t.Fatalf("a.Stats() = %+v, want Sent 11, Shared 9, 1 dropped (too big)", st)
	}
}

// tally is a Releaser that counts releases, for many packets at once.
type tally struct{ n atomic.Int64 }

func (r *tally) Release() { r.n.Add(1) }

// signal is a SharedDispatcher (and plain Dispatcher) that signals got
// once per batch or packet, keeping nothing.
type signal struct{ got chan struct{} }

func (s signal) DeliverPacket([]byte)                                    { s.got <- struct{}{} }
func (s signal) DeliverBatch([][]byte, bool)                             { s.got <- struct{}{} }
func (s signal) DeliverShared([][]byte, [][]byte, []link.Releaser, bool) { s.got <- struct{}{} }

// TestPipeWriteSharedAllocatesNothing: in steady state a packet written
// with WriteShared allocates nothing, delivered apart or flattened.
func TestPipeWriteSharedAllocatesNothing(t *testing.T) {
	for _, flat := range []bool{false, true} {
		a, b := New(1500)
		s := signal{make(chan struct{}, 1)}
		if flat {
			b.Attach(dispatcherFunc(s.DeliverPacket))
		} else {
			b.Attach(s)
		}
		sb := sendBuffer(textSize)
		var r tally
		writes := 0
		roundTrip := func() {
			a.WriteShared(a.NewBuffer(hdrSize), sb, &r)
			writes++
			<-s.got
		}
		for range 100 {
			roundTrip()
		}
		if n := testing.AllocsPerRun(1000, roundTrip); n > 0.01 {
			t.Errorf("flattened %v: %v allocations per packet, want 0", flat, n)
		}
		waitFor(t, "every release", func() bool { return r.n.Load() == int64(writes) })
		if st := b.Stats(); flat != (st.Flattened == uint64(writes)) {
			t.Errorf("flattened %v: %d of %d packets flattened", flat, st.Flattened, writes)
		}
		a.Close()
		b.Close()
	}
}

// keeper is a SharedDispatcher that keeps the hold of every other shared
// text and gives the kept ones to a reader goroutine to release.
type keeper struct {
	toReader chan link.Releaser
	n        atomic.Int64
}

func (k *keeper) DeliverPacket([]byte)            { k.n.Add(1) }
func (k *keeper) DeliverBatch(p [][]byte, _ bool) { k.n.Add(int64(len(p))) }
func (k *keeper) DeliverShared(pkts, texts [][]byte, refs []link.Releaser, _ bool) {
	for i := range pkts {
		if refs[i] != nil && binary.BigEndian.Uint32(pkts[i])%2 == 0 {
			k.toReader <- refs[i]
			refs[i] = nil
		}
	}
	k.n.Add(int64(len(pkts)))
}

// TestPipeSharedConcurrentReleasesEachOnce: several writers to several
// queues, small enough to overflow, a Dispatcher keeping some holds and a
// reader releasing them, and Close while packets are queued: every hold
// is released exactly once, and every packet sent is delivered or dropped.
func TestPipeSharedConcurrentReleasesEachOnce(t *testing.T) {
	const writers, per = 4, 500
	a, b := NewWithOptions(1500, Options{Queues: 4, QueueDepth: 64})
	defer a.Close()
	k := &keeper{toReader: make(chan link.Releaser, 64)}
	b.Attach(k)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for r := range k.toReader {
			r.Release()
		}
	}()
	hs := newHolds(t, writers*per)
	sb := sendBuffer(2 * textSize)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				f := w*per + i
				hdr := a.NewBuffer(64)
				copy(hdr, flowPacket(f%16, f))
				if err := a.WriteShared(hdr, sb[f%textSize:][:textSize], hs[f]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.Close()
	waitFor(t, "every hold released", func() bool { return allReleased(hs) })
	close(k.toReader) // the deliverers are done: every kept hold was released
	<-readerDone
	as, bs := a.Stats(), b.Stats()
	if as.Sent != writers*per || as.Shared != writers*per {
		t.Fatalf("a.Stats() = %+v, want Sent and Shared %d", as, writers*per)
	}
	waitFor(t, "every packet counted", func() bool { s := b.Stats(); return s.Delivered+s.Dropped == writers*per })
	t.Logf("%d delivered, %d dropped at a full queue, %d detached", bs.Delivered, bs.DroppedQueueFull, bs.DroppedDetached)
}
