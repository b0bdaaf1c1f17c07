package bsd

import (
	"net/netip"
	"syscall"
	"testing"
)

// TestEchoBlocking is article 004's echo in blocking calls: socket, bind,
// listen, accept, connect, send, recv, close, and the names each end sees.
func TestEchoBlocking(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 16)
	if lfd != firstFD {
		t.Errorf("first descriptor %d, want %d", lfd, firstFD)
	}
	cfd, err := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	must(t, h.c.Connect(cfd, netip.AddrPortFrom(serverIP, 7)))
	sfd, peer, err := h.s.Accept(lfd)
	must(t, err)
	local, err := h.c.Getsockname(cfd)
	must(t, err)
	if peer != local {
		t.Errorf("accept says the peer is %v, the client's getsockname %v", peer, local)
	}
	if p, _ := h.c.Getpeername(cfd); p != netip.AddrPortFrom(serverIP, 7) {
		t.Errorf("getpeername = %v", p)
	}
	if a, _ := h.s.Getsockname(lfd); a != netip.AddrPortFrom(anyIP, 7) {
		t.Errorf("listener getsockname = %v, want 0.0.0.0:7", a)
	}
	if _, err := h.s.Getpeername(lfd); err != syscall.ENOTCONN {
		t.Errorf("listener getpeername: %v, want ENOTCONN", err)
	}
	n, err := h.c.Send(cfd, []byte("hello, synack"), 0)
	if err != nil || n != 13 {
		t.Fatalf("send = %d, %v", n, err)
	}
	got := recvAll(t, h.s, sfd, 13)
	_, err = h.s.Send(sfd, got, 0)
	must(t, err)
	if back := recvAll(t, h.c, cfd, 13); string(back) != "hello, synack" {
		t.Fatalf("echo = %q", back)
	}
	must(t, h.c.Close(cfd))
	buf := make([]byte, 10)
	if n, err := h.s.Recv(sfd, buf, 0); n != 0 || err != nil {
		t.Errorf("recv after the peer's close = %d, %v; want 0, nil (EOF)", n, err)
	}
	must(t, h.s.Close(sfd))
	wantErr(t, "close twice", h.s.Close(sfd), syscall.EBADF)
	// The lowest free descriptor is used again.
	fd, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	if fd != sfd {
		t.Errorf("new descriptor %d, want the freed %d", fd, sfd)
	}
}

// TestBindWithoutListenRefused: a port bound but not listening answers a
// SYN with RST, and connect fails with ECONNREFUSED (article 002).
func TestBindWithoutListenRefused(t *testing.T) {
	h := newHosts(t)
	fd, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, h.s.Bind(fd, netip.AddrPortFrom(anyIP, 9000)))
	cfd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	wantErr(t, "connect to a bound port", h.c.Connect(cfd, netip.AddrPortFrom(serverIP, 9000)), syscall.ECONNREFUSED)
	if st := h.sst.Internals().TCPStats(); st.OutRsts.Load() == 0 {
		t.Error("the server sent no RST")
	}
	// The failed socket may connect again, to a listener this time.
	must(t, h.s.Listen(fd, 1))
	must(t, h.c.Connect(cfd, netip.AddrPortFrom(serverIP, 9000)))
}

// TestConnectUnreachable: no route is ENETUNREACH at once.
func TestConnectUnreachable(t *testing.T) {
	h := newHosts(t)
	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	wantErr(t, "connect off the link with no gateway", h.c.Connect(fd, netip.MustParseAddrPort("192.0.2.1:80")), syscall.ENETUNREACH)
}

