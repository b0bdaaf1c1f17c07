package bsd

import (
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// TestReuseAddrTimeWait: after the server closes first, its connection
// sits in TIME-WAIT on the port. A new server's bind fails with
// EADDRINUSE unless both it and the old socket had SO_REUSEADDR (as on
// Linux: an accepted socket has its listener's), and succeeds without it
// once TIME-WAIT (2 MSL, on the virtual clock) is over.
func TestReuseAddrTimeWait(t *testing.T) {
	for _, oldReuse := range []bool{false, true} {
		h := newHosts(t)
		lfd, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
		if oldReuse {
			must(t, h.s.SetsockoptInt(lfd, SOL_SOCKET, SO_REUSEADDR, 1))
		}
		must(t, h.s.Bind(lfd, netip.AddrPortFrom(anyIP, 8080)))
		must(t, h.s.Listen(lfd, 8))
		cfd, sfd := h.connected(t, lfd, 8080)
		must(t, h.s.Close(sfd)) // the server closes first: TIME-WAIT is its
		if n, _ := h.c.Recv(cfd, make([]byte, 1), 0); n != 0 {
			t.Fatal("no EOF at the client")
		}
		must(t, h.c.Close(cfd))
		must(t, h.s.Close(lfd))
		h.settle(t)
		if len(h.sst.Sockets()) != 1 {
			t.Fatalf("server sockets: %v, want one in TIME-WAIT", h.sst.Sockets())
		}

		fd, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
		wantErr(t, "bind without SO_REUSEADDR over TIME-WAIT", h.s.Bind(fd, netip.AddrPortFrom(anyIP, 8080)), syscall.EADDRINUSE)
		must(t, h.s.SetsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR, 1))
		if v, _ := h.s.GetsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR); v != 1 {
			t.Errorf("SO_REUSEADDR reads %d", v)
		}
		err := h.s.Bind(fd, netip.AddrPortFrom(anyIP, 8080))
		if !oldReuse {
			wantErr(t, "SO_REUSEADDR over the TIME-WAIT of a socket without it", err, syscall.EADDRINUSE)
		} else {
			must(t, err)
			must(t, h.s.Listen(fd, 8))
			// A live listener holds the port whatever the option.
			fd2, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
			must(t, h.s.SetsockoptInt(fd2, SOL_SOCKET, SO_REUSEADDR, 1))
			wantErr(t, "bind over a listener", h.s.Bind(fd2, netip.AddrPortFrom(anyIP, 8080)), syscall.EADDRINUSE)
		}
		must(t, h.s.Close(fd))

		h.clk.Advance(2 * time.Minute) // TIME-WAIT ends (2 MSL = 60 s)
		waitFor(t, "TIME-WAIT to end", func() bool { return len(h.sst.Sockets()) == 0 })
		fd3, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
		must(t, h.s.Bind(fd3, netip.AddrPortFrom(anyIP, 8080)))
	}
}

// TestBindConflicts: two sockets bound to one port need SO_REUSEADDR on
// both; a bound socket's port 0 is chosen at bind.
func TestBindConflicts(t *testing.T) {
	h := newHosts(t)
	a, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	b, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, h.s.Bind(a, netip.AddrPortFrom(anyIP, 5000)))
	wantErr(t, "second bind to the port", h.s.Bind(b, netip.AddrPortFrom(anyIP, 5000)), syscall.EADDRINUSE)
	wantErr(t, "bind twice", h.s.Bind(a, netip.AddrPortFrom(anyIP, 5001)), syscall.EINVAL)
	wantErr(t, "bind to another host's address", h.s.Bind(b, netip.MustParseAddrPort("10.0.0.9:5000")), syscall.EADDRNOTAVAIL)
	must(t, h.s.Bind(b, netip.AddrPortFrom(serverIP, 0)))
	if ap, _ := h.s.Getsockname(b); ap.Port() < 32768 || ap.Port() > 60999 || ap.Addr() != serverIP {
		t.Errorf("bind to port 0 gave %v", ap)
	}
	c, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	d, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	for _, fd := range []int{c, d} {
		must(t, h.s.SetsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR, 1))
		must(t, h.s.Bind(fd, netip.AddrPortFrom(anyIP, 6000)))
	}
	// Listen on an unbound socket binds it to an ephemeral port.
	e, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, h.s.Listen(e, 1))
	if ap, _ := h.s.Getsockname(e); ap.Port() == 0 {
		t.Error("listen left the socket on port 0")
	}
}

