package bsd

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// TestPollTimeoutVirtual: Poll and EpollWait time out on the stack's
// clock, here a virtual one: nothing returns until it is moved.
func TestPollTimeoutVirtual(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 1)
	p := h.s.EpollCreate()
	must(t, p.EpollCtl(EPOLL_CTL_ADD, lfd, EPOLLIN))
	for _, name := range []string{"poll", "epoll_wait"} {
		res := make(chan int)
		pending := h.clk.Pending()
		go func() {
			if name == "poll" {
				n, _ := h.s.Poll([]PollFd{{Fd: lfd, Events: POLLIN}}, 5000)
				res <- n
				return
			}
			n, _ := p.EpollWait(make([]EpollEvent, 4), 5000)
			res <- n
		}()
		waitFor(t, name+" to arm its timer", func() bool { return h.clk.Pending() > pending })
		h.clk.Advance(4999 * time.Millisecond)
		select {
		case n := <-res:
			t.Fatalf("%s returned %d before its timeout", name, n)
		default:
		}
		h.clk.Advance(time.Millisecond)
		if n := <-res; n != 0 {
			t.Errorf("%s = %d at its timeout, want 0", name, n)
		}
	}
	if n, _ := h.s.Poll([]PollFd{{Fd: lfd, Events: POLLIN}}, 0); n != 0 {
		t.Errorf("poll with timeout 0 = %d", n)
	}
	// A fresh TCP socket is POLLOUT|POLLHUP, as on Linux (it is CLOSED).
	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	pf := []PollFd{{Fd: fd, Events: POLLIN | POLLOUT}}
	if h.c.Poll(pf, 0); pf[0].Revents != POLLOUT|POLLHUP {
		t.Errorf("fresh socket revents %#x, want POLLOUT|POLLHUP", pf[0].Revents)
	}
}

// TestEpollModes: level-triggered reports while ready, EPOLLET once per
// change, EPOLLONESHOT once until EPOLL_CTL_MOD; ctl's errors.
func TestEpollModes(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 8)
	cfd, sfd := h.connected(t, lfd, 7)
	must(t, h.c.SetsockoptInt(cfd, IPPROTO_TCP, TCP_NODELAY, 1)) // no waiting for a delayed ACK: the virtual clock is frozen
	ev := make([]EpollEvent, 8)
	for _, mode := range []uint32{0, EPOLLET, EPOLLONESHOT} {
		p := h.s.EpollCreate()
		must(t, p.EpollCtl(EPOLL_CTL_ADD, sfd, EPOLLIN|mode))
		wantErr(t, "add twice", p.EpollCtl(EPOLL_CTL_ADD, sfd, EPOLLIN), syscall.EEXIST)
		_, err := h.c.Send(cfd, []byte("x"), 0)
		must(t, err)
		if n, _ := p.EpollWait(ev, -1); n != 1 || ev[0].Fd != int32(sfd) || ev[0].Events != EPOLLIN {
			t.Fatalf("mode %#x: first wait %d %+v", mode, n, ev[:n])
		}
		n, _ := p.EpollWait(ev, 0)
		if want := map[uint32]int{0: 1, EPOLLET: 0, EPOLLONESHOT: 0}[mode]; n != want {
			t.Errorf("mode %#x: second wait with the byte unread = %d, want %d", mode, n, want)
		}
		if mode == EPOLLONESHOT {
			must(t, p.EpollCtl(EPOLL_CTL_MOD, sfd, EPOLLIN|EPOLLONESHOT))
			if n, _ := p.EpollWait(ev, 0); n != 1 {
				t.Errorf("oneshot re-armed: %d", n)
			}
		}
		h.s.Recv(sfd, make([]byte, 1), 0)
		if n, _ := p.EpollWait(ev, 0); n != 0 {
			t.Errorf("mode %#x: ready after the byte was read: %+v", mode, ev[:n])
		}
		must(t, p.EpollCtl(EPOLL_CTL_DEL, sfd, 0))
		wantErr(t, "del twice", p.EpollCtl(EPOLL_CTL_DEL, sfd, 0), syscall.ENOENT)
		wantErr(t, "mod absent", p.EpollCtl(EPOLL_CTL_MOD, sfd, EPOLLIN), syscall.ENOENT)
		wantErr(t, "bad op", p.EpollCtl(9, sfd, EPOLLIN), syscall.EINVAL)
		_, err = p.EpollWait(nil, 0)
		wantErr(t, "wait with no room", err, syscall.EINVAL)
		p.Close()
	}
}