// TestNonblockingConnect completes a non-blocking connect through Poll and
// SO_ERROR: EINPROGRESS, POLLOUT, SO_ERROR 0, then connect reports
// success once and EISCONN after, as Linux's.
func TestNonblockingConnect(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 80, 8)
	fd, err := h.c.Socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK, 0)
	must(t, err)
	wantErr(t, "non-blocking connect", h.c.Connect(fd, netip.AddrPortFrom(serverIP, 80)), syscall.EINPROGRESS)
	pf := []PollFd{{Fd: fd, Events: POLLOUT}}
	n, err := h.c.Poll(pf, -1)
	if n != 1 || err != nil || pf[0].Revents != POLLOUT {
		t.Fatalf("poll = %d, %v, revents %#x; want POLLOUT alone", n, err, pf[0].Revents)
	}
	if e, _ := h.c.GetsockoptInt(fd, SOL_SOCKET, SO_ERROR); e != 0 {
		t.Fatalf("SO_ERROR = %d after a good connect", e)
	}
	must(t, h.c.Connect(fd, netip.AddrPortFrom(serverIP, 80)))
	wantErr(t, "connect once connected", h.c.Connect(fd, netip.AddrPortFrom(serverIP, 80)), syscall.EISCONN)
	sfd, _, err := h.s.Accept(lfd)
	must(t, err)
	_, err = h.c.Send(fd, []byte("x"), 0)
	must(t, err)
	if b := recvAll(t, h.s, sfd, 1); string(b) != "x" {
		t.Fatalf("got %q", b)
	}
}

// TestNonblockingConnectTimesOut: a connect nobody answers is EALREADY
// while its SYNs go out, then, on the virtual clock, POLLOUT|POLLERR|
// POLLHUP and SO_ERROR ETIMEDOUT, read once.
func TestNonblockingConnectTimesOut(t *testing.T) {
	h := newHosts(t)
	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK, 0)
	dst := netip.MustParseAddrPort("10.0.0.3:80") // on the link, but no host has it
	wantErr(t, "connect", h.c.Connect(fd, dst), syscall.EINPROGRESS)
	wantErr(t, "connect again", h.c.Connect(fd, dst), syscall.EALREADY)
	if _, err := h.c.Getpeername(fd); err != syscall.ENOTCONN {
		t.Errorf("getpeername while connecting: %v, want ENOTCONN", err)
	}
	pf := []PollFd{{Fd: fd, Events: POLLOUT | POLLIN}}
	if n, _ := h.c.Poll(pf, 0); n != 0 {
		t.Fatalf("poll while connecting: revents %#x", pf[0].Revents)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.c.Poll(pf, -1)
		done <- err
	}()
	must(t, h.runUntil(t, done))
	want := int16(POLLOUT | POLLIN | POLLERR | POLLHUP)
	if pf[0].Revents != want {
		t.Errorf("revents %#x, want %#x", pf[0].Revents, want)
	}
	if e, _ := h.c.GetsockoptInt(fd, SOL_SOCKET, SO_ERROR); syscall.Errno(e) != syscall.ETIMEDOUT {
		t.Errorf("SO_ERROR = %v, want ETIMEDOUT", syscall.Errno(e))
	}
	if e, _ := h.c.GetsockoptInt(fd, SOL_SOCKET, SO_ERROR); e != 0 {
		t.Errorf("SO_ERROR read twice = %v, want 0", syscall.Errno(e))
	}
	// Linux: the connect after a failure already reported is ECONNABORTED.
	wantErr(t, "connect after the failure", h.c.Connect(fd, dst), syscall.ECONNABORTED)
}

// TestNonblockingConnectRefused: SO_ERROR says ECONNREFUSED.
func TestNonblockingConnectRefused(t *testing.T) {
	h := newHosts(t)
	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK, 0)
	wantErr(t, "connect", h.c.Connect(fd, netip.AddrPortFrom(serverIP, 81)), syscall.EINPROGRESS)
	pf := []PollFd{{Fd: fd, Events: POLLOUT}}
	h.c.Poll(pf, -1)
	if pf[0].Revents&POLLERR == 0 {
		t.Errorf("revents %#x: no POLLERR", pf[0].Revents)
	}
	if e, _ := h.c.GetsockoptInt(fd, SOL_SOCKET, SO_ERROR); syscall.Errno(e) != syscall.ECONNREFUSED {
		t.Errorf("SO_ERROR = %v, want ECONNREFUSED", syscall.Errno(e))
	}
	h.c.Poll(pf, 0)
	if pf[0].Revents&POLLERR != 0 {
		t.Errorf("POLLERR still reported after SO_ERROR was read: %#x", pf[0].Revents)
	}
}

