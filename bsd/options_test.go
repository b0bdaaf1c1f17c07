package bsd

import (
	"net/netip"
	"testing"
	"time"
)

// TestOptionsRoundTrip: each int option reads back what was set, with
// Linux's defaults first.
func TestOptionsRoundTrip(t *testing.T) {
	h := newHosts(t)
	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	for _, c := range []struct {
		level, opt, def, set int
	}{
		{SOL_SOCKET, SO_REUSEADDR, 0, 1}, {SOL_SOCKET, SO_REUSEPORT, 0, 1}, {SOL_SOCKET, SO_KEEPALIVE, 0, 1},
		{IPPROTO_TCP, TCP_NODELAY, 0, 1}, {IPPROTO_TCP, TCP_KEEPIDLE, 7200, 30}, {IPPROTO_TCP, TCP_KEEPINTVL, 75, 5},
		{IPPROTO_TCP, TCP_KEEPCNT, 9, 3}, {IPPROTO_TCP, TCP_MAXSEG, 536, 1000}, {IPPROTO_TCP, TCP_USER_TIMEOUT, 0, 5000},
	} {
		if v, err := h.c.GetsockoptInt(fd, c.level, c.opt); v != c.def || err != nil {
			t.Errorf("option %d/%d default = %d, %v; want %d", c.level, c.opt, v, err, c.def)
		}
		must(t, h.c.SetsockoptInt(fd, c.level, c.opt, c.set))
		if v, _ := h.c.GetsockoptInt(fd, c.level, c.opt); v != c.set {
			t.Errorf("option %d/%d = %d after setting %d", c.level, c.opt, v, c.set)
		}
	}
	for opt, want := range map[int]int{SO_TYPE: SOCK_STREAM, SO_DOMAIN: AF_INET, SO_PROTOCOL: IPPROTO_TCP, SO_ACCEPTCONN: 0, SO_ERROR: 0} {
		if v, _ := h.c.GetsockoptInt(fd, SOL_SOCKET, opt); v != want {
			t.Errorf("SOL_SOCKET option %d = %d, want %d", opt, v, want)
		}
	}
	u, _ := h.c.Socket(AF_INET, SOCK_DGRAM, 0)
	if v, _ := h.c.GetsockoptInt(u, SOL_SOCKET, SO_TYPE); v != SOCK_DGRAM {
		t.Errorf("SO_TYPE of UDP = %d", v)
	}
	lfd := h.listener(t, 7, 1)
	if v, _ := h.s.GetsockoptInt(lfd, SOL_SOCKET, SO_ACCEPTCONN); v != 1 {
		t.Errorf("SO_ACCEPTCONN of a listener = %d", v)
	}
}

// TestBufferOptionsDoubled: SO_RCVBUF and SO_SNDBUF report twice what was
// set, within Linux's bounds, on UDP and TCP sockets alike; on a connected
// TCP socket the connection's buffers become the value set at once.
func TestBufferOptionsDoubled(t *testing.T) {
	h := newHosts(t)
	u, _ := h.c.Socket(AF_INET, SOCK_DGRAM, 0)
	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	if v, _ := h.c.GetsockoptInt(u, SOL_SOCKET, SO_RCVBUF); v != 212992 {
		t.Errorf("UDP SO_RCVBUF default %d, want 212992", v)
	}
	if v, _ := h.c.GetsockoptInt(fd, SOL_SOCKET, SO_RCVBUF); v != 131072 {
		t.Errorf("TCP SO_RCVBUF default %d, want 131072 (tcp_rmem[1])", v)
	}
	if v, _ := h.c.GetsockoptInt(fd, SOL_SOCKET, SO_SNDBUF); v != 16384 {
		t.Errorf("TCP SO_SNDBUF default %d, want 16384 (tcp_wmem[1])", v)
	}
	cases := []struct{ opt, set, want int }{
		{SO_RCVBUF, 100000, 200000}, {SO_RCVBUF, 1000, 2304}, {SO_RCVBUF, 1 << 30, 425984}, {SO_RCVBUF, -5, 425984},
		{SO_SNDBUF, 100000, 200000}, {SO_SNDBUF, 1000, 4608},
	}
	for _, sock := range []int{u, fd} {
		for _, c := range cases {
			must(t, h.c.SetsockoptInt(sock, SOL_SOCKET, c.opt, c.set))
			if v, _ := h.c.GetsockoptInt(sock, SOL_SOCKET, c.opt); v != c.want {
				t.Errorf("option %d set to %d reads %d, want %d", c.opt, c.set, v, c.want)
			}
		}
	}
	lfd := h.listener(t, 7, 1)
	cfd, _ := h.connected(t, lfd, 7)
	must(t, h.c.SetsockoptInt(cfd, SOL_SOCKET, SO_SNDBUF, 50000))
	must(t, h.c.SetsockoptInt(cfd, SOL_SOCKET, SO_RCVBUF, 40000))
	c, _ := h.c.get(cfd)
	if in := c.conn.Info().TCP; in.SndBuf != 50000 || in.RcvBuf != 40000 {
		t.Errorf("connected socket's buffers after SO_SNDBUF 50000, SO_RCVBUF 40000: send %d, receive %d", in.SndBuf, in.RcvBuf)
	}
}

