package stack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
)

// pipePair is an established connection between two stacks joined by a
// pipe, on one virtual clock that nothing advances: no timer fires, so
// the bytes move by ACKs and window updates alone.
func pipePair(t *testing.T) (client, server *TCPConn) {
	t.Helper()
	a, b := pipe.New(1500)
	t.Cleanup(func() { a.Close(); b.Close() })
	return pairOn(t, a, b)
}

// pairOn is pipePair on the links given: the client's, the server's.
func pairOn(t *testing.T, a, b link.Endpoint) (client, server *TCPConn) {
	t.Helper()
	clk := clock.NewVirtual(fzStart)
	cs, err := New(a, Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Clock: clk, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	ss, err := New(b, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clk, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	sa := netip.AddrPortFrom(ss.Addr(), 80)
	l, err := ss.ListenTCP(sa, 8)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if client, err = cs.DialTCP(ctx, netip.AddrPortFrom(cs.Addr(), 40000), sa); err != nil {
		t.Fatal(err)
	}
	if server, err = l.Accept(ctx); err != nil {
		t.Fatal(err)
	}
	return client, server
}

type writeResult struct {
	n   int
	err error
}

// writeAsync writes p on c from a goroutine of its own.
func writeAsync(c *TCPConn, p []byte) <-chan writeResult {
	ch := make(chan writeResult, 1)
	go func() {
		n, err := c.Write(p)
		ch <- writeResult{n, err}
	}()
	return ch
}

// TestEstablishedConcurrentWritesNotInterleaved: two goroutines each
// write 1 MiB of their own byte on one connection whose send buffer holds
// a few KB, so each Write waits for room hundreds of times. The reader
// sees one Write's bytes whole, then the other's, as with package net,
// whose descriptor lock holds one Write at a time through its waits.
func TestEstablishedConcurrentWritesNotInterleaved(t *testing.T) {
	client, server := pipePair(t)
	if err := client.SetSendBufferSize(4096); err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	w1 := writeAsync(client, bytes.Repeat([]byte{0xAA}, size))
	w2 := writeAsync(client, bytes.Repeat([]byte{0xBB}, size))
	got := make([]byte, 2*size)
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	for _, w := range []<-chan writeResult{w1, w2} {
		if r := <-w; r.n != size || r.err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", r.n, r.err, size)
		}
	}
	first := got[0]
	if first != 0xAA && first != 0xBB {
		t.Fatalf("first byte %#x", first)
	}
	second := first ^ 0xAA ^ 0xBB
	for i, b := range got {
		want := first
		if i >= size {
			want = second
		}
		if b != want {
			t.Fatalf("byte %d is %#x, want %#x: the two Writes interleaved", i, b, want)
		}
	}
}

// blockTwoWriters starts two Writes of 1 MiB on client, whose peer never
// reads: the first, of 0xAA, holds the write lock and waits for room
// (never enough for all of it); the second, of 0xBB, waits for the lock.
// It returns once both waits are seen in the socket's state and the
// goroutines' stacks.
func blockTwoWriters(t *testing.T, client *TCPConn) (first, second <-chan writeResult) {
	t.Helper()
	if err := client.SetSendBufferSize(4096); err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	first = writeAsync(client, bytes.Repeat([]byte{0xAA}, size))
	for i := 0; !blockedForRoom(client); i++ {
		if i == 1e7 {
			t.Fatal("the first Write never blocked for room")
		}
		runtime.Gosched()
	}
	second = writeAsync(client, bytes.Repeat([]byte{0xBB}, size))
	for i := 0; !writerWaitsForLock(); i++ {
		if i == 1e5 {
			t.Fatal("the second Write never waited for the write lock")
		}
		runtime.Gosched()
	}
	if client.wmu.TryLock() {
		t.Fatal("the first Write no longer holds the write lock")
	}
	select {
	case r := <-first:
		t.Fatalf("the first Write returned %d, %v", r.n, r.err)
	case r := <-second:
		t.Fatalf("the second Write returned %d, %v", r.n, r.err)
	default:
	}
	return first, second
}

// blockedForRoom reports whether a Write on c holds the write lock and is
// listed on c's writers' waiter: it waits for room. The peer never reads,
// so that Write never completes; but whether it waits for good (the
// peer's window shut, or below a segment, which sender SWS avoidance
// holds text for, or one segment in flight whose delayed ACK never comes
// on the virtual clock) depends on how the text was cut, so it may still
// be woken now and then by an ACK, and this is true again once it waits.
func blockedForRoom(c *TCPConn) bool {
	if c.wmu.TryLock() {
		c.wmu.Unlock()
		return false
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.wr.list != nil && len(c.wr.list.chans) == 1 && c.conn.SendQueue() > 0
}

// writerWaitsForLock reports whether some goroutine is asleep in
// TCPConn.Write waiting for a sync.Mutex (the write lock; Write takes no
// other outside the waits blockedForRoom sees).
func writerWaitsForLock() bool {
	buf := make([]byte, 1<<20)
	for n := runtime.Stack(buf, true); ; n = runtime.Stack(buf, true) {
		if n < len(buf) { // whole: a dump cut short could leave the writer out
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[sync.Mutex.Lock") && strings.Contains(g, "stack.(*TCPConn).Write(") {
			return true
		}
	}
	return false
}

// readAll reads what server receives until EOF and checks it is n bytes
// of b.
func readAll(t *testing.T, server *TCPConn, n int, b byte) {
	t.Helper()
	got, err := io.ReadAll(server)
	if err != nil {
		t.Fatalf("read %d bytes, then %v", len(got), err)
	}
	if len(got) != n || bytes.Count(got, []byte{b}) != n {
		t.Fatalf("read %d bytes (%d of %#x), want the %d the first Write queued", len(got), bytes.Count(got, []byte{b}), b, n)
	}
}

// TestEstablishedCloseEndsBothWriters: Close (and Abort) ends a Write
// blocked for room at once with ErrClosed and what it queued, and the
// Write waiting behind it for the write lock then returns ErrClosed with
// nothing queued, as package net's second writer finds the descriptor
// closed. After Close the peer reads the first Write's queued bytes, then
// the FIN: nothing of the second's, and the FIN after the first's bytes.
func TestEstablishedCloseEndsBothWriters(t *testing.T) {
	for _, abort := range []bool{false, true} {
		client, server := pipePair(t)
		first, second := blockTwoWriters(t, client)
		end := client.Close
		if abort {
			end = client.Abort
		}
		if err := end(); err != nil {
			t.Fatal(err)
		}
		r1, r2 := <-first, <-second
		if r1.err != ErrClosed || r1.n == 0 || r1.n >= 1<<20 {
			t.Fatalf("abort %v: first Write = %d, %v; want some bytes, ErrClosed", abort, r1.n, r1.err)
		}
		if r2.err != ErrClosed || r2.n != 0 {
			t.Fatalf("abort %v: second Write = %d, %v; want 0, ErrClosed", abort, r2.n, r2.err)
		}
		if !abort {
			readAll(t, server, r1.n, 0xAA)
		}
	}
}

// TestEstablishedWriteDeadlineEndsBothWriters: the write deadline is the
// socket's: when it passes, the Write holding the lock returns with what
// it queued and os.ErrDeadlineExceeded, and the one waiting for the lock
// then fails the same way having queued nothing.
func TestEstablishedWriteDeadlineEndsBothWriters(t *testing.T) {
	client, server := pipePair(t)
	first, second := blockTwoWriters(t, client)
	client.SetWriteDeadline(time.Now().Add(-time.Second)) // passed already: no wait
	r1, r2 := <-first, <-second
	if !errors.Is(r1.err, os.ErrDeadlineExceeded) || r1.n == 0 || r1.n >= 1<<20 {
		t.Fatalf("first Write = %d, %v; want some bytes, os.ErrDeadlineExceeded", r1.n, r1.err)
	}
	if !errors.Is(r2.err, os.ErrDeadlineExceeded) || r2.n != 0 {
		t.Fatalf("second Write = %d, %v; want 0, os.ErrDeadlineExceeded", r2.n, r2.err)
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	readAll(t, server, r1.n, 0xAA)
}

// TestEstablishedResetEndsBothWriters: a RST from the peer ends the Write
// blocked for room with the reset error, and the one waiting behind it
// fails once it has the lock (ECONNRESET or, the reset reported, EPIPE,
// as Linux's send returns), having queued nothing.
func TestEstablishedResetEndsBothWriters(t *testing.T) {
	client, server := pipePair(t)
	first, second := blockTwoWriters(t, client)
	if err := server.Abort(); err != nil {
		t.Fatal(err)
	}
	r1, r2 := <-first, <-second
	if !errors.Is(r1.err, syscall.ECONNRESET) || r1.n == 0 {
		t.Fatalf("first Write = %d, %v; want some bytes, ECONNRESET", r1.n, r1.err)
	}
	if r2.err == nil || r2.n != 0 {
		t.Fatalf("second Write = %d, %v; want 0 and an error", r2.n, r2.err)
	}
	t.Logf("second Write after the reset: %v", r2.err)
}

// TestEstablishedCloseWriteEndsBothWriters: CloseWrite, which does not
// wait for a Write (package net's shutdown takes no write lock), ends the
// blocked one with EPIPE and what it queued, as Linux's shutdown wakes a
// sender; the second then fails with EPIPE too, and the peer reads the
// first's bytes, then the FIN.
func TestEstablishedCloseWriteEndsBothWriters(t *testing.T) {
	client, server := pipePair(t)
	first, second := blockTwoWriters(t, client)
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	r1, r2 := <-first, <-second
	if !errors.Is(r1.err, syscall.EPIPE) || r1.n == 0 || r1.n >= 1<<20 {
		t.Fatalf("first Write = %d, %v; want some bytes, EPIPE", r1.n, r1.err)
	}
	if !errors.Is(r2.err, syscall.EPIPE) || r2.n != 0 {
		t.Fatalf("second Write = %d, %v; want 0, EPIPE", r2.n, r2.err)
	}
	readAll(t, server, r1.n, 0xAA)
}