// TestEAGAIN: each non-blocking call that cannot go on.
func TestEAGAIN(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 8)
	cfd, sfd := h.connected(t, lfd, 7)
	must(t, h.s.SetNonblock(lfd, true))
	_, _, err := h.s.Accept(lfd)
	wantErr(t, "accept with none ready", err, syscall.EAGAIN)
	// Accept4 with SOCK_NONBLOCK: the new descriptor does not block.
	c2, err := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	must(t, h.c.Connect(c2, netip.AddrPortFrom(serverIP, 7)))
	h.s.Poll([]PollFd{{Fd: lfd, Events: POLLIN}}, -1) // the handshake's last ACK has arrived
	a2, _, err := h.s.Accept4(lfd, SOCK_NONBLOCK)
	must(t, err)
	_, err = h.s.Recv(a2, make([]byte, 1), 0)
	wantErr(t, "recv on an Accept4(SOCK_NONBLOCK) socket", err, syscall.EAGAIN)
	buf := make([]byte, 64)
	_, err = h.c.Recv(cfd, buf, MSG_DONTWAIT)
	wantErr(t, "recv MSG_DONTWAIT with nothing", err, syscall.EAGAIN)
	must(t, h.c.SetNonblock(cfd, true))
	_, err = h.c.Recv(cfd, buf, 0)
	wantErr(t, "non-blocking recv", err, syscall.EAGAIN)
	// Fill the send buffer while the server does not read: EAGAIN, with
	// part of the last send taken first.
	chunk := make([]byte, 64<<10)
	total := 0
	for i := 0; ; i++ {
		n, err := h.c.Send(cfd, chunk, 0)
		total += n
		if err == syscall.EAGAIN {
			break
		}
		must(t, err)
		if i > 1000 {
			t.Fatal("64 MB sent and never EAGAIN")
		}
		h.settle(t)
	}
	pf := []PollFd{{Fd: cfd, Events: POLLOUT}}
	if n, _ := h.c.Poll(pf, 0); n != 0 {
		t.Errorf("POLLOUT with the buffer full: %#x", pf[0].Revents)
	}
	// Reading on the server makes room; POLLOUT comes back.
	got := 0
	for got < total {
		n, err := h.s.Recv(sfd, chunk, 0)
		must(t, err)
		got += n
		if h.c.Poll(pf, 0); pf[0].Revents&POLLOUT != 0 {
			break
		}
	}
	if _, err := h.c.Poll(pf, -1); err != nil || pf[0].Revents&POLLOUT == 0 {
		t.Errorf("no POLLOUT after the peer read: %#x", pf[0].Revents)
	}
}

