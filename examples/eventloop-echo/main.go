// Command eventloop-echo is article 004's echo server made non-blocking
// (the article: "如果socket是非阻塞模式,accept此时会返回,并触发一个异常"):
// one loop, no thread per client, serves every connection at once. Each
// socket is non-blocking; poll says which can make progress; accept,
// recv and send that would block return EAGAIN and the loop moves on.
// It prints a line when it accepts a connection and when the client has
// closed it.
//
//	go run ./examples/eventloop-echo               # three synack clients connect at once
//	go run ./examples/eventloop-echo --tun tun0    # as root: the kernel's clients connect
//
// -n stops it after that many connections have closed (over the pipe, by
// default, after the peer's).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"syscall"

	"github.com/synack-net/synack/bsd"
	"github.com/synack-net/synack/examples/internal/rig"
)

var (
	conns = 0 // -n
	peers = 3 // clients the peer connects over the pipe (a test sets it)
)

func main() { rig.Main("eventloop-echo", flags, serve) }

func flags(fs *flag.FlagSet) {
	fs.IntVar(&conns, "n", 0, "connections to serve before stopping (0: forever; over the pipe: the peer's)")
}

// client is what the loop knows of one connection.
type client struct {
	peer    netip.AddrPort
	pending []byte // received, not yet sent back
	echoed  int
	eof     bool // the client has closed its side
}

func serve(l *rig.Rig, out io.Writer) error {
	h := l.Host
	server, err := h.Socket(bsd.AF_INET, bsd.SOCK_STREAM|bsd.SOCK_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer h.Close(server)
	if err := h.SetsockoptInt(server, bsd.SOL_SOCKET, bsd.SO_REUSEADDR, 1); err != nil {
		return err
	}
	if err := h.Bind(server, netip.AddrPortFrom(netip.IPv4Unspecified(), 8000)); err != nil {
		return err
	}
	if err := h.Listen(server, 128); err != nil {
		return err
	}
	n := conns
	l.Clients(8000, peers, "hello-world") // over the pipe: the peer's; over TUN, nothing
	if l.Peer != nil && n == 0 {
		n = peers
	}
	clients := make(map[int]*client)
	var fds []bsd.PollFd
	for closed := 0; n == 0 || closed < n; {
		// What to wait for: new connections on the listener; text from
		// each client, and room to send when an echo is pending.
		fds = append(fds[:0], bsd.PollFd{Fd: server, Events: bsd.POLLIN})
		for fd, c := range clients {
			ev := int16(bsd.POLLIN)
			if len(c.pending) > 0 {
				ev |= bsd.POLLOUT
			}
			fds = append(fds, bsd.PollFd{Fd: fd, Events: ev})
		}
		if _, err := h.Poll(fds, -1); err != nil {
			return err
		}
		for _, p := range fds {
			switch {
			case p.Revents == 0:
			case p.Fd == server:
				if err := acceptAll(h, server, clients, out); err != nil {
					return err
				}
			default:
				done, err := progress(h, p.Fd, clients[p.Fd])
				if err != nil {
					return err
				}
				if done {
					c := clients[p.Fd]
					fmt.Fprintf(out, "%v: echoed %d bytes, closed\n", c.peer, c.echoed)
					delete(clients, p.Fd)
					h.Close(p.Fd)
					closed++
				}
			}
		}
	}
	for fd := range clients {
		h.Close(fd)
	}
	return nil
}

// acceptAll takes every connection waiting on the listener, each made
// non-blocking, until accept says EAGAIN.
func acceptAll(h *bsd.Host, server int, clients map[int]*client, out io.Writer) error {
	for {
		fd, addr, err := h.Accept4(server, bsd.SOCK_NONBLOCK)
		if errors.Is(err, syscall.EAGAIN) {
			return nil
		} else if err != nil {
			return err
		}
		clients[fd] = &client{peer: addr}
		fmt.Fprintf(out, "accepted %v\n", addr)
	}
}

// progress reads what fd has and sends back what it can, and reports
// whether the connection is done: the client closed its side and every
// byte went back.
func progress(h *bsd.Host, fd int, c *client) (bool, error) {
	var buf [1024]byte
	for !c.eof {
		n, err := h.Recv(fd, buf[:], 0)
		if errors.Is(err, syscall.EAGAIN) {
			break
		} else if err != nil {
			return true, nil // reset: nothing more to do for it
		}
		if n == 0 {
			c.eof = true
		}
		c.pending = append(c.pending, buf[:n]...)
	}
	for len(c.pending) > 0 {
		n, err := h.Send(fd, c.pending, 0)
		if errors.Is(err, syscall.EAGAIN) {
			break
		} else if err != nil {
			return true, nil
		}
		c.echoed += n
		c.pending = c.pending[n:]
	}
	return c.eof && len(c.pending) == 0, nil
}
