package main

// serve's limits without a TUN device: flag parsing, the per-client cap,
// keepalive and the user timeout on accepted connections, and the idle
// deadline of echo and discard. The timeouts' effect on real traffic
// (net/http's timeouts, deadlines ending a blocked Read) is net/http's
// and the root package's (its nettest and deadline tests); what serve
// adds is that it sets them, which these tests check.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link/pipe"
)

// TestServeLimitFlagsDefaultsAndValues: with no flags the limits are the
// documented defaults (keepalive as Go's net listeners); each flag sets
// its own field.
func TestServeLimitFlagsDefaultsAndValues(t *testing.T) {
	parse := func(args ...string) serveLimits {
		t.Helper()
		var l serveLimits
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		l.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := l.check(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return l
	}
	def := serveLimits{keepAlive: 15 * time.Second, keepAliveCount: 9, readHeaderTimeout: 10 * time.Second,
		readTimeout: 5 * time.Minute, writeTimeout: 10 * time.Minute, idleTimeout: 2 * time.Minute, maxPerClient: 256}
	if got := parse(); got != def {
		t.Errorf("defaults %+v, want %+v", got, def)
	}
	if k := def.keepAliveConfig(); k != (net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 9}) {
		t.Errorf("default keepalive %+v, want Go's 15s/15s/9", k)
	}
	got := parse("--keepalive", "0", "--keepalive-count", "3", "--user-timeout", "30s", "--read-header-timeout", "1s",
		"--read-timeout", "2s", "--write-timeout", "3s", "--idle-timeout", "4s", "--max-per-client", "0")
	want := serveLimits{keepAliveCount: 3, userTimeout: 30 * time.Second, readHeaderTimeout: time.Second,
		readTimeout: 2 * time.Second, writeTimeout: 3 * time.Second, idleTimeout: 4 * time.Second}
	if got != want {
		t.Errorf("set %+v, want %+v", got, want)
	}
	if got.keepAliveConfig().Enable {
		t.Error("--keepalive 0 left keepalive on")
	}
}

// TestServeLimitFlagsBadValuesRefused: a limit that makes no sense stops
// serve with a message and status 1 before any device is opened (no root).
func TestServeLimitFlagsBadValuesRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--keepalive", "-1s"}, "--keepalive -1s is negative"},
		{[]string{"--idle-timeout", "-1m"}, "--idle-timeout -1m0s is negative"},
		{[]string{"--read-header-timeout", "-1s"}, "--read-header-timeout -1s is negative"},
		{[]string{"--user-timeout", "-5s"}, "--user-timeout -5s is negative"},
		{[]string{"--keepalive-count", "0"}, "--keepalive-count 0 must be at least 1"},
		{[]string{"--max-per-client", "-1"}, "--max-per-client -1 is negative"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"serve", "--tun", "synack-never"}, c.args...), &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want 1 and %q", c.args, code, errb.String(), c.want)
		}
	}
}

