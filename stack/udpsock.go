package stack

import (
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/synack-net/synack/udp"
	"github.com/synack-net/synack/wire"
)

// UDPSocket is a UDP socket of the stack, bound to a local port and, when
// connected, to one peer. Its methods are safe for concurrent use.
type UDPSocket struct {
	s         *Stack
	local     netip.AddrPort // its address may be unspecified: any of ours
	remote    netip.AddrPort // the peer, when connected; else invalid
	reusePort bool           // may share its port (ListenOptions.ReusePort)
	reuseAddr bool           // may share its port (ListenOptions.ReuseAddr)

	// Under s.udp.mu:
	q       udp.Queue
	rd      waiter
	softErr error // an ICMP error for a connected socket, reported once
	closed  bool

	rdl, wrl deadline
	dontFrag atomic.Bool // SetDontFragment: never fragment (IP_PMTUDISC_DO)

	wmu  sync.Mutex
	wbuf []byte // the packet being built, when the link copies (wmu held)
}

// ListenUDP opens a UDP socket on laddr: its address unspecified or the
// stack's, its port 0 for an ephemeral one.
func (s *Stack) ListenUDP(laddr netip.AddrPort) (*UDPSocket, error) {
	return s.openUDP(laddr, netip.AddrPort{}, ListenOptions{})
}

// ListenUDPOptions is ListenUDP with options: with ReusePort, sockets
// that all set it share a port, each datagram going to one of them
// (reuseport.go, udpLookup).
func (s *Stack) ListenUDPOptions(laddr netip.AddrPort, o ListenOptions) (*UDPSocket, error) {
	return s.openUDP(laddr, netip.AddrPort{}, o)
}

// DialUDP opens a UDP socket connected to raddr, from laddr if valid
// (else an ephemeral port): it sends to raddr alone, receives from raddr
// alone, and reports ICMP errors about its datagrams on its next call.
func (s *Stack) DialUDP(laddr, raddr netip.AddrPort) (*UDPSocket, error) {
	return s.DialUDPOptions(laddr, raddr, ListenOptions{})
}

// DialUDPOptions is DialUDP with options: with ReusePort the socket may
// share its local port with others that set it, and takes its peer's
// datagrams before them.
func (s *Stack) DialUDPOptions(laddr, raddr netip.AddrPort, o ListenOptions) (*UDPSocket, error) {
	if !raddr.Addr().Is4() || raddr.Addr().IsUnspecified() || raddr.Port() == 0 {
		return nil, syscall.EINVAL
	}
	if err := s.reachable(raddr.Addr()); err != nil {
		return nil, err
	}
	return s.openUDP(laddr, raddr, o)
}

func (s *Stack) openUDP(laddr, raddr netip.AddrPort, o ListenOptions) (*UDPSocket, error) {
	a := laddr.Addr()
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	if !a.Is4() || (!a.IsUnspecified() && a != s.addr) {
		return nil, syscall.EADDRNOTAVAIL
	}
	sk := &UDPSocket{s: s, local: netip.AddrPortFrom(a, laddr.Port()), remote: raddr, reusePort: o.ReusePort, reuseAddr: o.ReuseAddr}
	if err := s.bindUDP(sk, laddr.Port()); err != nil {
		return nil, err
	}
	return sk, nil
}

// LocalAddr is the socket's local address and port; a connected socket
// names the stack's address.
func (sk *UDPSocket) LocalAddr() netip.AddrPort {
	if sk.remote.IsValid() {
		return netip.AddrPortFrom(sk.s.addr, sk.local.Port())
	}
	return sk.local
}

// RemoteAddr is the peer of a connected socket; else the invalid AddrPort.
func (sk *UDPSocket) RemoteAddr() netip.AddrPort { return sk.remote }

// SetReadBuffer sets the receive queue's byte budget; it takes effect only
// before the first datagram arrives.
func (sk *UDPSocket) SetReadBuffer(n int) {
	sk.s.udp.mu.Lock()
	sk.q.SetSize(n)
	sk.s.udp.mu.Unlock()
}

// SetReadDeadline sets when blocked and future reads fail with os.ErrDeadlineExceeded.
func (sk *UDPSocket) SetReadDeadline(t time.Time) {
	sk.rdl.set(t)
	sk.s.udp.mu.Lock()
	sk.rd.signal()
	sk.s.udp.mu.Unlock()
}

// SetWriteDeadline sets when future writes fail with
// os.ErrDeadlineExceeded (writes never block: a datagram the link cannot
// take is dropped).
func (sk *UDPSocket) SetWriteDeadline(t time.Time) { sk.wrl.set(t) }

