package bsd

import (
	"errors"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link/pipe"
)

var (
	clientIP = netip.MustParseAddr("10.0.0.1")
	serverIP = netip.MustParseAddr("10.0.0.2")
	anyIP    = netip.IPv4Unspecified()
)

// hosts is two stacks on a pipe, one virtual clock, a descriptor table on
// each: c the client's, s the server's.
type hosts struct {
	clk      *clock.Virtual
	cst, sst *synack.Stack
	c, s     *Host
	a, b     *pipe.Endpoint
}

func newHosts(t testing.TB) *hosts {
	t.Helper()
	h := &hosts{clk: clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	h.a, h.b = pipe.New(1500)
	var err error
	h.cst, err = synack.New(h.a, synack.Config{Addr: netip.PrefixFrom(clientIP, 24), Clock: h.clk, Host: "client"})
	if err != nil {
		t.Fatal(err)
	}
	h.sst, err = synack.New(h.b, synack.Config{Addr: netip.PrefixFrom(serverIP, 24), Clock: h.clk, Host: "server"})
	if err != nil {
		t.Fatal(err)
	}
	h.c, h.s = NewHost(h.cst), NewHost(h.sst)
	t.Cleanup(func() {
		h.cst.Close()
		h.sst.Close()
		h.a.Close()
		h.b.Close()
	})
	return h
}

// quiet reports whether nothing is in flight on the pipe.
func (h *hosts) quiet() bool {
	as, bs := h.a.Stats(), h.b.Stats()
	return h.a.Stats().Sent == bs.Delivered+bs.DroppedQueueFull+bs.DroppedDetached &&
		h.b.Stats().Sent == as.Delivered+as.DroppedQueueFull+as.DroppedDetached
}

// settle waits until the pipe is quiet (spinning on the scheduler, never
// sleeping).
func (h *hosts) settle(t testing.TB) {
	t.Helper()
	waitFor(t, "the pipe to go quiet", h.quiet)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// runUntil moves the virtual clock from timer to timer, each time the
// pipe is quiet, until ch yields, and returns what it yielded.
func (h *hosts) runUntil(t testing.TB, ch <-chan error) error {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-ch:
			return err
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("not done after 20 s of wall time")
		}
		h.settle(t)
		for range 10 {
			runtime.Gosched()
		}
		if next, ok := h.clk.Next(); ok && h.quiet() {
			h.clk.AdvanceTo(next)
		}
	}
}

// must fails the test on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err is the errno want.
func wantErr(t testing.TB, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v (%d)", what, err, want, int(want))
	}
}

// listener opens a listening TCP socket on the server at port.
func (h *hosts) listener(t testing.TB, port uint16, backlog int) int {
	t.Helper()
	fd, err := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	must(t, h.s.Bind(fd, netip.AddrPortFrom(anyIP, port)))
	must(t, h.s.Listen(fd, backlog))
	return fd
}

// connected makes a connection to the server's listener lfd at port:
// the client's descriptor and the server's accepted one.
func (h *hosts) connected(t testing.TB, lfd int, port uint16) (cfd, sfd int) {
	t.Helper()
	cfd, err := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	must(t, h.c.Connect(cfd, netip.AddrPortFrom(serverIP, port)))
	sfd, _, err = h.s.Accept(lfd)
	must(t, err)
	return cfd, sfd
}

// recvAll reads n bytes from fd (blocking).
func recvAll(t testing.TB, hst *Host, fd, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	got, err := hst.Recv(fd, b, MSG_WAITALL)
	must(t, err)
	return b[:got]
}
