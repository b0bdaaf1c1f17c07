package synack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/tcp"
)

// TCPConn is a TCP connection implementing net.Conn, with CloseWrite for
// half-close.
type TCPConn struct {
	c *stack.TCPConn
	// The net.Addr forms of the endpoints, made when first asked for and
	// kept, as package net keeps them: an idle connection that nobody asks
	// does without them (two *net.TCPAddr and their IPs, about a tenth of
	// an idle connection's memory).
	local, remote atomic.Pointer[net.TCPAddr]
}

var _ net.Conn = (*TCPConn)(nil)

func newConn(c *stack.TCPConn) *TCPConn { return &TCPConn{c: c} }

// addr returns *p, made from ap the first time.
func addr(p *atomic.Pointer[net.TCPAddr], ap netip.AddrPort) *net.TCPAddr {
	if a := p.Load(); a != nil {
		return a
	}
	p.CompareAndSwap(nil, net.TCPAddrFromAddrPort(ap))
	return p.Load()
}

func (c *TCPConn) opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read reads data; io.EOF once the peer has closed and all data is read.
func (c *TCPConn) Read(p []byte) (int, error) {
	n, err := c.c.Read(p)
	if err == io.EOF {
		return n, err // io.EOF stays bare, as in package net
	}
	return n, c.opErr("read", err)
}

// Write writes all of p unless the connection fails or the deadline passes.
// Writes from several goroutines do not interleave: each one's bytes are
// contiguous in the stream, as with package net (stack.TCPConn.Write).
func (c *TCPConn) Write(p []byte) (int, error) {
	n, err := c.c.Write(p)
	return n, c.opErr("write", err)
}

// Close closes the connection (a FIN after the queued data).
func (c *TCPConn) Close() error { return c.opErr("close", c.c.Close()) }

// CloseWrite shuts down the sending side only: the peer reads EOF, and this
// side can go on reading (half-close).
func (c *TCPConn) CloseWrite() error { return c.opErr("close", c.c.CloseWrite()) }

// Abort closes the connection with a reset instead of a FIN (RFC 9293
// §3.10.5 ABORT; Close with SO_LINGER 0): data queued either way is
// discarded, the peer's calls fail with ECONNRESET, and nothing lingers in
// TIME-WAIT. Blocked and later calls return net.ErrClosed.
func (c *TCPConn) Abort() error { return c.opErr("abort", c.c.Abort()) }

// LocalAddr returns the local *net.TCPAddr.
func (c *TCPConn) LocalAddr() net.Addr { return addr(&c.local, c.c.LocalAddr()) }

// RemoteAddr returns the peer's *net.TCPAddr.
func (c *TCPConn) RemoteAddr() net.Addr { return addr(&c.remote, c.c.RemoteAddr()) }

// SetDeadline sets the read and write deadlines.
func (c *TCPConn) SetDeadline(t time.Time) error {
	c.c.SetReadDeadline(t)
	c.c.SetWriteDeadline(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *TCPConn) SetReadDeadline(t time.Time) error { c.c.SetReadDeadline(t); return nil }

// SetWriteDeadline sets the write deadline.
func (c *TCPConn) SetWriteDeadline(t time.Time) error { c.c.SetWriteDeadline(t); return nil }

// SetKeepAlive turns keepalive probes on or off (RFC 1122 §4.2.3.6), with
// the idle time, interval and count in force (defaults 2 h, 75 s, 9).
func (c *TCPConn) SetKeepAlive(on bool) error {
	k := c.c.KeepAlive()
	k.Enable = on
	c.c.SetKeepAlive(k)
	return nil
}

// SetKeepAlivePeriod sets how long the connection must be idle before the
// first keepalive probe, as net.TCPConn's does.
func (c *TCPConn) SetKeepAlivePeriod(d time.Duration) error {
	if d < 0 {
		return c.opErr("set", fmt.Errorf("negative keepalive period %v", d))
	}
	k := c.c.KeepAlive()
	k.Idle = d
	c.c.SetKeepAlive(k)
	return nil
}

// SetKeepAliveConfig sets keepalive as net.TCPConn's does: zero Idle,
// Interval or Count take the defaults, negative ones leave the current value.
func (c *TCPConn) SetKeepAliveConfig(cfg net.KeepAliveConfig) error {
	k := c.c.KeepAlive()
	k.Enable = cfg.Enable
	if cfg.Idle >= 0 {
		k.Idle = cfg.Idle
	}
	if cfg.Interval >= 0 {
		k.Interval = cfg.Interval
	}
	if cfg.Count >= 0 {
		k.Count = cfg.Count
	}
	c.c.SetKeepAlive(k)
	return nil
}

// SetNoDelay controls Nagle's algorithm (RFC 9293 §3.7.4) as
// net.TCPConn's does: true (the default) sends each write at once; false
// holds a short segment while earlier data is unacknowledged, so small
// writes coalesce.
func (c *TCPConn) SetNoDelay(noDelay bool) error {
	c.c.SetNoDelay(noDelay)
	return nil
}

// SetUserTimeout sets the connection's user timeout, as Linux's
// TCP_USER_TIMEOUT socket option (RFC 5482): when sent data stays
// unacknowledged, or zero-window or keepalive probes go unanswered, for
// longer than d, the connection fails with an error matching
// syscall.ETIMEDOUT, whatever the retry count. 0 (the default) turns it
// off; d must not be negative.
func (c *TCPConn) SetUserTimeout(d time.Duration) error {
	if d < 0 {
		return c.opErr("set", fmt.Errorf("negative user timeout %v", d))
	}
	c.c.SetUserTimeout(d)
	return nil
}

// Info is the connection's row of the socket table: addresses, state,
// queues and segments so far, and its inner TCP state (Info.TCP).
func (c *TCPConn) Info() stack.SocketInfo { return c.c.Info() }

// State is the connection's TCP state, e.g. tcp.StateEstablished.
func (c *TCPConn) State() tcp.State { return c.c.State() }

// TCPListener is a listening socket implementing net.Listener.
type TCPListener struct {
	l  *stack.TCPListener
	ka *net.KeepAliveConfig // what accepted connections get (ListenConfig); nil for none
}

var _ net.Listener = (*TCPListener)(nil)

// Accept waits for the next connection the handshake has completed.
func (l *TCPListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err // a nil net.Conn, not a nil *TCPConn in one
	}
	return c, nil
}

// AcceptTCP is Accept returning the concrete type.
func (l *TCPListener) AcceptTCP() (*TCPConn, error) {
	c, err := l.l.Accept(context.Background())
	if err != nil {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: err}
	}
	tc := newConn(c)
	if l.ka != nil {
		tc.SetKeepAliveConfig(*l.ka)
	}
	return tc, nil
}

// Close stops listening; connections not yet accepted are reset.
func (l *TCPListener) Close() error {
	if err := l.l.Close(); err != nil {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.Addr(), Err: err}
	}
	return nil
}

// Addr is the listening address.
func (l *TCPListener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.l.Addr()) }

// SetDeadline sets when Accept gives up with os.ErrDeadlineExceeded.
func (l *TCPListener) SetDeadline(t time.Time) error { l.l.SetDeadline(t); return nil }

// Backlog is the accept queue's bound; Ready and HalfOpen its contents.
func (l *TCPListener) Backlog() int { return l.l.Backlog() }

// Ready is the number of established connections waiting for Accept.
func (l *TCPListener) Ready() int { return l.l.Ready() }

// HalfOpen is the number of connections still in SYN-RECEIVED.
func (l *TCPListener) HalfOpen() int { return l.l.HalfOpen() }
