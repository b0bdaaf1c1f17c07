package synack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack/stack"
)

// Go's keepalive defaults for dialed and accepted connections (package
// net's defaultTCPKeepAliveIdle, Interval and Count): what a zero
// Dialer.KeepAlive or ListenConfig.KeepAlive turns on.
const (
	defaultKeepAliveIdle     = 15 * time.Second
	defaultKeepAliveInterval = 15 * time.Second
	defaultKeepAliveCount    = 9
)

// Dialer holds options for connecting through a stack, as net.Dialer does
// for the host's: the zero value with Stack set dials as Stack.DialContext
// does, plus Go's keepalive default. Its methods may be called
// concurrently.
//
// Timeout and Deadline are read on the stack's clock (Config.Clock): with a
// virtual clock they pass in virtual time, as the protocol's timers do. A
// deadline of the context passed to DialContext is the context's, in
// wall-clock time.
type Dialer struct {
	// Stack is the stack that dials; required.
	Stack *Stack

	// Timeout is the most a dial may take, name lookup included; zero
	// means no limit but the SYN retries' (about 127 s, as Linux's
	// tcp_syn_retries 6). A dial that runs out of time fails with an
	// error whose Timeout() is true and that errors.Is matches to
	// context.DeadlineExceeded and os.ErrDeadlineExceeded.
	Timeout time.Duration

	// Deadline is an absolute time (on the stack's clock) after which a
	// dial fails as Timeout says; zero for none. With both set, the
	// earlier wins.
	Deadline time.Time

	// LocalAddr is the local address to dial from: a *net.TCPAddr for
	// "tcp", a *net.UDPAddr for "udp". Its IP must be the stack's or
	// unspecified; a zero port picks an ephemeral one (RFC 6056). Nil for
	// the stack's address and an ephemeral port.
	LocalAddr net.Addr

	// KeepAlive is the idle time before the first keepalive probe of a
	// TCP connection dialed, as net.Dialer's: zero takes Go's default of
	// 15 s (probes then 15 s apart, 9 of them), a negative value turns
	// keepalive off. It is ignored when KeepAliveConfig.Enable is true.
	KeepAlive time.Duration

	// KeepAliveConfig sets keepalive in full, as net.Dialer's: when its
	// Enable is true it is applied as TCPConn.SetKeepAliveConfig would,
	// but with Go's defaults (15 s, 15 s, 9) for zero fields.
	KeepAliveConfig net.KeepAliveConfig
}

// Dialer returns a Dialer for st with Go's defaults, to set fields on.
func (st *Stack) Dialer() *Dialer { return &Dialer{Stack: st} }

// Dial connects to address on the named network, as net.Dial does
// (DialContext with context.Background()). With it, a *Stack satisfies
// golang.org/x/net/proxy's Dialer interface and others of that shape.
func (st *Stack) Dial(network, address string) (net.Conn, error) {
	return st.DialContext(context.Background(), network, address)
}

// Dial connects to address on the named network ("tcp", "tcp4", "udp",
// "udp4"), as net.Dialer's Dial.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on the named network with ctx, as
// net.Dialer's: a TCP connection is a *TCPConn, a UDP one a connected
// *UDPConn. A name is looked up with the stack's resolver (SetResolver).
// Cancelling ctx before the connection is made aborts the dial.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	st := d.Stack
	if st == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("synack.Dialer has no Stack")}
	}
	ctx, stop, timedOut := d.withDeadline(ctx)
	defer stop()
	if timedOut.Load() {
		return nil, &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Err: errDialTimeout}
	}
	c, err := d.dial(ctx, network, address)
	if err != nil {
		if timedOut.Load() {
			err = retimeout(err)
		}
		return nil, err
	}
	return c, nil
}

// dial is DialContext once ctx carries the dialer's deadline.
func (d *Dialer) dial(ctx context.Context, network, address string) (net.Conn, error) {
	st := d.Stack
	kind := "tcp"
	if network == "udp" || network == "udp4" {
		kind = "udp"
	}
	laddr, err := d.localFor(kind)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	ap, err := st.resolve(ctx, network, address, kind)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Err: err}
	}
	if kind == "udp" {
		c, err := st.DialUDPFrom(laddr, ap)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	c, err := st.DialTCPFrom(ctx, laddr, ap)
	if err != nil {
		return nil, err
	}
	if ka, on := keepAliveFor(d.KeepAlive, d.KeepAliveConfig); on {
		c.SetKeepAliveConfig(ka)
	}
	return c, nil
}