// TestTCPBufferSizeApplied: an accepted connection's buffers are what its
// listener's SO_RCVBUF and SO_SNDBUF asked.
func TestTCPBufferSizeApplied(t *testing.T) {
	h := newHosts(t)
	lfd, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, h.s.SetsockoptInt(lfd, SOL_SOCKET, SO_RCVBUF, 32768))
	must(t, h.s.SetsockoptInt(lfd, SOL_SOCKET, SO_SNDBUF, 24576))
	must(t, h.s.Bind(lfd, netip.AddrPortFrom(anyIP, 7)))
	must(t, h.s.Listen(lfd, 1))
	_, sfd := h.connected(t, lfd, 7)
	ti, err := h.s.GetsockoptTCPInfo(sfd, IPPROTO_TCP, TCP_INFO)
	must(t, err)
	if ti.Rcv_space != 32768 {
		t.Errorf("receive buffer %d, want 32768", ti.Rcv_space)
	}
	s, _ := h.s.get(sfd)
	if b := s.conn.Info().TCP.SndBuf; b != 24576 {
		t.Errorf("send buffer %d, want 24576", b)
	}
	if v, _ := h.s.GetsockoptInt(sfd, SOL_SOCKET, SO_SNDBUF); v != 49152 {
		t.Errorf("accepted socket's SO_SNDBUF %d, want 49152 (inherited, doubled)", v)
	}
}

// TestLingerTimed: with SO_LINGER 5, Close waits for the FIN to be
// acknowledged and the peer reads the data.
func TestLingerTimed(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 1)
	cfd, sfd := h.connected(t, lfd, 7)
	must(t, h.c.SetsockoptLinger(cfd, SOL_SOCKET, SO_LINGER, &Linger{Onoff: 1, Linger: 5}))
	if l, _ := h.c.GetsockoptLinger(cfd, SOL_SOCKET, SO_LINGER); l != (Linger{1, 5}) {
		t.Errorf("SO_LINGER reads %+v", l)
	}
	_, err := h.c.Send(cfd, []byte("bye"), 0)
	must(t, err)
	closed := make(chan error, 1)
	go func() { closed <- h.c.Close(cfd) }() // returns once the FIN is acknowledged
	// No timer is needed for that, and none may run: moving the virtual
	// clock while Close is returning once let FIN-WAIT-2's timeout reset
	// the connection, and the peer's unread "bye" with it.
	must(t, <-closed)
	if b := recvAll(t, h.s, sfd, 3); string(b) != "bye" {
		t.Errorf("the peer read %q", b)
	}
}

