package synack_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/tcp"
)

// asOpError checks that err is a *net.OpError for op and returns it.
func asOpError(t *testing.T, err error, op string) *net.OpError {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not a *net.OpError", err, err)
	}
	if oe.Op != op {
		t.Errorf("OpError.Op = %q, want %q (%v)", oe.Op, op, err)
	}
	return oe
}

func TestClosedDialRefused(t *testing.T) {
	p := newPair(t, pairConfig{})
	start := time.Now()
	c, err := p.client.DialTCP(context.Background(), serverAP(81))
	if err == nil {
		c.Close()
		t.Fatal("dial to a port with no listener succeeded")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial error %v, want ECONNREFUSED", err)
	}
	oe := asOpError(t, err, "dial")
	if oe.Addr.String() != "10.0.0.2:81" {
		t.Errorf("OpError.Addr = %v, want 10.0.0.2:81", oe.Addr)
	}
	// "At once": the RST answers the first SYN, long before any retransmission.
	if d := time.Since(start); d >= p.client.Internals().TCPConfig().InitialRTO {
		t.Errorf("refusal took %v, no less than the initial RTO", d)
	}
	if n := p.server.Internals().TCPStats().OutRsts.Load(); n != 1 {
		t.Errorf("server OutRsts = %d, want 1", n)
	}
	if n := p.client.Internals().TCPStats().AttemptFails.Load(); n != 1 {
		t.Errorf("client AttemptFails = %d, want 1", n)
	}
	// The refused connection is gone from the client's table.
	p.settle(t)
	if socks := p.client.Internals().Sockets(); len(socks) != 0 {
		t.Errorf("client sockets after refusal: %v", socks)
	}
}

func TestClosedDialNoRouteUnreachable(t *testing.T) {
	p := newPair(t, pairConfig{})
	_, err := p.client.DialTCP(context.Background(), netip.MustParseAddrPort("192.0.2.1:80"))
	if !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("dial off-link with no gateway: %v, want ENETUNREACH", err)
	}
	asOpError(t, err, "dial")
}

func TestSynSentContextCanceledAborts(t *testing.T) {
	p := newPair(t, pairConfig{})
	p.server.Close() // nobody answers
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.client.DialTCP(ctx, serverAP(80))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("dial with a canceled context: %v, want context.Canceled", err)
	}
	asOpError(t, err, "dial")
	if socks := p.client.Internals().Sockets(); len(socks) != 0 {
		t.Errorf("client sockets after the canceled dial: %v", socks)
	}
}

func TestEstablishedPeerCloseReadsEOF(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	if _, err := s.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "bye" {
		t.Fatalf("ReadAll = %q, %v", b, err)
	}
	// Every later read says EOF too, bare, as package net does.
	for range 2 {
		n, err := c.Read(make([]byte, 8))
		if n != 0 || err != io.EOF {
			t.Fatalf("Read after EOF = %d, %v; want 0, io.EOF", n, err)
		}
	}
	if st := c.State(); st != tcp.StateCloseWait {
		t.Errorf("state after the peer's FIN: %v, want CLOSE-WAIT", st)
	}
}

func TestClosedCallsReturnErrClosed(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v, want net.ErrClosed", err)
	}
	asOpError(t, err, "read")
	_, err = c.Write([]byte("x"))
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
	asOpError(t, err, "write")
	err = c.Close()
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}
	asOpError(t, err, "close")
}

func TestEstablishedReadDeadlineTimesOut(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	for _, dl := range []time.Time{time.Now().Add(-time.Second), time.Now().Add(20 * time.Millisecond)} {
		c.SetReadDeadline(dl)
		_, err := c.Read(make([]byte, 1))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read past the deadline: %v, want os.ErrDeadlineExceeded", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Read past the deadline: %v is not a net.Error with Timeout() true", err)
		}
		asOpError(t, err, "read")
	}
	// Clearing the deadline makes the connection usable again.
	c.SetReadDeadline(time.Time{})
	if _, err := s.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'y' {
		t.Fatalf("Read after clearing the deadline: %q, %v", b, err)
	}
}