// ReadFrom takes the next datagram, blocking until one arrives, the
// socket is closed, the read deadline passes or an ICMP error is pending
// (ECONNREFUSED and the like, on a connected socket). A datagram longer
// than p is cut to len(p) and the rest lost; full is its length.
func (sk *UDPSocket) ReadFrom(p []byte) (n, full int, src netip.AddrPort, err error) {
	t := &sk.s.udp
	t.mu.Lock()
	for {
		if sk.closed {
			t.mu.Unlock()
			return 0, 0, netip.AddrPort{}, ErrClosed
		}
		if err := sk.softErr; err != nil {
			sk.softErr = nil
			t.mu.Unlock()
			return 0, 0, netip.AddrPort{}, err
		}
		if n, full, src, ok := sk.q.Pop(p); ok {
			t.mu.Unlock()
			return n, full, src, nil
		}
		if sk.rdl.expired() {
			t.mu.Unlock()
			return 0, 0, netip.AddrPort{}, os.ErrDeadlineExceeded
		}
		ch := sk.rd.add()
		t.mu.Unlock()
		sk.rd.block(&t.mu, ch, sk.rdl.wait(), nil)
		t.mu.Lock()
	}
}

// SetDontFragment says whether a datagram too big for one packet fails
// with EMSGSIZE (true: Linux's IP_PMTUDISC_DO) or is cut into IPv4
// fragments (false, the default: Linux's IP_PMTUDISC_WANT for UDP).
// Either way a datagram that fits one packet is sent with DF set.
func (sk *UDPSocket) SetDontFragment(on bool) { sk.dontFrag.Store(on) }

// WriteTo sends p to dst, or to the peer of a connected socket when dst is
// invalid. A connected socket given another dst sends there, as Linux's
// udp_sendmsg does (the address given wins; the socket stays connected
// and still receives from its peer alone). A payload
// over udp.MaxPayload (65,507 bytes) is EMSGSIZE. One too big for a packet
// of the MTU toward dst (sendMTU) is sent in fragments without DF (RFC
// 791 §3.2), unless SetDontFragment asked for EMSGSIZE instead.
func (sk *UDPSocket) WriteTo(p []byte, dst netip.AddrPort) (int, error) {
	if !dst.IsValid() {
		if !sk.remote.IsValid() {
			return 0, syscall.EDESTADDRREQ
		}
		dst = sk.remote
	}
	if !dst.Addr().Is4() || dst.Addr().IsUnspecified() || dst.Port() == 0 {
		return 0, syscall.EINVAL
	}
	s, t := sk.s, &sk.s.udp
	t.mu.Lock()
	closed, err := sk.closed, sk.softErr
	sk.softErr = nil
	t.mu.Unlock()
	switch {
	case closed:
		return 0, ErrClosed
	case err != nil:
		return 0, err
	case sk.wrl.expired():
		return 0, os.ErrDeadlineExceeded
	}
	const hdr = wire.IPv4MinHeaderLen + wire.UDPHeaderLen
	n := hdr + len(p)
	if len(p) > udp.MaxPayload {
		return 0, syscall.EMSGSIZE
	}
	sk.wmu.Lock()
	defer sk.wmu.Unlock()
	if mtu := s.sendMTU(dst.Addr()); n > mtu {
		if sk.dontFrag.Load() {
			s.stats.FragFails.Add(1)
			return 0, syscall.EMSGSIZE
		}
		sk.writeFragments(p, dst, mtu) // frag_send.go
		return len(p), nil
	}
	b := sk.packetBuf(n)
	copy(b[hdr:], p)
	udp.Encode(b[wire.IPv4MinHeaderLen:], netip.AddrPortFrom(s.addr, sk.local.Port()), dst)
	s.directIPv4Header(b, wire.ProtocolUDP, dst.Addr(), n)
	if s.writeDirect(b) != nil {
		t.stats.SndbufErrors.Add(1) // dropped, as a full device queue drops: no error
	} else {
		t.stats.OutDatagrams.Add(1)
	}
	return len(p), nil
}

// Close closes the socket: blocked and later calls return ErrClosed and
// its port is free again.
func (sk *UDPSocket) Close() error {
	t := &sk.s.udp
	t.mu.Lock()
	defer t.mu.Unlock()
	if sk.closed {
		return ErrClosed
	}
	sk.closed = true
	port := sk.local.Port()
	if g := slices.DeleteFunc(slices.Clone(t.socks[port]), func(m *UDPSocket) bool { return m == sk }); len(g) > 0 {
		t.socks[port] = g
	} else {
		delete(t.socks, port)
	}
	sk.rd.signal()
	return nil
}

// Pending is the number of datagrams queued for reading and their bytes.
func (sk *UDPSocket) Pending() (datagrams, bytes int) {
	sk.s.udp.mu.Lock()
	defer sk.s.udp.mu.Unlock()
	return sk.q.Len(), sk.q.Bytes()
}

// reachable reports ENETUNREACH when no route leads to dst. It reads the
// table through Routes, once per dial or ping: never per datagram, and
// never holding UDP's lock.
func (s *Stack) reachable(dst netip.Addr) error {
	for _, r := range s.Routes() {
		if r.Dst.Contains(dst) {
			return nil
		}
	}
	return syscall.ENETUNREACH
}