// TestOptionsInheritedAndInfo: an accepted socket has its listener's
// options; TCP_MAXSEG and TCP_INFO describe the connection.
func TestOptionsInheritedAndInfo(t *testing.T) {
	h := newHosts(t)
	lfd, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, h.s.SetsockoptInt(lfd, SOL_SOCKET, SO_KEEPALIVE, 1))
	must(t, h.s.SetsockoptInt(lfd, IPPROTO_TCP, TCP_NODELAY, 1))
	must(t, h.s.SetsockoptInt(lfd, IPPROTO_TCP, TCP_KEEPIDLE, 60))
	must(t, h.s.Bind(lfd, netip.AddrPortFrom(anyIP, 7)))
	must(t, h.s.Listen(lfd, 1))
	if ti, _ := h.s.GetsockoptTCPInfo(lfd, IPPROTO_TCP, TCP_INFO); ti.State != 10 {
		t.Errorf("listener TCP_INFO state %d, want 10 (TCP_LISTEN)", ti.State)
	}
	cfd, sfd := h.connected(t, lfd, 7)
	for opt, want := range map[[2]int]int{{SOL_SOCKET, SO_KEEPALIVE}: 1, {IPPROTO_TCP, TCP_NODELAY}: 1, {IPPROTO_TCP, TCP_KEEPIDLE}: 60, {SOL_SOCKET, SO_ACCEPTCONN}: 0} {
		if v, _ := h.s.GetsockoptInt(sfd, opt[0], opt[1]); v != want {
			t.Errorf("accepted socket's option %v = %d, want %d", opt, v, want)
		}
	}
	s, _ := h.s.get(sfd)
	if k := s.conn.KeepAlive(); !k.Enable || k.Idle.Seconds() != 60 {
		t.Errorf("accepted connection's keepalive %+v", k)
	}
	if !s.conn.Info().TCP.NoDelay {
		t.Error("accepted connection has Nagle on")
	}
	c, _ := h.c.get(cfd)
	if c.conn.Info().TCP.NoDelay {
		t.Error("a client socket has TCP_NODELAY without asking: Linux's default is Nagle on")
	}
	if v, _ := h.c.GetsockoptInt(cfd, IPPROTO_TCP, TCP_MAXSEG); v != 1448 {
		t.Errorf("TCP_MAXSEG connected = %d, want 1448 (1460 less the timestamp option, as Linux reports it)", v)
	}
	// Nagle would hold the tail for a delayed ACK, a timer of the frozen
	// virtual clock: off for the transfer.
	must(t, h.c.SetsockoptInt(cfd, IPPROTO_TCP, TCP_NODELAY, 1))
	_, err := h.c.Send(cfd, make([]byte, 5000), 0)
	must(t, err)
	recvAll(t, h.s, sfd, 5000)
	h.settle(t)
	h.clk.Advance(time.Second) // the server's delayed ACK of the last segment
	h.settle(t)
	ti, err := h.c.GetsockoptTCPInfo(cfd, IPPROTO_TCP, TCP_INFO)
	must(t, err)
	if ti.State != 1 || ti.Snd_mss != 1448 || ti.Bytes_acked != 5000 || ti.Options&2 == 0 || ti.Snd_cwnd == 0 || ti.Segs_out < 4 {
		t.Errorf("TCP_INFO %+v", ti)
	}
	ti, _ = h.s.GetsockoptTCPInfo(sfd, IPPROTO_TCP, TCP_INFO)
	if ti.Bytes_received != 5000 {
		t.Errorf("server TCP_INFO bytes_received %d", ti.Bytes_received)
	}
	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	if ti, _ := h.c.GetsockoptTCPInfo(fd, IPPROTO_TCP, TCP_INFO); ti.State != 7 {
		t.Errorf("fresh socket TCP_INFO state %d, want 7 (TCP_CLOSE)", ti.State)
	}
}