func TestEstablishedPeerAbortResets(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	if err := s.Abort(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after the peer's abort: %v, want ECONNRESET", err)
	}
	asOpError(t, err, "read")
	_, err = c.Write([]byte("x"))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Write after the peer's abort: %v, want ECONNRESET", err)
	}
	if n := p.client.Internals().TCPStats().EstabResets.Load(); n != 1 {
		t.Errorf("client EstabResets = %d, want 1", n)
	}
	// Abort closes: the aborting side's socket is gone.
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read on the aborted side: %v, want net.ErrClosed", err)
	}
	if err := s.Abort(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Abort: %v, want net.ErrClosed", err)
	}
	if socks := p.server.Internals().Sockets(); len(socks) != 1 || socks[0].State != tcp.StateListen {
		t.Errorf("server sockets after the abort: %v, want only the listener", socks)
	}
}

func TestListenTwiceAddrInUse(t *testing.T) {
	p := newPair(t, pairConfig{})
	p.listen(t, 80, 1)
	for _, addr := range []string{":80", "10.0.0.2:80", "0.0.0.0:80"} {
		_, err := p.server.Listen("tcp", addr)
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("second Listen on %s: %v, want EADDRINUSE", addr, err)
		}
		asOpError(t, err, "listen")
	}
}

func TestEstablishedDialSameTupleAddrInUse(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	laddr := c.LocalAddr().(*net.TCPAddr).AddrPort()
	_, err := p.client.DialTCPFrom(context.Background(), laddr, serverAP(80))
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("dial from %v again: %v, want EADDRINUSE", laddr, err)
	}
	oe := asOpError(t, err, "dial")
	if oe.Source == nil || oe.Source.String() != laddr.String() {
		t.Errorf("OpError.Source = %v, want %v", oe.Source, laddr)
	}
}

func TestClosedBadArgumentsClearErrors(t *testing.T) {
	p := newPair(t, pairConfig{})
	ctx := context.Background()
	for _, tc := range []struct {
		op, network, addr string
		want              string // in the message
	}{
		{"dial", "udp6", "10.0.0.2:80", `network "udp6" not supported`},
		{"dial", "udp", "10.0.0.2:0", "invalid argument"},
		{"dial", "udp", ":53", "invalid argument"},
		{"dial", "tcp6", "10.0.0.2:80", `network "tcp6" not supported`},
		{"dial", "tcp", "10.0.0.2", "missing port"},
		{"dial", "tcp", "nonsense", "missing port"},
		{"dial", "tcp", "10.0.0.2:http", `bad port "http"`},
		{"dial", "tcp", "10.0.0.2:70000", `bad port "70000"`},
		{"dial", "tcp", "[::1]:80", "not an IPv4 address"},
		{"dial", "tcp", "example.com:80", "not an IPv4 address"},
		{"dial", "tcp", "10.0.0.2:0", "nonzero port"},
		{"dial", "tcp", ":80", "IPv4 unicast address"},
		{"dial", "tcp", "224.0.0.1:80", "IPv4 unicast address"},
		{"dial", "tcp", "10.0.0.255:80", "IPv4 unicast address"},
		{"dial", "tcp", "255.255.255.255:80", "IPv4 unicast address"},
		{"listen", "udp", ":80", `network "udp" not supported`},
		{"listen", "tcp", "[::]:80", "not an IPv4 address"},
		{"listen", "tcp", "10.0.0.9:80", "assign requested address"},
	} {
		var err error
		if tc.op == "dial" {
			var c net.Conn
			c, err = p.client.DialContext(ctx, tc.network, tc.addr)
			if c != nil {
				c.Close()
			}
		} else {
			var l net.Listener
			l, err = p.server.Listen(tc.network, tc.addr)
			if l != nil {
				l.Close()
			}
		}
		if err == nil {
			t.Errorf("%s %s %q succeeded", tc.op, tc.network, tc.addr)
			continue
		}
		asOpError(t, err, tc.op)
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s %q: %q does not say %q", tc.op, tc.network, tc.addr, err, tc.want)
		}
	}
	// The netip entry points check their arguments too.
	_, err := p.client.DialTCP(ctx, netip.MustParseAddrPort("[::1]:80"))
	if err == nil || !strings.Contains(err.Error(), "IPv4") {
		t.Errorf("DialTCP to an IPv6 address: %v", err)
	}
	asOpError(t, err, "dial")
}

