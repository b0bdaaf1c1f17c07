package synack_test

// A harness for transfers over a bad network on virtual time: two stacks
// on a pipe whose client end is wrapped in link/fault, both on one virtual
// clock that moves only when nothing else can happen, so protocol time is
// exact however slow the machine and whatever else runs.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
)

// lossyNet is a client and a server stack joined by a pipe with faults.
type lossyNet struct {
	clk            *clock.Virtual
	a, b           *pipe.Endpoint
	fa             *fault.Endpoint
	client, server *synack.Stack
}

// newLossyNet makes the network: out is applied to what the client sends,
// in to what it receives.
func newLossyNet(t testing.TB, seed uint64, out, in fault.Direction, cfg tcp.Config) *lossyNet {
	return newLossyNetTraced(t, seed, out, in, cfg, nil)
}

// newLossyNetTraced is newLossyNet with both stacks' events sent to sink.
func newLossyNetTraced(t testing.TB, seed uint64, out, in fault.Direction, cfg tcp.Config, sink trace.Sink) *lossyNet {
	t.Helper()
	n := &lossyNet{clk: clock.NewVirtual(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))}
	n.a, n.b = pipe.New(mtu)
	n.fa = fault.New(n.a, fault.Config{Clock: n.clk, Seed: seed, Out: out, In: in})
	n.client, n.server = twoStacks(t, n.clk, n.fa, n.b, cfg, sink, n.fa, n.b)
	return n
}

// twoStacks makes the client stack on clientLink and the server stack on
// serverLink, both on clk with cfg and sink, and closes them, then the
// links given in closers, when the test ends.
func twoStacks(t testing.TB, clk clock.Clock, clientLink, serverLink link.Endpoint, cfg tcp.Config, sink trace.Sink, closers ...io.Closer) (client, server *synack.Stack) {
	t.Helper()
	var err error
	if client, err = synack.New(clientLink, synack.Config{Addr: clientAddr, Host: "client", Clock: clk, TCP: cfg, Trace: sink}); err != nil {
		t.Fatal(err)
	}
	if server, err = synack.New(serverLink, synack.Config{Addr: serverAddr, Host: "server", Clock: clk, TCP: cfg, Trace: sink}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
		for _, c := range closers {
			c.Close()
		}
	})
	return client, server
}

// pipeQuiet reports whether every packet either end wrote has been handed
// to (and handled by) the other or dropped: only packets held by the fault
// layer, waiting for the clock, may remain.
func (n *lossyNet) pipeQuiet() bool { return pipesQuiet(n.a, n.b) }

// flushed reports whether each stack has written every packet it queued to
// its link: a stack writes after releasing its lock, so a timer may be
// armed before the packet sent with it reaches the link.
func (n *lossyNet) flushed() bool {
	cs, ss := n.client.Internals().Stats(), n.server.Internals().Stats()
	out, _ := n.fa.Stats()
	return cs.OutRequests.Load() == out.Packets+cs.OutDiscards.Load() &&
		ss.OutRequests.Load() == n.b.Stats().Sent+ss.OutDiscards.Load()
}

// side is one application end of a transfer: it writes src (then closes
// its sending side) and reads until EOF.
type side struct {
	conn              *synack.TCPConn
	src               []byte
	wrote, read       atomic.Int64
	writeDone, readOK atomic.Bool
	sum               [32]byte
	err               atomic.Pointer[error]
	firstByte         time.Time // virtual time the first byte was read
	lastByte          time.Time // and the last
}

func (s *side) fail(err error) { s.err.CompareAndSwap(nil, &err) }

// run starts the side's writer and reader goroutines.
func (s *side) run(clk clock.Clock) {
	go func() {
		for off := 0; off < len(s.src); {
			n, err := s.conn.Write(s.src[off:min(off+64<<10, len(s.src))])
			off += n
			s.wrote.Add(int64(n))
			if err != nil {
				s.fail(fmt.Errorf("write: %w", err))
				break
			}
		}
		if err := s.conn.CloseWrite(); err != nil {
			s.fail(fmt.Errorf("close write: %w", err))
		}
		s.writeDone.Store(true)
	}()
	go func() {
		h := sha256.New()
		buf := make([]byte, 64<<10)
		for {
			n, err := s.conn.Read(buf)
			if n > 0 {
				// The times are taken before read counts the bytes: blocked
				// waits for the count, so the clock cannot move between a
				// read and its time.
				if s.read.Load() == 0 {
					s.firstByte = clk.Now()
				}
				s.lastByte = clk.Now()
				h.Write(buf[:n])
				s.read.Add(int64(n))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				s.fail(fmt.Errorf("read: %w", err))
				s.readOK.Store(true)
				return
			}
		}
		h.Sum(s.sum[:0])
		s.readOK.Store(true)
	}()
}

