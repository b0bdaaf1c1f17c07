package bsd

import (
	"net/netip"
	"syscall"
	"testing"
)

// TestBadDescriptor: every call on a descriptor that is not open is EBADF.
func TestBadDescriptor(t *testing.T) {
	h := newHosts(t)
	ap := netip.AddrPortFrom(serverIP, 7)
	buf := make([]byte, 4)
	for _, fd := range []int{-1, 0, 2, 3, 99, 1 << 30} {
		calls := map[string]error{}
		calls["bind"] = h.c.Bind(fd, ap)
		calls["listen"] = h.c.Listen(fd, 1)
		_, _, calls["accept"] = h.c.Accept(fd)
		calls["connect"] = h.c.Connect(fd, ap)
		_, calls["send"] = h.c.Send(fd, buf, 0)
		_, calls["recv"] = h.c.Recv(fd, buf, 0)
		_, calls["sendto"] = h.c.SendTo(fd, buf, 0, ap)
		_, _, calls["recvfrom"] = h.c.RecvFrom(fd, buf, 0)
		calls["shutdown"] = h.c.Shutdown(fd, SHUT_RDWR)
		calls["close"] = h.c.Close(fd)
		calls["setnonblock"] = h.c.SetNonblock(fd, true)
		_, calls["getsockname"] = h.c.Getsockname(fd)
		_, calls["getpeername"] = h.c.Getpeername(fd)
		calls["setsockopt"] = h.c.SetsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR, 1)
		_, calls["getsockopt"] = h.c.GetsockoptInt(fd, SOL_SOCKET, SO_ERROR)
		calls["setsockopt bytes"] = h.c.Setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, []byte{1, 0, 0, 0})
		calls["setsockopt linger"] = h.c.SetsockoptLinger(fd, SOL_SOCKET, SO_LINGER, &Linger{})
		_, calls["getsockopt linger"] = h.c.GetsockoptLinger(fd, SOL_SOCKET, SO_LINGER)
		_, calls["tcp_info"] = h.c.GetsockoptTCPInfo(fd, IPPROTO_TCP, TCP_INFO)
		calls["epoll_ctl"] = h.c.EpollCreate().EpollCtl(EPOLL_CTL_ADD, fd, EPOLLIN)
		for name, err := range calls {
			wantErr(t, name, err, syscall.EBADF)
		}
	}
	pf := []PollFd{{Fd: 42, Events: POLLIN}, {Fd: -1, Events: POLLIN}}
	if n, _ := h.c.Poll(pf, -1); n != 1 || pf[0].Revents != POLLNVAL || pf[1].Revents != 0 {
		t.Errorf("poll of a closed and a negative descriptor: %d, %+v", n, pf)
	}
}

// TestWrongState: calls made in a state that does not allow them.
func TestWrongState(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 8)
	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	_, _, err := h.c.Accept(fd)
	wantErr(t, "accept before listen", err, syscall.EINVAL)
	// send(2) names ENOTCONN; Linux's kernel answers EPIPE (checked
	// against it: sk_stream_wait_connect), and so does bsd.
	_, err = h.c.Send(fd, []byte("x"), 0)
	wantErr(t, "send before connect", err, syscall.EPIPE)
	_, err = h.c.Recv(fd, make([]byte, 1), 0)
	wantErr(t, "recv before connect", err, syscall.ENOTCONN)
	_, err = h.c.Getpeername(fd)
	wantErr(t, "getpeername before connect", err, syscall.ENOTCONN)
	must(t, h.c.Connect(fd, netip.AddrPortFrom(serverIP, 7)))
	wantErr(t, "connect twice", h.c.Connect(fd, netip.AddrPortFrom(serverIP, 7)), syscall.EISCONN)
	wantErr(t, "listen on a connected socket", h.c.Listen(fd, 1), syscall.EINVAL)
	wantErr(t, "bind a connected socket", h.c.Bind(fd, netip.AddrPortFrom(anyIP, 0)), syscall.EINVAL)
	_, _, err = h.c.Accept(fd)
	wantErr(t, "accept on a connection", err, syscall.EINVAL)
	_, err = h.s.Send(lfd, []byte("x"), 0)
	wantErr(t, "send on a listener", err, syscall.EPIPE)
	wantErr(t, "connect a listener", h.s.Connect(lfd, netip.AddrPortFrom(clientIP, 7)), syscall.EISCONN)
	_, err = h.c.Send(fd, []byte("x"), MSG_OOB)
	wantErr(t, "send with MSG_OOB (no urgent data here)", err, syscall.EOPNOTSUPP)
	_, _, err = h.s.Accept4(lfd, 0x1)
	wantErr(t, "accept4 with an unknown flag", err, syscall.EINVAL)

	u, _ := h.c.Socket(AF_INET, SOCK_DGRAM, 0)
	wantErr(t, "listen on UDP", h.c.Listen(u, 1), syscall.EOPNOTSUPP)
	_, _, err = h.c.Accept(u)
	wantErr(t, "accept on UDP", err, syscall.EOPNOTSUPP)
	_, err = h.c.Send(u, []byte("x"), 0)
	wantErr(t, "send on unconnected UDP", err, syscall.EDESTADDRREQ)
	wantErr(t, "shutdown unconnected UDP", h.c.Shutdown(u, SHUT_WR), syscall.ENOTCONN)
}

