package synack_test

// SYN floods against a listener, on virtual time: spoofed SYNs are written
// straight into the server stack (what it answers to the spoofed addresses
// goes nowhere), while real clients on the client stack connect through
// the pipe and move data checked by SHA-256.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// blackhole is link middleware on the server's side that lets through only
// packets for the real client's address: answers to spoofed sources vanish,
// as they would on a real network, without loading the pipe.
type blackhole struct {
	link.Endpoint
	keep    netip.Addr
	dropped atomic.Uint64
}

func (b *blackhole) WritePacket(pkt []byte) error {
	if ip, err := wire.ParseIPv4(pkt); err == nil && ip.Dst() != b.keep {
		b.dropped.Add(1)
		return nil
	}
	return b.Endpoint.WritePacket(pkt)
}

// synFlood makes spoofed SYNs cheaply: one preallocated packet whose source
// address, source port and sequence number are patched in place, and its
// checksums recomputed, for each SYN.
type synFlood struct {
	pkt []byte
	rng *rand.Rand
	dst netip.Addr
}

func newSYNFlood(seed uint64, dst netip.AddrPort) *synFlood {
	h := wire.TCPFields{DstPort: dst.Port(), Flags: wire.FlagSYN, Window: 64240,
		Options: wire.TCPOptions{HasMSS: true, MSS: 1460}}
	seg := make([]byte, h.Len())
	h.Encode(seg)
	return &synFlood{pkt: ipv4Packet(wire.ProtocolTCP, netip.AddrFrom4([4]byte{1, 1, 1, 1}), dst.Addr(), seg),
		rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), dst: dst.Addr()}
}

// next returns the next SYN, valid until the next call: from a random
// unicast address outside 10/8, 127/8 and 0/8, a random port and ISN.
func (f *synFlood) next() []byte {
	var a [4]byte
	for {
		binary.BigEndian.PutUint32(a[:], f.rng.Uint32())
		if a[0] != 0 && a[0] != 10 && a[0] != 127 && a[0] < 224 {
			break
		}
	}
	p := f.pkt
	copy(p[12:16], a[:])
	t := wire.TCP(p[wire.IPv4MinHeaderLen:])
	binary.BigEndian.PutUint16(t[0:2], uint16(1024+f.rng.IntN(64512)))
	binary.BigEndian.PutUint32(t[4:8], f.rng.Uint32())
	wire.IPv4(p).FillChecksum()
	t.FillChecksum(netip.AddrFrom4(a), f.dst)
	return p
}

// floodNet is a client and a server stack on one virtual clock; the
// server's link is a gate (which holds real packets while the clock moves
// and the flood is written) over a blackhole.
type floodNet struct {
	*pair
	gate     *gate
	hole     *blackhole
	l        *synack.TCPListener
	progress atomic.Int64 // grows whenever an application goroutine gets something done
}

func newFloodNet(t *testing.T, cfg tcp.Config, backlog int) *floodNet {
	t.Helper()
	n := &floodNet{gate: new(gate), hole: &blackhole{keep: clientAddr.Addr()}}
	n.pair = newPair(t, pairConfig{virtual: true, tcp: cfg, serverLink: func(ep link.Endpoint) link.Endpoint {
		n.hole.Endpoint = ep
		n.gate.Endpoint = n.hole
		return n.gate
	}})
	n.l = n.listen(t, 80, backlog)
	return n
}

// settle waits until nothing moves without the clock: the pipe is quiet and
// the applications have made no progress while the scheduler went round.
func (n *floodNet) settle(t *testing.T) {
	t.Helper()
	wall := time.Now()
	for {
		if time.Since(wall) > time.Minute {
			t.Fatal("the applications did not settle in a minute of wall time")
		}
		if !n.quiet() {
			runtime.Gosched()
			continue
		}
		before := n.progress.Load()
		for range 20 {
			runtime.Gosched()
		}
		if n.quiet() && n.progress.Load() == before {
			return
		}
	}
}

// step moves the clock on by dt, from timer to timer, settling after
// each, so that what a timer sends is answered before the next fires. At
// the end of the step the flood's SYNs come: the gate holds the real
// packets while the clock reaches that instant and the SYNs are written,
// then lets them through; at each instant of the flood, it is there
// first, as a fast flood would be.
func (n *floodNet) step(t *testing.T, dt time.Duration, syns int, f *synFlood) {
	end := n.clk.Now().Add(dt)
	for {
		next, ok := n.clk.Next()
		if !ok || !next.Before(end) {
			break
		}
		n.clk.AdvanceTo(next)
		n.settle(t)
	}
	n.gate.Hold()
	n.clk.AdvanceTo(end)
	srv := n.server.Internals()
	for range syns {
		srv.DeliverPacket(f.next())
	}
	n.gate.Open()
	n.settle(t)
}

