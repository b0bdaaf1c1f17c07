package synack_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/internal/quiesce"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// The two hosts of every test: a client and a server on one /24.
var (
	clientAddr = netip.MustParsePrefix("10.0.0.1/24")
	serverAddr = netip.MustParsePrefix("10.0.0.2/24")
)

const mtu = 1500

// pair is two stacks joined by a pipe: client on end a, server on end b.
type pair struct {
	client, server *synack.Stack
	a, b           *pipe.Endpoint
	clk            *clock.Virtual // shared by both stacks; nil for the real clock
}

// pairConfig adjusts the stacks newPair makes.
type pairConfig struct {
	virtual bool       // one virtual clock for both stacks
	tcp     tcp.Config // both stacks' TCP settings
	// clientLink and serverLink, if set, wrap the client's and the
	// server's pipe ends (link middleware).
	clientLink, serverLink func(link.Endpoint) link.Endpoint
	// trace, if set, receives both stacks' events.
	trace trace.Sink
}

// newPair starts a client and a server stack on the two ends of a pipe.
// Both are closed, and the pipe with them, when the test ends.
func newPair(t testing.TB, pc pairConfig) *pair {
	t.Helper()
	a, b := pipe.New(mtu)
	return newPairOn(t, pc, a, b)
}

// newPairOn is newPair on the pipe ends a and b.
func newPairOn(t testing.TB, pc pairConfig, a, b *pipe.Endpoint) *pair {
	t.Helper()
	p := &pair{a: a, b: b}
	var clk clock.Clock
	if pc.virtual {
		p.clk = clock.NewVirtual(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
		clk = p.clk
	}
	var cep, sep link.Endpoint = p.a, p.b
	if pc.clientLink != nil {
		cep = pc.clientLink(p.a)
	}
	if pc.serverLink != nil {
		sep = pc.serverLink(p.b)
	}
	var err error
	p.client, err = synack.New(cep, synack.Config{Addr: clientAddr, Host: "client", Clock: clk, TCP: pc.tcp, Trace: pc.trace})
	if err != nil {
		t.Fatal(err)
	}
	p.server, err = synack.New(sep, synack.Config{Addr: serverAddr, Host: "server", Clock: clk, TCP: pc.tcp, Trace: pc.trace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.client.Close()
		p.server.Close()
		p.a.Close()
		p.b.Close()
	})
	return p
}

// serverAP is the server's address at port.
func serverAP(port uint16) netip.AddrPort { return netip.AddrPortFrom(serverAddr.Addr(), port) }

// listen opens a listener on the server at port with the given backlog.
func (p *pair) listen(t testing.TB, port uint16, backlog int) *synack.TCPListener {
	t.Helper()
	l, err := p.server.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), port), backlog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// connect dials the listener l from the client and accepts the
// connection: it returns the client's and the server's ends.
func (p *pair) connect(t testing.TB, l *synack.TCPListener) (client, server *synack.TCPConn) {
	t.Helper()
	type result struct {
		c   *synack.TCPConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := l.AcceptTCP()
		ch <- result{c, err}
	}()
	client, err := p.client.DialTCP(context.Background(), serverAP(l.Addr().(*net.TCPAddr).AddrPort().Port()))
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		client.Close()
		t.Fatal(r.err)
	}
	return client, r.c
}

// quiet reports whether no packet is in flight on the pipe and neither
// stack is processing one: everything each end sent has been delivered to
// (and handled by) the other, or dropped there. With a virtual clock and
// idle applications, nothing happens after that until the clock moves.
func (p *pair) quiet() bool { return pipesQuiet(p.a, p.b) }

// pipesQuiet reports whether every packet either end of a pipe wrote has
// been handed to (and handled by) the other, or dropped there.
func pipesQuiet(a, b *pipe.Endpoint) bool {
	// Deliveries are read before sends: a delivery count equal to the peer's
	// send count read later means nothing was in flight in between.
	as, bs := a.Stats(), b.Stats()
	return a.Stats().Sent == bs.Delivered+bs.DroppedQueueFull+bs.DroppedDetached &&
		b.Stats().Sent == as.Delivered+as.DroppedQueueFull+as.DroppedDetached
}

// settle waits until the pipe is quiet.
func (p *pair) settle(t testing.TB) {
	t.Helper()
	waitFor(t, "the pipe to go quiet", p.quiet)
}

