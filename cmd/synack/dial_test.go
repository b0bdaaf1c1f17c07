package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/wire"
)

// The tests of dial's session run it on two stacks joined by a pipe, the
// client's end behind a gate that records the TCP flags the client sends
// and can cut the link (a peer that no longer answers). They call the
// session's run with a context the test cancels, as SIGINT or SIGTERM
// cancels dial's.

// gate is a link.Endpoint around inner: it records the flags of every TCP
// segment written, and drops everything both ways while cut.
type gate struct {
	inner link.Endpoint
	cut   atomic.Bool
	mu    sync.Mutex
	flags []wire.TCPFlags
	syn   chan struct{} // closed at the first SYN written
	once  sync.Once
}

func newGate(inner link.Endpoint) *gate { return &gate{inner: inner, syn: make(chan struct{})} }

func (g *gate) MTU() int     { return g.inner.MTU() }
func (g *gate) Close() error { return g.inner.Close() }

func (g *gate) Attach(d link.Dispatcher) {
	if d == nil {
		g.inner.Attach(nil)
		return
	}
	g.inner.Attach(gateIn{g, d})
}

type gateIn struct {
	g *gate
	d link.Dispatcher
}

func (in gateIn) DeliverPacket(pkt []byte) {
	if !in.g.cut.Load() {
		in.d.DeliverPacket(pkt)
	}
}

func (g *gate) WritePacket(pkt []byte) error {
	if ip, err := wire.ParseIPv4(pkt); err == nil && ip.Protocol() == 6 {
		if t, err := wire.ParseTCP(ip.Payload()); err == nil {
			g.mu.Lock()
			g.flags = append(g.flags, t.Flags())
			g.mu.Unlock()
			if t.Flags().Has(wire.FlagSYN) {
				g.once.Do(func() { close(g.syn) })
			}
		}
	}
	if g.cut.Load() {
		return nil
	}
	return g.inner.WritePacket(pkt)
}

// sent reports how many segments the client sent with each of FIN, RST
// and SYN set.
func (g *gate) sent() (fin, rst, syn int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.flags {
		if f.Has(wire.FlagFIN) {
			fin++
		}
		if f.Has(wire.FlagRST) {
			rst++
		}
		if f.Has(wire.FlagSYN) {
			syn++
		}
	}
	return fin, rst, syn
}

// last is the flags of the last segment the client sent.
func (g *gate) last() wire.TCPFlags {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.flags) == 0 {
		return 0
	}
	return g.flags[len(g.flags)-1]
}

var (
	dialClient = netip.MustParsePrefix("10.0.0.1/24")
	dialServer = netip.MustParsePrefix("10.0.0.2/24")
	dialTo     = netip.MustParseAddrPort("10.0.0.2:7")
)

// dialPair makes the client's stack behind a gate and the server's stack.
func dialPair(t *testing.T) (*gate, *synack.Stack, *synack.Stack) {
	t.Helper()
	a, b := pipe.New(1500)
	g := newGate(a)
	client, err := synack.New(g, synack.Config{Addr: dialClient})
	if err != nil {
		t.Fatal(err)
	}
	server, err := synack.New(b, synack.Config{Addr: dialServer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close(); a.Close(); b.Close() })
	return g, client, server
}

// session is a dial session from client to dialTo whose stdin the test
// writes; it is closed at the end of the test.
func session(t *testing.T, client *synack.Stack, timeout, grace time.Duration) (*dialSession, *io.PipeWriter, *bytes.Buffer) {
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	out := &bytes.Buffer{}
	return &dialSession{st: client, to: dialTo, timeout: timeout, grace: grace, stdin: pr, stdout: out}, pw, out
}

// runAsync runs d in a goroutine and returns where its error comes.
func runAsync(ctx context.Context, d *dialSession) <-chan error {
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	return done
}

