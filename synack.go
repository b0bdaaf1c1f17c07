// Package synack is a userspace TCP/IP stack with the Go net API.
//
// A [Stack] is one host on a link. Packets travel through the layers the
// way the articles behind this project draw them:
//
//	application   net.Conn / net.Listener from this package; net/http runs on it unchanged
//	transport     package tcp: the sans-I/O engine, RFC 9293's state machine;
//	              package udp: datagrams, checksums, bounded receive queues
//	network       package stack: IPv4, ICMP, routes, demultiplexing, sockets, timers
//	link          package link: an Endpoint carrying raw IPv4 packets
//	              (link/pipe joins two stacks in memory; anyone can implement one)
//
// Package wire holds the header formats, seqnum the sequence arithmetic,
// clock the real and virtual clocks and trace the events every segment and
// state change produces.
//
// UDPConn is UDP (ListenUDP, DialUDP, ListenPacket, DialContext with
// "udp"), Resolver gives Go's own DNS resolver dialing through the stack,
// and Ping sends ICMP echo requests.
//
// Errors returned by this package are *net.OpError values that errors.Is
// matches to syscall.ECONNREFUSED, syscall.ETIMEDOUT, syscall.ECONNRESET,
// syscall.EHOSTUNREACH, syscall.EADDRINUSE, os.ErrDeadlineExceeded and
// net.ErrClosed; reads end with io.EOF after a clean close.
package synack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/tcp"
)

// Config describes a stack: its address, clock, TCP settings and tracing.
type Config = stack.Config

// Stack is a host running synack's TCP/IP on one link endpoint.
type Stack struct {
	s        *stack.Stack
	resolver atomic.Pointer[net.Resolver] // SetResolver's; nil for none
}

// New starts a stack on ep. cfg.Addr is required, e.g. 10.0.0.1/24; zero
// fields take their defaults. A configuration that makes no sense (a
// negative size, an MSS outside 88..MTU-40, MinRTO above MaxRTO, an
// address that cannot be a host's, an endpoint another live stack holds)
// is an error naming each wrong field, a *tcp.ConfigError (errors.As).
func New(ep link.Endpoint, cfg Config) (*Stack, error) {
	s, err := stack.New(ep, cfg)
	if err != nil {
		return nil, err
	}
	return &Stack{s: s}, nil
}

// Close aborts every connection and listener of the stack.
func (st *Stack) Close() error { return st.s.Close() }

// Addr is the stack's IPv4 address.
func (st *Stack) Addr() netip.Addr { return st.s.Addr() }

// Sockets is the socket table: every listener and connection, as netstat shows them.
func (st *Stack) Sockets() []stack.SocketInfo { return st.s.Sockets() }

// Snapshot is the stack's counters and socket table as plain values, which
// encoding/json renders and expvar.Func publishes (stack.Snapshot).
func (st *Stack) Snapshot() stack.Snapshot { return st.s.Snapshot() }

// Internals returns the stack package's view of this stack: counters,
// socket table and routes.
func (st *Stack) Internals() *stack.Stack { return st.s }

// DialTCP connects to raddr from an ephemeral port and returns when the
// three-way handshake is done or has failed.
func (st *Stack) DialTCP(ctx context.Context, raddr netip.AddrPort) (*TCPConn, error) {
	return st.DialTCPFrom(ctx, netip.AddrPort{}, raddr)
}

// DialTCPFrom is DialTCP from a chosen local address and port.
func (st *Stack) DialTCPFrom(ctx context.Context, laddr, raddr netip.AddrPort) (*TCPConn, error) {
	c, err := st.s.DialTCP(ctx, laddr, raddr)
	if err != nil {
		var src net.Addr
		if laddr.IsValid() {
			src = net.TCPAddrFromAddrPort(laddr)
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Source: src, Addr: net.TCPAddrFromAddrPort(raddr), Err: err}
	}
	return newConn(c), nil
}

// DialContext dials with net.Dialer's signature, for
// http.Transport.DialContext and the like: a "tcp" or "tcp4" network
// gives a *TCPConn, "udp" or "udp4" a connected *UDPConn. The address is
// "host:port"; a host that is not an IPv4 address is looked up with the
// resolver set by SetResolver (see Resolver), and the first IPv4 address
// it gives is dialed.
func (st *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	kind := "tcp"
	if network == "udp" || network == "udp4" {
		kind = "udp"
	}
	ap, err := st.resolve(ctx, network, address, kind)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if kind == "udp" {
		c, err := st.DialUDP(ap)
		if err != nil {
			return nil, err // a nil net.Conn, not a nil *UDPConn in one
		}
		return c, nil
	}
	c, err := st.DialTCP(ctx, ap)
	if err != nil {
		return nil, err // a nil net.Conn, not a nil *TCPConn in one
	}
	return c, nil
}

// ListenTCP listens on laddr (its address may be unspecified, its port
// zero for any) with an accept queue of backlog connections.
func (st *Stack) ListenTCP(laddr netip.AddrPort, backlog int) (*TCPListener, error) {
	l, err := st.s.ListenTCP(laddr, backlog)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(laddr), Err: err}
	}
	return &TCPListener{l: l}, nil
}

// Listen is ListenTCP for a "tcp" or "tcp4" network and an "ip:port" or
// ":port" address, with a backlog of 128 (Linux's default somaxconn is 4096;
// Go asks for that).
func (st *Stack) Listen(network, address string) (net.Listener, error) {
	ap, err := parseAddrFor(network, address, "tcp")
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	l, err := st.ListenTCP(ap, 128)
	if err != nil {
		return nil, err // a nil net.Listener, not a nil *TCPListener in one
	}
	return l, nil
}

// parseAddrFor reads "ip:port" or ":port" for a network of kind "tcp"
// or "udp" (and their "4" forms).
func parseAddrFor(network, address, kind string) (netip.AddrPort, error) {
	host, port, err := splitFor(network, address, kind)
	if err != nil {
		return netip.AddrPort{}, err
	}
	a := netip.IPv4Unspecified()
	if host != "" {
		if a, err = netip.ParseAddr(host); err != nil || !a.Is4() {
			return netip.AddrPort{}, fmt.Errorf("host %q is not an IPv4 address", host)
		}
	}
	return netip.AddrPortFrom(a, port), nil
}

// splitFor splits "host:port" for a network of kind "tcp" or "udp".
func splitFor(network, address, kind string) (string, uint16, error) {
	if network != kind && network != kind+"4" {
		return "", 0, fmt.Errorf("network %q not supported here: use %q or %q (Listen is TCP's; ListenPacket UDP's)", network, kind, kind+"4")
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q in %q", port, address)
	}
	return host, uint16(p), nil
}

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
	l *stack.TCPListener
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
	return newConn(c), nil
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
