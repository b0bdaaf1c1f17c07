package synack

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/synack-net/synack/stack"
)

// UDPConn is a UDP socket implementing net.PacketConn and, when connected
// (DialUDP), net.Conn: Read and Write then go to and from its peer alone,
// and an ICMP port unreachable about a datagram it sent makes its next
// call fail with an error matching syscall.ECONNREFUSED, as on Linux.
// Reads and writes allocate nothing in steady state.
type UDPConn struct {
	c *stack.UDPSocket
	// The net.Addr forms of the endpoints, made once.
	local, remote net.Addr
}

var (
	_ net.PacketConn = (*UDPConn)(nil)
	_ net.Conn       = (*UDPConn)(nil)
)

// ListenUDP opens a UDP socket on laddr (its address may be unspecified,
// its port zero for an ephemeral one), as net.ListenUDP.
func (st *Stack) ListenUDP(laddr netip.AddrPort) (*UDPConn, error) {
	c, err := st.s.ListenUDP(laddr)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(laddr), Err: err}
	}
	return newUDPConn(c), nil
}

// DialUDP opens a UDP socket connected to raddr from an ephemeral port.
func (st *Stack) DialUDP(raddr netip.AddrPort) (*UDPConn, error) {
	return st.DialUDPFrom(netip.AddrPort{}, raddr)
}

// DialUDPFrom is DialUDP from a chosen local address and port.
func (st *Stack) DialUDPFrom(laddr, raddr netip.AddrPort) (*UDPConn, error) {
	c, err := st.s.DialUDP(laddr, raddr)
	if err != nil {
		var src net.Addr
		if laddr.IsValid() {
			src = net.UDPAddrFromAddrPort(laddr)
		}
		return nil, &net.OpError{Op: "dial", Net: "udp", Source: src, Addr: net.UDPAddrFromAddrPort(raddr), Err: err}
	}
	return newUDPConn(c), nil
}

// ListenPacket is ListenUDP for a "udp" or "udp4" network and an "ip:port"
// or ":port" address, as net.ListenPacket.
func (st *Stack) ListenPacket(network, address string) (net.PacketConn, error) {
	ap, err := parseAddrFor(network, address, "udp")
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	c, err := st.ListenUDP(ap)
	if err != nil {
		return nil, err // a nil net.PacketConn, not a nil *UDPConn in one
	}
	return c, nil
}

func newUDPConn(c *stack.UDPSocket) *UDPConn {
	u := &UDPConn{c: c, local: net.UDPAddrFromAddrPort(c.LocalAddr())}
	if r := c.RemoteAddr(); r.IsValid() {
		u.remote = net.UDPAddrFromAddrPort(r)
	}
	return u
}

func (c *UDPConn) opErr(op string, addr net.Addr, err error) error {
	if err == nil {
		return nil
	}
	if addr == nil {
		addr = c.remote
	}
	return &net.OpError{Op: op, Net: "udp", Source: c.local, Addr: addr, Err: err}
}

// ReadFromUDPAddrPort reads a datagram into p and returns its length (at
// most len(p): the rest of a longer one is lost) and its source.
func (c *UDPConn) ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error) {
	n, _, src, err := c.c.ReadFrom(p)
	return n, src, c.opErr("read", nil, err)
}

// ReadMsgUDPAddrPort is ReadFromUDPAddrPort with net.UDPConn's signature:
// flags has syscall.MSG_TRUNC set when the datagram was longer than p;
// there is no out-of-band data.
func (c *UDPConn) ReadMsgUDPAddrPort(p, oob []byte) (n, oobn, flags int, src netip.AddrPort, err error) {
	n, full, src, err := c.c.ReadFrom(p)
	if full > n {
		flags = syscall.MSG_TRUNC
	}
	return n, 0, flags, src, c.opErr("read", nil, err)
}

// ReadFromUDP is ReadFromUDPAddrPort returning a *net.UDPAddr.
func (c *UDPConn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	n, src, err := c.ReadFromUDPAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(src), nil
}

// ReadFrom implements net.PacketConn; the address is a *net.UDPAddr.
func (c *UDPConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, src, err := c.ReadFromUDP(p)
	if src == nil {
		return n, nil, err // a nil net.Addr, not a nil *net.UDPAddr in one
	}
	return n, src, err
}

// Read reads the next datagram (net.Conn): for a connected socket, from
// its peer.
func (c *UDPConn) Read(p []byte) (int, error) {
	n, _, err := c.ReadFromUDPAddrPort(p)
	return n, err
}