// TestSynSentNoAnswerTimesOut dials an address that never answers (the far
// end of the pipe is attached to nothing) with a virtual clock, and moves
// the clock from timer to timer until the dial gives up. The SYN is sent
// SYNRetries+1 times, the RTO doubling each time, so the dial fails with
// ETIMEDOUT after InitialRTO * (2^(SYNRetries+1) - 1) of virtual time:
// 127 s with Linux's defaults, used here, in a few milliseconds of real time.
func TestSynSentNoAnswerTimesOut(t *testing.T) {
	a, b := pipe.New(mtu)
	defer a.Close()
	defer b.Close() // never attached: every packet to it is dropped
	clk := clock.NewVirtual(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := tcp.Config{SYNRetries: 6, InitialRTO: time.Second}
	client, err := synack.New(a, synack.Config{Addr: clientAddr, Clock: clk, TCP: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var want time.Duration
	for i, rto := 0, cfg.InitialRTO; i <= cfg.SYNRetries; i, rto = i+1, 2*rto {
		want += min(rto, tcp.DefaultMaxRTO)
	}

	realStart, start := time.Now(), clk.Now()
	errc := make(chan error, 1)
	go func() {
		c, err := client.DialTCP(context.Background(), serverAP(80))
		if c != nil {
			c.Close()
		}
		errc <- err
	}()
	waitFor(t, "the first SYN", func() bool { return a.Stats().Sent == 1 })
	steps := 0
	for done := false; !done; {
		select {
		case err = <-errc:
			done = true
			continue
		default:
		}
		if next, ok := clk.Next(); ok {
			clk.AdvanceTo(next)
			steps++
		} else {
			// The last timer fired and failed the connection: the
			// dial returns without the clock moving again.
			err = recvErr(t, errc, "dial")
			done = true
		}
	}
	elapsed := clk.Now().Sub(start)
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("dial to a silent address: %v, want ETIMEDOUT", err)
	}
	asOpError(t, err, "dial")
	if elapsed != want {
		t.Errorf("dial gave up after %v of virtual time, want %v", elapsed, want)
	}
	if steps != cfg.SYNRetries+1 {
		t.Errorf("dial gave up after %d timer steps, want %d", steps, cfg.SYNRetries+1)
	}
	if n := a.Stats().Sent; n != uint64(cfg.SYNRetries+1) {
		t.Errorf("%d SYNs sent, want %d", n, cfg.SYNRetries+1)
	}
	if n := b.Stats().DroppedDetached; n != uint64(cfg.SYNRetries+1) {
		t.Errorf("%d SYNs dropped at the silent end, want %d", n, cfg.SYNRetries+1)
	}
	if d := time.Since(realStart); d > 5*time.Second {
		t.Errorf("%v of virtual time took %v of real time", elapsed, d)
	}
	if socks := client.Internals().Sockets(); len(socks) != 0 {
		t.Errorf("client sockets after the timeout: %v", socks)
	}
}

// TestSynSentContextDeadlineTimesOut dials a silent address with a context
// deadline: the dial ends then, with an error that is a timeout and
// matches context.DeadlineExceeded, as package net's does.
func TestSynSentContextDeadlineTimesOut(t *testing.T) {
	p := newPair(t, pairConfig{})
	p.server.Close() // nobody answers
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := p.client.DialContext(ctx, "tcp", "10.0.0.2:80")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial past the context deadline: %v, want context.DeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("dial past the context deadline: %v is not a timeout", err)
	}
	asOpError(t, err, "dial")
	if socks := p.client.Internals().Sockets(); len(socks) != 0 {
		t.Errorf("client sockets after the dial: %v", socks)
	}
}
