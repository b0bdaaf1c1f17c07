package main

// serve's limits without a TUN device: flag parsing, the policy's caps and
// keepalive and the user timeout on accepted connections. The policy's own
// behaviour is package policy's tests; servepolicy_test.go runs serve's
// services under it on the virtual clock.

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/policy"
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
		readTimeout: 5 * time.Minute, writeTimeout: 10 * time.Minute, idleTimeout: 2 * time.Minute,
		maxConnsPerIP: 256, maxConns: 4096, overCap: policy.RefuseClose}
	if got := parse(); got != def {
		t.Errorf("defaults %+v, want %+v", got, def)
	}
	if k := def.keepAliveConfig(); k != (net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 9}) {
		t.Errorf("default keepalive %+v, want Go's 15s/15s/9", k)
	}
	got := parse("--keepalive", "0", "--keepalive-count", "3", "--user-timeout", "30s", "--read-header-timeout", "1s",
		"--read-timeout", "2s", "--write-timeout", "3s", "--idle-timeout", "4s", "--max-conns-per-ip", "0",
		"--max-conns", "7", "--over-cap", "reset")
	want := serveLimits{keepAliveCount: 3, userTimeout: 30 * time.Second, readHeaderTimeout: time.Second,
		readTimeout: 2 * time.Second, writeTimeout: 3 * time.Second, idleTimeout: 4 * time.Second,
		maxConns: 7, overCap: policy.RefuseReset}
	if got != want {
		t.Errorf("set %+v, want %+v", got, want)
	}
	if got.keepAliveConfig().Enable {
		t.Error("--keepalive 0 left keepalive on")
	}
	if got := parse("--max-per-client", "5"); got.maxConnsPerIP != 5 {
		t.Errorf("--max-per-client 5 (the older name) set the cap to %d", got.maxConnsPerIP)
	}
	p, err := got.policy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Config(); c.IdleTimeout != 4*time.Second || c.MaxConnsPerAddr != 0 || c.MaxConns != 7 || c.Refuse != policy.RefuseReset {
		t.Errorf("policy from the flags %+v, want idle 4s, no per-address cap, 7 in all, reset", c)
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
		{[]string{"--max-conns-per-ip", "-1"}, "--max-conns-per-ip -1 is negative"},
		{[]string{"--max-per-client", "-1"}, "--max-conns-per-ip -1 is negative"},
		{[]string{"--max-conns", "-2"}, "--max-conns -2 is negative"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"serve", "--tun", "synack-never"}, c.args...), &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want 1 and %q", c.args, code, errb.String(), c.want)
		}
	}
	// A value the flag cannot hold is a usage error, as flag reports it.
	var out, errb bytes.Buffer
	if code := run([]string{"serve", "--tun", "synack-never", "--over-cap", "drop"}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), `"drop" is neither close nor reset`) {
		t.Errorf("serve --over-cap drop: exit %d, stderr %.200q; want 2 and the reason", code, errb.String())
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
		"-max-conns-per-ip int", "(default 256)", "-max-conns int", "(default 4096)", "-over-cap value", "(default close)"} {
		if !strings.Contains(help, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
}

// fakeConn is an accepted connection that records what serve sets on it.
type fakeConn struct {
	net.Conn // nil: only the methods below are called
	remote   netip.AddrPort
	ka       net.KeepAliveConfig
	ut       time.Duration
}

func (c *fakeConn) RemoteAddr() net.Addr                           { return net.TCPAddrFromAddrPort(c.remote) }
func (c *fakeConn) SetKeepAliveConfig(k net.KeepAliveConfig) error { c.ka = k; return nil }
func (c *fakeConn) SetUserTimeout(d time.Duration) error           { c.ut = d; return nil }

// oneListener hands out c, then net.ErrClosed.
type oneListener struct {
	net.Listener
	c net.Conn
}

func (l *oneListener) Accept() (net.Conn, error) {
	c := l.c
	if c == nil {
		return nil, net.ErrClosed
	}
	l.c = nil
	return c, nil
}

// TestServeAcceptedConnGetsKeepAliveAndUserTimeout: what serve's listener
// accepts is the policy's *policy.Conn, and the connection under it carries
// keepalive as Go's listeners set it and the user timeout.
func TestServeAcceptedConnGetsKeepAliveAndUserTimeout(t *testing.T) {
	lim := serveLimits{keepAlive: 15 * time.Second, keepAliveCount: 9, userTimeout: time.Minute}
	pol, err := lim.policy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeConn{remote: netip.MustParseAddrPort("10.7.0.1:1000")}
	srv := &server{limits: &lim, pol: pol}
	c, err := srv.limit(&oneListener{c: f}).Accept()
	if err != nil {
		t.Fatal(err)
	}
	if pc, ok := c.(*policy.Conn); !ok || pc.Unwrap() != net.Conn(f) {
		t.Fatalf("accepted %T, want the *policy.Conn over the listener's connection", c)
	}
	if f.ka != (net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 9}) || f.ut != time.Minute {
		t.Fatalf("accepted connection got keepalive %+v, user timeout %v", f.ka, f.ut)
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
	pol, err := lim.policy(log, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{st: st, log: log, conns: make(map[net.Conn]struct{}), limits: &lim, pol: pol}
	if err := srv.serveHTTP(80, ""); err != nil {
		t.Fatal(err)
	}
	defer srv.http.Close()
	h := srv.http
	if h.ReadHeaderTimeout != time.Second || h.ReadTimeout != 2*time.Second || h.WriteTimeout != 3*time.Second || h.IdleTimeout != 4*time.Second {
		t.Fatalf("http.Server timeouts %v %v %v %v, want 1s 2s 3s 4s", h.ReadHeaderTimeout, h.ReadTimeout, h.WriteTimeout, h.IdleTimeout)
	}
}

// TestServeStatsPageHasPolicy: /stats ends with the policy's counters,
// "Policy: Name value" as netstat -s prints its own.
func TestServeStatsPageHasPolicy(t *testing.T) {
	pol, err := (&serveLimits{maxConns: 1}).policy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writePolicyStats(&b, pol)
	want := "Policy: Accepted 0\nPolicy: RefusedPerAddr 0\nPolicy: RefusedTotal 0\nPolicy: IdleClosed 0\nPolicy: CurrConns 0\nPolicy: CurrAddrs 0\n"
	if b.String() != want {
		t.Fatalf("policy stats:\n%s\nwant:\n%s", b.String(), want)
	}
}