// TestBadSocketArgs: socket(2)'s own errors.
func TestBadSocketArgs(t *testing.T) {
	h := newHosts(t)
	for _, c := range []struct {
		domain, typ, proto int
		want               syscall.Errno
	}{
		{10, SOCK_STREAM, 0, syscall.EAFNOSUPPORT}, // AF_INET6
		{AF_INET, 3, 0, syscall.EINVAL},            // SOCK_RAW: not here
		{AF_INET, SOCK_STREAM | 0x4000, 0, syscall.EINVAL},
		{AF_INET, SOCK_STREAM, IPPROTO_UDP, syscall.EPROTONOSUPPORT},
		{AF_INET, SOCK_DGRAM, IPPROTO_TCP, syscall.EPROTONOSUPPORT},
	} {
		fd, err := h.c.Socket(c.domain, c.typ, c.proto)
		if fd != -1 {
			t.Errorf("socket(%d, %#x, %d) = %d", c.domain, c.typ, c.proto, fd)
		}
		wantErr(t, "socket", err, c.want)
	}
	for _, typ := range []int{SOCK_STREAM | SOCK_CLOEXEC, SOCK_DGRAM | SOCK_NONBLOCK} {
		if _, err := h.c.Socket(AF_INET, typ, 0); err != nil {
			t.Errorf("socket(AF_INET, %#x, 0): %v", typ, err)
		}
	}
}