// serve accepts on the listener and answers each connection with the
// SHA-256 of everything it read, then closes it; every sleep between
// accepts is virtual (accept is nil: no pause).
func (n *floodNet) serve(t *testing.T, pause func()) {
	go func() {
		for {
			c, err := n.l.AcceptTCP()
			if err != nil {
				return
			}
			n.progress.Add(1)
			go func() {
				defer c.Close()
				h := sha256.New()
				if _, err := io.Copy(h, counting{c, &n.progress}); err != nil {
					return // the client sees it
				}
				c.Write(h.Sum(nil))
				n.progress.Add(1)
			}()
			if pause != nil {
				pause()
			}
		}
	}()
}

// client is one real client: it connects, sends size bytes of its own,
// and checks the server's SHA-256 of them.
func (n *floodNet) client(i, size int) error {
	defer n.progress.Add(1)
	c, err := n.client0().DialTCP(context.Background(), serverAP(80))
	if err != nil {
		return fmt.Errorf("client %d: dial: %w", i, err)
	}
	defer c.Close()
	n.progress.Add(1)
	want, _, _ := sum(seededReader(uint64(i), int64(size)))
	if _, err := io.Copy(c, counting{seededReader(uint64(i), int64(size)), &n.progress}); err != nil {
		return fmt.Errorf("client %d: write: %w", i, err)
	}
	if err := c.CloseWrite(); err != nil {
		return fmt.Errorf("client %d: close write: %w", i, err)
	}
	var got [32]byte
	if _, err := io.ReadFull(c, got[:]); err != nil {
		return fmt.Errorf("client %d: read digest: %w", i, err)
	}
	if got != want {
		return fmt.Errorf("client %d: the server read other bytes than were sent", i)
	}
	return nil
}

func (n *floodNet) client0() *synack.Stack { return n.pair.client }

// clients starts count real clients, at most parallel at a time; done
// counts those finished, and the first error is kept.
type clients struct {
	done atomic.Int64
	mu   sync.Mutex
	err  error
}

func (n *floodNet) startClients(count, parallel, size int) *clients {
	cs := &clients{}
	sem := make(chan struct{}, parallel)
	for i := range count {
		go func() {
			sem <- struct{}{}
			err := n.client(i, size)
			<-sem
			if err != nil {
				cs.mu.Lock()
				if cs.err == nil {
					cs.err = err
				}
				cs.mu.Unlock()
			}
			cs.done.Add(1)
		}()
	}
	return cs
}

func (cs *clients) failed() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.err
}

// heapSample is the live heap after a collection.
func heapSample() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// floodSize is the flood and the real load of TestListenSYNFlood*: the
// full 1,000,000 SYNs and 1,000 clients, or a tenth in -short mode.
func floodSize() (syns, real int) {
	if testing.Short() {
		return 100_000, 100
	}
	return 1_000_000, 1_000
}

// floodStart is how many SYNs of a flood come at its first instant, before
// any real client: enough to fill the SYN queue.
const floodStart = 256

