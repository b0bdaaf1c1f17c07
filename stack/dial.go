package stack

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/synack-net/synack/tcp"
)

var errBadRemote = errors.New("need an IPv4 unicast address and a nonzero port to dial")

// DialTCP opens a connection to remote (RFC 9293 §3.10.1, active OPEN) and
// waits for the handshake. local may be the zero AddrPort; a zero port is
// chosen from the ephemeral range. It fails with ECONNREFUSED when the peer
// resets the SYN, ETIMEDOUT when SYN retries run out, EHOSTUNREACH or
// ENETUNREACH on an ICMP error or missing route, or ctx's error.
func (s *Stack) DialTCP(ctx context.Context, local, remote netip.AddrPort) (*TCPConn, error) {
	if ra := remote.Addr(); !remote.IsValid() || !ra.Is4() || ra.IsUnspecified() || ra.IsMulticast() ||
		ra == limitedBroadcast || ra == s.bcast || remote.Port() == 0 {
		return nil, errBadRemote
	}
	if local.Addr().IsValid() && !local.Addr().IsUnspecified() && local.Addr() != s.addr {
		return nil, syscall.EADDRNOTAVAIL
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if _, err := s.route(remote.Addr()); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	port := local.Port()
	if port == 0 {
		p, err := s.pickPort(s.addr, remote)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		port = p
	}
	la := netip.AddrPortFrom(s.addr, port)
	if k := keyOf(la, remote); s.conns[k] != nil || s.tws[k] != nil {
		s.mu.Unlock()
		return nil, syscall.EADDRINUSE
	}
	now := s.clk.Now()
	if !s.admitConnLocked(now) {
		s.mu.Unlock()
		return nil, ErrConnectionLimit
	}
	c := s.newConnLocked(la, remote)
	c.conn.SetTimestampOffset(s.isn.TimestampOffset(la, remote))
	_ = c.conn.Connect(now, s.isn.ISN(now, la, remote))
	s.afterLocked(c)
	s.unlockAndFlush()
	if err := c.waitEstablished(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// TCPListener is a listening socket: the engine's Listener and its queues.
type TCPListener struct {
	s      *Stack
	l      *tcp.Listener
	addr   netip.Addr // unspecified: any local address
	port   uint16
	ready  waiter // signalled when the accept queue grows or the listener closes
	closed bool
	dl     deadline
}

// ListenTCP opens a listener on local (RFC 9293 §3.10.1, passive OPEN) with
// an accept queue of backlog connections. A zero port picks a free one.
func (s *Stack) ListenTCP(local netip.AddrPort, backlog int) (*TCPListener, error) {
	if a := local.Addr(); a.IsValid() && !a.IsUnspecified() && a != s.addr {
		return nil, syscall.EADDRNOTAVAIL
	}
	if backlog < 0 {
		return nil, fmt.Errorf("listen: negative backlog %d", backlog)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	port := local.Port()
	if port == 0 {
		for p := uint16(ephemeralFirst); p <= ephemeralLast; p++ {
			if s.listeners[p] == nil {
				port = p
				break
			}
		}
	}
	if port == 0 || s.listeners[port] != nil {
		return nil, syscall.EADDRINUSE
	}
	l := &TCPListener{s: s, l: tcp.NewListener(&s.tcp, backlog), addr: local.Addr(), port: port}
	if l.addr.IsValid() && l.addr.IsUnspecified() {
		l.addr = netip.Addr{}
	}
	s.listeners[port] = l
	return l, nil
}

// Addr is the address the listener is bound to (the stack's, if it took any).
func (l *TCPListener) Addr() netip.AddrPort {
	a := l.addr
	if !a.IsValid() {
		a = l.s.addr
	}
	return netip.AddrPortFrom(a, l.port)
}

// SetDeadline sets when blocked and future Accept calls fail with os.ErrDeadlineExceeded.
func (l *TCPListener) SetDeadline(t time.Time) {
	l.dl.set(t)
	l.s.mu.Lock()
	l.ready.signal()
	l.s.mu.Unlock()
}

// Backlog, HalfOpen and Ready report the listener's bound and queue lengths.
func (l *TCPListener) Backlog() int { return l.l.Backlog() }

// HalfOpen is the number of connections in SYN-RECEIVED (the SYN queue).
func (l *TCPListener) HalfOpen() int {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return l.l.HalfOpen()
}

// Ready is the number of established connections waiting for Accept.
func (l *TCPListener) Ready() int {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return l.l.Ready()
}

// Accept waits for and returns the next established connection.
func (l *TCPListener) Accept(ctx context.Context) (*TCPConn, error) {
	s := l.s
	for {
		if l.dl.expired() {
			return nil, os.ErrDeadlineExceeded
		}
		s.mu.Lock()
		if l.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if tc := l.l.Accept(); tc != nil {
			c := s.conns[keyOf(tc.Local, tc.Remote)]
			c.listener = nil
			s.mu.Unlock()
			return c, nil
		}
		ch := l.ready.add()
		s.mu.Unlock()
		if l.ready.block(&s.mu, ch, l.dl.wait(), ctx.Done()) {
			return nil, ctx.Err()
		}
	}
}

// Close stops listening; connections not yet accepted are reset.
func (l *TCPListener) Close() error {
	s := l.s
	s.mu.Lock()
	if l.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closeListenerLocked(l, s.clk.Now())
	s.unlockAndFlush()
	return nil
}

func (s *Stack) closeListenerLocked(l *TCPListener, now time.Time) {
	l.closed = true
	l.ready.signal()
	if s.listeners[l.port] == l {
		delete(s.listeners, l.port)
	}
	for _, c := range s.conns {
		if c.listener == l {
			c.conn.Abort(now)
			s.afterLocked(c)
		}
	}
}