// TestConnectFromBoundPort: a client bound first connects from its port.
func TestConnectFromBoundPort(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 8)
	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, h.c.Bind(fd, netip.AddrPortFrom(anyIP, 40000)))
	must(t, h.c.Connect(fd, netip.AddrPortFrom(serverIP, 7)))
	_, peer, err := h.s.Accept(lfd)
	must(t, err)
	if peer != netip.AddrPortFrom(clientIP, 40000) {
		t.Errorf("the server sees %v, want 10.0.0.1:40000", peer)
	}
}

// TestBacklog: Linux's clamp (negative and above somaxconn become 4096)
// and its queue of backlog+1: a backlog of 0 still takes a connection.
func TestBacklog(t *testing.T) {
	for _, c := range []struct{ in, want int }{{-1, 4096}, {-1 << 31, 4096}, {0, 0}, {5, 5}, {4096, 4096}, {4097, 4096}, {1 << 40, 4096}} {
		if got := clampBacklog(c.in); got != c.want {
			t.Errorf("clampBacklog(%d) = %d, want %d", c.in, got, c.want)
		}
	}
	h := newHosts(t)
	for i, b := range []int{-1, 1 << 30} {
		fd, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
		must(t, h.s.Bind(fd, netip.AddrPortFrom(anyIP, uint16(100+i))))
		must(t, h.s.Listen(fd, b))
		s, _ := h.s.get(fd)
		if got := s.ln.Backlog(); got != SOMAXCONN+1 {
			t.Errorf("listen(%d): accept queue %d, want %d", b, got, SOMAXCONN+1)
		}
	}
	lfd := h.listener(t, 7, 0)
	cfd, err := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	must(t, h.c.Connect(cfd, netip.AddrPortFrom(serverIP, 7)))
	if _, _, err := h.s.Accept(lfd); err != nil {
		t.Errorf("backlog 0: %v", err)
	}
}

// TestReuseAddrUDP: UDP sockets that all set SO_REUSEADDR share a port,
// as on Linux (checked there with Python): the last bound receives every
// unicast datagram, a member connected to a source gets that source's;
// a socket without it cannot join them, nor one with SO_REUSEPORT alone.
func TestReuseAddrUDP(t *testing.T) {
	h := newHosts(t)
	open := func(opt int) (int, error) {
		fd, err := h.s.Socket(AF_INET, SOCK_DGRAM, 0)
		must(t, err)
		if opt != 0 {
			must(t, h.s.SetsockoptInt(fd, SOL_SOCKET, opt, 1))
		}
		return fd, h.s.Bind(fd, netip.AddrPortFrom(anyIP, 53))
	}
	first, err := open(SO_REUSEADDR)
	must(t, err)
	second, err := open(SO_REUSEADDR)
	must(t, err)
	for _, opt := range []int{0, SO_REUSEPORT} {
		_, err := open(opt)
		wantErr(t, "UDP bind without SO_REUSEADDR beside two with it", err, syscall.EADDRINUSE)
	}
	dst := netip.AddrPortFrom(serverIP, 53)
	var srcs []netip.AddrPort
	var cfds []int
	for i := range 4 {
		fd, _ := h.c.Socket(AF_INET, SOCK_DGRAM, 0)
		cfds = append(cfds, fd)
		_, err := h.c.SendTo(fd, []byte{byte(i)}, 0, dst)
		must(t, err)
		a, _ := h.c.Getsockname(fd)
		srcs = append(srcs, netip.AddrPortFrom(clientIP, a.Port()))
	}
	h.settle(t)
	must(t, h.s.SetNonblock(first, true))
	must(t, h.s.SetNonblock(second, true))
	if _, _, err := h.s.RecvFrom(first, make([]byte, 4), 0); err != syscall.EAGAIN {
		t.Errorf("the first bound got a datagram (%v); Linux gives them all to the last", err)
	}
	for i := range 4 {
		if n, _, err := h.s.RecvFrom(second, make([]byte, 4), 0); n != 1 || err != nil {
			t.Errorf("datagram %d at the last bound: %d, %v", i, n, err)
		}
	}
	must(t, h.s.Connect(first, srcs[0]))
	_, err = h.c.SendTo(cfds[0], []byte("to-connected"), 0, dst)
	must(t, err)
	h.settle(t)
	if n, _, err := h.s.RecvFrom(first, make([]byte, 16), 0); n != 12 || err != nil {
		t.Errorf("the member connected to the source got %d, %v", n, err)
	}
}