// TestServeHelpShowsLimits: `serve --help` lists each limit with its default.
func TestServeHelpShowsLimits(t *testing.T) {
	var out, errb bytes.Buffer
	run([]string{"serve", "--help"}, &out, &errb)
	help := out.String() + errb.String()
	for _, want := range []string{"-keepalive duration", "(default 15s)", "-keepalive-count int", "(default 9)",
		"-user-timeout duration", "-read-header-timeout duration", "(default 10s)", "-read-timeout duration", "(default 5m0s)",
		"-write-timeout duration", "(default 10m0s)", "-idle-timeout duration", "(default 2m0s)",
		"-max-per-client int", "(default 256)"} {
		if !strings.Contains(help, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
}

// fakeConn is an accepted connection that records what serve sets on it.
type fakeConn struct {
	net.Conn // nil: only the methods below are called
	remote   netip.AddrPort
	mu       sync.Mutex
	closed   bool
	ka       net.KeepAliveConfig
	ut       time.Duration
	rdl, wdl time.Time
}

func (c *fakeConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }
func (c *fakeConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}
func (c *fakeConn) isClosed() bool                                 { c.mu.Lock(); defer c.mu.Unlock(); return c.closed }
func (c *fakeConn) SetKeepAliveConfig(k net.KeepAliveConfig) error { c.ka = k; return nil }
func (c *fakeConn) SetUserTimeout(d time.Duration) error           { c.ut = d; return nil }
func (c *fakeConn) SetReadDeadline(t time.Time) error              { c.rdl = t; return nil }
func (c *fakeConn) SetWriteDeadline(t time.Time) error             { c.wdl = t; return nil }
func (c *fakeConn) Read(p []byte) (int, error)                     { return 0, io.EOF }
func (c *fakeConn) Write(p []byte) (int, error)                    { return len(p), nil }
func (c *fakeConn) String() string                                 { return c.remote.String() }
func newFake(addr string, port uint16) *fakeConn {
	return &fakeConn{remote: netip.AddrPortFrom(netip.MustParseAddr(addr), port)}
}

// fakeListener hands out its connections in order, then net.ErrClosed.
type fakeListener struct {
	net.Listener
	conns []net.Conn
}

func (l *fakeListener) Accept() (net.Conn, error) {
	if len(l.conns) == 0 {
		return nil, net.ErrClosed
	}
	c := l.conns[0]
	l.conns = l.conns[1:]
	return c, nil
}

// TestServePerClientCapClosesExcess: with a cap of 2, the third
// connection from one address is closed at once and never reaches the
// service, while another address is unaffected; closing one gives its
// place back. Hits are counted every time and logged at most once per
// interval, with how many were closed since the last line.
func TestServePerClientCapClosesExcess(t *testing.T) {
	var logb bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cp := newClientCap(2, slog.New(slog.NewTextHandler(&logb, nil)), func() time.Time { return now })
	a1, a2, a3, b1, a4, a5, a6 := newFake("10.7.0.1", 1), newFake("10.7.0.1", 2), newFake("10.7.0.1", 3),
		newFake("10.7.0.9", 1), newFake("10.7.0.1", 4), newFake("10.7.0.1", 5), newFake("10.7.0.1", 6)
	fl := &fakeListener{conns: []net.Conn{a1, a2, a3, b1}}
	lim := serveLimits{keepAlive: 15 * time.Second, keepAliveCount: 9, userTimeout: time.Minute}
	l := &limitListener{Listener: fl, service: "echo", limits: &lim, cap: cp}
	accept := func() net.Conn {
		t.Helper()
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	got1, got2, got3 := accept(), accept(), accept()
	if got1.(*cappedConn).Conn != a1 || got2.(*cappedConn).Conn != a2 || got3.(*cappedConn).Conn != b1 {
		t.Fatalf("accepted %v %v %v, want a1 a2 b1", got1.(*cappedConn).Conn, got2.(*cappedConn).Conn, got3.(*cappedConn).Conn)
	}
	if !a3.isClosed() || a1.isClosed() || b1.isClosed() {
		t.Fatalf("closed: a1 %v a3 %v b1 %v; want only a3", a1.isClosed(), a3.isClosed(), b1.isClosed())
	}
	if cp.refused.Load() != 1 || strings.Count(logb.String(), "per-client cap") != 1 {
		t.Fatalf("refused %d, log %q; want 1 and one line", cp.refused.Load(), logb.String())
	}
	// Accepted connections carry keepalive as Go's listeners set it, and the user timeout.
	if a1.ka != (net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 9}) || a1.ut != time.Minute {
		t.Fatalf("accepted connection got keepalive %+v, user timeout %v", a1.ka, a1.ut)
	}
	// A closed connection gives its place back, once however often it is closed.
	got1.Close()
	got1.Close()
	fl.conns = []net.Conn{a4, a5, a6}
	if c := accept(); c.(*cappedConn).Conn != a4 {
		t.Fatalf("after a close, accepted %v, want a4", c.(*cappedConn).Conn)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) || !a5.isClosed() || !a6.isClosed() {
		t.Fatalf("a5, a6 past the cap: closed %v %v, Accept then %v", a5.isClosed(), a6.isClosed(), err)
	}
	if cp.refused.Load() != 3 || strings.Count(logb.String(), "per-client cap") != 1 {
		t.Fatalf("refused %d, log %q; want 3 and still one line within the interval", cp.refused.Load(), logb.String())
	}
	now = now.Add(capLogInterval)
	fl.conns = []net.Conn{newFake("10.7.0.1", 7)}
	l.Accept()
	if lines := strings.Count(logb.String(), "per-client cap"); lines != 2 || !strings.Contains(logb.String(), "closed=3 closed-total=4") {
		t.Fatalf("log after the interval:\n%s\nwant a second line counting the 3 closed since the first", logb.String())
	}
}

// TestServePerClientCapOff: a cap of 0 admits everything and counts nothing.
func TestServePerClientCapOff(t *testing.T) {
	cp := newClientCap(0, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	for range 1000 {
		if !cp.admit(netip.MustParseAddr("10.7.0.1"), "http") {
			t.Fatal("a cap of 0 refused a connection")
		}
	}
	if len(cp.open) != 0 || cp.refused.Load() != 0 {
		t.Fatalf("open %v refused %d with no cap", cp.open, cp.refused.Load())
	}
}

// TestServeIdleConnMovesDeadlines: echo and discard connections get a
// read deadline idle ahead of each Read and a write deadline idle ahead
// of each Write, so one that moves nothing for idle ends.
func TestServeIdleConnMovesDeadlines(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFake("10.7.0.1", 1)
	c := withIdleTimeout(f, 2*time.Minute, func() time.Time { return now })
	c.Read(make([]byte, 1))
	if !f.rdl.Equal(now.Add(2 * time.Minute)) {
		t.Fatalf("read deadline %v, want now+2m", f.rdl)
	}
	now = now.Add(time.Hour)
	c.Write([]byte("x"))
	if !f.wdl.Equal(now.Add(2 * time.Minute)) {
		t.Fatalf("write deadline %v, want now+2m", f.wdl)
	}
	if withIdleTimeout(f, 0, time.Now) != net.Conn(f) {
		t.Fatal("--idle-timeout 0 still wraps the connection")
	}
}

// TestServeCapOverSynack: on two synack stacks over a pipe (no root), a
// client's connection past the cap is closed by the server as soon as it
// is accepted: the client reads EOF, while its first connection is served.
func TestServeCapOverSynack(t *testing.T) {
	a, b := pipe.New(1500)
	cst, err := synack.New(a, synack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24")})
	if err != nil {
		t.Fatal(err)
	}
	sst, err := synack.New(b, synack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cst.Close(); sst.Close(); a.Close(); b.Close() }()
	ln, err := sst.ListenTCP(netip.MustParseAddrPort("0.0.0.0:7"), 8)
	if err != nil {
		t.Fatal(err)
	}
	lim := serveLimits{keepAlive: 15 * time.Second, keepAliveCount: 9, maxPerClient: 1}
	srv := &server{st: sst, log: slog.New(slog.NewTextHandler(io.Discard, nil)), conns: make(map[net.Conn]struct{}),
		limits: &lim, cap: newClientCap(1, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)}
	l := srv.limit(ln, "echo")
	defer l.Close()
	served := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			served <- c
		}
	}()
	dst := netip.MustParseAddrPort("10.0.0.2:7")
	c1, err := cst.DialTCP(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	s1 := <-served
	defer s1.Close()
	c2, err := cst.DialTCP(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(10 * time.Second)) // a failure, not a hang, if the cap lets it through
	if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("second connection from the same client: Read %v, want EOF (closed by the cap)", err)
	}
	go c1.Write([]byte("hi"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(s1, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("first connection: %q %v", buf, err)
	}
	select {
	case c := <-served:
		t.Fatalf("the connection past the cap reached the service: %v", c.RemoteAddr())
	default:
	}
	if srv.cap.refused.Load() != 1 {
		t.Fatalf("refused %d, want 1", srv.cap.refused.Load())
	}
}

// TestServeHTTPGetsTimeouts: the HTTP service's net/http server carries
// the four timeout flags.
func TestServeHTTPGetsTimeouts(t *testing.T) {
	a, b := pipe.New(1500)
	st, err := synack.New(b, synack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close(); a.Close(); b.Close() }()
	lim := serveLimits{keepAliveCount: 9, readHeaderTimeout: time.Second, readTimeout: 2 * time.Second,
		writeTimeout: 3 * time.Second, idleTimeout: 4 * time.Second}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := &server{st: st, log: log, conns: make(map[net.Conn]struct{}), limits: &lim, cap: newClientCap(0, log, time.Now)}
	if err := srv.serveHTTP(80, ""); err != nil {
		t.Fatal(err)
	}
	defer srv.http.Close()
	h := srv.http
	if h.ReadHeaderTimeout != time.Second || h.ReadTimeout != 2*time.Second || h.WriteTimeout != 3*time.Second || h.IdleTimeout != 4*time.Second {
		t.Fatalf("http.Server timeouts %v %v %v %v, want 1s 2s 3s 4s", h.ReadHeaderTimeout, h.ReadTimeout, h.WriteTimeout, h.IdleTimeout)
	}
}