// TestEventLoop1000 serves 1,000 echo connections with one goroutine on
// each side, each an epoll loop over non-blocking sockets: the client
// connects them all at once (EINPROGRESS), sends on POLLOUT, checks the
// echo on POLLIN and closes; the server accepts, echoes and closes at EOF.
func TestEventLoop1000(t *testing.T) {
	const conns = 1000
	h := newHosts(t)
	lfd, _ := h.s.Socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK, 0)
	must(t, h.s.Bind(lfd, netip.AddrPortFrom(anyIP, 7)))
	must(t, h.s.Listen(lfd, SOMAXCONN))
	served := make(chan error, 1)
	go func() { served <- echoLoop(h.s, lfd, conns) }()

	p := h.c.EpollCreate()
	defer p.Close()
	msg := map[int]string{}
	for i := range conns {
		fd, err := h.c.Socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK, 0)
		must(t, err)
		wantErr(t, "connect", h.c.Connect(fd, netip.AddrPortFrom(serverIP, 7)), syscall.EINPROGRESS)
		must(t, p.EpollCtl(EPOLL_CTL_ADD, fd, EPOLLOUT))
		msg[fd] = fmt.Sprintf("message %d", i)
	}
	ev := make([]EpollEvent, 64)
	buf := make([]byte, 64)
	for done := 0; done < conns; {
		n, err := p.EpollWait(ev, -1)
		must(t, err)
		for _, e := range ev[:n] {
			fd := int(e.Fd)
			switch {
			case e.Events&EPOLLERR != 0:
				so, _ := h.c.GetsockoptInt(fd, SOL_SOCKET, SO_ERROR)
				t.Fatalf("fd %d: error %v", fd, syscall.Errno(so))
			case e.Events&EPOLLOUT != 0:
				if so, _ := h.c.GetsockoptInt(fd, SOL_SOCKET, SO_ERROR); so != 0 {
					t.Fatalf("fd %d: connect failed: %v", fd, syscall.Errno(so))
				}
				if _, err := h.c.Send(fd, []byte(msg[fd]), 0); err != nil {
					t.Fatalf("fd %d: send: %v", fd, err)
				}
				must(t, p.EpollCtl(EPOLL_CTL_MOD, fd, EPOLLIN))
			case e.Events&EPOLLIN != 0:
				k, err := h.c.Recv(fd, buf, 0)
				if err != nil || string(buf[:k]) != msg[fd] {
					t.Fatalf("fd %d: echo %q, %v; want %q", fd, buf[:k], err, msg[fd])
				}
				must(t, h.c.Close(fd))
				done++
			}
		}
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// echoLoop is an event-loop echo server on h's listener lfd: it returns
// after n connections have been served to their end.
func echoLoop(h *Host, lfd, n int) error {
	p := h.EpollCreate()
	defer p.Close()
	if err := p.EpollCtl(EPOLL_CTL_ADD, lfd, EPOLLIN); err != nil {
		return err
	}
	ev := make([]EpollEvent, 64)
	buf := make([]byte, 4096)
	for closed := 0; closed < n; {
		k, err := p.EpollWait(ev, -1)
		if err != nil {
			return err
		}
		for _, e := range ev[:k] {
			fd := int(e.Fd)
			if fd == lfd {
				for {
					c, _, err := h.Accept4(lfd, SOCK_NONBLOCK)
					if err == syscall.EAGAIN {
						break
					} else if err != nil {
						return err
					}
					if err := p.EpollCtl(EPOLL_CTL_ADD, c, EPOLLIN|EPOLLRDHUP); err != nil {
						return err
					}
				}
				continue
			}
			m, err := h.Recv(fd, buf, 0)
			switch {
			case err == syscall.EAGAIN:
			case err != nil:
				return fmt.Errorf("server recv: %w", err)
			case m == 0:
				h.Close(fd)
				closed++
			default:
				if _, err := h.Send(fd, buf[:m], 0); err != nil {
					return fmt.Errorf("server send: %w", err)
				}
			}
		}
	}
	return nil
}

// TestEpollForgetsClosed: a descriptor closed while in an interest set
// leaves it; its number, reused, may be added again and is reported for
// the new socket.
func TestEpollForgetsClosed(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 8)
	cfd, sfd := h.connected(t, lfd, 7)
	p := h.s.EpollCreate()
	must(t, p.EpollCtl(EPOLL_CTL_ADD, sfd, EPOLLIN))
	must(t, h.s.Close(sfd))
	u, _ := h.s.Socket(AF_INET, SOCK_DGRAM, 0) // takes sfd's number
	if u != sfd {
		t.Fatalf("new descriptor %d, want the reused %d", u, sfd)
	}
	must(t, p.EpollCtl(EPOLL_CTL_ADD, u, EPOLLOUT))
	ev := make([]EpollEvent, 4)
	if n, _ := p.EpollWait(ev, 0); n != 1 || ev[0].Fd != int32(u) || ev[0].Events != EPOLLOUT {
		t.Fatalf("wait = %+v", ev[:n])
	}
	if n, _ := p.EpollWait(ev, 0); n != 1 {
		t.Fatalf("the reused descriptor's interest was lost: %d", n)
	}
	_ = cfd
}
