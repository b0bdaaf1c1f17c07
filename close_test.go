package synack_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// states is the states of a stack's connections (listeners left out).
func states(s *synack.Stack) []tcp.State {
	var st []tcp.State
	for _, si := range s.Internals().Sockets() {
		if si.State != tcp.StateListen {
			st = append(st, si.State)
		}
	}
	return st
}

// TestTimeWaitExpiresAfter2MSL closes a connection from each side in turn
// and moves a virtual clock: the TIME-WAIT of the side that closed first
// lasts exactly 2*MSL, after which the socket table is empty.
func TestTimeWaitExpiresAfter2MSL(t *testing.T) {
	for _, clientFirst := range []bool{true, false} {
		p := newPair(t, pairConfig{virtual: true, tcp: tcp.Config{MSL: 10 * time.Second}})
		c, s := p.connect(t, p.listen(t, 80, 1))
		first, second, firstStack := c, s, p.client
		if !clientFirst {
			first, second, firstStack = s, c, p.server
		}
		first.Close()
		if _, err := second.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("Read after the peer's Close: %v, want EOF", err)
		}
		second.Close()
		p.settle(t)
		start := p.clk.Now()
		if st := states(firstStack); len(st) != 1 || st[0] != tcp.StateTimeWait {
			t.Fatalf("first closer's connections: %v, want one TIME-WAIT", st)
		}
		other := p.server
		if !clientFirst {
			other = p.client
		}
		if st := states(other); len(st) != 0 {
			t.Fatalf("second closer's connections: %v, want none", st)
		}
		p.clk.AdvanceTo(start.Add(20*time.Second - time.Nanosecond))
		if st := states(firstStack); len(st) != 1 {
			t.Fatalf("TIME-WAIT gone before 2 MSL: %v", st)
		}
		p.clk.AdvanceTo(start.Add(20 * time.Second))
		if st := states(firstStack); len(st) != 0 {
			t.Fatalf("after 2 MSL: %v, want no connections", st)
		}
	}
}

// TestFinWait2OrphanTimesOut closes the client while the server never
// closes: the client's orphaned FIN-WAIT-2 ends after FinWait2Timeout
// (Linux tcp_fin_timeout) with a RST, as Linux's tcp_send_active_reset,
// which resets the server's CLOSE-WAIT connection.
func TestFinWait2OrphanTimesOut(t *testing.T) {
	p := newPair(t, pairConfig{virtual: true, tcp: tcp.Config{FinWait2Timeout: 30 * time.Second}})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	c.Close()
	p.settle(t)
	if st := states(p.client); len(st) != 1 || st[0] != tcp.StateFinWait2 {
		t.Fatalf("client: %v, want FIN-WAIT-2", st)
	}
	p.clk.Advance(30 * time.Second)
	if st := states(p.client); len(st) != 0 {
		t.Fatalf("client after the FIN-WAIT-2 timeout: %v, want none", st)
	}
	p.settle(t)
	if st := s.State(); st != tcp.StateClosed {
		t.Fatalf("server: %v, want CLOSED by the client's RST", st)
	}
	if n := p.client.Internals().TCPStats().FinWait2Timeouts.Load(); n != 1 {
		t.Fatalf("FinWait2Timeouts = %d, want 1", n)
	}
}

// TestSimultaneousCloseBothTimeWait closes both ends at once, many times:
// each side ends in TIME-WAIT (through CLOSING when the FINs cross) or, if
// one FIN was answered before the other left, as in an ordinary close.
func TestSimultaneousCloseBothTimeWait(t *testing.T) {
	p := newPair(t, pairConfig{})
	l := p.listen(t, 80, 1)
	const n = 50
	for range n {
		c, s := p.connect(t, l)
		done := make(chan error, 1)
		go func() { done <- s.Close() }()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	onlyTimeWait := func() bool {
		tw := 0
		for _, st := range [][]tcp.State{states(p.client), states(p.server)} {
			for _, s := range st {
				if s != tcp.StateTimeWait {
					return false
				}
				tw++
			}
		}
		return tw >= n // at least one side of each connection
	}
	waitFor(t, "only TIME-WAIT left", onlyTimeWait)
}

// TestEstablishedCloseUnreadResets closes a connection with received data
// not read: as Linux does (RFC 2525 §2.17) it sends a RST, not a FIN, and
// the peer sees ECONNRESET.
func TestEstablishedCloseUnreadResets(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	if _, err := s.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "data in the client's Recv-Q", func() bool {
		socks := p.client.Internals().Sockets()
		return len(socks) == 1 && socks[0].RecvQ == 6
	})
	c.Close()
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("server Read: %v, want ECONNRESET", err)
	}
	if st := states(p.client); len(st) != 0 {
		t.Errorf("client after the abortive close: %v, want none", st)
	}
}

// TestEstablishedCloseFlushesQueuedData closes right after a write larger
// than the send buffer: every byte is still delivered, then EOF.
func TestEstablishedCloseFlushesQueuedData(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	const size = 1 << 20
	want, _, _ := sum(seededReader(3, size))
	go func() {
		io.Copy(c, seededReader(3, size))
		c.Close()
	}()
	got, n, err := sum(s)
	if err != nil || n != size || got != want {
		t.Fatalf("read %d bytes (%v), SHA-256 match %v", n, err, got == want)
	}
}

// TestEstablishedZeroByteReadReturns returns at once, as package net's does.
func TestEstablishedZeroByteReadReturns(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	errc := make(chan error, 1)
	go func() {
		n, err := c.Read(nil)
		if err == nil && n != 0 {
			err = fmt.Errorf("read %d bytes into nothing", n)
		}
		errc <- err
	}()
	if err := recvErr(t, errc, "zero-byte Read"); err != nil {
		t.Fatalf("zero-byte Read: %v, want 0, nil", err)
	}
}

func TestListenAcceptDeadlineTimesOut(t *testing.T) {
	p := newPair(t, pairConfig{})
	l := p.listen(t, 80, 1)
	l.SetDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := l.Accept()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Accept past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Accept past the deadline: %v is not a timeout", err)
	}
	asOpError(t, err, "accept")
	l.SetDeadline(time.Time{})
	c, s := p.connect(t, l)
	c.Close()
	s.Close()
}

// TestTimeWaitNewSYNReopens dials again from the same port right after the
// server closed first: the server's TIME-WAIT for that 4-tuple gives way
// to the new SYN, whose sequence number lies above the old connection's
// (RFC 6528 ISNs grow with time), and the new connection works.
func TestTimeWaitNewSYNReopens(t *testing.T) {
	p := newPair(t, pairConfig{})
	l := p.listen(t, 80, 1)
	c, s := p.connect(t, l)
	laddr := c.LocalAddr().(*net.TCPAddr).AddrPort()
	s.Close()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client Read: %v, want EOF", err)
	}
	c.Close()
	waitFor(t, "server in TIME-WAIT, client closed", func() bool {
		st := states(p.server)
		return len(st) == 1 && st[0] == tcp.StateTimeWait && len(states(p.client)) == 0
	})
	acc := make(chan *synack.TCPConn, 1)
	go func() {
		s, _ := l.AcceptTCP()
		acc <- s
	}()
	c2, err := p.client.DialTCPFrom(context.Background(), laddr, serverAP(80))
	if err != nil {
		t.Fatalf("redial from %v: %v", laddr, err)
	}
	defer c2.Close()
	s2 := <-acc
	if s2 == nil {
		t.Fatal("Accept failed")
	}
	defer s2.Close()
	if _, err := c2.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	if _, err := io.ReadFull(s2, b); err != nil || string(b) != "again" {
		t.Fatalf("server read %q, %v", b, err)
	}
	if got := s2.RemoteAddr().(*net.TCPAddr).AddrPort(); got != laddr {
		t.Errorf("new connection from %v, want %v", got, laddr)
	}
}

// TestStackCloseEndsEverything closes a stack under its users: blocked
// calls return, the peer's connection is reset, and the stack refuses new
// work with net.ErrClosed.
func TestStackCloseEndsEverything(t *testing.T) {
	p := newPair(t, pairConfig{})
	l := p.listen(t, 80, 1)
	c, s := p.connect(t, l)
	defer c.Close()
	reads := blockedInAll(2, func() error {
		_, err := s.Read(make([]byte, 1))
		return err
	})
	accepts := blockedInAll(1, func() error {
		_, err := l.Accept()
		return err
	})
	p.server.Close()
	for range 2 {
		if err := recvErr(t, reads, "Read"); !errors.Is(err, syscall.ECONNABORTED) {
			t.Errorf("Read during the stack's Close: %v, want ECONNABORTED", err)
		}
	}
	if err := recvErr(t, accepts, "Accept"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept during the stack's Close: %v, want net.ErrClosed", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("peer Read: %v, want ECONNRESET", err)
	}
	if _, err := p.server.Listen("tcp", ":81"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Listen on a closed stack: %v, want net.ErrClosed", err)
	}
	if _, err := p.server.DialContext(context.Background(), "tcp", "10.0.0.1:80"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial on a closed stack: %v, want net.ErrClosed", err)
	}
	if socks := p.server.Internals().Sockets(); len(socks) != 0 {
		t.Errorf("closed stack's sockets: %v", socks)
	}
	if err := p.server.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestListenManyConcurrentDialsAccepted dials 100 connections at once into a
// listener with a large enough backlog while one goroutine accepts; every
// connection is accepted once and carries its own bytes.
func TestListenManyConcurrentDialsAccepted(t *testing.T) {
	p := newPair(t, pairConfig{})
	l := p.listen(t, 80, 128)
	const k = 100
	got := make(chan string, k)
	go func() {
		for range k {
			s, err := l.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				defer s.Close()
				b, err := io.ReadAll(s)
				if err != nil {
					b = []byte(err.Error())
				}
				got <- string(b)
			}()
		}
	}()
	errc := make(chan error, k)
	for range k {
		go func() {
			c, err := p.client.DialTCP(context.Background(), serverAP(80))
			if err == nil {
				_, err = c.Write([]byte(c.LocalAddr().String()))
				c.Close()
			}
			errc <- err
		}()
	}
	for range k {
		if err := recvErr(t, errc, "dial"); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for range k {
		var s string
		select {
		case s = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d connections read", len(seen), k)
		}
		if seen[s] || len(s) < len("10.0.0.1:1") {
			t.Fatalf("server read %q (seen before: %v)", s, seen[s])
		}
		seen[s] = true
	}
	if n := p.server.Internals().TCPStats().ListenDrops.Load(); n != 0 {
		t.Errorf("ListenDrops = %d with room in the backlog", n)
	}
}

// TestTimeWaitRetransmittedFINReacked loses the client's last ACK: the
// server, in LAST-ACK, retransmits its FIN when its RTO expires; the
// client, in TIME-WAIT, acknowledges it again and restarts its 2*MSL wait
// (RFC 9293 §3.10.7.4, TIME-WAIT), and the server reaches CLOSED.
func TestTimeWaitRetransmittedFINReacked(t *testing.T) {
	pc, _, sg := gates(true)
	pc.tcp.MSL = 10 * time.Second
	p := newPair(t, pc)
	c, s := p.connect(t, p.listen(t, 80, 1))
	c.Close()
	if _, err := s.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("server Read: %v, want EOF", err)
	}
	lost := 0
	sg.SetDrop(func(pkt []byte) bool {
		if seg := tcpOf(pkt); seg != nil && seg.Flags() == wire.FlagACK && lost == 0 {
			lost++ // the ACK of the server's FIN
			return true
		}
		return false
	})
	s.Close()
	p.settle(t)
	if cs, ss := states(p.client), states(p.server); len(cs) != 1 || cs[0] != tcp.StateTimeWait ||
		len(ss) != 1 || ss[0] != tcp.StateLastAck {
		t.Fatalf("client %v, server %v; want TIME-WAIT and LAST-ACK", cs, ss)
	}
	start := p.clk.Now()
	next, _ := p.clk.Next() // the server's retransmission timer
	p.clk.AdvanceTo(next)
	p.settle(t)
	if ss := states(p.server); len(ss) != 0 {
		t.Fatalf("server after retransmitting its FIN: %v, want CLOSED", ss)
	}
	refin := p.clk.Now()
	if refin.Sub(start) >= 20*time.Second {
		t.Fatalf("FIN retransmitted after %v", refin.Sub(start))
	}
	// TIME-WAIT now ends 2 MSL after the retransmitted FIN, not the first.
	p.clk.AdvanceTo(start.Add(20 * time.Second))
	if cs := states(p.client); len(cs) != 1 {
		t.Fatalf("client TIME-WAIT ended 2 MSL after the first FIN: %v", cs)
	}
	p.clk.AdvanceTo(refin.Add(20 * time.Second))
	if cs := states(p.client); len(cs) != 0 {
		t.Fatalf("client 2 MSL after the retransmitted FIN: %v, want none", cs)
	}
}

// TestFinWait2DataAfterCloseResets closes the client fully while the
// server goes on writing. RFC 1122 §4.2.2.13: "if new data is received
// after CLOSE is called, its TCP SHOULD send a RST to show that data was
// lost", and Linux does (tcp_rcv_state_process, LINUX_MIB_TCPABORTONDATA):
// the data reaching the closed client draws a RST, and the server's next
// Write fails with ECONNRESET instead of writing into the void until the
// client's FIN-WAIT-2 timeout.
func TestFinWait2DataAfterCloseResets(t *testing.T) {
	p := newPair(t, pairConfig{virtual: true})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	c.Close()
	p.settle(t)
	if st := s.State(); st != tcp.StateCloseWait {
		t.Fatalf("server %v, want CLOSE-WAIT", st)
	}
	if _, err := s.Write([]byte("is anyone reading?")); err != nil {
		t.Fatal(err)
	}
	p.settle(t)
	if n := p.client.Internals().TCPStats().OutRsts.Load(); n != 1 {
		t.Fatalf("data after a full Close drew %d RSTs from the client, want 1 (RFC 1122 §4.2.2.13); client %v, server %v",
			n, states(p.client), s.State())
	}
	if _, err := s.Write([]byte("hello?")); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("server Write after the RST: %v, want ECONNRESET", err)
	}
	if st := states(p.client); len(st) != 0 {
		t.Errorf("client connections after its RST: %v, want none", st)
	}
}