// TestPeekAndWaitAll: MSG_PEEK leaves the bytes; MSG_WAITALL waits for all.
func TestPeekAndWaitAll(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 8)
	cfd, sfd := h.connected(t, lfd, 7)
	_, err := h.c.Send(cfd, []byte("hello"), 0)
	must(t, err)
	buf := make([]byte, 16)
	h.s.Poll([]PollFd{{Fd: sfd, Events: POLLIN}}, -1)
	n, err := h.s.Recv(sfd, buf[:3], MSG_PEEK)
	if err != nil || string(buf[:n]) != "hel" {
		t.Fatalf("peek 3 = %q, %v", buf[:n], err)
	}
	n, _ = h.s.Recv(sfd, buf, MSG_PEEK)
	if string(buf[:n]) != "hello" {
		t.Fatalf("peek all = %q", buf[:n])
	}
	n, _ = h.s.Recv(sfd, buf, 0)
	if string(buf[:n]) != "hello" {
		t.Fatalf("recv after peeking = %q", buf[:n])
	}
	_, err = h.s.Recv(sfd, buf, MSG_PEEK|MSG_DONTWAIT)
	wantErr(t, "peek on an empty queue", err, syscall.EAGAIN)

	// Nagle would hold "cd" for the delayed ACK of "ab", a timer the
	// frozen virtual clock never fires: TCP_NODELAY.
	must(t, h.c.SetsockoptInt(cfd, IPPROTO_TCP, TCP_NODELAY, 1))
	_, err = h.c.Send(cfd, []byte("ab"), 0)
	must(t, err)
	res := make(chan string)
	go func() {
		b := make([]byte, 4)
		n, err := h.s.Recv(sfd, b, MSG_WAITALL)
		if err != nil {
			res <- err.Error()
		}
		res <- string(b[:n])
	}()
	h.settle(t)
	select {
	case r := <-res:
		t.Fatalf("MSG_WAITALL returned %q with 2 of 4 bytes", r)
	default:
	}
	_, err = h.c.Send(cfd, []byte("cd"), 0)
	must(t, err)
	if r := <-res; r != "abcd" {
		t.Fatalf("MSG_WAITALL = %q", r)
	}
}

// TestLingerZeroResetsAndEPIPE: SO_LINGER {1, 0} makes close send a RST;
// the peer sees POLLERR|POLLHUP, its send fails with ECONNRESET once and
// EPIPE after (no signal), its recv then returns 0.
func TestLingerZeroResetsAndEPIPE(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 8)
	cfd, sfd := h.connected(t, lfd, 7)
	must(t, h.s.SetsockoptLinger(sfd, SOL_SOCKET, SO_LINGER, &Linger{Onoff: 1, Linger: 0}))
	if l, _ := h.s.GetsockoptLinger(sfd, SOL_SOCKET, SO_LINGER); l != (Linger{1, 0}) {
		t.Errorf("SO_LINGER reads %+v", l)
	}
	rsts := h.sst.Internals().TCPStats().OutRsts.Load()
	must(t, h.s.Close(sfd))
	if h.sst.Internals().TCPStats().OutRsts.Load() != rsts+1 {
		t.Error("close with SO_LINGER 0 sent no RST")
	}
	pf := []PollFd{{Fd: cfd, Events: POLLIN | POLLOUT | POLLRDHUP}}
	h.c.Poll(pf, -1)
	for pf[0].Revents&POLLERR == 0 {
		h.c.Poll(pf, -1) // readable data-less wakeups end at the RST
	}
	want := int16(POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP)
	if pf[0].Revents != want {
		t.Errorf("revents after the reset %#x, want %#x", pf[0].Revents, want)
	}
	_, err := h.c.Send(cfd, []byte("x"), MSG_NOSIGNAL)
	wantErr(t, "first send after the reset", err, syscall.ECONNRESET)
	_, err = h.c.Send(cfd, []byte("x"), 0)
	wantErr(t, "second send after the reset", err, syscall.EPIPE)
	if n, err := h.c.Recv(cfd, make([]byte, 4), 0); n != 0 || err != nil {
		t.Errorf("recv after the reset was reported: %d, %v; want 0, nil", n, err)
	}
	if infos := h.sst.Sockets(); len(infos) != 1 { // the listener alone: nothing in TIME-WAIT
		t.Errorf("server sockets after the abort: %v", infos)
	}
}

// TestRecvReset: recv reports ECONNRESET once.
func TestRecvReset(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 8)
	cfd, sfd := h.connected(t, lfd, 7)
	must(t, h.s.SetsockoptLinger(sfd, SOL_SOCKET, SO_LINGER, &Linger{Onoff: 1}))
	must(t, h.s.Close(sfd))
	_, err := h.c.Recv(cfd, make([]byte, 4), 0)
	wantErr(t, "recv after the peer's RST", err, syscall.ECONNRESET)
	if e, _ := h.c.GetsockoptInt(cfd, SOL_SOCKET, SO_ERROR); e != 0 {
		t.Errorf("SO_ERROR after recv reported the reset: %v", syscall.Errno(e))
	}
}

// TestShutdown: SHUT_WR sends a FIN (the peer reads 0 and sees
// POLLRDHUP) and this side still reads; a send after it is EPIPE;
// SHUT_RD ends reads at once.
func TestShutdown(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 8)
	cfd, sfd := h.connected(t, lfd, 7)
	must(t, h.c.Shutdown(cfd, SHUT_WR))
	pf := []PollFd{{Fd: sfd, Events: POLLIN | POLLRDHUP}}
	h.s.Poll(pf, -1)
	if pf[0].Revents != POLLIN|POLLRDHUP {
		t.Errorf("revents after the peer's FIN %#x, want POLLIN|POLLRDHUP", pf[0].Revents)
	}
	if n, err := h.s.Recv(sfd, make([]byte, 4), 0); n != 0 || err != nil {
		t.Errorf("recv after FIN = %d, %v", n, err)
	}
	_, err := h.s.Send(sfd, []byte("still"), 0)
	must(t, err)
	if b := recvAll(t, h.c, cfd, 5); string(b) != "still" {
		t.Errorf("half-closed side read %q", b)
	}
	_, err = h.c.Send(cfd, []byte("x"), 0)
	wantErr(t, "send after SHUT_WR", err, syscall.EPIPE)
	// Linux: after SHUT_RD the queued text is still read, then reads
	// return 0 at once.
	must(t, h.s.SetsockoptInt(sfd, IPPROTO_TCP, TCP_NODELAY, 1)) // no waiting for the frozen clock's delayed ACK
	_, err = h.s.Send(sfd, []byte("queued"), 0)
	must(t, err)
	h.c.Poll([]PollFd{{Fd: cfd, Events: POLLIN}}, -1)
	must(t, h.c.Shutdown(cfd, SHUT_RD))
	pf = []PollFd{{Fd: cfd, Events: POLLIN | POLLOUT | POLLRDHUP}}
	if h.c.Poll(pf, 0); pf[0].Revents != POLLIN|POLLOUT|POLLRDHUP|POLLHUP {
		t.Errorf("revents after SHUT_RDWR %#x, want POLLIN|POLLOUT|POLLRDHUP|POLLHUP", pf[0].Revents)
	}
	buf := make([]byte, 16)
	if n, err := h.c.Recv(cfd, buf, 0); string(buf[:n]) != "queued" || err != nil {
		t.Errorf("recv after SHUT_RD = %q, %v; want the queued text", buf[:n], err)
	}
	if n, err := h.c.Recv(cfd, buf, 0); n != 0 || err != nil {
		t.Errorf("second recv after SHUT_RD = %d, %v; want 0", n, err)
	}
	// A listener: SHUT_WR does nothing, SHUT_RD stops it (accept: EINVAL).
	must(t, h.s.Shutdown(lfd, SHUT_WR))
	must(t, h.s.Shutdown(lfd, SHUT_RD))
	_, _, err = h.s.Accept(lfd)
	wantErr(t, "accept after SHUT_RD", err, syscall.EINVAL)
	wantErr(t, "shutdown how=3", h.s.Shutdown(sfd, 3), syscall.EINVAL)
	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	wantErr(t, "shutdown unconnected", h.c.Shutdown(fd, SHUT_RDWR), syscall.ENOTCONN)
}

// TestCloseWakesAccept: a blocked accept returns EBADF when another
// goroutine closes the descriptor.
func TestCloseWakesAccept(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 8)
	res := make(chan error)
	go func() {
		_, _, err := h.s.Accept(lfd)
		res <- err
	}()
	waitFor(t, "accept to block", func() bool {
		s, _ := h.s.get(lfd)
		s.wmu.Lock()
		defer s.wmu.Unlock()
		return len(s.watchers) == 1
	})
	must(t, h.s.Close(lfd))
	wantErr(t, "blocked accept after close", <-res, syscall.EBADF)
}