// blocked reports whether the side can make no progress until the network
// does: its reader has taken and counted everything received, and its
// writer is done or has filled the send buffer. The reader's count, not an
// empty receive queue, says it is done with a read: between the two it
// still takes the read's time, which must be the time of the read.
func (s *side) blocked() bool {
	info := s.conn.Info()
	if !s.readOK.Load() && (info.RecvQ > 0 || int64(info.TCP.BytesReceived) != s.read.Load()) {
		return false
	}
	return s.writeDone.Load() || info.SendQ >= info.TCP.SndBuf
}

// done reports whether the side has finished both ways.
func (s *side) done() bool { return s.writeDone.Load() && s.readOK.Load() }

// seeded returns the n bytes of seededReader(seed, n).
func seeded(seed uint64, n int) []byte {
	b, _ := io.ReadAll(seededReader(seed, int64(n)))
	return b
}

// connect dials the server's port 80 from the client and returns both
// ends, moving the clock only while the handshake is under way.
func (n *lossyNet) connect(t testing.TB) (cc, sc *synack.TCPConn) {
	t.Helper()
	l, err := n.server.ListenTCP(serverAP(80), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan *synack.TCPConn, 1)
	go func() {
		conn, err := l.AcceptTCP()
		if err != nil {
			t.Error(err)
		}
		accepted <- conn
	}()
	dialed := make(chan *synack.TCPConn, 1)
	go func() {
		conn, err := n.client.DialTCP(context.Background(), serverAP(80))
		if err != nil {
			t.Error(err)
		}
		dialed <- conn
	}()
	// The clock moves only while the handshake is under way: once both
	// ends are established, the dialer and the acceptor just have to return.
	handshaking := func() bool {
		for _, si := range n.client.Sockets() {
			if si.State == tcp.StateSynSent {
				return true
			}
		}
		for _, si := range n.server.Sockets() {
			if si.State == tcp.StateSynReceived {
				return true
			}
		}
		return false
	}
	n.drive(t, func() bool { return len(dialed) > 0 && len(accepted) > 0 }, handshaking)
	cc, sc = <-dialed, <-accepted
	if cc == nil || sc == nil {
		t.FailNow()
	}
	t.Cleanup(func() { cc.Close(); sc.Close() })
	return cc, sc
}

// transfer connects the two stacks and moves up and down bytes (client to
// server and back) at once, driving the virtual clock until both sides
// have read to EOF, or until stop reports true. It returns the two sides.
func (n *lossyNet) transfer(t testing.TB, up, down []byte, stop func(c, s *side) bool) (c, s *side) {
	t.Helper()
	cc, sc := n.connect(t)
	c, s = &side{conn: cc, src: up}, &side{conn: sc, src: down}
	c.run(n.clk)
	s.run(n.clk)
	n.drive(t, func() bool { return (c.done() && s.done()) || (stop != nil && stop(c, s)) }, func() bool {
		return c.blocked() && s.blocked()
	})
	for _, sd := range []*side{c, s} {
		if e := sd.err.Load(); e != nil {
			t.Fatalf("%v", *e)
		}
	}
	return c, s
}

// drive moves the virtual clock from timer to timer until done, advancing
// only when the pipe is quiet, both stacks have written what they queued,
// the fault layer is settled and the applications are blocked (checked
// twice, with the scheduler given turns between).
func (n *lossyNet) drive(t testing.TB, done, appsBlocked func() bool) {
	t.Helper()
	driveClock(t, n.clk, 3*time.Minute, done, func() bool { return n.pipeQuiet() && appsBlocked() },
		func() bool { return n.flushed() && n.fa.Settled() })
}

// driveClock moves clk from timer to timer until done. It advances only
// when idle (nothing in flight, the applications blocked) holds before and
// after the scheduler has been given turns, and then only once settled
// (the stacks and links have written what they queued) holds: read after
// Next, so a timer armed together with a packet queued means the packet
// is counted by then. It fails the test after wall of wall time.
func driveClock(t testing.TB, clk *clock.Virtual, wall time.Duration, done, idle, settled func() bool) {
	t.Helper()
	start := time.Now()
	for !done() {
		if time.Since(start) > wall {
			t.Fatalf("not done after %v of wall time (%v virtual)", wall, clk.Now())
		}
		if !idle() {
			runtime.Gosched()
			continue
		}
		for range 4 {
			runtime.Gosched()
		}
		if !idle() || done() {
			continue
		}
		next, ok := clk.Next()
		if !ok || !settled() {
			runtime.Gosched()
			continue
		}
		clk.AdvanceTo(next)
	}
}

// sha256Of is the SHA-256 of b.
func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }
