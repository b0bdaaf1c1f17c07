package synack_test

// Go net parity for TCP (issue 15 item 5): Dialer, ListenConfig,
// Stack.Dial, CloseRead, SetLinger, SetReadBuffer, SetWriteBuffer,
// ReadFrom and WriteTo.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/tcp"
)

// A *Stack is what golang.org/x/net/proxy dials through.
var (
	_ proxy.Dialer        = (*synack.Stack)(nil)
	_ proxy.ContextDialer = (*synack.Stack)(nil)
	_ proxy.Dialer        = (*synack.Dialer)(nil)
	_ proxy.ContextDialer = (*synack.Dialer)(nil)
)

// dialAsync dials with d in a goroutine; the result arrives on the channel.
func dialAsync(d *synack.Dialer, addr string) (<-chan net.Conn, chan error) {
	conns, errs := make(chan net.Conn, 1), make(chan error, 1)
	go func() {
		c, err := d.Dial("tcp", addr)
		conns <- c
		errs <- err
	}()
	return conns, errs
}

// checkDialTimeout fails unless err is a dial timeout as package net's:
// a *net.OpError "dial", Timeout() true, matching context.DeadlineExceeded
// and os.ErrDeadlineExceeded.
func checkDialTimeout(t *testing.T, err error) {
	t.Helper()
	var op *net.OpError
	var ne net.Error
	switch {
	case !errors.As(err, &op) || op.Op != "dial":
		t.Fatalf("dial error %v (%T), want a *net.OpError dial", err, err)
	case !errors.As(err, &ne) || !ne.Timeout():
		t.Fatalf("dial error %v: Timeout() is not true", err)
	case !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("dial error %v matches neither context.DeadlineExceeded nor os.ErrDeadlineExceeded", err)
	}
}

// TestDialerTimeoutSilentPeer: a peer that never answers the SYN; the
// dial gives up at Dialer.Timeout of virtual time (not the SYN retries'
// 127 s) with a timeout error, and leaves no connection behind.
func TestDialerTimeoutSilentPeer(t *testing.T) {
	pc, _, sg := gates(true)
	p := newPair(t, pc)
	sg.SetDrop(everything)
	start := p.clk.Now()
	_, errs := dialAsync(&synack.Dialer{Stack: p.client, Timeout: 2500 * time.Millisecond}, "10.0.0.2:80")
	waitFor(t, "the SYN", func() bool { return p.a.Stats().Sent > 0 })
	checkDialTimeout(t, stepTo(t, p, start.Add(2500*time.Millisecond), errs))
	if n := len(p.client.Sockets()); n != 0 {
		t.Fatalf("%d sockets left after the timed-out dial", n)
	}
}

// TestDialerDeadlineSilentPeer: Dialer.Deadline, on the stack's clock,
// ends the dial at that instant; a Timeout further off does not matter.
func TestDialerDeadlineSilentPeer(t *testing.T) {
	pc, _, sg := gates(true)
	p := newPair(t, pc)
	sg.SetDrop(everything)
	dl := p.clk.Now().Add(4 * time.Second)
	_, errs := dialAsync(&synack.Dialer{Stack: p.client, Deadline: dl, Timeout: time.Minute}, "10.0.0.2:80")
	waitFor(t, "the SYN", func() bool { return p.a.Stats().Sent > 0 })
	checkDialTimeout(t, stepTo(t, p, dl, errs))
	p.settle(t)
	// A deadline already past fails at once, sending nothing.
	sent := p.a.Stats().Sent
	_, err := (&synack.Dialer{Stack: p.client, Deadline: dl}).Dial("tcp", "10.0.0.2:80")
	checkDialTimeout(t, err)
	if p.a.Stats().Sent != sent {
		t.Fatal("a dial past its deadline sent a SYN")
	}
}

// TestDialerContextCancelled: cancelling the context, not a timer, gives
// context.Canceled, not a timeout.
func TestDialerContextCancelled(t *testing.T) {
	pc, _, sg := gates(true)
	p := newPair(t, pc)
	sg.SetDrop(everything)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() {
		_, err := (&synack.Dialer{Stack: p.client, Timeout: time.Minute}).DialContext(ctx, "tcp", "10.0.0.2:80")
		errs <- err
	}()
	waitFor(t, "the SYN", func() bool { return p.a.Stats().Sent > 0 })
	cancel()
	err := <-errs
	var ne net.Error
	if !errors.Is(err, context.Canceled) || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("cancelled dial: %v, want context.Canceled and no timeout", err)
	}
}

// TestDialerLocalAddr: LocalAddr's port is the one the connection uses
// and the server sees; a *net.UDPAddr for a TCP dial is refused.
func TestDialerLocalAddr(t *testing.T) {
	p := newPair(t, pairConfig{})
	l := p.listen(t, 80, 1)
	accepted := make(chan *synack.TCPConn, 1)
	go func() {
		s, _ := l.AcceptTCP()
		accepted <- s
	}()
	d := &synack.Dialer{Stack: p.client, LocalAddr: &net.TCPAddr{Port: 40123}}
	c, err := d.Dial("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	defer s.Close()
	if got := c.LocalAddr().(*net.TCPAddr).Port; got != 40123 {
		t.Fatalf("local port %d, want 40123", got)
	}
	if got := s.RemoteAddr().(*net.TCPAddr).AddrPort().String(); got != "10.0.0.1:40123" {
		t.Fatalf("the server sees %s, want 10.0.0.1:40123", got)
	}
	d.LocalAddr = &net.UDPAddr{Port: 5}
	if _, err := d.Dial("tcp", "10.0.0.2:80"); err == nil {
		t.Fatal("a TCP dial from a *net.UDPAddr was accepted")
	}
	// For UDP, a *net.UDPAddr.
	d.LocalAddr = &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5353}
	u, err := d.Dial("udp", "10.0.0.2:53")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if got := u.LocalAddr().String(); got != "10.0.0.1:5353" {
		t.Fatalf("UDP local address %s, want 10.0.0.1:5353", got)
	}
	d.LocalAddr = &net.UDPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 5354}
	if _, err := d.Dial("udp", "10.0.0.2:53"); err == nil {
		t.Fatal("a dial from an address the stack does not have was accepted")
	}
}

// keepAliveDeath has the peer of c go silent and runs the clock until
// c's blocked Read fails; it returns the error and the virtual time it took.
func keepAliveDeath(t *testing.T, p *pair, peerGate *gate, c net.Conn) (error, time.Duration) {
	t.Helper()
	peerGate.SetDrop(everything)
	start := p.clk.Now()
	got := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		got <- err
	}()
	err := runUntil(t, p, got)
	return err, p.clk.Now().Sub(start)
}

// TestDialerKeepAliveDefault: a dialed connection gets Go's keepalive
// (15 s idle, probes 15 s apart, 9 of them): its dead peer is found after
// 15 s + 9 × 15 s of virtual time. Stack.DialContext's gets none.
func TestDialerKeepAliveDefault(t *testing.T) {
	pc, _, sg := gates(true)
	p := newPair(t, pc)
	l := p.listen(t, 80, 1)
	go l.Accept()
	c, err := p.client.Dialer().Dial("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err, d := keepAliveDeath(t, p, sg, c)
	if !errors.Is(err, syscall.ETIMEDOUT) || d != 15*time.Second+9*15*time.Second {
		t.Fatalf("Read after %v: %v, want ETIMEDOUT after 2m30s", d, err)
	}
}

// TestDialerKeepAliveConfig: KeepAliveConfig wins over KeepAlive, its
// zero fields taking Go's defaults.
func TestDialerKeepAliveConfig(t *testing.T) {
	pc, _, sg := gates(true)
	p := newPair(t, pc)
	l := p.listen(t, 80, 1)
	go l.Accept()
	d := &synack.Dialer{Stack: p.client, KeepAlive: -1,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: time.Minute, Count: 2}}
	c, err := d.Dial("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err, dur := keepAliveDeath(t, p, sg, c)
	if !errors.Is(err, syscall.ETIMEDOUT) || dur != time.Minute+2*15*time.Second {
		t.Fatalf("Read after %v: %v, want ETIMEDOUT after 1m30s", dur, err)
	}
}

// TestListenConfigKeepAlive: connections a ListenConfig's listener
// accepts get its keepalive: the server finds its silent client after
// 30 s + 9 × 15 s.
func TestListenConfigKeepAlive(t *testing.T) {
	pc, cg, _ := gates(true)
	p := newPair(t, pc)
	lc := &synack.ListenConfig{Stack: p.server, KeepAlive: 30 * time.Second}
	l, err := lc.Listen(context.Background(), "tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		s, _ := l.Accept()
		accepted <- s
	}()
	c, err := p.client.Dial("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	defer s.Close()
	err, d := keepAliveDeath(t, p, cg, s)
	if !errors.Is(err, syscall.ETIMEDOUT) || d != 30*time.Second+9*15*time.Second {
		t.Fatalf("server Read after %v: %v, want ETIMEDOUT after 2m45s", d, err)
	}
}

// TestStackDialThroughProxyInterface: Stack.Dial used as
// golang.org/x/net/proxy's Dialer carries a TCP exchange.
func TestStackDialThroughProxyInterface(t *testing.T) {
	p := newPair(t, pairConfig{})
	l := p.listen(t, 7, 1)
	go func() {
		s, err := l.Accept()
		if err == nil {
			io.Copy(s, s)
			s.Close()
		}
	}()
	var d proxy.Dialer = p.client
	c, err := d.Dial("tcp", "10.0.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("via proxy.Dialer")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "via proxy.Dialer" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	if _, err := d.Dial("tcp6", "[::1]:7"); err == nil {
		t.Fatal("tcp6 dial accepted")
	}
}

// TestEstablishedCloseReadReadsEOF: after CloseRead, reads give io.EOF at
// once, the unread text and what the peer sends later are discarded and
// acknowledged (the peer is not told, and is not held up), and writes
// still reach the peer.
func TestEstablishedCloseReadReadsEOF(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	if _, err := s.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	p.settle(t)
	blocked := make(chan error, 1)
	if err := c.CloseRead(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := c.Read(make([]byte, 10))
		blocked <- err
	}()
	if err := <-blocked; err != io.EOF {
		t.Fatalf("Read after CloseRead: %v, want io.EOF", err)
	}
	big := bytesOf(200 << 10) // more than the receive buffer: it must be acknowledged, not held
	if _, err := s.Write(big); err != nil {
		t.Fatal(err)
	}
	p.settle(t)
	waitFor(t, "the server's data to be acknowledged", func() bool { return s.Info().SendQ == 0 })
	if q := c.Info().RecvQ; q != 0 {
		t.Fatalf("%d bytes queued after CloseRead", q)
	}
	if n := p.client.Internals().TCPStats().ReadShutDiscards.Load(); n == 0 {
		t.Fatal("ReadShutDiscards did not count the discarded text")
	}
	if st := s.State(); st != tcp.StateEstablished {
		t.Fatalf("server in %v: the peer was told", st)
	}
	if n, err := c.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read: %d, %v, want 0, io.EOF", n, err)
	}
	if _, err := c.Write([]byte("still writing")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 13)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "still writing" {
		t.Fatalf("server read %q, %v", buf, err)
	}
}

// TestCloseReadThenCloseWriteDataResets: shut both ways (CloseRead, then
// CloseWrite: FIN-WAIT), text from the peer draws a RST, as on Linux.
func TestCloseReadThenCloseWriteDataResets(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	if err := c.CloseRead(); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	p.settle(t)
	s.Write([]byte("late"))
	p.settle(t)
	if n := p.client.Internals().TCPStats().AbortOnData.Load(); n != 1 {
		t.Fatalf("AbortOnData %d, want 1", n)
	}
	if st := s.State(); st != tcp.StateClosed {
		t.Fatalf("server in %v after writing to a socket shut both ways, want CLOSED (reset)", st)
	}
}

// TestEstablishedSetLingerZeroCloseResets: with SetLinger(0), Close sends
// a RST and discards the unsent data; the peer's read fails with
// ECONNRESET.
func TestEstablishedSetLingerZeroCloseResets(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	if err := c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	rsts := p.client.Internals().TCPStats().OutRsts.Load()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	p.settle(t)
	if n := p.client.Internals().TCPStats().OutRsts.Load() - rsts; n != 1 {
		t.Fatalf("%d RSTs sent by Close with linger 0, want 1", n)
	}
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("peer Read: %v, want ECONNRESET", err)
	}
	if n := len(p.client.Sockets()); n != 0 {
		t.Fatalf("%d client sockets left (none lingers in TIME-WAIT after a RST)", n)
	}
}

// TestEstablishedSetLingerWaitsForFINAck: with SetLinger(10), Close
// returns once the data and the FIN are acknowledged (FIN-WAIT-2), not
// before, and with no error.
func TestEstablishedSetLingerWaitsForFINAck(t *testing.T) {
	pc, _, sg := gates(true)
	p := newPair(t, pc)
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	c.SetLinger(10)
	sg.Hold() // the server gets nothing until opened
	if _, err := c.Write(bytesOf(20 << 10)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	p.settle(t)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before anything was acknowledged", err)
	default:
	}
	sg.Open()
	start := p.clk.Now()
	if err := runUntil(t, p, closed); err != nil {
		t.Fatalf("lingering Close: %v", err)
	}
	if st := c.State(); st != tcp.StateFinWait2 {
		t.Fatalf("after the lingering Close: %v, want FIN-WAIT-2", st)
	}
	if d := p.clk.Now().Sub(start); d >= 10*time.Second {
		t.Fatalf("Close took %v, the whole linger time", d)
	}
}

// TestZeroWindowSetLingerTimesOut: the peer's window is zero, so the
// data cannot drain: Close returns after exactly the linger time with an
// error matching EWOULDBLOCK whose Timeout() is true, and the connection
// goes on closing in the background, in FIN-WAIT-1, not reset.
func TestZeroWindowSetLingerTimesOut(t *testing.T) {
	p, c, _, _ := zeroWindowStall(t)
	c.SetLinger(3)
	rsts := p.client.Internals().TCPStats().OutRsts.Load()
	start := p.clk.Now()
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	waitFor(t, "Close to send the FIN", func() bool { return c.State() == tcp.StateFinWait1 })
	err := stepTo(t, p, start.Add(3*time.Second), closed)
	var ne net.Error
	if !errors.Is(err, syscall.EWOULDBLOCK) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Close: %v, want EWOULDBLOCK with Timeout()", err)
	}
	if st := c.State(); st != tcp.StateFinWait1 {
		t.Fatalf("after the linger timed out: %v, want FIN-WAIT-1", st)
	}
	if p.client.Internals().TCPStats().OutRsts.Load() != rsts {
		t.Fatal("a RST went out when the linger timed out")
	}
}

// TestEstablishedSetReadBuffer: SetReadBuffer fixes the receive buffer:
// the window the peer sees follows it, up or down, autotuning leaves it
// alone, small sizes are raised to the minimum, negative ones are EINVAL.
func TestEstablishedSetReadBuffer(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	if err := c.SetReadBuffer(8192); err != nil {
		t.Fatal(err)
	}
	if got := c.Info().TCP.RcvBuf; got != 8192 {
		t.Fatalf("RcvBuf %d, want 8192", got)
	}
	// The server writes more than that. The window already offered
	// stays (its edge never moves back); once the client has read what
	// that let in, the server may send only what 8192 bytes hold.
	go s.Write(bytesOf(400 << 10))
	waitFor(t, "the client's window to fill", func() bool { return c.Info().TCP.RcvWnd == 0 && p.quiet() })
	if _, err := io.ReadFull(c, make([]byte, c.Info().RecvQ)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the client's buffer to fill", func() bool { return c.Info().RecvQ >= 8192-1460 && p.quiet() })
	if q := c.Info().RecvQ; q > 8192 {
		t.Fatalf("%d bytes queued, over the 8192 set", q)
	}
	if w := c.Info().TCP.RcvWnd; w >= 1460 {
		t.Fatalf("window %d with the buffer full, want less than a segment", w)
	}
	// A larger buffer opens the window at once.
	if err := c.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server to see the larger window", func() bool { return c.Info().RecvQ > 32<<10 })
	if got := c.Info().TCP.RcvBuf; got != 64<<10 {
		t.Fatalf("RcvBuf %d, want 65536", got)
	}
	io.ReadFull(c, make([]byte, 200<<10)) // reading fast does not autotune it
	if got := c.Info().TCP.RcvBuf; got != 64<<10 {
		t.Fatalf("RcvBuf %d after reads, want 65536: autotuning moved it", got)
	}
	if err := c.SetReadBuffer(0); err != nil || c.Info().TCP.RcvBuf != tcp.MinUserBufferSize {
		t.Fatalf("SetReadBuffer(0): %v, RcvBuf %d, want %d", err, c.Info().TCP.RcvBuf, tcp.MinUserBufferSize)
	}
	checkEINVAL(t, c.SetReadBuffer(-1))
}

// stepTo moves the pair's virtual clock to 1 ms before end, firing the
// timers due, and checks that the call reporting on ch is still blocked;
// then to end, and returns the call's result, waiting (at most 10 s of
// wall time) for it. The clock goes no further: the call ended at end.
func stepTo(t *testing.T, p *pair, end time.Time, ch chan error) error {
	t.Helper()
	p.clk.AdvanceTo(end.Add(-time.Millisecond))
	p.settle(t)
	for range 100 {
		runtime.Gosched()
	}
	select {
	case err := <-ch:
		t.Fatalf("the call ended (%v) before %v", err, end)
	default:
	}
	p.clk.AdvanceTo(end)
	wall := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-ch:
			return err
		default:
		}
		if time.Now().After(wall) {
			t.Fatalf("the call did not end at %v", end)
		}
		p.clk.Advance(0) // a timer armed late for end, which has come
		runtime.Gosched()
	}
}

// checkEINVAL fails unless err is package net's shape of a setsockopt EINVAL.
func checkEINVAL(t *testing.T, err error) {
	t.Helper()
	var op *net.OpError
	var se *os.SyscallError
	if !errors.Is(err, syscall.EINVAL) || !errors.As(err, &op) || op.Op != "set" || !errors.As(err, &se) {
		t.Fatalf("negative size: %v (%T), want *net.OpError set around *os.SyscallError EINVAL", err, err)
	}
}

// TestEstablishedSetWriteBuffer: SetWriteBuffer bounds the bytes Write
// may queue unacknowledged: with the peer not reading, what the client
// holds stops at the size set, and the buffer does not grow.
func TestEstablishedSetWriteBuffer(t *testing.T) {
	p := newPair(t, pairConfig{virtual: true})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	if err := s.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	if err := c.SetWriteBuffer(6000); err != nil {
		t.Fatal(err)
	}
	go c.Write(bytesOf(100 << 10))
	waitFor(t, "the client's buffer to fill", func() bool { return c.Info().SendQ >= 6000 && p.quiet() })
	if q, b := c.Info().SendQ, c.Info().TCP.SndBuf; q != 6000 || b != 6000 {
		t.Fatalf("client holds %d bytes in a %d-byte buffer, want 6000 in 6000", q, b)
	}
	checkEINVAL(t, c.SetWriteBuffer(-5))
}

// TestIOCopyReadFromWriteTo: io.Copy into a TCPConn goes through
// ReadFrom, out of one through WriteTo; a megabyte arrives byte for byte,
// and a second hop (TCPConn to TCPConn, WriteTo into Write) too.
func TestIOCopyReadFromWriteTo(t *testing.T) {
	p := newPair(t, pairConfig{})
	l := p.listen(t, 80, 2)
	c, s := p.connect(t, l)
	defer s.Close()
	data := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	sent := make(chan error, 1)
	go func() {
		// struct{ io.Reader } hides bytes.Reader's WriteTo: io.Copy must
		// take the TCPConn's ReadFrom.
		n, err := io.Copy(c, struct{ io.Reader }{bytes.NewReader(data)})
		if err == nil && n != int64(len(data)) {
			err = io.ErrShortWrite
		}
		c.CloseWrite()
		sent <- err
	}()
	// The second hop: the server relays what it gets to a second client
	// connection with io.Copy (the server's WriteTo into c2's Write).
	c2, s2 := p.connect(t, l)
	defer c2.Close()
	relayed := make(chan error, 1)
	go func() {
		_, err := io.Copy(s2, s)
		s2.CloseWrite()
		relayed <- err
	}()
	var got bytes.Buffer
	n, err := io.Copy(&got, c2) // c2's WriteTo into a bytes.Buffer
	if err != nil || n != int64(len(data)) {
		t.Fatalf("io.Copy out: %d, %v", n, err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("io.Copy in: %v", err)
	}
	if err := <-relayed; err != nil {
		t.Fatalf("relay: %v", err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("the data arrived changed")
	}
}

// TestListenConfigReusePort: two listeners of ListenConfigs with
// ReusePort share a port, 32 clients' connections are accepted by the
// two (each some), and a listener without it is refused the port.
func TestListenConfigReusePort(t *testing.T) {
	p := newPair(t, pairConfig{})
	lc := &synack.ListenConfig{Stack: p.server, ReusePort: true}
	got := make(chan int, 64)
	for i := range 2 {
		l, err := lc.Listen(context.Background(), "tcp", ":81")
		if err != nil {
			t.Fatalf("listener %d: %v", i, err)
		}
		defer l.Close()
		go func() {
			for {
				s, err := l.Accept()
				if err != nil {
					return
				}
				s.Close()
				got <- i
			}
		}()
	}
	if _, err := p.server.Listen("tcp", ":81"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("a listener without ReusePort on the group's port: %v, want EADDRINUSE", err)
	}
	const clients = 32
	for range clients {
		c, err := p.client.Dial("tcp", "10.0.0.2:81")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	var per [2]int
	for range clients {
		per[<-got]++
	}
	if per[0] == 0 || per[1] == 0 {
		t.Errorf("accepted per listener %v: want both used", per)
	}

	// UDP: ListenPacket shares a port the same way.
	for i := range 2 {
		c, err := lc.ListenPacket(context.Background(), "udp", ":81")
		if err != nil {
			t.Fatalf("UDP socket %d with ReusePort: %v", i, err)
		}
		defer c.Close()
	}
	if _, err := p.server.ListenPacket("udp", ":81"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("a UDP socket without ReusePort on the group's port: %v, want EADDRINUSE", err)
	}
}
