package main

// serve's services under package policy and net/http's timeouts, on synack
// stacks over a pipe (no root), with the policy on the virtual clock.
//
// net/http measures its timeouts with time.Now and hands them to the
// connection as deadlines (SetReadDeadline(time.Now().Add(d))), and
// synack's connections keep deadlines as wall-clock timers (stack/wait.go).
// To trickle a header byte per virtual second, the slow-header test puts
// virtualDeadlines between the listener and net/http: a deadline d ahead of
// the wall clock when set passes after d of virtual time. net/http's code,
// serve's http.Server and synack's connection (its Read ending with
// os.ErrDeadlineExceeded when the deadline is moved into the past) run as
// in production; only the measure of time is virtual.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link/pipe"
)

// servedPair is a serve server on a synack stack at 10.0.0.2, its limits
// lim and its policy on clk, and a client stack at 10.0.0.1, over a pipe.
func servedPair(t *testing.T, lim serveLimits, clk clock.Clock, log *slog.Logger) (*server, *synack.Stack) {
	t.Helper()
	a, b := pipe.New(1500)
	cst, err := synack.New(a, synack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24")})
	if err != nil {
		t.Fatal(err)
	}
	sst, err := synack.New(b, synack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24")})
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pol, err := lim.policy(log, clk)
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{st: sst, log: log, conns: make(map[net.Conn]struct{}), limits: &lim, pol: pol}
	t.Cleanup(func() { srv.shutdown(false); cst.Close(); sst.Close(); a.Close(); b.Close() })
	return srv, cst
}

func dialServe(t *testing.T, cst *synack.Stack, port uint16) *synack.TCPConn {
	t.Helper()
	c, err := cst.DialTCP(context.Background(), netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readEnd waits for c's next read and says how it ended: the data, "eof",
// "reset", or the error. The wall deadline only turns a hang into a failure.
func readEnd(c net.Conn, n int) string {
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, n)
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

// wroteConn signals on wrote each time a Write has returned.
type wroteConn struct {
	net.Conn
	wrote chan<- struct{}
}

func (c wroteConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	select {
	case c.wrote <- struct{}{}:
	default:
	}
	return n, err
}

// TestServeEchoIdleClosedOnVirtualTime: serve's echo service under
// --idle-timeout 2m: a connection that echoed once is closed two virtual
// minutes after, not a second before, and the policy counts it.
func TestServeEchoIdleClosedOnVirtualTime(t *testing.T) {
	clk := clock.NewVirtual(time.Now())
	srv, cst := servedPair(t, serveLimits{keepAliveCount: 9, idleTimeout: 2 * time.Minute}, clk, nil)
	// The echo's Write marks the connection active when it returns, which
	// may be after the client has read the echo: the clock moves only once
	// it has returned, so the two minutes count from the echo.
	echoed := make(chan struct{}, 1)
	echo := func(c net.Conn) (int64, error) { return echoConn(wroteConn{c, echoed}) }
	if err := srv.listen(7, "echo", echo); err != nil {
		t.Fatal(err)
	}
	c := dialServe(t, cst, 7)
	c.Write([]byte("hi"))
	if got := readEnd(c, 2); got != "hi" {
		t.Fatalf("echo: %s", got)
	}
	select {
	case <-echoed:
	case <-time.After(20 * time.Second):
		t.Fatal("the echo's Write did not return")
	}
	clk.Advance(2*time.Minute - time.Second)
	if st := srv.pol.Stats(); st.IdleClosed != 0 || st.CurrConns != 1 {
		t.Fatalf("a second before the idle timeout: %+v", st)
	}
	clk.Advance(time.Second)
	if got := readEnd(c, 1); got != "eof" {
		t.Fatalf("after 2 idle minutes: %s, want eof", got)
	}
	if st := srv.pol.Stats(); st.IdleClosed != 1 {
		t.Fatalf("stats %+v, want one idle close", st)
	}
}

// TestServeCapsOverSynack: serve's echo service with --max-conns-per-ip 2:
// a client's third connection is refused as --over-cap says (EOF or
// ECONNRESET) and never reaches the service, while its first two are
// echoed; the policy counts the refusal and logs it once.
func TestServeCapsOverSynack(t *testing.T) {
	for _, overCap := range []string{"close", "reset"} {
		t.Run(overCap, func(t *testing.T) {
			lim := serveLimits{keepAliveCount: 9, maxConnsPerIP: 2}
			if err := lim.overCap.UnmarshalText([]byte(overCap)); err != nil {
				t.Fatal(err)
			}
			var logb bytes.Buffer
			var logmu sync.Mutex
			log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
				logmu.Lock()
				defer logmu.Unlock()
				return logb.Write(p)
			}), nil))
			srv, cst := servedPair(t, lim, clock.NewVirtual(time.Now()), log)
			if err := srv.listen(7, "echo", echoConn); err != nil {
				t.Fatal(err)
			}
			c1, c2 := dialServe(t, cst, 7), dialServe(t, cst, 7)
			for _, c := range []net.Conn{c1, c2} { // both served before the third is dialled
				c.Write([]byte("hi"))
				if got := readEnd(c, 2); got != "hi" {
					t.Fatalf("served connection: %s", got)
				}
			}
			want := map[string]string{"close": "eof", "reset": "reset"}[overCap]
			c3, err := cst.DialTCP(context.Background(), netip.MustParseAddrPort("10.0.0.2:7"))
			got := "reset" // reset before the dial saw its connection established
			if err == nil {
				defer c3.Close()
				got = readEnd(c3, 1)
			} else if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("third connection: %s, want %s", got, want)
			}
			if st := srv.pol.Stats(); st.RefusedPerAddr != 1 || st.Accepted != 2 || st.CurrConns != 2 {
				t.Fatalf("stats %+v, want 2 accepted and open, 1 refused", st)
			}
			logmu.Lock()
			defer logmu.Unlock()
			if n := strings.Count(logb.String(), "refused-per-addr=1 "); n != 1 || !strings.Contains(logb.String(), "refuse="+overCap) {
				t.Fatalf("log:\n%s\nwant one line for the refusal", logb.String())
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// virtualDeadlines is a listener whose connections keep their read
// deadlines on a virtual clock, and report each Read's outcome on reads.
type virtualDeadlines struct {
	net.Listener
	clk   *clock.Virtual
	reads chan error
}

func (l *virtualDeadlines) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &virtualDeadlineConn{Conn: c, clk: l.clk, reads: l.reads}, nil
}

// Unwrap lets serve's pages reach the synack connection.
func (c *virtualDeadlineConn) Unwrap() net.Conn { return c.Conn }

type virtualDeadlineConn struct {
	net.Conn
	clk   *clock.Virtual
	reads chan error
	mu    sync.Mutex
	gen   int // which SetReadDeadline a timer belongs to
	timer clock.Timer
}

func (c *virtualDeadlineConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.reads <- err
	return n, err
}

// SetReadDeadline arms a virtual timer t.Sub(time.Now()) ahead that moves
// the connection's own deadline into the past, which ends a blocked Read
// with os.ErrDeadlineExceeded.
func (c *virtualDeadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	d := time.Until(t)
	if t.IsZero() || d <= 0 {
		return c.Conn.SetReadDeadline(t) // none, or passed: at once
	}
	gen := c.gen
	c.timer = c.clk.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen == gen {
			c.Conn.SetReadDeadline(time.Unix(1, 0))
		}
	})
	return c.Conn.SetReadDeadline(time.Time{})
}

func (c *virtualDeadlineConn) SetDeadline(t time.Time) error {
	c.Conn.SetWriteDeadline(t)
	return c.SetReadDeadline(t)
}

// TestServeHTTPSlowHeaderCutOff: a client that sends its request header
// one byte per virtual second, never ending it, is cut off by serve's
// HTTP server when --read-header-timeout (10 s) has passed since the
// request began, although it was never idle for even a second; the idle
// timeout (2 min) has nothing to do with it.
func TestServeHTTPSlowHeaderCutOff(t *testing.T) {
	clk := clock.NewVirtual(time.Now())
	lim := serveLimits{keepAliveCount: 9, readHeaderTimeout: 10 * time.Second, readTimeout: 5 * time.Minute,
		writeTimeout: 10 * time.Minute, idleTimeout: 2 * time.Minute}
	srv, cst := servedPair(t, lim, clk, nil)
	ln, err := srv.st.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 8)
	if err != nil {
		t.Fatal(err)
	}
	reads := make(chan error, 1000)
	srv.startHTTP(&virtualDeadlines{Listener: ln, clk: clk, reads: reads}, "")
	c := dialServe(t, cst, 80)
	c.SetNoDelay(true)
	req := "GET / HTTP/1.1\r\nHost: 10.0.0.2\r\nX-Slow: " + strings.Repeat("a", 100)
	began := clk.Now()
	read := 0
	for i := 0; ; i++ {
		if i == len(req) {
			t.Fatalf("%d bytes over %v trickled in and the header was not cut off", read, clk.Now().Sub(began))
		}
		c.Write([]byte{req[i]}) // after the cut, it may fail: the read below says so
		var err error
		select {
		case err = <-reads:
		case <-time.After(20 * time.Second): // a failure, not a hang
			t.Fatalf("the server read nothing after %d bytes", read)
		}
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the server's read ended with %v, want its deadline", err)
			}
			break
		}
		read++
		clk.Advance(time.Second)
	}
	// net/http's deadline is time.Now()+10s when the request begins; the
	// microseconds between that and virtualDeadlines' time.Until put it a
	// hair before the 10th virtual second, so the 10th Advance ends it.
	if took := clk.Now().Sub(began); read != 10 || took != 10*time.Second {
		t.Fatalf("cut off after %d bytes and %v of virtual time, want 10 and 10s", read, took)
	}
	// The client then reads the end of the connection: a FIN or, when its
	// last byte came in after the cut, a RST; before it, net/http may send
	// 400 Bad Request (bufio hands the partial line over without the
	// timeout, and net/http finds it malformed).
	c.SetReadDeadline(time.Now().Add(20 * time.Second)) // a failure, not a hang
	got, err := io.ReadAll(c)
	if (err != nil && !errors.Is(err, syscall.ECONNRESET)) || (len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 400 "))) {
		t.Fatalf("client after the cut: %q, %v; want the connection closed", got, err)
	}
	if st := srv.pol.Stats(); st.IdleClosed != 0 {
		t.Fatalf("the idle timeout closed %d: the header timeout should have", st.IdleClosed)
	}
}
