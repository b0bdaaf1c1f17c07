package stack

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
)

// closings counts the connections of one stack that reached CLOSED and
// says when there have been want of them.
type closings struct {
	mu   sync.Mutex
	n    int
	want int
	done chan struct{}
}

func (c *closings) Event(e *trace.Event) {
	if e.Kind != trace.KindStateChange || e.State != tcp.StateClosed.String() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n++; c.n == c.want {
		close(c.done)
	}
}

// stressPattern is the text connection i sends: i itself, then bytes and
// a length that depend on i, so text landing on the wrong connection, or
// out of place, is caught.
func stressPattern(i int) []byte {
	p := make([]byte, 4+(i*7919)%12000)
	binary.BigEndian.PutUint32(p, uint32(i))
	for j := 4; j < len(p); j++ {
		p[j] = byte(i*31 + j*7)
	}
	return p
}

// TestStressManyConnections opens, uses and closes thousands of
// connections from several goroutines between two stacks whose links
// deliver on several goroutines each, on the real clock, so that the
// delayed-ACK, retransmission and TIME-WAIT timers of every shard fire
// meanwhile (there is no timing assertion: only events are waited on).
// Each client sends its pattern and half-closes; the server checks every
// byte, sends it back and closes; the client checks the echo and closes.
// At the end every connection of both stacks has reached CLOSED (counted
// from the trace) and the tables, queues and counters are empty. Run
// under the race detector, it is the check of the stack's locking.
func TestStressManyConnections(t *testing.T) {
	conns, workers := 5000, 16
	if testing.Short() {
		conns = 500
	}
	// Four queues each way, each delivered on a goroutine of its own: the
	// stacks get packets from several goroutines at once, as from a
	// network card with receive-side scaling.
	a, b := pipe.NewWithOptions(1500, pipe.Options{Queues: 4})
	defer func() { a.Close(); b.Close() }()
	cfg := tcp.Config{MSL: time.Millisecond, DelayedACK: time.Millisecond}
	cdone := &closings{want: conns, done: make(chan struct{})}
	sdone := &closings{want: conns, done: make(chan struct{})}
	client, err := New(a, Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), TCP: cfg, Trace: cdone, Shards: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := New(b, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), TCP: cfg, Trace: sdone, Shards: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	sa := netip.AddrPortFrom(server.Addr(), 80)
	l, err := server.ListenTCP(sa, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	errs := make(chan error, 2*conns)
	var wg sync.WaitGroup
	for range 4 { // acceptors, each serving its connections on new goroutines
		wg.Go(func() {
			for {
				c, err := l.Accept(ctx)
				if err != nil {
					return // the listener closed
				}
				wg.Go(func() { errs <- serveEcho(c) })
			}
		})
	}
	var clients sync.WaitGroup
	for w := range workers {
		clients.Go(func() {
			for i := w; i < conns; i += workers {
				errs <- dialEcho(ctx, client, sa, i)
			}
		})
	}
	clients.Wait()
	for range 2 * conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	<-cdone.done // the clients' TIME-WAITs ran out
	<-sdone.done
	l.Close()
	wg.Wait()
	for _, s := range []*Stack{client, server} {
		if n := s.connCount(); n != 0 || s.nconns.Load() != 0 {
			t.Errorf("%v: %d connections left in the tables (counted %d)", s.Addr(), n, s.nconns.Load())
		}
		if m := s.TCPMemory(); m.Receive() != 0 || m.Send() != 0 {
			t.Errorf("%v: buffer memory %d/%d left charged", s.Addr(), m.Receive(), m.Send())
		}
		if n := s.TCPStats().CurrEstab.Load(); n != 0 {
			t.Errorf("%v: CurrEstab %d", s.Addr(), n)
		}
		for _, sh := range s.shards {
			sh.mu.Lock()
			if len(sh.timers) != 0 {
				t.Errorf("%v: %d timers left in a shard", s.Addr(), len(sh.timers))
			}
			sh.mu.Unlock()
		}
	}
	if n := len(l.children); n != 0 || l.l.HalfOpen() != 0 || l.l.Ready() != 0 {
		t.Errorf("listener: %d children, %d half-open, %d ready left", n, l.l.HalfOpen(), l.l.Ready())
	}
}

// dialEcho is one client: it sends connection i's pattern, half-closes,
// and checks the echo and the end of it.
func dialEcho(ctx context.Context, s *Stack, sa netip.AddrPort, i int) error {
	c, err := s.DialTCP(ctx, netip.AddrPort{}, sa)
	if err != nil {
		return fmt.Errorf("dial %d: %w", i, err)
	}
	defer c.Close()
	p := stressPattern(i)
	if _, err := c.Write(p); err != nil {
		return fmt.Errorf("client %d write: %w", i, err)
	}
	if err := c.CloseWrite(); err != nil {
		return fmt.Errorf("client %d half-close: %w", i, err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("client %d read: %w", i, err)
	}
	if !bytes.Equal(got, p) {
		return fmt.Errorf("client %d: echo of %d bytes differs from the %d sent", i, len(got), len(p))
	}
	return nil
}

// serveEcho reads a client's text to its FIN, checks it is the pattern
// of the connection it names, sends it back and closes.
func serveEcho(c *TCPConn) error {
	defer c.Close()
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("server read: %w", err)
	}
	if len(got) < 4 || !bytes.Equal(got, stressPattern(int(binary.BigEndian.Uint32(got)))) {
		return fmt.Errorf("server: %d bytes that are no connection's pattern", len(got))
	}
	if _, err := c.Write(got); err != nil {
		return fmt.Errorf("server write: %w", err)
	}
	return nil
}

// TestStressListenerCloseUnderLoad closes a listener while clients on
// several goroutines dial it, and accepts run, over links that deliver on
// several goroutines: the listener's children in every shard are reset
// while SYNs and cookie-less handshakes arrive in others (the lock order:
// shard, then listener). Nothing deadlocks, every dial either completes
// or fails, and once both stacks close their tables and counts are empty.
func TestStressListenerCloseUnderLoad(t *testing.T) {
	// Four queues each way, each delivered on a goroutine of its own: the
	// stacks get packets from several goroutines at once, as from a
	// network card with receive-side scaling.
	a, b := pipe.NewWithOptions(1500, pipe.Options{Queues: 4})
	defer func() { a.Close(); b.Close() }()
	cfg := tcp.Config{MSL: time.Millisecond, InitialRTO: 10 * time.Millisecond, SYNRetries: 2}
	client, err := New(a, Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), TCP: cfg, Shards: 8})
	if err != nil {
		t.Fatal(err)
	}
	server, err := New(b, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), TCP: cfg, Shards: 8})
	if err != nil {
		t.Fatal(err)
	}
	sa := netip.AddrPortFrom(server.Addr(), 80)
	l, err := server.ListenTCP(sa, 64)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	accepted := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		n := 0
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				return
			}
			if n++; n == 300 {
				accepted <- struct{}{}
			}
			c.Close()
		}
	})
	refused := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				c, err := client.DialTCP(ctx, netip.AddrPort{}, sa)
				if err != nil {
					select {
					case <-refused:
						return // the listener is gone
					default:
						continue // reset by the closing listener, or timed out: again
					}
				}
				c.Close()
			}
		})
	}
	<-accepted
	l.Close()
	close(refused)
	wg.Wait()
	client.Close()
	server.Close()
	for _, s := range []*Stack{client, server} {
		recs, heaped := s.twCount()
		if n := s.connCount(); n != 0 || s.nconns.Load() != 0 || recs != 0 || heaped != 0 || s.ntw.Load() != 0 {
			t.Errorf("%v after Close: %d connections (counted %d), %d TIME-WAIT records (%d heaped, counted %d)",
				s.Addr(), n, s.nconns.Load(), recs, heaped, s.ntw.Load())
		}
	}
	if len(l.children) != 0 || l.l.HalfOpen() != 0 || l.l.Ready() != 0 {
		t.Errorf("closed listener: %d children, %d half-open, %d ready", len(l.children), l.l.HalfOpen(), l.l.Ready())
	}
}
