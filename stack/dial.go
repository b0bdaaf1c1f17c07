package stack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"sync"
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
	c, err := s.dialTCP(local, remote, 0)
	if err != nil {
		return nil, err
	}
	if err := c.waitEstablished(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// dialTCP is DialTCP up to the SYN sent: the socket in SYN-SENT.
// maxSeg, if not 0, is the socket's TCP_MAXSEG, set before the SYN.
func (s *Stack) dialTCP(local, remote netip.AddrPort, maxSeg int) (*TCPConn, error) {
	if ra := remote.Addr(); !remote.IsValid() || !ra.Is4() || ra.IsUnspecified() || ra.IsMulticast() ||
		ra == limitedBroadcast || ra == s.bcast || remote.Port() == 0 {
		return nil, errBadRemote
	}
	if local.Addr().IsValid() && !local.Addr().IsUnspecified() && local.Addr() != s.addr {
		return nil, syscall.EADDRNOTAVAIL
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if _, err := s.route(remote.Addr()); err != nil {
		return nil, err
	}
	port := local.Port()
	if port == 0 {
		p, err := s.pickPort(s.addr, remote)
		if err != nil {
			return nil, err
		}
		port = p
	}
	la := netip.AddrPortFrom(s.addr, port)
	k := keyOf(la, remote)
	sh := s.shardOf(k)
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return nil, ErrClosed
	}
	if sh.conns[k] != nil || sh.tws[k] != nil {
		sh.mu.Unlock()
		return nil, syscall.EADDRINUSE
	}
	now := s.clk.Now()
	if !s.admitConnLocked(now) {
		sh.mu.Unlock()
		return nil, ErrConnectionLimit
	}
	c := sh.newConnLocked(now, la, remote)
	c.conn.SetTimestampOffset(s.isn.TimestampOffset(la, remote))
	c.conn.SetMaxSegment(maxSeg)
	_ = c.conn.Connect(now, s.isn.ISN(now, la, remote))
	sh.afterLocked(c)
	sh.unlockAndFlush()
	return c, nil
}

// TCPListener is a listening socket: the engine's Listener and its queues.
// Its mu guards the engine's Listener and what the engine's calls on the
// connections still in its queues change (lockListener); it is taken
// after the shard lock of such a connection, never before.
type TCPListener struct {
	s    *Stack
	addr netip.Addr // unspecified: any local address
	port uint16
	born stamp // when Listen made it
	dl   deadline

	reusePort bool // a member of a group (reuseport.go); set when made

	mu       sync.Mutex
	l        *tcp.Listener
	ready    waiter                 // signalled when the accept queue grows or the listener closes
	children map[*tcp.Conn]*TCPConn // the connections it made, until accepted or closed
	closed   bool
}

// ListenTCP opens a listener on local (RFC 9293 §3.10.1, passive OPEN) with
// an accept queue of backlog connections. A zero port picks a free one.
// A port held by another listener is EADDRINUSE (ListenTCPOptions shares
// it).
func (s *Stack) ListenTCP(local netip.AddrPort, backlog int) (*TCPListener, error) {
	return s.listenTCP(local, backlog, false)
}

// listenTCP is ListenTCP, joining the port's group when reusePort
// (reuseport.go).
func (s *Stack) listenTCP(local netip.AddrPort, backlog int, reusePort bool) (*TCPListener, error) {
	if a := local.Addr(); a.IsValid() && !a.IsUnspecified() && a != s.addr {
		return nil, syscall.EADDRNOTAVAIL
	}
	if backlog < 0 {
		return nil, fmt.Errorf("listen: negative backlog %d", backlog)
	}
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.closed.Load() {
		return nil, ErrClosed
	}
	old := *s.listeners.Load()
	port := local.Port()
	if port == 0 {
		for p := uint16(ephemeralFirst); p <= ephemeralLast; p++ {
			if old[p] == nil {
				port = p
				break
			}
		}
	}
	addr := local.Addr()
	if addr.IsValid() && addr.IsUnspecified() {
		addr = netip.Addr{}
	}
	if port == 0 {
		return nil, syscall.EADDRINUSE
	}
	if err := old[port].joins(addr, reusePort); err != nil {
		return nil, err
	}
	l := &TCPListener{s: s, l: tcp.NewListener(&s.tcp, backlog), addr: addr, port: port,
		born: s.stampOf(s.clk.Now()), reusePort: reusePort, children: make(map[*tcp.Conn]*TCPConn)}
	m := maps.Clone(old)
	m[port] = append(slices.Clip(old[port]), l) // a new slice: readers hold the old one
	s.listeners.Store(&m)
	return l, nil
}

// adopt makes c, just made in its shard, a child of l until it is
// accepted or closed (the shard's mu and l's held).
func (l *TCPListener) adopt(c *TCPConn) {
	c.listener = l
	l.children[c.conn] = c
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
	l.mu.Lock()
	l.ready.signal()
	l.mu.Unlock()
}

// Backlog, HalfOpen and Ready report the listener's bound and queue lengths.
func (l *TCPListener) Backlog() int { return l.l.Backlog() }

// HalfOpen is the number of connections in SYN-RECEIVED (the SYN queue).
func (l *TCPListener) HalfOpen() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.l.HalfOpen()
}