// TestListenSYNFloodCookiesServeEveryClient: 1,000,000 spoofed SYNs from
// random addresses and ports over 20 s of virtual time (50,000 a second)
// into a listener of backlog 128, while 1,000 real clients connect and
// each moves 64 KiB checked by SHA-256. The SYN queue is full from the
// first instant, so every real client comes in through a SYN cookie: every
// one connects, every cookie it brought back is valid, and the live heap
// stays under 64 MiB whatever the number of SYNs.
func TestListenSYNFloodCookiesServeEveryClient(t *testing.T) {
	syns, real := floodSize()
	n := newFloodNet(t, tcp.Config{}, 128)
	n.serve(t, nil)
	flood := newSYNFlood(1, serverAP(80))
	stats := n.server.Internals().TCPStats()
	const steps, dt = 1000, 20 * time.Millisecond
	wall := time.Now()
	sent := floodStart
	n.step(t, 0, floodStart, flood) // the flood fills the SYN queue first
	cs := n.startClients(real, 64, 64<<10)
	var maxHeap uint64
	duringFlood := int64(-1)
	for i := 1; i < steps || cs.done.Load() < int64(real); i++ {
		if time.Since(wall) > 5*time.Minute {
			t.Fatalf("after 5 minutes of wall time: %d of %d clients done", cs.done.Load(), real)
		}
		perStep := 0
		if i < steps {
			perStep = (syns - sent) / (steps - i)
			sent += perStep
		} else if duringFlood < 0 {
			duringFlood = cs.done.Load()
		}
		n.step(t, dt, perStep, flood)
		if i%100 == 99 {
			maxHeap = max(maxHeap, heapSample())
			if h := n.l.HalfOpen(); h > 129 {
				t.Fatalf("%d half-open connections with backlog 128", h)
			}
		}
		if err := cs.failed(); err != nil {
			t.Fatal(err)
		}
	}
	if duringFlood < 0 {
		duringFlood = cs.done.Load()
	}
	t.Logf("%d SYNs and %d clients in %v of wall time, %v virtual; %d clients done during the flood; max heap %d KiB",
		syns, real, time.Since(wall).Round(time.Millisecond), n.clk.Now().Sub(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)),
		duringFlood, maxHeap>>10)
	t.Logf("SyncookiesSent %d Recv %d Failed %d, TCPReqQFullDoCookies %d, ListenDrops %d, ListenOverflows %d, SYNQueuePruned %d, PassiveOpens %d; %d answers discarded",
		stats.SyncookiesSent.Load(), stats.SyncookiesRecv.Load(), stats.SyncookiesFailed.Load(), stats.TCPReqQFullDoCookies.Load(),
		stats.ListenDrops.Load(), stats.ListenOverflows.Load(), stats.SYNQueuePruned.Load(), stats.PassiveOpens.Load(), n.hole.dropped.Load())
	if got := stats.SyncookiesRecv.Load(); got < uint64(real) {
		t.Errorf("SyncookiesRecv = %d, want at least %d: every real client through a cookie", got, real)
	}
	if got := stats.SyncookiesFailed.Load(); got != 0 {
		t.Errorf("SyncookiesFailed = %d, want 0", got)
	}
	if got := stats.SyncookiesSent.Load(); got < uint64(syns)*99/100 {
		t.Errorf("SyncookiesSent = %d for %d SYNs", got, syns)
	}
	if duringFlood < int64(real)/2 {
		t.Errorf("only %d of %d clients done during the flood", duringFlood, real)
	}
	const heapBound = 64 << 20
	if maxHeap > heapBound {
		t.Errorf("live heap reached %d KiB, above the bound of %d KiB", maxHeap>>10, heapBound>>10)
	}
}

// TestListenSYNFloodNoCookiesFillsQueue: the same flood with SYN cookies
// off. The SYN queue is full (129 half-open connections with backlog 128)
// through the flood, every SYN beyond it is dropped and counted, and the
// real clients wait in SYN-SENT, their SYNs dropped too, until the flood
// ends and the queue's pruned entries make room.
func TestListenSYNFloodNoCookiesFillsQueue(t *testing.T) {
	syns, _ := floodSize()
	const real = 10
	n := newFloodNet(t, tcp.Config{SYNCookies: tcp.SYNCookiesOff}, 128)
	n.serve(t, nil)
	flood := newSYNFlood(2, serverAP(80))
	stats := n.server.Internals().TCPStats()
	const steps, dt = 1000, 20 * time.Millisecond
	start := n.clk.Now()
	sent := floodStart
	n.step(t, 0, floodStart, flood) // the flood fills the SYN queue first
	cs := n.startClients(real, real, 1<<10)
	for i := 1; i < steps; i++ {
		perStep := (syns - sent) / (steps - i)
		sent += perStep
		n.step(t, dt, perStep, flood)
		if i > 0 && i%100 == 0 {
			if h := n.l.HalfOpen(); h != 129 {
				t.Fatalf("at %v: %d half-open connections, want the queue full (129)", n.clk.Now().Sub(start), h)
			}
		}
	}
	if d := cs.done.Load(); d != 0 {
		t.Fatalf("%d real clients connected during the flood without cookies", d)
	}
	admitted := stats.PassiveOpens.Load()
	t.Logf("ListenDrops %d TCPReqQFullDrop %d PassiveOpens %d SYNQueuePruned %d SyncookiesSent %d; client SYN retransmissions %d",
		stats.ListenDrops.Load(), stats.TCPReqQFullDrop.Load(), admitted, stats.SYNQueuePruned.Load(),
		stats.SyncookiesSent.Load(), n.client0().Internals().TCPStats().RetransSegs.Load())
	if got := stats.TCPReqQFullDrop.Load(); got+admitted < uint64(syns) || got != stats.ListenDrops.Load() {
		t.Errorf("TCPReqQFullDrop %d ListenDrops %d PassiveOpens %d: want every SYN admitted or dropped as the queue was full",
			got, stats.ListenDrops.Load(), admitted)
	}
	if stats.SyncookiesSent.Load() != 0 {
		t.Errorf("SyncookiesSent = %d with cookies off", stats.SyncookiesSent.Load())
	}
	if stats.SYNQueuePruned.Load() == 0 {
		t.Error("no half-open connection was pruned under the flood")
	}
	if r := n.client0().Internals().TCPStats().RetransSegs.Load(); r < real {
		t.Errorf("the real clients retransmitted %d SYNs, want at least one each", r)
	}
	// After the flood, the real clients' SYN retransmissions get in.
	for i := 0; cs.done.Load() < real; i++ {
		if i == 10000 {
			t.Fatalf("%d of %d clients done %v after the flood", cs.done.Load(), real, n.clk.Now().Sub(start))
		}
		n.step(t, 100*time.Millisecond, 0, flood)
	}
	if err := cs.failed(); err != nil {
		t.Fatal(err)
	}
	t.Logf("every client connected %v after the flood began", n.clk.Now().Sub(start))
}

