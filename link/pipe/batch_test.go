package pipe

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/synack-net/synack/link"
)

// batcher is a link.BatchDispatcher (and Borrower) that keeps the
// odd-numbered packets of each batch, lets the even ones go, and closes
// done once it has seen want packets.
type batcher struct {
	mu       sync.Mutex
	order    []uint32 // the numbers of the packets seen, in order
	kept     [][]byte
	unlent   int // batches delivered with lent false
	perPkt   int // DeliverPacket and DeliverBorrowed calls
	want     int
	done     chan struct{}
	batches  int
	reported bool
}

func (d *batcher) DeliverPacket([]byte) { d.mu.Lock(); d.perPkt++; d.mu.Unlock() }
func (d *batcher) DeliverBorrowed([]byte) bool {
	d.mu.Lock()
	d.perPkt++
	d.mu.Unlock()
	return false
}

func (d *batcher) DeliverBatch(pkts [][]byte, lent bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.batches++
	if !lent {
		d.unlent++
	}
	for i, p := range pkts {
		n := binary.BigEndian.Uint32(p)
		d.order = append(d.order, n)
		if n%2 == 1 {
			d.kept = append(d.kept, p)
			pkts[i] = nil
		}
	}
	if len(d.order) >= d.want && !d.reported {
		d.reported = true
		close(d.done)
	}
}

var _ link.BatchDispatcher = (*batcher)(nil)

// TestPipeDeliversBatches: a Dispatcher that takes batches gets every
// packet through DeliverBatch, in order, lent; the buffers it keeps (set
// to nil in the batch) stay as delivered while later traffic flows, and
// the link counts every packet delivered.
func TestPipeDeliversBatches(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	defer b.Close()
	const n = 300
	d := &batcher{want: n, done: make(chan struct{})}
	b.Attach(d)
	for i := range n {
		buf := a.NewBuffer(200)
		copy(buf, numbered(i, 200))
		if err := a.WriteOwned(buf); err != nil {
			t.Fatal(err)
		}
	}
	<-d.done
	// Delivered grows once DeliverBatch has returned: one packet more,
	// delivered by the same goroutine, comes after the count of the rest.
	d.mu.Lock()
	d.want, d.done, d.reported = n+1, make(chan struct{}), false
	done := d.done
	d.mu.Unlock()
	buf := a.NewBuffer(200)
	copy(buf, numbered(n, 200))
	if err := a.WriteOwned(buf); err != nil {
		t.Fatal(err)
	}
	<-done
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.perPkt != 0 || d.unlent != 0 {
		t.Fatalf("%d packets delivered one by one and %d batches not lent; want none", d.perPkt, d.unlent)
	}
	for i, v := range d.order {
		if v != uint32(i) {
			t.Fatalf("packet %d delivered as number %d: out of order", i, v)
		}
	}
	for k, p := range d.kept {
		if !bytes.Equal(p, numbered(2*k+1, 200)) {
			t.Fatalf("kept packet %d was overwritten while kept", 2*k+1)
		}
	}
	if got := b.Stats().Delivered; got != n && got != n+1 {
		t.Fatalf("Stats.Delivered = %d, want %d (or %d, the last one counted too)", got, n, n+1)
	}
	t.Logf("%d packets in %d batches", n, d.batches)

	// Given back all at once (link.BatchLender), the kept buffers join
	// the free list the peer's writes draw on.
	before := b.freeCount()
	b.RecycleAll(d.kept)
	if got := b.freeCount(); got != before+len(d.kept) {
		t.Fatalf("free list %d after RecycleAll of %d buffers, want %d", got, len(d.kept), before+len(d.kept))
	}
}

var _ link.BatchLender = (*Endpoint)(nil)
