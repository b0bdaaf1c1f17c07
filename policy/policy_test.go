package policy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/policy"
)

// start is the virtual clocks' starting time.
var start = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

// syncBuf is a log destination safe for the server's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
func (s *syncBuf) lines(substr string) []string {
	var out []string
	for _, l := range strings.Split(s.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// server accepts from the policy's listeners; each admitted connection is
// sent "ok" and then echoed until it ends. Admitted connections arrive on
// conns, in the order accepted.
type server struct {
	conns chan net.Conn
	wg    sync.WaitGroup
}

func serve(t *testing.T, p *policy.Policy, ls ...net.Listener) *server {
	t.Helper()
	s := &server{conns: make(chan net.Conn, 100)}
	for _, l := range ls {
		pl := p.Listener(l)
		t.Cleanup(func() { pl.Close() })
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				c, err := pl.Accept()
				if err != nil {
					return
				}
				if _, ok := c.(*policy.Conn); !ok {
					t.Errorf("Accept returned %T, want *policy.Conn", c)
				}
				s.conns <- c
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					if _, err := c.Write([]byte("ok")); err == nil {
						io.Copy(c, c)
					}
				}()
			}
		}()
	}
	t.Cleanup(func() {
		for _, l := range ls {
			l.Close()
		}
		for len(s.conns) > 0 {
			(<-s.conns).Close()
		}
	})
	return s
}

// outcome reads what the server did with a client's connection: "ok"
// (served), "eof" (closed at once), "reset" (ECONNRESET), or the error.
func outcome(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second)) // a failure, not a hang, if the server does nothing
	buf := make([]byte, 2)
	_, err := io.ReadFull(c, buf)
	switch {
	case err == nil:
		return string(buf)
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	}
	return err.Error()
}

