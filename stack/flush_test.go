package stack

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
)

// gateNet is a link whose every write waits until the test opens its gate,
// announcing itself on started first.
type gateNet struct {
	started chan int // the index of each write, as it starts
	gate    chan struct{}
	n       int
}

func (g *gateNet) MTU() int               { return 1500 }
func (g *gateNet) Attach(link.Dispatcher) {}
func (g *gateNet) Close() error           { return nil }
func (g *gateNet) WritePacket([]byte) error {
	g.n++ // writes never overlap: one writer at a time
	g.started <- g.n
	<-g.gate
	return nil
}

// TestFlushReturnsAfterItsPacketsAreWritten checks unlockAndFlush's promise
// that the packets queued before it are on the link when it returns, in the
// case where the writer it waited for takes them along in a write of its
// own: it must wait for that write too.
func TestFlushReturnsAfterItsPacketsAreWritten(t *testing.T) {
	g := &gateNet{started: make(chan int), gate: make(chan struct{})}
	s, err := New(g, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clock.NewVirtual(fzStart), Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	sh := s.shards[0]
	dst := netip.MustParseAddr("10.0.0.1")
	send := func(done chan struct{}) {
		sh.mu.Lock()
		sh.icmpEcho(dst)
		sh.unlockAndFlush()
		close(done)
	}
	aDone, bDone := make(chan struct{}), make(chan struct{})
	go send(aDone)
	<-g.started // A writes its packet, and waits at the gate
	go send(bDone)
	// B has queued its packet once the batch holds it; it then waits for
	// A's write with mu free.
	for queued := 0; queued == 0; {
		runtime.Gosched()
		sh.mu.Lock()
		queued = len(sh.outq.pkts)
		sh.mu.Unlock()
	}
	g.gate <- struct{}{} // A's first write ends; A takes B's packet along
	if n := <-g.started; n != 2 {
		t.Fatalf("write %d started, want the second", n)
	}
	// While B's packet is being written, B must not return. (With the bug,
	// B returned as soon as it had mu again: these yields give it the time.)
	notYet(t, bDone, "unlockAndFlush returned while its packet was still being written")
	g.gate <- struct{}{}
	<-aDone
	<-bDone
	close(g.gate) // the stack's own writes at Close pass
	s.Close()
}

// TestCloseWaitsForAWriteUnderWay: a deliverer writing what it queued
// (the ACK of a FIN whose EOF its reader has already returned, say) is
// not cut off by Stack.Close, which closes the link right after: Close
// returns only when that write has ended. A dial that exited on EOF once
// took its final ACK down with the device, leaving the kernel in LAST-ACK.
func TestCloseWaitsForAWriteUnderWay(t *testing.T) {
	g := &gateNet{started: make(chan int), gate: make(chan struct{})}
	s, err := New(g, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clock.NewVirtual(fzStart), Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	sh := s.shards[0]
	sent := make(chan struct{})
	go func() {
		sh.mu.Lock()
		sh.icmpEcho(netip.MustParseAddr("10.0.0.1"))
		sh.unlockAndFlush()
		close(sent)
	}()
	<-g.started // the write is under way, waiting at the gate
	closed := closing(s)
	notYet(t, closed, "Stack.Close returned while a write was still under way")
	close(g.gate)
	<-sent
	<-closed
}

// closing calls s.Close on a goroutine of its own and returns what is
// closed when Close has returned.
func closing(s *Stack) <-chan struct{} {
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	return closed
}

// notYet fails the test, saying what, if done is closed within a
// thousand yields of the scheduler: a call that must wait for what the
// test has not let happen yet is given the time to return wrongly.
func notYet(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	for range 1000 {
		select {
		case <-done:
			t.Fatal(what)
		default:
		}
		runtime.Gosched()
	}
}
