package synack_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/stack"
)

// newLimitedPair is newPair on a virtual clock with each stack's Config
// adjusted by its function (nil: left as is).
func newLimitedPair(t *testing.T, client, server func(*synack.Config)) *pair {
	t.Helper()
	p := &pair{clk: clock.NewVirtual(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))}
	p.a, p.b = pipe.New(mtu)
	cc := synack.Config{Addr: clientAddr, Host: "client", Clock: p.clk}
	sc := synack.Config{Addr: serverAddr, Host: "server", Clock: p.clk}
	if client != nil {
		client(&cc)
	}
	if server != nil {
		server(&sc)
	}
	var err error
	if p.client, err = synack.New(p.a, cc); err != nil {
		t.Fatal(err)
	}
	if p.server, err = synack.New(p.b, sc); err != nil {
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

// limitLogInterval is how often the stack logs each kind of limit hit.
const limitLogInterval = time.Minute

// syncBuffer is a log destination safe for the stack's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

// TestStackMaxConnectionsRefusesSYNAndDial: a server holding
// MaxConnections connections opens none for a further SYN (counted, and
// logged once a minute); a client holding its maximum fails a dial with
// an error matching ENFILE.
func TestStackMaxConnectionsRefusesSYNAndDial(t *testing.T) {
	var logs syncBuffer
	p := newLimitedPair(t, func(c *synack.Config) { c.MaxConnections = 3 }, func(c *synack.Config) {
		c.MaxConnections = 2
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	l := p.listen(t, 80, 8)
	for range 2 {
		c, s := p.connect(t, l)
		defer c.Close()
		defer s.Close()
	}
	srv := p.server.Internals()
	for i := range 3 {
		if i == 2 {
			if n := logs.count("limit=connections"); n != 1 {
				t.Fatalf("logged the connection limit %d times in a minute, want 1:\n%s", n, logs.b.String())
			}
			p.clk.AdvanceTo(p.clk.Now().Add(limitLogInterval))
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			c, err := p.client.DialTCP(ctx, serverAP(80))
			if c != nil {
				c.Close()
			}
			done <- err
		}()
		waitFor(t, "the SYN to be refused", func() bool { return srv.Stats().ConnLimitDrops.Load() == uint64(i+1) })
		p.settle(t)
		if n := len(srv.Sockets()); n != 3 { // the listener and two connections
			t.Fatalf("server holds %d sockets past its limit, want 3: %v", n, srv.Sockets())
		}
		cancel()
		if err := <-done; err == nil {
			t.Fatal("dial past the server's limit connected")
		}
	}
	if n := logs.count("limit=connections"); n != 2 {
		t.Fatalf("logged the connection limit %d times, a minute apart, want 2:\n%s", n, logs.b.String())
	}
	// The client holds one connection in SYN-SENT no more (cancelled) and
	// two established: one more fits, then its limit refuses.
	c3, err := p.client.DialTCP(context.Background(), serverAP(81)) // no listener: reset
	if err == nil {
		c3.Close()
	}
	cli := p.client.Internals()
	extra := 3 - len(cli.Sockets())
	for range extra {
		go func() { _, _ = p.client.DialTCP(context.Background(), serverAP(80)) }()
	}
	waitFor(t, "the client to fill its table", func() bool { return len(cli.Sockets()) == 3 })
	_, err = p.client.DialTCP(context.Background(), serverAP(80))
	if !errors.Is(err, syscall.ENFILE) || !errors.Is(err, stack.ErrConnectionLimit) {
		t.Fatalf("dial past the client's limit: %v, want ENFILE", err)
	}
	if n := cli.Stats().ConnLimitDrops.Load(); n != 1 {
		t.Fatalf("client ConnLimitDrops = %d, want 1", n)
	}
}

// TestStackReceiveMemoryBoundedWithStoppedReaders: eight clients each
// send 200 KiB to a server whose applications do not read, with 256 KiB of
// receive memory for the whole stack: the server never holds more, drops
// what does not fit (RcvQDrop), and once the readers start every byte
// arrives, retransmitted.
func TestStackReceiveMemoryBoundedWithStoppedReaders(t *testing.T) {
	const (
		clients = 8
		size    = 200 << 10
		limit   = 256 << 10
	)
	p := newLimitedPair(t, nil, func(c *synack.Config) { c.TCP.MaxStackReceiveMemory = limit })
	l := p.listen(t, 80, clients)
	srv := p.server.Internals()
	var servers []*synack.TCPConn
	for i := range clients {
		c, s := p.connect(t, l)
		defer c.Close()
		defer s.Close()
		servers = append(servers, s)
		msg := bytes.Repeat([]byte{byte(i)}, size)
		if n, err := c.Write(msg); n != size || err != nil {
			t.Fatalf("client %d: Write = %d, %v", i, n, err)
		}
	}
	held := func() int64 { return srv.TCPMemory().Receive() }
	var maxHeld atomic.Int64
	check := func() {
		h := held()
		if h > limit {
			t.Fatalf("server holds %d bytes received, over the stack's %d", h, limit)
		}
		if h > maxHeld.Load() {
			maxHeld.Store(h)
		}
	}
	// Three seconds with nobody reading: several retransmission timeouts.
	for stop := p.clk.Now().Add(3 * time.Second); ; {
		p.settle(t)
		check()
		next, ok := p.clk.Next()
		if !ok || next.After(stop) {
			break
		}
		p.clk.AdvanceTo(next)
	}
	p.settle(t)
	check()
	st := srv.TCPStats()
	if st.RcvQDrop.Load() == 0 || maxHeld.Load() < limit/2 {
		t.Fatalf("RcvQDrop %d, most held %d: the limit was never reached", st.RcvQDrop.Load(), maxHeld.Load())
	}
	// Now the readers start: everything arrives.
	var got atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, size)
			if _, err := io.ReadFull(counting{s, &got}, b); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, size)) {
				errs <- errors.New("wrong bytes")
			}
		}()
	}
	waitFor(t, "the readers to start", func() bool { return got.Load() > 0 })
	// The clock moves only when the readers have taken and counted
	// everything received and the pipe is quiet: then only a timer can
	// move things. (An empty receive queue is not enough: a reader may
	// have taken the last bytes and not yet counted them.)
	counted := func() bool {
		var n int64
		for _, s := range servers {
			n += int64(s.Info().TCP.BytesReceived)
		}
		return n == got.Load()
	}
	for advances := 0; got.Load() < clients*size; advances++ {
		waitFor(t, "the readers to drain", func() bool {
			return got.Load() == clients*size || (p.quiet() && counted())
		})
		check()
		next, ok := p.clk.Next()
		if got.Load() == clients*size {
			break
		}
		if !ok || advances > 2000 {
			t.Fatalf("stuck: read %d of %d after %d timers", got.Load(), clients*size, advances)
		}
		p.clk.AdvanceTo(next)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check()
	t.Logf("most held %d of %d; %d segments dropped at the limit", maxHeld.Load(), limit, st.RcvQDrop.Load())
}