// Ready is the number of established connections waiting for Accept.
func (l *TCPListener) Ready() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.l.Ready()
}

// Accept waits for and returns the next established connection.
func (l *TCPListener) Accept(ctx context.Context) (*TCPConn, error) {
	for {
		if l.dl.expired() {
			return nil, os.ErrDeadlineExceeded
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, ErrClosed
		}
		if tc := l.l.Accept(); tc != nil {
			c := l.children[tc]
			delete(l.children, tc)
			l.mu.Unlock()
			// Until c.listener is cleared, under c's shard lock (taken
			// after l's is let go: the lock order), the engine's calls on
			// c still take l's lock; they find it out of every queue.
			sh := c.s
			sh.mu.Lock()
			c.listener = nil
			sh.mu.Unlock()
			return c, nil
		}
		ch := l.ready.add()
		l.mu.Unlock()
		if l.ready.block(&l.mu, ch, l.dl.wait(), ctx.Done()) {
			return nil, ctx.Err()
		}
	}
}

// Close stops listening; connections not yet accepted are reset. The
// other members of its group, if any, keep the port.
func (l *TCPListener) Close() error {
	if !l.close(l.s.clk.Now()) {
		return ErrClosed
	}
	return nil
}

// close stops listening and resets the connections not yet accepted; it
// reports false if l was closed already. No new child is made once closed
// is set (listenInput checks it under l's lock), so the children taken
// then are all there are; each is reset under its shard's lock, then l's.
// l leaves the table first, so that new SYNs for a group's port go to the
// members left rather than meet l closing.
func (l *TCPListener) close(now time.Time) bool {
	s := l.s
	s.lmu.Lock()
	if old := *s.listeners.Load(); slices.Contains(old[l.port], l) {
		m := maps.Clone(old)
		if g := old[l.port].without(l); g != nil {
			m[l.port] = g // the group serves on (reuseport.go)
		} else {
			delete(m, l.port)
		}
		s.listeners.Store(&m)
	}
	s.lmu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.closed = true
	l.ready.signal()
	kids := slices.Collect(maps.Values(l.children))
	l.mu.Unlock()
	for _, c := range kids {
		sh := c.s
		sh.mu.Lock()
		if c.listener == l {
			l.mu.Lock()
			if c.conn.Listener() != nil { // not taken off the accept queue meanwhile
				c.conn.Abort(now)
				sh.afterLocked(c)
			}
			l.mu.Unlock()
		}
		sh.unlockAndFlush()
	}
	return true
}