// localFor is LocalAddr as an AddrPort for a network of kind "tcp" or
// "udp", the zero AddrPort for none.
func (d *Dialer) localFor(kind string) (netip.AddrPort, error) {
	var ip net.IP
	var port int
	switch a := d.LocalAddr.(type) {
	case nil:
		return netip.AddrPort{}, nil
	case *net.TCPAddr:
		if kind != "tcp" || a == nil {
			return netip.AddrPort{}, fmt.Errorf("mismatched local address type %T for a %s dial", d.LocalAddr, kind)
		}
		ip, port = a.IP, a.Port
	case *net.UDPAddr:
		if kind != "udp" || a == nil {
			return netip.AddrPort{}, fmt.Errorf("mismatched local address type %T for a %s dial", d.LocalAddr, kind)
		}
		ip, port = a.IP, a.Port
	default:
		return netip.AddrPort{}, fmt.Errorf("mismatched local address type %T for a %s dial", d.LocalAddr, kind)
	}
	a := netip.IPv4Unspecified()
	if len(ip) > 0 {
		var ok bool
		if a, ok = netip.AddrFromSlice(ip); !ok || !a.Unmap().Is4() {
			return netip.AddrPort{}, fmt.Errorf("local address %v is not IPv4", ip)
		}
	}
	if port < 0 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("local port %d out of range", port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// withDeadline returns ctx cancelled at the earlier of Timeout and
// Deadline on the stack's clock, a function to release its timer, and a
// flag set when that timer fired.
func (d *Dialer) withDeadline(ctx context.Context) (context.Context, func(), *atomic.Bool) {
	timedOut := new(atomic.Bool)
	clk := d.Stack.s.Clock()
	var wait time.Duration
	switch now := clk.Now(); {
	case d.Timeout != 0 && !d.Deadline.IsZero():
		wait = min(d.Timeout, d.Deadline.Sub(now))
	case d.Timeout != 0:
		wait = d.Timeout
	case !d.Deadline.IsZero():
		wait = d.Deadline.Sub(now)
	default:
		return ctx, func() {}, timedOut
	}
	ctx, cancel := context.WithCancel(ctx)
	if wait <= 0 {
		timedOut.Store(true)
		cancel()
		return ctx, func() {}, timedOut
	}
	t := clk.AfterFunc(wait, func() {
		timedOut.Store(true)
		cancel()
	})
	return ctx, func() { t.Stop(); cancel() }, timedOut
}

// retimeout turns the context.Canceled a dial failed with, when the
// dialer's own timer cancelled it, into the timeout error Go's net gives.
func retimeout(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && errors.Is(op.Err, context.Canceled) {
		o := *op
		o.Err = errDialTimeout
		return &o
	}
	if errors.Is(err, context.Canceled) {
		return &net.OpError{Op: "dial", Net: "tcp", Err: errDialTimeout}
	}
	return err
}

// dialTimeout is the error of a dial that ran out of time: "i/o timeout",
// as package net says, a net.Error whose Timeout() is true, matched by
// errors.Is to context.DeadlineExceeded (as net's is) and to
// os.ErrDeadlineExceeded (as a deadline's is).
type dialTimeout struct{}

var errDialTimeout error = dialTimeout{}

func (dialTimeout) Error() string   { return "i/o timeout" }
func (dialTimeout) Timeout() bool   { return true }
func (dialTimeout) Temporary() bool { return true }
func (dialTimeout) Is(err error) bool {
	return err == context.DeadlineExceeded || err == os.ErrDeadlineExceeded
}

// keepAliveFor is the keepalive a dialed or accepted connection gets under
// Go's rules (net.newTCPConn): KeepAliveConfig when enabled, else idle
// time idle unless it is negative; zero fields take Go's defaults. It
// reports false when keepalive stays off.
func keepAliveFor(idle time.Duration, cfg net.KeepAliveConfig) (net.KeepAliveConfig, bool) {
	if !cfg.Enable {
		if idle < 0 {
			return cfg, false
		}
		cfg = net.KeepAliveConfig{Enable: true, Idle: idle}
	}
	if cfg.Idle == 0 {
		cfg.Idle = defaultKeepAliveIdle
	}
	if cfg.Interval == 0 {
		cfg.Interval = defaultKeepAliveInterval
	}
	if cfg.Count == 0 {
		cfg.Count = defaultKeepAliveCount
	}
	return cfg, true
}

// ListenConfig holds options for listening on a stack, as net.ListenConfig
// does: KeepAlive and KeepAliveConfig apply to every connection its
// listeners accept, with Go's rules and defaults (see Dialer.KeepAlive).
type ListenConfig struct {
	// Stack is the stack that listens; required.
	Stack *Stack

	// KeepAlive is the idle time before the first keepalive probe on an
	// accepted connection: zero for Go's 15 s, negative for off.
	KeepAlive time.Duration

	// KeepAliveConfig, when its Enable is true, is applied to accepted
	// connections instead, zero fields taking Go's defaults.
	KeepAliveConfig net.KeepAliveConfig

	// ReusePort lets several listeners (or, with ListenPacket, UDP
	// sockets) share one address and port, as
	// SO_REUSEPORT does on Linux (what a net.ListenConfig's Control sets
	// with unix.SetsockoptInt there): every listener of the port must set
	// it, and each new connection goes to one of them, chosen by a hash
	// of its 4-tuple, so one client's connection always reaches the same
	// listener and many clients spread over all. Closing one resets the
	// connections it has not accepted; the others serve on. A listener
	// without it and such a group exclude each other (EADDRINUSE).
	ReusePort bool
}

// Listen announces on address for a "tcp" or "tcp4" network, as
// net.ListenConfig's Listen, with a backlog of 128. ctx is not used once
// the listener is made, as in package net.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	if lc.Stack == nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errors.New("synack.ListenConfig has no Stack")}
	}
	if err := ctx.Err(); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	ap, err := parseAddrFor(network, address, "tcp")
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	sl, err := lc.Stack.s.ListenTCPOptions(ap, 128, stack.ListenOptions{ReusePort: lc.ReusePort})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(ap), Err: err}
	}
	l := &TCPListener{l: sl}
	if ka, on := keepAliveFor(lc.KeepAlive, lc.KeepAliveConfig); on {
		l.ka = &ka
	}
	return l, nil
}

// ListenPacket announces on address for a "udp" or "udp4" network, as
// net.ListenConfig's ListenPacket; with ReusePort the sockets of a port
// that all set it share it, each datagram going to the one connected to
// its source or else to one chosen by a hash of its 4-tuple.
func (lc *ListenConfig) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	if lc.Stack == nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errors.New("synack.ListenConfig has no Stack")}
	}
	if err := ctx.Err(); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	ap, err := parseAddrFor(network, address, "udp")
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	c, err := lc.Stack.s.ListenUDPOptions(ap, stack.ListenOptions{ReusePort: lc.ReusePort})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(ap), Err: err}
	}
	return newUDPConn(c), nil
}
