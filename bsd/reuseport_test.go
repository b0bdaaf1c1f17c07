package bsd

import (
	"net/netip"
	"syscall"
	"testing"
)

// reusePortSocket is a server TCP socket with SO_REUSEPORT set (or not)
// before Bind, bound to port.
func (h *hosts) reusePortSocket(t *testing.T, on bool, port uint16) (int, error) {
	t.Helper()
	fd, err := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	if on {
		must(t, h.s.SetsockoptInt(fd, SOL_SOCKET, SO_REUSEPORT, 1))
	}
	return fd, h.s.Bind(fd, netip.AddrPortFrom(anyIP, port))
}

// TestReusePortTwoListeners: two sockets with SO_REUSEPORT bind and
// listen on one port, as on Linux; 64 clients' connections spread over
// both (each gets some) and every one is accepted by one of them. Then
// closing one listener resets the connections it had not accepted, and
// the other accepts every new one.
func TestReusePortTwoListeners(t *testing.T) {
	h := newHosts(t)
	var lfds [2]int
	for i := range lfds {
		fd, err := h.reusePortSocket(t, true, 8080)
		must(t, err)
		must(t, h.s.Listen(fd, 128))
		lfds[i] = fd
	}
	if v, _ := h.s.GetsockoptInt(lfds[1], SOL_SOCKET, SO_REUSEPORT); v != 1 {
		t.Errorf("SO_REUSEPORT reads %d", v)
	}
	const clients = 64
	cfds := make(map[netip.AddrPort]int) // by the client's address
	for range clients {
		fd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
		must(t, h.c.Connect(fd, netip.AddrPortFrom(serverIP, 8080)))
		a, _ := h.c.Getsockname(fd)
		cfds[netip.AddrPortFrom(clientIP, a.Port())] = fd
	}
	h.settle(t)
	must(t, h.s.SetNonblock(lfds[0], true))
	must(t, h.s.SetNonblock(lfds[1], true))
	// Listener 1 accepts its share now; listener 0's stay queued.
	var got1 []netip.AddrPort
	for {
		_, peer, err := h.s.Accept(lfds[1])
		if err == syscall.EAGAIN {
			break
		}
		must(t, err)
		got1 = append(got1, peer)
	}
	if len(got1) == 0 || len(got1) == clients {
		t.Fatalf("listener 1 accepted %d of %d: the connections did not spread", len(got1), clients)
	}
	must(t, h.s.Close(lfds[0])) // resets its queued connections
	h.settle(t)
	accepted := make(map[netip.AddrPort]bool)
	for _, p := range got1 {
		accepted[p] = true
	}
	buf := make([]byte, 1)
	for a, fd := range cfds {
		_, err := h.c.Recv(fd, buf, MSG_DONTWAIT)
		if accepted[a] {
			wantErr(t, "a client listener 1 accepted", err, syscall.EAGAIN)
		} else {
			wantErr(t, "a client queued on the closed listener", err, syscall.ECONNRESET)
		}
	}
	// The one left serves every new client.
	must(t, h.s.SetNonblock(lfds[1], false))
	for range 16 {
		h.connected(t, lfds[1], 8080)
	}
}

// TestReusePortEveryoneMustSetIt: a second socket on the port is
// EADDRINUSE unless both set SO_REUSEPORT, whichever sets it, bound or
// listening, as Linux's bind.
func TestReusePortEveryoneMustSetIt(t *testing.T) {
	for _, c := range []struct {
		first, second, listen bool
		ok                    bool
	}{
		{true, false, false, false}, {false, true, false, false}, {true, true, false, true},
		{true, false, true, false}, {false, true, true, false}, {true, true, true, true},
	} {
		h := newHosts(t)
		fd, err := h.reusePortSocket(t, c.first, 9000)
		must(t, err)
		if c.listen {
			must(t, h.s.Listen(fd, 8))
		}
		fd2, err := h.reusePortSocket(t, c.second, 9000)
		if c.ok {
			must(t, err)
			must(t, h.s.Listen(fd2, 8))
			must(t, h.s.Listen(fd, 8))
		} else {
			wantErr(t, "bind with SO_REUSEPORT on one socket only", err, syscall.EADDRINUSE)
		}
	}
}

// TestReusePortUDP: two UDP sockets with SO_REUSEPORT share a port (one
// without it is EADDRINUSE, in either order); datagrams from 64 client
// ports spread over both, each client's always reaching the same one; a
// member connected to a client takes that client's datagrams; once one
// closes, the other gets every datagram.
func TestReusePortUDP(t *testing.T) {
	h := newHosts(t)
	udpSock := func(on bool) (int, error) {
		fd, _ := h.s.Socket(AF_INET, SOCK_DGRAM, 0)
		if on {
			must(t, h.s.SetsockoptInt(fd, SOL_SOCKET, SO_REUSEPORT, 1))
		}
		return fd, h.s.Bind(fd, netip.AddrPortFrom(anyIP, 53))
	}
	plain, err := udpSock(false)
	must(t, err)
	_, err = udpSock(true)
	wantErr(t, "SO_REUSEPORT over a plain UDP socket", err, syscall.EADDRINUSE)
	must(t, h.s.Close(plain))
	var srv [2]int
	for i := range srv {
		srv[i], err = udpSock(true)
		must(t, err)
	}
	_, err = udpSock(false)
	wantErr(t, "a plain UDP socket over a group", err, syscall.EADDRINUSE)

	const clients = 64
	var cli [clients]int
	for i := range cli {
		cli[i], _ = h.c.Socket(AF_INET, SOCK_DGRAM, 0)
		must(t, h.c.Bind(cli[i], netip.AddrPortFrom(anyIP, uint16(5000+i))))
	}
	dst := netip.AddrPortFrom(serverIP, 53)
	// receivers sends one datagram from each client and returns which
	// server socket got each (by client port).
	buf := make([]byte, 8)
	receivers := func() map[uint16]int {
		for i := range cli {
			_, err := h.c.SendTo(cli[i], []byte("q"), 0, dst)
			must(t, err)
		}
		h.settle(t)
		got := make(map[uint16]int)
		for i, fd := range srv {
			for {
				_, from, err := h.s.RecvFrom(fd, buf, MSG_DONTWAIT)
				if err == syscall.EAGAIN {
					break
				}
				must(t, err)
				got[from.Port()] = i
			}
		}
		if len(got) != clients {
			t.Fatalf("%d of %d datagrams received", len(got), clients)
		}
		return got
	}
	first := receivers()
	var per [2]int
	for _, i := range first {
		per[i]++
	}
	if per[0] == 0 || per[1] == 0 {
		t.Fatalf("datagrams per socket %v: want both used", per)
	}
	for p, i := range receivers() {
		if first[p] != i {
			t.Errorf("client port %d reached socket %d, then %d", p, first[p], i)
		}
	}

	// A third member connected to client 0 takes client 0's datagrams.
	conn, err := udpSock(true)
	must(t, err)
	must(t, h.s.Connect(conn, netip.AddrPortFrom(clientIP, 5000)))
	_, err = h.c.SendTo(cli[0], []byte("mine"), 0, dst)
	must(t, err)
	if n, _, err := h.s.RecvFrom(conn, buf, 0); err != nil || string(buf[:n]) != "mine" {
		t.Fatalf("the connected member got %q, %v", buf[:n], err)
	}
	must(t, h.s.Close(conn))

	must(t, h.s.Close(srv[0]))
	srv[0] = srv[1] // read socket 1 twice: it must get all
	for p, i := range receivers() {
		if i != 0 {
			t.Fatalf("client port %d: not received by the member left", p)
		}
	}
}