// TestListenSlowSYNFloodNeverHoldsQueue: 4 spoofed SYNs a second for an
// hour of virtual time, the flood the issue measured keeping port 80 down
// for good with a 256-entry SYN queue whose entries lived 63 s. With SYN
// cookies off, so that only the queue's pruning can help: old entries lose
// their retries while the queue is more than half full, the queue never
// fills, and a real client that comes every five minutes connects at its
// first SYN and moves its bytes without the clock moving: no SYN dropped,
// nothing retransmitted.
func TestListenSlowSYNFloodNeverHoldsQueue(t *testing.T) {
	n := newFloodNet(t, tcp.Config{SYNCookies: tcp.SYNCookiesOff}, 128)
	n.serve(t, nil)
	flood := newSYNFlood(3, serverAP(80))
	stats := n.server.Internals().TCPStats()
	const dt = 250 * time.Millisecond // one SYN per step: 4 a second
	steps := int(time.Hour / dt)
	started, maxHalfOpen := 0, 0
	for i := range steps {
		if i%int(5*time.Minute/dt) == 0 {
			// The clock stands still while the client works: it must be
			// done without any timer, its first SYN taken at once.
			cs := n.startClients(1, 1, 1<<10)
			started++
			waitFor(t, fmt.Sprintf("the client of %v", n.clk.Now()), func() bool { return cs.done.Load() == 1 })
			if err := cs.failed(); err != nil {
				t.Fatalf("client at %v: %v", n.clk.Now(), err)
			}
		}
		n.step(t, dt, 1, flood)
		maxHalfOpen = max(maxHalfOpen, n.l.HalfOpen())
	}
	t.Logf("%d clients over an hour; at most %d half-open; SYNQueuePruned %d ListenDrops %d PassiveOpens %d",
		started, maxHalfOpen, stats.SYNQueuePruned.Load(), stats.ListenDrops.Load(), stats.PassiveOpens.Load())
	if maxHalfOpen > 128 || stats.ListenDrops.Load() != 0 {
		t.Errorf("the SYN queue filled: %d half-open, %d SYNs dropped", maxHalfOpen, stats.ListenDrops.Load())
	}
	if stats.SYNQueuePruned.Load() == 0 {
		t.Error("no entry was pruned: the flood never put the queue under pressure")
	}
	if r := n.client0().Internals().TCPStats().RetransSegs.Load(); r != 0 {
		t.Errorf("the real clients retransmitted %d segments", r)
	}
}

