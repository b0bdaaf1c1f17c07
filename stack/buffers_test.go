package stack

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/synack-net/synack/clock"
)

// TestBatchReusesBuffersAtTheirNewLength: an emptied batch hands its
// buffers out again, each queued at the length asked for now (a packet
// queued with the length of an earlier one would go out as garbage), and
// allocates nothing doing so.
func TestBatchReusesBuffersAtTheirNewLength(t *testing.T) {
	b := &batch{keep: keptBatchBytes}
	for _, n := range []int{1500, 40, 1500, 60} {
		b.add(n)
	}
	want := []int{40, 1500, 52, 1400}
	lens := make([]int, 0, len(want))
	allocs := testing.AllocsPerRun(10, func() {
		b.empty()
		for _, n := range want {
			if p := b.add(n); len(p) != n {
				t.Fatalf("add(%d) returned %d bytes", n, len(p))
			}
		}
		lens = lens[:0]
		for _, p := range b.pkts {
			lens = append(lens, len(p))
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations reusing a batch's buffers, want 0", allocs)
	}
	if !slices.Equal(lens, want) {
		t.Fatalf("queued lengths %v, want %v", lens, want)
	}
}

// TestBatchKeepsBoundedBuffers: after a burst, an emptied batch keeps at
// most its share of buffers in its slots and hands the rest to the
// store, where another batch's burst finds them without allocating.
func TestBatchKeepsBoundedBuffers(t *testing.T) {
	store := &bufStore{}
	b := &batch{store: store, keep: batchKeep(4)}
	for range 1000 {
		b.add(1500)
	}
	b.empty()
	kept := 0
	for _, p := range b.pkts[:cap(b.pkts)] {
		kept += cap(p)
	}
	if kept == 0 || kept > b.keep {
		t.Fatalf("an emptied batch keeps %d bytes of buffers, want 1..%d", kept, b.keep)
	}
	if store.bytes == 0 || store.bytes > storeLimit {
		t.Fatalf("the store holds %d bytes after the burst, want 1..%d", store.bytes, storeLimit)
	}
	stored := map[*byte]bool{}
	for _, p := range store.bufs {
		stored[&p[:1][0]] = true
	}
	other := &batch{store: store}
	for range len(stored) {
		if p := other.add(1500); !stored[&p[0]] {
			t.Fatal("a burst allocated a buffer while the store had one")
		}
	}
	if store.bytes != 0 {
		t.Fatalf("the store still holds %d bytes after a burst drew on all of it", store.bytes)
	}
}

// handOffLink records the buffers it hands out.
type handOffLink struct{ given [][]byte }

func (h *handOffLink) NewBuffer(n int) []byte {
	p := make([]byte, n)
	h.given = append(h.given, p)
	return p
}

func (h *handOffLink) WriteOwned([]byte) error { return nil }

// TestBatchHandOffKeepsNothing: on a link that takes buffers over, every
// packet is built in a buffer from the link, and an emptied batch keeps
// none of them (they are the link's once written).
func TestBatchHandOffKeepsNothing(t *testing.T) {
	h := &handOffLink{}
	b := &batch{store: &bufStore{}, handoff: h}
	for _, n := range []int{1500, 40} {
		if p := b.add(n); len(p) != n || &p[0] != &h.given[len(h.given)-1][0] {
			t.Fatalf("add(%d) did not return the link's buffer", n)
		}
	}
	b.empty()
	for i, p := range b.pkts[:cap(b.pkts)] {
		if p != nil {
			t.Fatalf("slot %d still holds a buffer the link owns", i)
		}
	}
	if len(b.store.bufs) != 0 {
		t.Fatal("the link's buffers went to the stack's store")
	}
}

// TestBatchKeepBoundsTheStack: what a stack's batches keep together stays
// within keptBatchTotal however many shards it has, until each is down to
// minKeptBatchBytes; a stack with few shards keeps keptBatchBytes a batch.
func TestBatchKeepBoundsTheStack(t *testing.T) {
	for _, n := range []int{1, 4, 16, 64, 256, 1024, maxShards} {
		k := batchKeep(n)
		if k < minKeptBatchBytes || k > keptBatchBytes {
			t.Errorf("%d shards: %d bytes a batch, want %d..%d", n, k, minKeptBatchBytes, keptBatchBytes)
		}
		if total := 2 * n * k; total > max(keptBatchTotal, 2*n*minKeptBatchBytes) {
			t.Errorf("%d shards keep %d bytes of batch buffers, over %d", n, total, keptBatchTotal)
		}
	}
	if k := batchKeep(4); k != keptBatchBytes {
		t.Errorf("4 shards: %d bytes a batch, want %d", k, keptBatchBytes)
	}
	s, err := New(discardLink{}, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clock.NewVirtual(fzStart)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := len(s.shards); n < minDefaultShards || s.shards[0].outq.keep != batchKeep(n) || 2*n*batchKeep(n) > max(keptBatchTotal, 2*n*minKeptBatchBytes) {
		t.Fatalf("a default stack: %d shards keeping %d bytes a batch", n, s.shards[0].outq.keep)
	}
}
