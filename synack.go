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
// Dialer and ListenConfig are net.Dialer's and net.ListenConfig's
// counterparts (timeouts on the stack's clock, Go's keepalive defaults),
// and TCPConn has net.TCPConn's calls: CloseRead, CloseWrite, SetLinger,
// SetReadBuffer, SetWriteBuffer, ReadFrom and WriteTo.
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
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/stack"
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
// it gives is dialed. Unlike net.Dial's, its connections have no
// keepalive unless set; a Dialer gives Go's default (15 s).
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
// Go asks for that). Accepted connections have no keepalive unless set; a
// ListenConfig gives them Go's default (15 s) or its own.
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
