package stack

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link/pipe"
)

// connectedPair is a client and a server stack on a pipe, on one virtual
// clock, and an established connection between them.
func connectedPair(t *testing.T) (client, server *TCPConn) {
	t.Helper()
	a, b := pipe.New(1500)
	clk := clock.NewVirtual(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	cs, err := New(a, Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := New(b, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Close(); a.Close(); b.Close() })
	l, err := ss.ListenTCP(netip.MustParseAddrPort("10.0.0.2:80"), 1)
	if err != nil {
		t.Fatal(err)
	}
	client, err = cs.DialTCP(context.Background(), netip.AddrPort{}, netip.MustParseAddrPort("10.0.0.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	if server, err = l.Accept(context.Background()); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// waitBlocked returns once a goroutine is blocked reading c: its buffer
// has been lent to the engine and it waits on c.rd.
func waitBlocked(c *TCPConn) {
	for {
		c.s.mu.Lock()
		n := 0
		if c.rd.list != nil {
			n = len(*c.rd.list)
		}
		c.s.mu.Unlock()
		if n > 0 {
			return
		}
		runtime.Gosched()
	}
}

// TestReadBlockedTakesTextDirectly: text for a blocked Read is copied
// straight into its buffer (counted in DirectReadBytes), and what did not
// fit follows in order in the next Read.
func TestReadBlockedTakesTextDirectly(t *testing.T) {
	client, server := connectedPair(t)
	type result struct {
		n   int
		err error
	}
	buf := make([]byte, 1000)
	done := make(chan result, 1)
	go func() {
		n, err := client.Read(buf)
		done <- result{n, err}
	}()
	waitBlocked(client)
	msg := bytes.Repeat([]byte("0123456789"), 150) // 1500 bytes: two segments at MSS 1460
	if _, err := server.Write(msg); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.n == 0 || !bytes.Equal(buf[:r.n], msg[:r.n]) {
		t.Fatalf("Read = %d, %v; want the first bytes of the message", r.n, r.err)
	}
	if got := client.s.TCPStats().DirectReadBytes.Load(); got == 0 {
		t.Fatal("DirectReadBytes = 0: the blocked Read's buffer was not used")
	}
	rest := make([]byte, 0, len(msg))
	for len(rest) < len(msg)-r.n {
		p := make([]byte, 2000)
		n, err := client.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		rest = append(rest, p[:n]...)
	}
	if !bytes.Equal(rest, msg[r.n:]) {
		t.Fatal("the bytes after the direct read differ from what was sent")
	}
}

// TestReadDeadlineWhilePosted: a blocked Read that times out gives its
// buffer back, and text arriving afterwards is queued for the next Read,
// not written into the old buffer.
func TestReadDeadlineWhilePosted(t *testing.T) {
	client, server := connectedPair(t)
	buf := make([]byte, 100)
	done := make(chan error, 1)
	go func() {
		_, err := client.Read(buf)
		done <- err
	}()
	waitBlocked(client)
	client.SetReadDeadline(time.Unix(1, 0)) // long past
	if err := <-done; err != os.ErrDeadlineExceeded {
		t.Fatalf("Read after its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	client.SetReadDeadline(time.Time{})
	if _, err := server.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 10)
	n, err := client.Read(p)
	if err != nil || string(p[:n]) != "late" {
		t.Fatalf("next Read = %q, %v; want \"late\"", p[:n], err)
	}
	if !bytes.Equal(buf, make([]byte, 100)) {
		t.Fatal("text was written into the buffer of a Read that had returned")
	}
}
