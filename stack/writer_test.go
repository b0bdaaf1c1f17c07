package stack

import (
	"net/netip"
	"runtime"
	"sync"
	"testing"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
)

// blockingNet is a link whose writes block (link.BlockingWriter), as a TUN
// device's system calls do: every write waits at the gate, announcing the
// destination of its packet on started first, and is recorded.
type blockingNet struct {
	started chan netip.Addr
	gate    chan struct{}
	mu      sync.Mutex
	written []netip.Addr
}

func newBlockingNet() *blockingNet {
	return &blockingNet{started: make(chan netip.Addr, 1024), gate: make(chan struct{})}
}

func (b *blockingNet) MTU() int               { return 1500 }
func (b *blockingNet) Attach(link.Dispatcher) {}
func (b *blockingNet) Close() error           { return nil }
func (b *blockingNet) WritesBlock() bool      { return true }
func (b *blockingNet) WritePacket(p []byte) error {
	dst := netip.AddrFrom4([4]byte(p[16:20]))
	b.started <- dst
	<-b.gate
	b.mu.Lock()
	b.written = append(b.written, dst)
	b.mu.Unlock()
	return nil
}

func (b *blockingNet) writes() []netip.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]netip.Addr(nil), b.written...)
}

// host returns 10.0.1.i, a destination that names the i-th packet.
func host(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}) }

func newBlockingStack(t *testing.T, b *blockingNet) (*Stack, *shard) {
	t.Helper()
	s, err := New(b, Config{Addr: netip.MustParsePrefix("10.0.0.2/16"), Clock: clock.NewVirtual(fzStart), Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !s.blocking {
		t.Fatal("a link.BlockingWriter did not make the stack write through a writer goroutine")
	}
	return s, s.shards[0]
}

// echo queues one packet to host(i) and flushes it, as a connection's
// call does.
func echo(sh *shard, i int) {
	sh.mu.Lock()
	sh.icmpEcho(host(i))
	sh.unlockAndFlush()
}

// TestWriterTakesTheSystemCall: on a link whose writes block, the
// goroutine that made a packet does not wait for its write; the shard's
// writer goroutine writes the packets made meanwhile in the order they
// were made, and Close writes what is still queued before it returns,
// the writer gone.
func TestWriterTakesTheSystemCall(t *testing.T) {
	b := newBlockingNet()
	s, sh := newBlockingStack(t, b)

	echo(sh, 1) // returns with its packet's write waiting at the gate
	if got := <-b.started; got != host(1) {
		t.Fatalf("the first write is to %v, want %v", got, host(1))
	}
	for i := 2; i <= 5; i++ {
		echo(sh, i) // each returns at once: the writer is still busy
	}
	sh.mu.Lock()
	queued, writer := len(sh.outq.pkts), sh.writer
	sh.mu.Unlock()
	if queued != 4 || !writer {
		t.Fatalf("%d packets queued for a running writer (%v), want 4 (true)", queued, writer)
	}
	b.gate <- struct{}{} // the first write ends; the writer takes the other four
	for i := 2; i <= 5; i++ {
		if got := <-b.started; got != host(i) {
			t.Fatalf("write %d is to %v, want %v", i, got, host(i))
		}
		b.gate <- struct{}{}
	}

	// Two more, then Close while the first of them is being written.
	echo(sh, 6)
	<-b.started
	echo(sh, 7)
	closed := closing(s)
	notYet(t, closed, "Close returned with a packet still being written and another queued")
	close(b.gate) // every write passes from now on
	<-closed
	got := b.writes()
	if len(got) != 7 {
		t.Fatalf("%d packets written by the time Close returned, want 7: %v", len(got), got)
	}
	for i, a := range got {
		if a != host(i+1) {
			t.Fatalf("packet %d went to %v, want %v (written out of order: %v)", i, a, host(i+1), got)
		}
	}
	sh.mu.Lock()
	writer = sh.writer
	sh.mu.Unlock()
	if writer {
		t.Fatal("the writer goroutine is still running after Close")
	}
}

// TestWriterQueueIsBounded: while the writer is stuck in a write, a shard
// queues at most maxQueuedForWriter packets; the flush that would queue
// more waits until the writer has taken them.
func TestWriterQueueIsBounded(t *testing.T) {
	b := newBlockingNet()
	s, sh := newBlockingStack(t, b)
	defer func() {
		close(b.gate)
		s.Close()
	}()
	echo(sh, 0)
	<-b.started // the writer is stuck in the first write
	for i := range maxQueuedForWriter - 1 {
		echo(sh, i%250+1)
	}
	last := make(chan struct{})
	go func() {
		echo(sh, 251) // the queue's last place: waits for the writer
		close(last)
	}()
	// Its packet is queued once the queue is full: from then on, with the
	// bound kept, it waits (it held mu from queueing until it waits).
	for queued := 0; queued < maxQueuedForWriter; {
		runtime.Gosched()
		sh.mu.Lock()
		queued = len(sh.outq.pkts)
		sh.mu.Unlock()
	}
	notYet(t, last, "a flush returned with the queue for a stuck writer full")
	sh.mu.Lock()
	queued := len(sh.outq.pkts)
	sh.mu.Unlock()
	if queued != maxQueuedForWriter {
		t.Fatalf("%d packets queued, want the bound %d", queued, maxQueuedForWriter)
	}
	b.gate <- struct{}{} // the first write ends: the writer takes the queue
	<-last
}
