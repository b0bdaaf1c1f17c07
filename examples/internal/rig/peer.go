package rig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
)

// The peer's roles over the pipe, each the other side of an article's
// exchange, written with synack's net API (the shape Go programs have)
// so that it reads apart from the examples' socket calls. Over TUN each
// does nothing: the kernel's programs play the peer.

// EchoServer listens on the peer's port and echoes every connection
// until the client closes, one connection after another, until Finish:
// the server of articles 004 and 001, for their clients.
func (l *Rig) EchoServer(port uint16) error {
	if l.Peer == nil {
		return nil
	}
	ln, err := l.Peer.ListenTCP(netip.AddrPortFrom(l.PeerAddr, port), 5)
	if err != nil {
		return err
	}
	l.onFinish(ln.Close)
	l.Go(func() error {
		conns, bytes := 0, int64(0)
		defer func() { l.Say("echo server on %v: served %d connections, echoed %d bytes", ln.Addr(), conns, bytes) }()
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return nil
			} else if err != nil {
				return err
			}
			conns++
			n, err := io.Copy(c, c) // until the client's FIN
			bytes += n
			c.Close()
			if err != nil {
				return err
			}
		}
	})
	return nil
}

// OneShotServer is article 000's server as the peer: it accepts one
// connection on port, reads once (up to 1024 bytes) and closes, sending
// nothing back.
func (l *Rig) OneShotServer(port uint16) error {
	if l.Peer == nil {
		return nil
	}
	ln, err := l.Peer.ListenTCP(netip.AddrPortFrom(l.PeerAddr, port), 1)
	if err != nil {
		return err
	}
	l.onFinish(ln.Close)
	l.Go(func() error {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		buf := make([]byte, 1024)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		l.Say("one-shot server on %v: received %q, closed without answering", ln.Addr(), buf[:n])
		return c.Close()
	})
	return nil
}

// Clients connects n clients at once to the example's server at port,
// which a server calls once it listens (over TUN too: Serving is then
// closed): client i sends msg (with " i" after it when n > 1),
// reads until the server closes and closes. Each client's line of the
// transcript says what it got back, in the order of i.
func (l *Rig) Clients(port uint16, n int, msg string) {
	l.serving()
	if l.Peer == nil {
		return
	}
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		m := msg
		if n > 1 {
			m = fmt.Sprintf("%s %d", msg, i)
		}
		wg.Add(1)
		l.Go(func() error {
			defer wg.Done()
			c, err := l.Peer.DialTCP(context.Background(), netip.AddrPortFrom(l.Addr, port))
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.Write([]byte(m)); err != nil {
				return err
			}
			// Half-close, as a client that has said all it had to: the
			// server reads the end of the stream after the text.
			if err := c.CloseWrite(); err != nil {
				return err
			}
			back, err := io.ReadAll(c)
			got[i] = fmt.Sprintf("client %d: sent %q, received %q", i, m, back)
			return err
		})
	}
	l.Go(func() error {
		wg.Wait()
		for _, g := range got {
			l.Say("%s", g)
		}
		return nil
	})
}

// UDPEchoServer answers every datagram to the peer's port with the same
// bytes, until Finish.
func (l *Rig) UDPEchoServer(port uint16) error {
	if l.Peer == nil {
		return nil
	}
	pc, err := l.Peer.ListenUDP(netip.AddrPortFrom(l.PeerAddr, port))
	if err != nil {
		return err
	}
	l.onFinish(pc.Close)
	l.Go(func() error {
		n := 0
		defer func() { l.Say("UDP echo server on %v: echoed %d datagrams", pc.LocalAddr(), n) }()
		buf := make([]byte, 65535)
		for {
			k, from, err := pc.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return nil
			} else if err != nil {
				return err
			}
			if _, err := pc.WriteToUDPAddrPort(buf[:k], from); err != nil {
				return err
			}
			n++
		}
	})
	return nil
}

// UDPClient sends msg in one datagram to the example's port and waits
// for the answer; a server calls it once its socket is bound (over TUN
// too: Serving is then closed).
func (l *Rig) UDPClient(port uint16, msg string) {
	l.serving()
	if l.Peer == nil {
		return
	}
	l.Go(func() error {
		c, err := l.Peer.DialUDP(netip.AddrPortFrom(l.Addr, port))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		l.Say("UDP client: sent %q, received %q", msg, buf[:n])
		return nil
	})
}

// Serving is closed once the example's server has its socket listening
// (or bound, for UDP): a test over TUN starts the kernel's client then.
func (l *Rig) Serving() <-chan struct{} {
	l.serveMu.Lock()
	defer l.serveMu.Unlock()
	if l.serveCh == nil {
		l.serveCh = make(chan struct{})
	}
	return l.serveCh
}

// serving closes Serving's channel.
func (l *Rig) serving() {
	l.Serving()
	l.serveMu.Lock()
	defer l.serveMu.Unlock()
	if !l.served {
		l.served = true
		close(l.serveCh)
	}
}
