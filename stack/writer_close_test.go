package stack

import (
	"runtime"
	"testing"
	"time"
)

// TestCloseEndsTheWriterAfterAFlushOfItsOwn: Stack.Close wakes the writer
// goroutine once (stopWriter) and lets mu go while it waits. A goroutine
// that takes mu first (an application's Read woken by Close's abort, say)
// flushes synchronously, closed being set, and the writer, finding that
// write under way, goes back to sleep on work: nothing signals work
// again, so the writer never ends and Close never returns.
func TestCloseEndsTheWriterAfterAFlushOfItsOwn(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // the interleaving below, made likely
	b := newBlockingNet()
	s, sh := newBlockingStack(t, b)

	// Start the writer and let it go idle, asleep on work.
	echo(sh, 1)
	<-b.started
	b.gate <- struct{}{}
	for idle := false; !idle; {
		runtime.Gosched()
		sh.mu.Lock()
		idle = !sh.writing && len(sh.outq.pkts) == 0
		sh.mu.Unlock()
	}

	// A packet queued before Close (what Close's aborts queue), and two
	// goroutines waiting for mu in turn: Close, then a socket call.
	sh.mu.Lock()
	sh.icmpEcho(host(2))
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	for range 100 {
		runtime.Gosched() // Close waits for mu
	}
	flushed := make(chan struct{})
	go func() {
		sh.mu.Lock()
		sh.unlockAndFlush() // as Read's error path does after Close's abort
		close(flushed)
	}()
	for range 100 {
		runtime.Gosched() // the socket call waits for mu
	}
	sh.mu.Unlock()

	if got := <-b.started; got != host(2) {
		t.Fatalf("write to %v, want %v", got, host(2))
	}
	for range 100 {
		runtime.Gosched() // the writer, woken by Close, finds the write under way
	}
	close(b.gate) // every write passes from now on
	<-flushed
	select {
	case <-closed:
	case <-time.After(20 * time.Second): // a guard on the event, not a measure: it returns at once when right
		sh.mu.Lock()
		writer, writing, queued := sh.writer, sh.writing, len(sh.outq.pkts)
		sh.mu.Unlock()
		t.Fatalf("Stack.Close has not returned: writer running %v, a write under way %v, %d queued (the writer sleeps on work, never signalled again)", writer, writing, queued)
	}
}