// TestBadOptions: an option of the wrong level, size or value.
func TestBadOptions(t *testing.T) {
	h := newHosts(t)
	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	u, _ := h.c.Socket(AF_INET, SOCK_DGRAM, 0)
	wantErr(t, "unknown level", h.c.SetsockoptInt(fd, 255, SO_REUSEADDR, 1), syscall.ENOPROTOOPT)
	wantErr(t, "unknown SOL_SOCKET option", h.c.SetsockoptInt(fd, SOL_SOCKET, 9999, 1), syscall.ENOPROTOOPT)
	wantErr(t, "unknown TCP option", h.c.SetsockoptInt(fd, IPPROTO_TCP, 9999, 1), syscall.ENOPROTOOPT)
	wantErr(t, "a TCP option on UDP", h.c.SetsockoptInt(u, IPPROTO_TCP, TCP_NODELAY, 1), syscall.ENOPROTOOPT)
	_, err := h.c.GetsockoptInt(u, IPPROTO_TCP, TCP_NODELAY)
	wantErr(t, "reading a TCP option on UDP", err, syscall.ENOPROTOOPT)
	wantErr(t, "SO_ERROR is read-only", h.c.SetsockoptInt(fd, SOL_SOCKET, SO_ERROR, 1), syscall.ENOPROTOOPT)
	wantErr(t, "SO_LINGER as an int", h.c.SetsockoptInt(fd, SOL_SOCKET, SO_LINGER, 1), syscall.EINVAL)
	// Reading a struct option as an int gets its first 4 bytes, as
	// Linux copies what fits: l_onoff, and tcpi_state (7, CLOSE) and its
	// neighbours.
	if v, err := h.c.GetsockoptInt(fd, SOL_SOCKET, SO_LINGER); v != 0 || err != nil {
		t.Errorf("SO_LINGER as an int = %d, %v", v, err)
	}
	if v, err := h.c.GetsockoptInt(fd, IPPROTO_TCP, TCP_INFO); v != 7 || err != nil {
		t.Errorf("TCP_INFO as an int = %d, %v; want 7", v, err)
	}
	wantErr(t, "SO_LINGER at IPPROTO_TCP", h.c.SetsockoptLinger(fd, IPPROTO_TCP, SO_LINGER, &Linger{}), syscall.ENOPROTOOPT)
	wantErr(t, "2-byte int option", h.c.Setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, []byte{1, 0}), syscall.EINVAL)
	wantErr(t, "4-byte linger", h.c.Setsockopt(fd, SOL_SOCKET, SO_LINGER, []byte{1, 0, 0, 0}), syscall.EINVAL)
	wantErr(t, "short option at an unknown level", h.c.Setsockopt(fd, 255, 1, nil), syscall.ENOPROTOOPT)
	must(t, h.c.Setsockopt(fd, SOL_SOCKET, SO_LINGER, []byte{1, 0, 0, 0, 0, 0, 0, 0}))
	for _, c := range []struct{ opt, v int }{
		{TCP_KEEPIDLE, 0}, {TCP_KEEPIDLE, 32768}, {TCP_KEEPINTVL, -1}, {TCP_KEEPCNT, 0}, {TCP_KEEPCNT, 128},
		{TCP_MAXSEG, 87}, {TCP_MAXSEG, 1 << 20}, {TCP_USER_TIMEOUT, -1},
	} {
		wantErr(t, "out of range", h.c.SetsockoptInt(fd, IPPROTO_TCP, c.opt, c.v), syscall.EINVAL)
	}
	_, err = h.c.GetsockoptTCPInfo(u, IPPROTO_TCP, TCP_INFO)
	wantErr(t, "TCP_INFO on UDP", err, syscall.ENOPROTOOPT)
	wantErr(t, "nil linger", h.c.SetsockoptLinger(fd, SOL_SOCKET, SO_LINGER, nil), syscall.EFAULT)
}

// TestDatagramTooLarge: a datagram above IPv4's limit is EMSGSIZE; one
// above the link's MTU is sent in fragments (IP_PMTUDISC_WANT, Linux's
// default), or is EMSGSIZE once IP_MTU_DISCOVER asks for DF.
func TestDatagramTooLarge(t *testing.T) {
	h := newHosts(t)
	u, _ := h.c.Socket(AF_INET, SOCK_DGRAM, 0)
	dst := netip.AddrPortFrom(serverIP, 9)
	for _, n := range []int{65508, 1 << 20} {
		_, err := h.c.SendTo(u, make([]byte, n), 0, dst)
		wantErr(t, "sendto above 65,507 bytes", err, syscall.EMSGSIZE)
	}
	if v, _ := h.c.GetsockoptInt(u, IPPROTO_IP, IP_MTU_DISCOVER); v != IP_PMTUDISC_WANT {
		t.Errorf("IP_MTU_DISCOVER default %d, want IP_PMTUDISC_WANT", v)
	}
	for _, n := range []int{1500 - 28, 1500 - 27, 65507} {
		if _, err := h.c.SendTo(u, make([]byte, n), 0, dst); err != nil {
			t.Errorf("a %d-byte datagram: %v", n, err)
		}
	}
	must(t, h.c.SetsockoptInt(u, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO))
	_, err := h.c.SendTo(u, make([]byte, 1500-27), 0, dst)
	wantErr(t, "1,473 bytes with DF", err, syscall.EMSGSIZE)
	if _, err := h.c.SendTo(u, make([]byte, 1500-28), 0, dst); err != nil {
		t.Errorf("1,472 bytes with DF: %v", err)
	}
	wantErr(t, "IP_MTU_DISCOVER 9", h.c.SetsockoptInt(u, IPPROTO_IP, IP_MTU_DISCOVER, 9), syscall.EINVAL)
	wantErr(t, "unknown IP option", h.c.SetsockoptInt(u, IPPROTO_IP, 9999, 1), syscall.ENOPROTOOPT)
}
