package synack_test

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/tcp"
)

// TestEstablishedCloseThousandLeavesOnlyTimeWait opens and closes 1,000 connections in turn; the
// client closes first for even ones, the server for odd ones. Afterwards
// each stack holds only the TIME-WAIT of the connections it closed first
// (and the listener): nothing leaks in any other state.
func TestEstablishedCloseThousandLeavesOnlyTimeWait(t *testing.T) {
	const n = 1000
	p := newPair(t, pairConfig{})
	l := p.listen(t, 80, 8)
	buf := make([]byte, 1)
	for i := range n {
		c, s := p.connect(t, l)
		first, second := c, s
		if i%2 == 1 {
			first, second = s, c
		}
		if err := first.Close(); err != nil {
			t.Fatalf("connection %d: first Close: %v", i, err)
		}
		if n, err := second.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("connection %d: Read after the peer's Close = %d, %v; want EOF", i, n, err)
		}
		if err := second.Close(); err != nil {
			t.Fatalf("connection %d: second Close: %v", i, err)
		}
	}
	want := func(s *synack.Stack, tw int, listen bool) func() bool {
		return func() bool {
			m := stateCounts(s)
			got := m[tcp.StateTimeWait]
			delete(m, tcp.StateTimeWait)
			if listen {
				if m[tcp.StateListen] != 1 {
					return false
				}
				delete(m, tcp.StateListen)
			}
			return got == tw && len(m) == 0
		}
	}
	waitFor(t, "client: 500 TIME-WAIT, nothing else", want(p.client, n/2, false))
	waitFor(t, "server: 500 TIME-WAIT and the listener, nothing else", want(p.server, n/2, true))
	for _, st := range []*synack.Stack{p.client, p.server} {
		ts := st.Internals().TCPStats()
		if got := ts.CurrEstab.Load(); got != 0 {
			t.Errorf("%v: CurrEstab = %d, want 0", st.Addr(), got)
		}
		if got := ts.OutRsts.Load(); got != 0 {
			t.Errorf("%v: OutRsts = %d, want 0", st.Addr(), got)
		}
	}
	if got := p.client.Internals().TCPStats().ActiveOpens.Load(); got != n {
		t.Errorf("client ActiveOpens = %d, want %d", got, n)
	}
	if got := p.server.Internals().TCPStats().PassiveOpens.Load(); got != n {
		t.Errorf("server PassiveOpens = %d, want %d", got, n)
	}
}

// blockedInAll starts k goroutines that each announce themselves and then
// call f; it returns a channel that receives each call's error. It yields
// for a while so that the calls are likely to be blocked when it returns.
func blockedInAll(k int, f func() error) <-chan error {
	started := make(chan struct{}, k)
	errc := make(chan error, k)
	for range k {
		go func() {
			started <- struct{}{}
			errc <- f()
		}()
	}
	for range k {
		<-started
	}
	for range 100 {
		runtime.Gosched()
	}
	return errc
}

// recvErr waits, at most ten seconds, for one error from errc.
func recvErr(t *testing.T, errc <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still blocked after 10 s", what)
		return nil
	}
}

func TestEstablishedCloseWakesEveryReader(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	errc := blockedInAll(3, func() error {
		_, err := c.Read(make([]byte, 1))
		return err
	})
	c.Close()
	for i := range 3 {
		if err := recvErr(t, errc, "reader"); !errors.Is(err, net.ErrClosed) {
			t.Errorf("reader %d: %v, want net.ErrClosed", i, err)
		}
	}
}

func TestEstablishedDataWakesEveryReader(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	errc := blockedInAll(2, func() error {
		b := make([]byte, 1)
		n, err := c.Read(b)
		if err == nil && n != 1 {
			err = io.ErrShortBuffer
		}
		return err
	})
	if _, err := s.Write([]byte("ab")); err != nil { // one segment for two readers
		t.Fatal(err)
	}
	for i := range 2 {
		if err := recvErr(t, errc, "reader"); err != nil {
			t.Errorf("reader %d: %v", i, err)
		}
	}
}

func TestEstablishedDeadlineWakesEveryReader(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	errc := blockedInAll(3, func() error {
		_, err := c.Read(make([]byte, 1))
		return err
	})
	c.SetReadDeadline(time.Now()) // moving the deadline wakes blocked calls
	for i := range 3 {
		if err := recvErr(t, errc, "reader"); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("reader %d: %v, want os.ErrDeadlineExceeded", i, err)
		}
	}
}

func TestListenCloseWakesEveryAccept(t *testing.T) {
	p := newPair(t, pairConfig{})
	l := p.listen(t, 80, 1)
	errc := blockedInAll(3, func() error {
		c, err := l.Accept()
		if c != nil {
			c.Close()
		}
		return err
	})
	l.Close()
	for i := range 3 {
		err := recvErr(t, errc, "Accept")
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept %d: %v, want net.ErrClosed", i, err)
		}
	}
}

func TestEstablishedWriteDeadlineReportsProgress(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	// The server does not read: the client fills the peer's window and its
	// own send buffer, then blocks until the deadline.
	big := make([]byte, 4<<20)
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := c.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write into a full window: %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
	if n <= 0 || n >= len(big) {
		t.Fatalf("Write reported %d bytes written, want some but not all", n)
	}
	// What Write reported is exactly what the server can read.
	c.SetWriteDeadline(time.Time{})
	c.CloseWrite()
	got, err := io.ReadAll(s)
	if err != nil || len(got) != n {
		t.Fatalf("server read %d bytes, %v; want %d", len(got), err, n)
	}
}

func TestEstablishedHalfCloseKeepsReading(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Write after CloseWrite: %v, want EPIPE", err)
	}
	if b, err := io.ReadAll(io.LimitReader(s, 1)); err != nil || len(b) != 0 {
		t.Fatalf("server read after the client's CloseWrite: %q, %v", b, err)
	}
	if _, err := s.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "still here" {
		t.Fatalf("client read after its own CloseWrite: %q, %v", b, err)
	}
}

func TestEstablishedSocketsTableRows(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 4))
	defer c.Close()
	defer s.Close()
	if _, err := c.Write([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "5 bytes in the server's Recv-Q", func() bool {
		for _, si := range p.server.Internals().Sockets() {
			if si.State == tcp.StateEstablished && si.RecvQ == 5 {
				return true
			}
		}
		return false
	})
	socks := p.server.Internals().Sockets()
	if len(socks) != 2 {
		t.Fatalf("server sockets: %v, want a listener and a connection", socks)
	}
	ln, conn := socks[0], socks[1]
	if ln.State != tcp.StateListen || ln.Local.String() != "0.0.0.0:80" || ln.Remote.IsValid() || ln.SendQ != 4 {
		t.Errorf("listener row %+v", ln)
	}
	if conn.Local.String() != "10.0.0.2:80" || conn.Remote.String() != c.LocalAddr().String() ||
		conn.State != tcp.StateEstablished || conn.SendQ != 0 {
		t.Errorf("connection row %+v", conn)
	}
}