// TestMaxSegApplied: TCP_MAXSEG set before connect is announced in the
// SYN, so both ends send at most that much (less the timestamp option, as
// Linux reports it); set on a connected socket it lowers that end's MSS;
// a listener's bounds the connections it accepts.
func TestMaxSegApplied(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 4)
	cfd, err := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	must(t, h.c.SetsockoptInt(cfd, IPPROTO_TCP, TCP_MAXSEG, 600))
	must(t, h.c.Connect(cfd, netip.AddrPortFrom(serverIP, 7)))
	sfd, _, err := h.s.Accept(lfd)
	must(t, err)
	if v, _ := h.c.GetsockoptInt(cfd, IPPROTO_TCP, TCP_MAXSEG); v != 588 {
		t.Errorf("client TCP_MAXSEG after connect = %d, want 588 (600 less the timestamp option)", v)
	}
	if v, _ := h.s.GetsockoptInt(sfd, IPPROTO_TCP, TCP_MAXSEG); v != 588 {
		t.Errorf("server's MSS toward a client that announced 600 = %d, want 588", v)
	}
	must(t, h.c.SetsockoptInt(cfd, IPPROTO_TCP, TCP_MAXSEG, 300))
	if v, _ := h.c.GetsockoptInt(cfd, IPPROTO_TCP, TCP_MAXSEG); v != 288 {
		t.Errorf("client TCP_MAXSEG lowered on a connection = %d, want 288", v)
	}
	must(t, h.c.SetsockoptInt(cfd, IPPROTO_TCP, TCP_MAXSEG, 1000))
	if v, _ := h.c.GetsockoptInt(cfd, IPPROTO_TCP, TCP_MAXSEG); v != 288 {
		t.Errorf("TCP_MAXSEG raised on a connection to %d; it only ever lowers", v)
	}

	l2, err := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	must(t, h.s.SetsockoptInt(l2, IPPROTO_TCP, TCP_MAXSEG, 700))
	must(t, h.s.Bind(l2, netip.AddrPortFrom(anyIP, 8)))
	must(t, h.s.Listen(l2, 4))
	_, s2 := h.connected(t, l2, 8)
	if v, _ := h.s.GetsockoptInt(s2, IPPROTO_TCP, TCP_MAXSEG); v != 688 {
		t.Errorf("accepted socket of a listener with TCP_MAXSEG 700 = %d, want 688", v)
	}
}

// TestLingerNegative: a negative l_linger is a very long linger, as Linux
// reads it (unsigned), not 0's reset: Close waits for the FIN to be
// acknowledged and the peer reads the data, then the end of the stream.
// Turning lingering off keeps the time, as Linux keeps it.
func TestLingerNegative(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 1)
	cfd, sfd := h.connected(t, lfd, 7)
	must(t, h.c.SetsockoptLinger(cfd, SOL_SOCKET, SO_LINGER, &Linger{Onoff: 1, Linger: -1}))
	if l, _ := h.c.GetsockoptLinger(cfd, SOL_SOCKET, SO_LINGER); l != (Linger{1, -1}) {
		t.Errorf("SO_LINGER reads %+v", l)
	}
	_, err := h.c.Send(cfd, []byte("bye"), 0)
	must(t, err)
	closed := make(chan error, 1)
	go func() { closed <- h.c.Close(cfd) }()
	must(t, <-closed) // the FIN's ACK needs no timer (see TestLingerTimed)
	b := make([]byte, 8)
	n, err := h.s.Recv(sfd, b, 0)
	if string(b[:n]) != "bye" || err != nil {
		t.Errorf("the peer read %q, %v; want \"bye\": a negative linger is no reset", b[:n], err)
	}
	if n, err := h.s.Recv(sfd, b, 0); n != 0 || err != nil {
		t.Errorf("the peer's next recv = %d, %v; want 0 (FIN), not ECONNRESET", n, err)
	}

	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, h.c.SetsockoptLinger(fd, SOL_SOCKET, SO_LINGER, &Linger{Onoff: 1, Linger: 7}))
	must(t, h.c.SetsockoptLinger(fd, SOL_SOCKET, SO_LINGER, &Linger{Onoff: 0, Linger: 3}))
	if l, _ := h.c.GetsockoptLinger(fd, SOL_SOCKET, SO_LINGER); l != (Linger{0, 7}) {
		t.Errorf("SO_LINGER {0, 3} after {1, 7} reads %+v, want {0 7} as Linux", l)
	}
}