// goLoopback is a listener on Go's own loopback TCP and a dial from a
// chosen source address in 127/8.
func goLoopback(t *testing.T) (net.Listener, func(src string) net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dial := func(src string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp4", l.Addr().String())
		if errors.Is(err, syscall.ECONNRESET) {
			return resetConn{} // reset before the dialer saw it established
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return l, dial
}

// resetConn is a connection reset before its dial returned: Reads fail
// with ECONNRESET.
type resetConn struct{ net.Conn }

func (resetConn) Read([]byte) (int, error)        { return 0, syscall.ECONNRESET }
func (resetConn) SetReadDeadline(time.Time) error { return nil }
func (resetConn) Close() error                    { return nil }

// synackPair is a client stack at client and a server stack at server over
// a pipe, the server listening on port 7; it returns the listener and a dial.
func synackPair(t *testing.T, client, server string) (net.Listener, func() net.Conn) {
	t.Helper()
	a, b := pipe.New(1500)
	cst, err := synack.New(a, synack.Config{Addr: netip.MustParsePrefix(client)})
	if err != nil {
		t.Fatal(err)
	}
	sst, err := synack.New(b, synack.Config{Addr: netip.MustParsePrefix(server)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cst.Close(); sst.Close(); a.Close(); b.Close() })
	l, err := sst.ListenTCP(netip.MustParseAddrPort("0.0.0.0:7"), 64)
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrPortFrom(sst.Addr(), 7)
	dial := func() net.Conn {
		t.Helper()
		c, err := cst.DialTCP(context.Background(), dst)
		if errors.Is(err, syscall.ECONNRESET) {
			// The server accepted and reset the connection before the
			// dialer's goroutine woke to see it established.
			return resetConn{}
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return l, dial
}

func newPolicy(t *testing.T, cfg policy.Config) *policy.Policy {
	t.Helper()
	p, err := policy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPerAddrCapTwentyFromOneFiveFromAnother: with a cap of 10 per address,
// 20 connections from one address and 5 from another: the first address's
// first 10 are served and its next 10 refused, the second's 5 all served.
// Refused connections are closed (the client reads EOF) or reset (the
// client's Read fails with ECONNRESET), on Go's loopback TCP and on synack
// (two server stacks, both listeners under one policy, as serve's
// services are). The refusals are counted, and logged in two lines: the
// first at once, the other nine one interval later.
func TestPerAddrCapTwentyFromOneFiveFromAnother(t *testing.T) {
	for _, stackName := range []string{"go", "synack"} {
		for _, mode := range []policy.Refusal{policy.RefuseClose, policy.RefuseReset} {
			t.Run(stackName+"/"+mode.String(), func(t *testing.T) {
				var ls []net.Listener
				var dialA, dialB func() net.Conn
				if stackName == "go" {
					l, dial := goLoopback(t)
					ls = append(ls, l)
					dialA, dialB = func() net.Conn { return dial("127.0.0.1") }, func() net.Conn { return dial("127.0.0.2") }
				} else {
					la, da := synackPair(t, "10.0.0.1/24", "10.0.0.2/24")
					lb, db := synackPair(t, "10.0.1.1/24", "10.0.1.2/24")
					ls, dialA, dialB = append(ls, la, lb), da, db
				}
				clk := clock.NewVirtual(start)
				var logb syncBuf
				p := newPolicy(t, policy.Config{MaxConnsPerAddr: 10, Refuse: mode, Clock: clk,
					Log: slog.New(slog.NewTextHandler(&logb, nil))})
				serve(t, p, ls...)
				refused := map[policy.Refusal]string{policy.RefuseClose: "eof", policy.RefuseReset: "reset"}[mode]
				for i := range 20 {
					want := "ok"
					if i >= 10 {
						want = refused
					}
					if got := outcome(t, dialA()); got != want {
						t.Fatalf("first address, connection %d: %s, want %s", i+1, got, want)
					}
				}
				for i := range 5 {
					if got := outcome(t, dialB()); got != "ok" {
						t.Fatalf("second address, connection %d: %s, want ok", i+1, got)
					}
				}
				want := policy.Stats{Accepted: 15, RefusedPerAddr: 10, CurrConns: 15, CurrAddrs: 2}
				if got := p.Stats(); got != want {
					t.Errorf("stats %+v, want %+v", got, want)
				}
				if got := logb.lines("msg=policy"); len(got) != 1 || !strings.Contains(got[0], "refused-per-addr=1 ") ||
					!strings.Contains(got[0], "refuse="+mode.String()) {
					t.Fatalf("log before the interval ends: %q, want one line for the first refusal", got)
				}
				clk.Advance(policy.DefaultLogInterval)
				clk.Advance(policy.DefaultLogInterval) // quiet: no line
				if got := logb.lines("msg=policy"); len(got) != 2 || !strings.Contains(got[1], "refused-per-addr=9 ") {
					t.Fatalf("log after two intervals:\n%s\nwant a second line counting the other 9", logb.String())
				}
			})
		}
	}
}

// TestTotalCapRefusesPastItAndAdmitsAfterAClose: with MaxConns 5, the
// sixth to eighth connections are refused; once one served connection is
// closed, the next is served; the per-address table empties with the
// connections.
func TestTotalCapRefusesPastItAndAdmitsAfterAClose(t *testing.T) {
	l, dial := goLoopback(t)
	p := newPolicy(t, policy.Config{MaxConns: 5, Clock: clock.NewVirtual(start)})
	s := serve(t, p, l)
	var served []net.Conn
	for i := range 8 {
		want := "ok"
		if i >= 5 {
			want = "eof"
		}
		if got := outcome(t, dial("127.0.0.1")); got != want {
			t.Fatalf("connection %d: %s, want %s", i+1, got, want)
		}
		if want == "ok" {
			served = append(served, <-s.conns)
		}
	}
	if st := p.Stats(); st.RefusedTotal != 3 || st.RefusedPerAddr != 0 || st.CurrConns != 5 {
		t.Fatalf("stats %+v, want 3 refused for the total, 5 open", st)
	}
	served[0].Close()
	served[0].Close() // a second Close gives nothing back twice
	if got := outcome(t, dial("127.0.0.1")); got != "ok" {
		t.Fatalf("after a close: %s, want ok", got)
	}
	served = append(served[1:], <-s.conns)
	if st := p.Stats(); st.CurrConns != 5 || st.Accepted != 6 || st.RefusedTotal != 3 {
		t.Fatalf("stats %+v, want 5 open, 6 accepted", st)
	}
	for _, c := range served {
		c.Close()
	}
	if st := p.Stats(); st.CurrConns != 0 || st.CurrAddrs != 0 {
		t.Fatalf("all closed: stats %+v, want no connection and an empty per-address table", st)
	}
}

// TestIdleConnClosedTalkingConnKept: on the virtual clock with an idle
// timeout of a minute, a connection that says nothing is closed at one
// minute exactly (its client reads EOF), while one that sends a byte
// every 20 s is kept for three minutes; once it stops, it is closed a
// minute after its last byte, not before.
func TestIdleConnClosedTalkingConnKept(t *testing.T) {
	l, dial := synackPair(t, "10.0.0.1/24", "10.0.0.2/24")
	clk := clock.NewVirtual(start)
	var logb syncBuf
	p := newPolicy(t, policy.Config{IdleTimeout: time.Minute, Clock: clk, Log: slog.New(slog.NewTextHandler(&logb, nil))})
	s := serve(t, p, l)
	quiet, talker := dial(), dial()
	for _, c := range []net.Conn{quiet, talker} {
		if got := outcome(t, c); got != "ok" {
			t.Fatalf("not served: %s", got)
		}
	}
	<-s.conns
	<-s.conns
	quietEnded := make(chan string, 1)
	go func() { quietEnded <- outcome(t, quiet) }()
	talk := func() {
		t.Helper()
		if _, err := talker.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		if got := outcome(t, talker); got != "hi" { // echoed: the server has read it
			t.Fatalf("talker: %s, want its echo", got)
		}
	}
	talk() // at 0 s
	clk.Advance(20 * time.Second)
	talk()
	clk.Advance(20 * time.Second)
	talk() // at 40 s
	clk.Advance(19 * time.Second)
	if st := p.Stats(); st.IdleClosed != 0 {
		t.Fatalf("at 59 s: %d closed, want none", st.IdleClosed)
	}
	clk.Advance(time.Second)
	if got := <-quietEnded; got != "eof" {
		t.Fatalf("quiet connection at 60 s: %s, want eof", got)
	}
	talk()
	for range 9 { // 3 minutes more, a byte each 20 s; the last at 4 min
		clk.Advance(20 * time.Second)
		talk()
	}
	if st := p.Stats(); st.IdleClosed != 1 || st.CurrConns != 1 {
		t.Fatalf("talker after 3 min of talk: stats %+v, want it open, only the quiet one closed", st)
	}
	clk.Advance(59 * time.Second)
	if st := p.Stats(); st.IdleClosed != 1 {
		t.Fatalf("59 s after the talker's last byte it was closed")
	}
	clk.Advance(time.Second)
	if got := outcome(t, talker); got != "eof" {
		t.Fatalf("talker a minute after its last byte: %s, want eof", got)
	}
	if st := p.Stats(); st.IdleClosed != 2 || st.CurrConns != 0 || st.CurrAddrs != 0 {
		t.Fatalf("stats %+v, want both closed for idleness and nothing left", st)
	}
	if got := logb.lines("msg=policy"); len(got) != 2 || !strings.Contains(got[0], "idle-closed=1") || !strings.Contains(got[1], "idle-closed=1") {
		t.Fatalf("log %q, want one line per closing, minutes apart", got)
	}
}

// TestNewRefusesBadConfig: negative limits and an unknown refusal are
// errors naming each field, not a Policy.
func TestNewRefusesBadConfig(t *testing.T) {
	_, err := policy.New(policy.Config{IdleTimeout: -time.Second, MaxConnsPerAddr: -1, MaxConns: -2, Refuse: 7, LogInterval: -1})
	if err == nil {
		t.Fatal("New accepted negative limits")
	}
	for _, want := range []string{"IdleTimeout -1s", "MaxConnsPerAddr -1", "MaxConns -2", "Refuse 7", "LogInterval -1ns"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if _, err := policy.ParseRefusal("drop"); err == nil {
		t.Error(`ParseRefusal("drop") accepted it`)
	}
	if r, err := policy.ParseRefusal("reset"); err != nil || r != policy.RefuseReset {
		t.Errorf(`ParseRefusal("reset") = %v, %v`, r, err)
	}
	p, err := policy.New(policy.Config{})
	if err != nil || p.Config().LogInterval != policy.DefaultLogInterval || p.Config().Clock == nil {
		t.Fatalf("zero Config: %v, %+v; want defaults", err, p.Config())
	}
}

// pipeListener hands out the server ends of net.Pipe pairs, whose remote
// address is not IP, then net.ErrClosed once conns is closed. A nil sent on
// conns is a barrier: it is answered on passed when the connections before
// it have been dealt with (the policy asks for the next only then).
type pipeListener struct {
	net.Listener
	conns  chan net.Conn
	passed chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	for {
		c, ok := <-l.conns
		if !ok {
			return nil, net.ErrClosed
		}
		if c != nil {
			return c, nil
		}
		l.passed <- struct{}{}
	}
}

// ipConn is a net.Pipe end that says its remote address is addr.
type ipConn struct {
	net.Conn
	addr netip.AddrPort
}

func (c ipConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.addr) }

// TestNonIPRemoteCountsOnlyInTotal: a connection whose remote address is
// not IP (net.Pipe's "pipe") has no per-address entry, so the per-address
// cap does not apply to it, but the total cap does.
func TestNonIPRemoteCountsOnlyInTotal(t *testing.T) {
	p := newPolicy(t, policy.Config{MaxConnsPerAddr: 1, MaxConns: 2, Clock: clock.NewVirtual(start)})
	pl := &pipeListener{conns: make(chan net.Conn, 3), passed: make(chan struct{})}
	var clients []net.Conn
	for range 3 {
		s, c := net.Pipe()
		pl.conns <- s
		clients = append(clients, c)
	}
	close(pl.conns)
	l := p.Listener(pl)
	for i := range 2 {
		if _, err := l.Accept(); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("third Accept: %v, want the third refused and then ErrClosed", err)
	}
	if _, err := clients[2].Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("third client: %v, want EOF", err)
	}
	if st := p.Stats(); st.Accepted != 2 || st.RefusedTotal != 1 || st.RefusedPerAddr != 0 || st.CurrAddrs != 0 {
		t.Fatalf("stats %+v, want 2 accepted, 1 over the total, no per-address entry", st)
	}
}

// TestRefusalFloodLogsOneLinePerInterval: 1,000 refusals a virtual second
// for 25 seconds give one line at once and then one line per 10 s with the
// count since the last, not 25,000 lines; a quiet interval ends the series.
func TestRefusalFloodLogsOneLinePerInterval(t *testing.T) {
	clk := clock.NewVirtual(start)
	var logb syncBuf
	p := newPolicy(t, policy.Config{MaxConnsPerAddr: 1, Clock: clk, Log: slog.New(slog.NewTextHandler(&logb, nil))})
	pl := &pipeListener{conns: make(chan net.Conn), passed: make(chan struct{})}
	l := p.Listener(pl)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := l.Accept(); err != nil { // the first is admitted
			t.Error(err)
		}
		l.Accept() // refuses every other until pl.conns is closed
	}()
	from := netip.MustParseAddrPort("192.0.2.7:1")
	var clients []net.Conn
	accept := func() {
		s, c := net.Pipe()
		clients = append(clients, c)
		pl.conns <- ipConn{Conn: s, addr: from}
	}
	accept()
	for range 25 {
		for range 1000 {
			accept()
		}
		pl.conns <- nil // wait until the policy has dealt with them
		<-pl.passed
		clk.Advance(time.Second)
	}
	clk.Advance(20 * time.Second)
	close(pl.conns)
	<-done
	for _, c := range clients {
		c.Close()
	}
	got := logb.lines("msg=policy")
	want := []string{"refused-per-addr=1 ", "refused-per-addr=9999 ", "refused-per-addr=10000 ", "refused-per-addr=5000 "}
	if len(got) != len(want) {
		t.Fatalf("%d lines:\n%s\nwant %d", len(got), strings.Join(got, "\n"), len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) || !strings.Contains(got[i], "last-refused=192.0.2.7") {
			t.Errorf("line %d %q, want %s", i+1, got[i], w)
		}
	}
	if st := p.Stats(); st.RefusedPerAddr != 25000 || st.CurrAddrs != 1 {
		t.Fatalf("stats %+v, want 25,000 refused and one address in the table", st)
	}
}

// TestConnCloseWriteHalfCloses: CloseWrite reaches the connection under
// the policy: the client reads EOF and can still send, and the connection
// keeps its place under the cap until Close.
func TestConnCloseWriteHalfCloses(t *testing.T) {
	l, dial := goLoopback(t)
	p := newPolicy(t, policy.Config{MaxConns: 1, Clock: clock.NewVirtual(start)})
	s := serve(t, p, l)
	c := dial("127.0.0.1")
	if got := outcome(t, c); got != "ok" {
		t.Fatalf("not served: %s", got)
	}
	sc := <-s.conns
	if err := sc.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got := outcome(t, c); got != "eof" {
		t.Fatalf("after CloseWrite the client read %s, want eof", got)
	}
	if st := p.Stats(); st.CurrConns != 1 {
		t.Fatalf("half-closed: %d open, want 1", st.CurrConns)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("the client cannot send after the server's CloseWrite: %v", err)
	}
}