// runClock moves the pair's virtual clock from timer to timer until done
// reports true. It advances only when nothing else can make progress: the
// pipe is quiet, the applications' progress counter has not moved while
// the test yielded, and no other goroutine is running or runnable
// (quiesce.OthersBusy: a reader made runnable on the other processor's
// queue once waited there while this loop fired a thousand zero-window
// probes). It fails the test after maxAdvances timers or ten seconds of
// wall time.
func (p *pair) runClock(t testing.TB, maxAdvances int, progress func() int64, done func() bool) {
	t.Helper()
	start, realStart := p.clk.Now(), time.Now()
	for advances := 0; !done(); {
		if time.Since(realStart) > 10*time.Second {
			t.Fatalf("not done after 10 s (%d timers, %v of virtual time)", advances, p.clk.Now().Sub(start))
		}
		p.settle(t)
		before := progress()
		for range 20 {
			runtime.Gosched()
		}
		if !p.quiet() || progress() != before || done() || quiesce.OthersBusy() {
			continue // the applications are still at work
		}
		next, ok := p.clk.Next()
		if !ok {
			continue
		}
		if advances == maxAdvances {
			t.Fatalf("not done after %d timers (%v of virtual time)", advances, p.clk.Now().Sub(start))
		}
		p.clk.AdvanceTo(next)
		advances++
	}
}

// counting counts the bytes through a reader.
type counting struct {
	r io.Reader
	n *atomic.Int64
}

func (c counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// waitFor spins, yielding the processor, until cond holds, and fails the
// test after ten seconds of wall time. It never sleeps.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// stateCounts counts a stack's sockets by state (listeners included).
func stateCounts(s *synack.Stack) map[tcp.State]int {
	m := make(map[tcp.State]int)
	for _, si := range s.Internals().Sockets() {
		m[si.State]++
	}
	return m
}

// gates returns a pairConfig that puts a gate in front of each stack.
func gates(virtual bool) (pairConfig, *gate, *gate) {
	cg, sg := new(gate), new(gate)
	return pairConfig{virtual: virtual,
		clientLink: func(ep link.Endpoint) link.Endpoint { cg.Endpoint = ep; return cg },
		serverLink: func(ep link.Endpoint) link.Endpoint { sg.Endpoint = ep; return sg },
	}, cg, sg
}

// everything drops every packet.
func everything([]byte) bool { return true }

// tcpOf returns the TCP header of an IPv4 packet (nil if it is none).
func tcpOf(pkt []byte) wire.TCP {
	ip, err := wire.ParseIPv4(pkt)
	if err != nil || ip.Protocol() != wire.ProtocolTCP {
		return nil
	}
	seg, _ := wire.ParseTCP(ip.Payload())
	return seg
}

// traceOnFailure returns a trace sink whose events are logged if the test
// fails.
func traceOnFailure(t testing.TB) trace.Sink {
	rec := new(trace.Recorder)
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range rec.Events() {
				t.Log(e.Time.Format("15:04:05.000000"), e.String())
			}
		}
	})
	return rec
}

// gate is link middleware for the receiving side: while held it keeps
// the packets arriving for the stack, in order, until Open delivers them;
// and it drops the packets its drop function picks.
type gate struct {
	link.Endpoint
	mu      sync.Mutex
	d       link.Dispatcher
	holding bool
	held    [][]byte
	drop    func(pkt []byte) bool // nil: drop nothing
	dropped int
	dup     func(pkt []byte) bool // nil: duplicate nothing
}

var _ link.Endpoint = (*gate)(nil)

func newGate(ep link.Endpoint) *gate { return &gate{Endpoint: ep} }

// Attach records d and puts the gate between the link and d.
func (g *gate) Attach(d link.Dispatcher) {
	g.mu.Lock()
	g.d = d
	g.mu.Unlock()
	if d == nil {
		g.Endpoint.Attach(nil)
		return
	}
	g.Endpoint.Attach(g)
}

// DeliverPacket passes pkt on, drops it, or keeps a copy while the gate is
// held. Delivering under mu keeps deliveries one at a time and in order.
func (g *gate) DeliverPacket(pkt []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.drop != nil && g.drop(pkt):
		g.dropped++
	case g.holding:
		g.held = append(g.held, bytes.Clone(pkt))
	case g.d != nil:
		g.d.DeliverPacket(pkt)
		if g.dup != nil && g.dup(pkt) {
			g.d.DeliverPacket(pkt)
		}
	}
}

// Hold keeps later packets at the gate until Open.
func (g *gate) Hold() {
	g.mu.Lock()
	g.holding = true
	g.mu.Unlock()
}

// Held is how many packets wait at the gate.
func (g *gate) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.held)
}

// Open delivers the held packets in order and lets later ones through.
func (g *gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holding = false
	for _, p := range g.held {
		if g.d != nil {
			g.d.DeliverPacket(p)
		}
	}
	g.held = nil
}

// SetDrop makes the gate drop the packets f picks (nil: none).
func (g *gate) SetDrop(f func(pkt []byte) bool) {
	g.mu.Lock()
	g.drop = f
	g.mu.Unlock()
}

// SetDup makes the gate deliver the packets f picks twice (nil: none).
func (g *gate) SetDup(f func(pkt []byte) bool) {
	g.mu.Lock()
	g.dup = f
	g.mu.Unlock()
}

// Dropped is how many packets the gate has dropped.
func (g *gate) Dropped() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.dropped
}