// TestDialTimeoutAgainstSilentPeer: a peer that never answers the SYN is
// given up after --timeout, with a message saying so, not after the two
// minutes of SYN retries.
func TestDialTimeoutAgainstSilentPeer(t *testing.T) {
	g, client, _ := dialPair(t)
	g.cut.Store(true)
	d, _, _ := session(t, client, 300*time.Millisecond, time.Second)
	start := time.Now()
	err := d.run(context.Background())
	took := time.Since(start)
	if err == nil || err.Error() != "no answer from 10.0.0.2:7 within --timeout 300ms" {
		t.Fatalf("dial to a silent peer: %v; want no answer within --timeout 300ms", err)
	}
	if took < 300*time.Millisecond {
		t.Errorf("gave up after %v, before the timeout", took)
	}
	if _, _, syn := g.sent(); syn == 0 {
		t.Error("no SYN was sent")
	}
}

// TestDialInterruptClosesWithFIN: cancelled while connected (Ctrl-C),
// dial closes with a FIN, the peer reads its end, answers with its own
// FIN, and dial returns nil without a RST.
func TestDialInterruptClosesWithFIN(t *testing.T) {
	g, client, server := dialPair(t)
	l, err := server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:7"), 8)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	ended := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			ended <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 6)
		_, err = io.ReadFull(c, buf)
		got <- string(buf)
		if err == nil {
			_, err = c.Read(buf) // what ends the stream: io.EOF for a FIN
		}
		ended <- err
	}()
	d, stdin, _ := session(t, client, 10*time.Second, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runAsync(ctx, d)
	if _, err := stdin.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "hello\n" {
		t.Fatalf("the peer read %q, want hello", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("interrupted dial returned %v, want nil after a clean close", err)
	}
	if err := <-ended; err != io.EOF {
		t.Errorf("the peer's read ended with %v, want io.EOF (a FIN)", err)
	}
	if fin, rst, _ := g.sent(); fin != 1 || rst != 0 {
		t.Errorf("dial sent %d FINs and %d RSTs, want one FIN and no RST", fin, rst)
	}
}

// TestDialInterruptResetsSilentPeer: cancelled while connected to a peer
// that no longer answers, dial sends its FIN, waits the grace, then resets
// the connection and says so.
func TestDialInterruptResetsSilentPeer(t *testing.T) {
	g, client, server := dialPair(t)
	l, err := server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:7"), 8)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	d, _, _ := session(t, client, 10*time.Second, 200*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runAsync(ctx, d)
	c := <-accepted
	defer c.Close()
	g.cut.Store(true) // the peer is gone
	start := time.Now()
	cancel()
	err = <-done
	if !errors.Is(err, errInterrupted) || !strings.Contains(err.Error(), "10.0.0.2:7 did not finish the close within 200ms: reset") {
		t.Errorf("interrupted dial to a silent peer returned %v; want it reset after the grace", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("reset after %v, before the grace of 200ms", took)
	}
	// The FIN may have been retransmitted once: the grace is the minimum RTO.
	if fin, rst, _ := g.sent(); fin < 1 || rst != 1 || !g.last().Has(wire.FlagRST) {
		t.Errorf("dial sent %d FINs and %d RSTs, the last segment %v; want FINs then a RST", fin, rst, g.last())
	}
	if socks := client.Sockets(); len(socks) != 0 {
		t.Errorf("the client's stack still holds %v", socks)
	}
}

// TestDialInterruptWhileConnecting: cancelled before the peer answered,
// dial returns at once, saying it was interrupted.
func TestDialInterruptWhileConnecting(t *testing.T) {
	g, client, _ := dialPair(t)
	g.cut.Store(true)
	d, _, _ := session(t, client, time.Minute, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, d)
	<-g.syn
	cancel()
	if err := <-done; !errors.Is(err, errInterrupted) || err.Error() != "interrupted while connecting to 10.0.0.2:7" {
		t.Errorf("dial interrupted while connecting: %v", err)
	}
}
