package synack_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"syscall"
	"testing"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/tcp"
)

// dialResult is what a dial in a goroutine came to.
type dialResult struct {
	c   *synack.TCPConn
	err error
}

func (p *pair) dialAsync(port uint16) <-chan dialResult {
	ch := make(chan dialResult, 1)
	go func() {
		c, err := p.client.DialTCP(context.Background(), serverAP(port))
		ch <- dialResult{c, err}
	}()
	return ch
}

// socketTo finds the row of s's socket table whose remote is r.
func socketTo(s *synack.Stack, r netip.AddrPort) (tcp.State, bool) {
	for _, si := range s.Internals().Sockets() {
		if si.Remote == r {
			return si.State, true
		}
	}
	return 0, false
}

// readHello reads the greeting a client wrote: "hello from" and its address.
func readHello(t *testing.T, c *synack.TCPConn) {
	t.Helper()
	want := "hello from " + c.RemoteAddr().String()
	b := make([]byte, len(want))
	if _, err := io.ReadFull(c, b); err != nil || string(b) != want {
		t.Fatalf("read %q, %v; want %q", b, err, want)
	}
}

// TestListenBacklogFullHoldsHandshakes fills a listener of backlog 2 that
// nobody accepts from, as Linux behaves with tcp_abort_on_overflow = 0:
//
//   - three SYNs that arrive together all get a SYN,ACK (the accept queue is
//     empty when they arrive); the first two final ACKs move their
//     connections to the accept queue, the third is dropped
//     (ListenOverflows), so the server keeps that one in SYN-RECEIVED;
//   - the third client cannot tell: its connect returns, it is ESTABLISHED
//     and may write; its data is dropped with the ACK it carries;
//   - a fourth SYN, arriving while the accept queue is full, is dropped
//     (ListenDrops, and ListenOverflows as Linux counts it): the fourth
//     connect waits in SYN-SENT.
//
// Once the application accepts, the retransmissions complete both
// connections and every byte the clients wrote arrives.
func TestListenBacklogFullHoldsHandshakes(t *testing.T) {
	pc, _, g := gates(true)
	pc.trace = traceOnFailure(t)
	p := newPair(t, pc)
	start := p.clk.Now()
	l := p.listen(t, 80, 2)
	stats := p.server.Internals().TCPStats()

	// Three SYNs reach the server together.
	g.Hold()
	var dials []<-chan dialResult
	for range 3 {
		dials = append(dials, p.dialAsync(80))
	}
	waitFor(t, "three SYNs at the gate", func() bool { return g.Held() == 3 })
	g.Open()
	var clients []*synack.TCPConn
	for i, ch := range dials {
		r := <-ch
		if r.err != nil {
			t.Fatalf("dial %d: %v", i, r.err)
		}
		defer r.c.Close()
		clients = append(clients, r.c)
	}
	p.settle(t)
	if l.Ready() != 2 || l.HalfOpen() != 1 {
		t.Fatalf("accept queue %d, SYN queue %d; want 2 and 1", l.Ready(), l.HalfOpen())
	}
	if n := stats.ListenOverflows.Load(); n != 1 {
		t.Fatalf("ListenOverflows = %d, want 1 (the third final ACK)", n)
	}
	// Which client is the third is up to the scheduler; the server knows.
	var third *synack.TCPConn
	for _, c := range clients {
		if c.State() != tcp.StateEstablished {
			t.Errorf("client %v: %v, want ESTABLISHED", c.LocalAddr(), c.State())
		}
		st, _ := socketTo(p.server, netip.MustParseAddrPort(c.LocalAddr().String()))
		if st == tcp.StateSynReceived {
			third = c
		}
	}
	if third == nil {
		t.Fatalf("no connection in SYN-RECEIVED on the server: %v", p.server.Internals().Sockets())
	}

	// A fourth SYN finds the accept queue full and is dropped.
	fourth := p.dialAsync(80)
	waitFor(t, "the fourth SYN dropped", func() bool { return stats.ListenDrops.Load() == 1 })
	p.settle(t)
	if n := stats.ListenOverflows.Load(); n != 2 {
		t.Fatalf("ListenOverflows = %d, want 2 (the third final ACK, the fourth SYN)", n)
	}

	// Every connected client writes; the third one's data goes nowhere yet.
	for _, c := range clients {
		if _, err := fmt.Fprintf(c, "hello from %v", c.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	p.settle(t)
	if n := stats.ListenOverflows.Load(); n != 3 {
		t.Fatalf("ListenOverflows = %d, want 3 (the third final ACK, the fourth SYN, the third's data)", n)
	}
	select {
	case r := <-fourth:
		t.Fatalf("the fourth dial returned (%v) with the accept queue full", r.err)
	default:
	}

	// Accept the two: their data is waiting.
	for range 2 {
		s, err := l.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.RemoteAddr().String() == third.LocalAddr().String() {
			t.Fatal("the third connection was accepted before its handshake completed")
		}
		readHello(t, s)
	}

	// Time moves on: retransmissions complete the third and fourth
	// handshakes. The third client's data, retransmitted after its RTO,
	// carries the ACK that completes its handshake; the fourth SYN is
	// retransmitted after the initial RTO and now finds room.
	for step := 0; l.Ready() < 2; step++ {
		if step == 10 {
			t.Fatalf("after %v: accept queue %d; sockets %v",
				p.clk.Now().Sub(start), l.Ready(), p.server.Internals().Sockets())
		}
		next, ok := p.clk.Next()
		if !ok {
			t.Fatal("no timer armed")
		}
		p.clk.AdvanceTo(next)
		p.settle(t)
	}
	// The fourth connect completed with its first SYN retransmission.
	if d, rto := p.clk.Now().Sub(start), p.server.Internals().TCPConfig().InitialRTO; d != rto {
		t.Errorf("the handshakes completed after %v of virtual time, want one initial RTO (%v)", d, rto)
	}
	r4 := <-fourth
	if r4.err != nil {
		t.Fatalf("fourth dial: %v", r4.err)
	}
	defer r4.c.Close()
	if _, err := fmt.Fprintf(r4.c, "hello from %v", r4.c.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s, err := l.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		readHello(t, s) // the third's retransmitted data, the fourth's
	}
	if n := stats.ListenDrops.Load(); n != 1 {
		t.Errorf("ListenDrops = %d, want 1", n)
	}
}

// TestListenCloseResetsUnaccepted closes a listener with a connection in
// its accept queue: the connection is reset, and its client sees
// ECONNRESET.
func TestListenCloseResetsUnaccepted(t *testing.T) {
	p := newPair(t, pairConfig{})
	l := p.listen(t, 80, 1)
	c, err := p.client.DialTCP(context.Background(), serverAP(80))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "a connection in the accept queue", func() bool { return l.Ready() == 1 })
	l.Close()
	_, err = c.Read(make([]byte, 1))
	if !isReset(err) {
		t.Fatalf("client Read after the listener closed: %v, want ECONNRESET", err)
	}
	if socks := p.server.Internals().Sockets(); len(socks) != 0 {
		t.Errorf("server sockets after the listener closed: %v", socks)
	}
	// The port is free again.
	l2, err := p.server.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	l2.Close()
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
