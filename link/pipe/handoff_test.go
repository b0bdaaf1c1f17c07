package pipe

import (
	"bytes"
	"errors"
	"testing"

	"github.com/synack-net/synack/link"
)

// freeCount is how many buffers e keeps for reuse.
func (e *Endpoint) freeCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.free)
}

// TestPipeWriteOwnedDeliversTheBuffer: a packet built in a NewBuffer buffer
// arrives as written, in the same memory (no copy), and that buffer is the
// next one NewBuffer gives once delivery is done.
func TestPipeWriteOwnedDeliversTheBuffer(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	defer b.Close()
	seen := make(chan *byte, 1)
	var got []byte
	b.Attach(dispatcherFunc(func(p []byte) {
		got = bytes.Clone(p)
		seen <- &p[0]
	}))
	pkt := a.NewBuffer(100)
	if len(pkt) != 100 {
		t.Fatalf("NewBuffer(100) has length %d", len(pkt))
	}
	copy(pkt, numbered(1, 100))
	first := &pkt[0]
	kept := b.freeCount()
	if err := a.WriteOwned(pkt); err != nil {
		t.Fatal(err)
	}
	if at := <-seen; at != first || !bytes.Equal(got, numbered(1, 100)) {
		t.Fatalf("delivered %d bytes at %p, want the 100 written at %p", len(got), at, first)
	}
	waitFor(t, "the buffer back on b's free list", func() bool { return b.freeCount() == kept+1 })
	if next := a.NewBuffer(60); &next[0] != first {
		t.Fatal("NewBuffer did not reuse the delivered buffer")
	}
}

// TestPipeWriteOwnedRefusedKeepsBuffer: an owned packet dropped at a
// detached peer or a full queue, too big, or written after Close, is
// counted as WritePacket's would be, and its buffer is the next one
// NewBuffer gives: nothing leaks.
func TestPipeWriteOwnedRefusedKeepsBuffer(t *testing.T) {
	a, b := NewWithQueue(1500, 1)
	defer b.Close()
	refused := func(what string, n int, want error) {
		t.Helper()
		buf := a.NewBuffer(n)
		at := &buf[0]
		if err := a.WriteOwned(buf); !errors.Is(err, want) {
			t.Fatalf("%s: WriteOwned = %v, want %v", what, err, want)
		}
		if next := a.NewBuffer(10); &next[0] != at {
			t.Fatalf("%s: the refused buffer was not kept for reuse", what)
		}
	}
	refused("detached peer", 10, nil)
	if s := b.Stats(); s.DroppedDetached != 1 {
		t.Fatalf("b.Stats() = %+v, want 1 dropped while detached", s)
	}
	refused("too big", 1501, link.ErrTooBig)
	g := newGate()
	b.Attach(g)
	a.WriteOwned(a.NewBuffer(10))
	recv(t, g.entered, "first delivery")
	refused("full queue", 10, nil) // the queue of one is held by the first
	if s := b.Stats(); s.DroppedQueueFull != 1 {
		t.Fatalf("b.Stats() = %+v, want 1 dropped for a full queue", s)
	}
	close(g.release)
	waitFor(t, "delivery", func() bool { return b.Stats().Delivered == 1 })
	a.Close()
	refused("closed", 10, link.ErrClosed)
}

// TestPipeBuffersComeInSlabs: a pipe out of buffers allocates several at
// once, so a window that opens wide costs a few allocations, not one per
// packet.
func TestPipeBuffersComeInSlabs(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	defer b.Close()
	held := make([][]byte, 0, 1000)
	allocs := testing.AllocsPerRun(1, func() {
		for range 1000 {
			held = append(held, a.NewBuffer(1500))
		}
	})
	if allocs > 1000/32 {
		t.Fatalf("%v allocations for 1000 new buffers, want at most %d", allocs, 1000/32)
	}
	seen := map[*byte]bool{}
	for _, p := range held {
		if len(p) != 1500 || seen[&p[0]] {
			t.Fatal("two buffers handed out share memory")
		}
		seen[&p[0]] = true
	}
	for i := 1; i < len(held); i++ {
		if cap(held[i-1]) != 1500 {
			t.Fatalf("a buffer's capacity is %d: appending to it would write into the next", cap(held[i-1]))
		}
	}
}

// TestPipeWriteOwnedAllocatesNothing: in steady state a packet written
// with NewBuffer and WriteOwned allocates nothing.
func TestPipeWriteOwnedAllocatesNothing(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	defer b.Close()
	got := make(chan struct{}, 1)
	b.Attach(dispatcherFunc(func([]byte) { got <- struct{}{} }))
	roundTrip := func() {
		a.WriteOwned(a.NewBuffer(1400))
		<-got
	}
	for range 100 {
		roundTrip()
	}
	if n := testing.AllocsPerRun(1000, roundTrip); n > 0.01 {
		t.Fatalf("%v allocations per packet, want 0", n)
	}
}