// WriteToUDPAddrPort sends p as one datagram to dst. A connected socket
// sends to its peer only (net.UDPConn's rule: an error for any dst).
func (c *UDPConn) WriteToUDPAddrPort(p []byte, dst netip.AddrPort) (int, error) {
	if c.remote != nil {
		return 0, c.opErr("write", net.UDPAddrFromAddrPort(dst), net.ErrWriteToConnected)
	}
	n, err := c.c.WriteTo(p, dst)
	if err != nil {
		return n, c.opErr("write", net.UDPAddrFromAddrPort(dst), err)
	}
	return n, nil
}

// WriteMsgUDPAddrPort is WriteToUDPAddrPort with net.UDPConn's signature;
// there is no out-of-band data to send (oob must be empty). A connected
// socket takes an invalid addr and sends to its peer.
func (c *UDPConn) WriteMsgUDPAddrPort(p, oob []byte, addr netip.AddrPort) (n, oobn int, err error) {
	if len(oob) > 0 {
		return 0, 0, c.opErr("write", net.UDPAddrFromAddrPort(addr), syscall.EINVAL)
	}
	if c.remote != nil && !addr.IsValid() {
		n, err = c.Write(p)
		return n, 0, err
	}
	n, err = c.WriteToUDPAddrPort(p, addr)
	return n, 0, err
}

// WriteToUDP is WriteToUDPAddrPort with a *net.UDPAddr.
func (c *UDPConn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return 0, c.opErr("write", nil, syscall.EINVAL)
	}
	return c.WriteToUDPAddrPort(p, addr.AddrPort())
}

// WriteTo implements net.PacketConn; addr must be a *net.UDPAddr.
func (c *UDPConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	a, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, c.opErr("write", addr, syscall.EINVAL)
	}
	return c.WriteToUDP(p, a)
}

// Write sends p as one datagram to the peer of a connected socket.
func (c *UDPConn) Write(p []byte) (int, error) {
	if c.remote == nil {
		return 0, c.opErr("write", nil, errors.Join(syscall.EDESTADDRREQ, errNotConnected))
	}
	n, err := c.c.WriteTo(p, netip.AddrPort{})
	return n, c.opErr("write", nil, err)
}

var errNotConnected = errors.New("socket is not connected: use WriteTo")

// Close closes the socket; blocked reads return net.ErrClosed.
func (c *UDPConn) Close() error { return c.opErr("close", nil, c.c.Close()) }

// LocalAddr returns the local *net.UDPAddr.
func (c *UDPConn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's *net.UDPAddr, or nil when not connected.
func (c *UDPConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines.
func (c *UDPConn) SetDeadline(t time.Time) error {
	c.c.SetReadDeadline(t)
	c.c.SetWriteDeadline(t)
	return nil
}

// SetReadDeadline sets when blocked and later reads fail with os.ErrDeadlineExceeded.
func (c *UDPConn) SetReadDeadline(t time.Time) error { c.c.SetReadDeadline(t); return nil }

// SetWriteDeadline sets when later writes fail with os.ErrDeadlineExceeded.
func (c *UDPConn) SetWriteDeadline(t time.Time) error { c.c.SetWriteDeadline(t); return nil }

// SetReadBuffer sets the receive queue's bytes (default 212,992, Linux's
// rmem_default); it takes effect before the first datagram arrives. A
// datagram that does not fit is dropped and counted (udp.Stats.RcvbufErrors).
func (c *UDPConn) SetReadBuffer(n int) error {
	if n < 0 {
		return c.opErr("set", nil, syscall.EINVAL)
	}
	c.c.SetReadBuffer(n)
	return nil
}

// SetDontFragment(true) makes a write of a datagram too big for one
// packet toward its destination (the MTU less 28 bytes of headers) fail
// with EMSGSIZE, as Linux's IP_MTU_DISCOVER = IP_PMTUDISC_DO does. By
// default (false, Linux's IP_PMTUDISC_WANT) such a datagram is sent in
// IPv4 fragments without DF, and one that fits is sent with DF.
func (c *UDPConn) SetDontFragment(on bool) { c.c.SetDontFragment(on) }

// Pending is the number of datagrams queued for reading and their bytes.
func (c *UDPConn) Pending() (datagrams, bytes int) { return c.c.Pending() }

// Ping sends an ICMP echo request with sequence number seq and payload to
// dst and returns the round-trip time once the matching reply (same
// identifier, sequence number and payload) arrives, or ctx's error.
func (st *Stack) Ping(ctx context.Context, dst netip.Addr, seq uint16, payload []byte) (time.Duration, error) {
	rtt, err := st.s.Ping(ctx, dst, seq, payload)
	if err != nil {
		return 0, &net.OpError{Op: "ping", Net: "ip4:icmp", Addr: &net.IPAddr{IP: dst.AsSlice()}, Err: err}
	}
	return rtt, nil
}