// TestListenAcceptQueueOverflowEveryClientThrough: 50 clients connect at
// once to a listener of backlog 4 whose application accepts one
// connection a second. The SYN queue takes 5 (backlog+1, as Linux), the
// other 45 SYNs get cookies; the accept queue takes 4 and every other
// final ACK is dropped (ListenOverflows), as Linux does with
// tcp_abort_on_overflow = 0, so the clients believe they are connected and
// send their request. Their retransmissions (and the server's SYN,ACK
// retransmissions for the half-open one) complete the handshakes as the
// application makes room: every client gets its answer, none is reset.
//
// The clients retransmit at least once a second (MaxRTO 1 s, as Linux's
// tcp_rto_max_ms allows, with retries to match): with the default backoff
// their retransmissions come in bursts 13, 26, 51 and 102 s apart, each
// finding at most 4 free places, and a client still waiting two minutes on
// outlives its cookie and is reset, with Linux as here.
func TestListenAcceptQueueOverflowEveryClientThrough(t *testing.T) {
	const clients = 50
	clk := clock.NewVirtual(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	a, b := pipe.New(mtu)
	g := newGate(b)
	cs, err := synack.New(a, synack.Config{Addr: clientAddr, Host: "client", Clock: clk,
		TCP: tcp.Config{MaxRTO: time.Second, Retries: 120}})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := synack.New(g, synack.Config{Addr: serverAddr, Host: "server", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{client: cs, server: ss, a: a, b: b, clk: clk}
	t.Cleanup(func() { cs.Close(); ss.Close(); a.Close(); b.Close() })
	l := p.listen(t, 80, 4)
	var progress atomic.Int64
	serve := func(c *synack.TCPConn) {
		defer c.Close()
		want := "hello from " + c.RemoteAddr().String()
		buf := make([]byte, len(want))
		if _, err := io.ReadFull(c, buf); err == nil && string(buf) == want {
			c.Write([]byte("welcome"))
		}
		progress.Add(1)
	}
	g.Hold()
	var done, wrote atomic.Int64
	errs := make(chan error, clients)
	for range clients {
		go func() {
			defer done.Add(1)
			defer progress.Add(1)
			c, err := cs.DialTCP(context.Background(), serverAP(80))
			if err != nil {
				wrote.Add(1)
				errs <- err
				return
			}
			defer c.Close()
			progress.Add(1)
			_, err = fmt.Fprintf(c, "hello from %v", c.LocalAddr())
			wrote.Add(1)
			if err != nil {
				errs <- err
				return
			}
			buf := make([]byte, 7)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "welcome" {
				errs <- fmt.Errorf("client %v: read %q, %v", c.LocalAddr(), buf, err)
			}
		}()
	}
	waitFor(t, "50 SYNs at the gate", func() bool { return g.Held() == clients })
	g.Open()
	start := clk.Now()
	// Every client believes it is connected and sends its request before
	// the clock moves; then only the stacks' timers act for them.
	waitFor(t, "50 requests sent", func() bool { return wrote.Load() == clients })
	// The application accepts one connection a second, on the second: the
	// test is its accept loop, so the clock never moves while it is late.
	for sec, accepted := 1, 0; accepted < clients; sec++ {
		if sec > 600 {
			t.Fatalf("%d of %d clients accepted after 10 minutes", accepted, clients)
		}
		p.settle(t)
		if l.Ready() > 0 {
			c, err := l.AcceptTCP()
			if err != nil {
				t.Fatal(err)
			}
			accepted++
			go serve(c)
		}
		next := start.Add(time.Duration(sec) * time.Second)
		p.runClock(t, 10000, progress.Load, func() bool {
			d, ok := clk.Next()
			return !ok || d.After(next)
		})
		clk.AdvanceTo(next)
	}
	waitFor(t, "every client answered", func() bool { return done.Load() == clients })
	close(errs)
	for err := range errs {
		t.Errorf("%v (reset: %v)", err, isReset(err))
	}
	st := ss.Internals().TCPStats()
	t.Logf("all through after %v: ListenOverflows %d, SyncookiesSent %d Recv %d, ListenDrops %d, server RSTs %d",
		clk.Now().Sub(start), st.ListenOverflows.Load(), st.SyncookiesSent.Load(), st.SyncookiesRecv.Load(),
		st.ListenDrops.Load(), st.OutRsts.Load())
	if st.OutRsts.Load() != 0 || st.SyncookiesFailed.Load() != 0 {
		t.Errorf("server sent %d RSTs, %d cookies failed", st.OutRsts.Load(), st.SyncookiesFailed.Load())
	}
	if st.SyncookiesSent.Load() != clients-5 {
		t.Errorf("SyncookiesSent = %d, want %d: the SYN queue holds backlog+1", st.SyncookiesSent.Load(), clients-5)
	}
	// At least the first final ACK of every client but the 4 (or 5, if
	// the application took one in between) the accept queue took at once.
	if n := st.ListenOverflows.Load(); n < clients-5 {
		t.Errorf("ListenOverflows = %d, want at least %d", n, clients-5)
	}
	if d := clk.Now().Sub(start); d < (clients-5)*time.Second {
		t.Errorf("done after %v: faster than one accept a second", d)
	}
}
