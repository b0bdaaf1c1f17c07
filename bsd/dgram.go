package bsd

import (
	"net/netip"
	"syscall"

	"github.com/synack-net/synack/stack"
)

// maxUDPPayload is the largest UDP payload IPv4 can carry (65535 less
// the IP and UDP headers): above it sendto is EMSGSIZE on any link.
const maxUDPPayload = 65535 - 20 - 8

// SendTo sends p as one datagram to addr (UDP); on a TCP socket addr is
// ignored and SendTo is Send, as Linux does for a connected stream. An
// unbound UDP socket is bound to an ephemeral port first; a datagram
// larger than the path carries goes in fragments. Errors: EMSGSIZE (above
// 65,507 bytes, or above the path's MTU with IP_MTU_DISCOVER set to
// IP_PMTUDISC_DO), ECONNREFUSED (an ICMP port unreachable about an
// earlier datagram of a connected socket). A connected UDP socket given
// an address sends there, as Linux does (EISCONN is for stream sockets
// only, send(2)); it stays connected and receives from its peer alone.
// Flags: MSG_DONTWAIT; MSG_OOB and MSG_MORE are EOPNOTSUPP (udpSendFlags),
// the rest is ignored.
func (h *Host) SendTo(fd int, p []byte, flags int, addr netip.AddrPort) (int, error) {
	s, err := h.get(fd)
	if err != nil {
		return 0, err
	}
	if s.typ == SOCK_STREAM {
		return h.Send(fd, p, flags)
	}
	if err := udpSendFlags(flags); err != nil {
		return 0, err
	}
	if addr.IsValid() && !addr.Addr().Is4() {
		return 0, syscall.EAFNOSUPPORT
	}
	return s.sendUDP(p, addr, flags)
}

// RecvFrom reads one datagram into p and returns its length (the rest of
// a longer one is lost, unless MSG_PEEK; with MSG_TRUNC the datagram's
// whole length is returned, as Linux does) and source; on a TCP socket it
// is Recv and the source the peer. Flags MSG_PEEK, MSG_DONTWAIT,
// MSG_TRUNC; MSG_ERRQUEUE is EAGAIN (the error queue is always empty);
// the rest is ignored, as Linux's UDP does (MSG_WAITALL, MSG_OOB included).
func (h *Host) RecvFrom(fd int, p []byte, flags int) (int, netip.AddrPort, error) {
	s, err := h.get(fd)
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	if s.typ == SOCK_STREAM {
		n, err := h.Recv(fd, p, flags)
		peer, _ := h.Getpeername(fd)
		return n, peer, err
	}
	if flags&MSG_ERRQUEUE != 0 {
		return 0, netip.AddrPort{}, syscall.EAGAIN // the error queue is always empty
	}
	return s.recvUDP(fd, p, flags)
}

// udpSendFlags checks a UDP send's flags: MSG_OOB is EOPNOTSUPP, as
// Linux's; MSG_MORE too, since synack cannot join sends into one datagram
// as Linux does (corking); the rest is ignored (MSG_DONTWAIT is the
// caller's), as Linux ignores it.
func udpSendFlags(flags int) error {
	if flags&(MSG_OOB|MSG_MORE) != 0 {
		return syscall.EOPNOTSUPP
	}
	return nil
}

// bindUDP opens the stack's UDP socket on addr.
func (s *socket) bindUDP(addr netip.AddrPort) error {
	s.mu.Lock()
	if s.udp != nil || s.bound {
		s.mu.Unlock()
		return syscall.EINVAL
	}
	u, err := s.h.st.ListenUDPOptions(addr, stack.ListenOptions{ReusePort: s.opts.reusePort, ReuseAddr: s.opts.reuseAddr})
	if err != nil {
		s.mu.Unlock()
		return errnoOf(err)
	}
	s.udp, s.bound, s.local = u, true, u.LocalAddr()
	s.applyUDPOpts(u)
	s.mu.Unlock()
	s.attach()
	return nil
}

// connectUDP makes addr the socket's only peer: reopened on its port if
// bound, else on an ephemeral one.
func (s *socket) connectUDP(addr netip.AddrPort) error {
	if addr.Addr().IsUnspecified() || addr.Port() == 0 {
		return syscall.EINVAL
	}
	s.mu.Lock()
	old := s.udp
	local := netip.AddrPort{}
	if old != nil {
		local = netip.AddrPortFrom(netip.IPv4Unspecified(), old.LocalAddr().Port())
		old.Close() // the port is free a moment, then the new socket holds it
	}
	o := stack.ListenOptions{ReusePort: s.opts.reusePort, ReuseAddr: s.opts.reuseAddr}
	u, err := s.h.st.DialUDPOptions(local, addr, o)
	if err != nil {
		s.udp = nil
		if old != nil {
			s.udp, _ = s.h.st.ListenUDPOptions(s.local, o) // put the old binding back
		}
		s.mu.Unlock()
		return errnoOf(err)
	}
	s.udp, s.peer, s.bound, s.local = u, addr, true, u.LocalAddr()
	s.applyUDPOpts(u)
	s.mu.Unlock()
	s.attach()
	return nil
}

// sendUDP sends p to addr, or to the peer when addr is invalid.
func (s *socket) sendUDP(p []byte, addr netip.AddrPort, flags int) (int, error) {
	if len(p) > maxUDPPayload {
		return 0, syscall.EMSGSIZE
	}
	s.mu.Lock()
	u, peer, shutWR, closed := s.udp, s.peer, s.shutWR, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return 0, syscall.EBADF
	case shutWR:
		return 0, syscall.EPIPE
	case !addr.IsValid() && !peer.IsValid():
		return 0, syscall.EDESTADDRREQ
	case peer.IsValid() && addr == peer:
		addr = netip.AddrPort{}
	}
	if u == nil {
		if err := s.bindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 0)); err != nil && err != syscall.EINVAL {
			return 0, err
		}
		s.mu.Lock()
		u = s.udp
		s.mu.Unlock()
	}
	n, err := u.WriteTo(p, addr)
	return n, errnoOf(err)
}

// recvUDP takes the next datagram, waiting unless non-blocking.
func (s *socket) recvUDP(fd int, p []byte, flags int) (int, netip.AddrPort, error) {
	for {
		s.mu.Lock()
		u, nb, shutRD, closed := s.udp, s.nb || flags&MSG_DONTWAIT != 0, s.shutRD, s.closed
		s.mu.Unlock()
		switch {
		case closed:
			return 0, netip.AddrPort{}, syscall.EBADF
		case shutRD:
			return 0, netip.AddrPort{}, nil
		case u == nil && nb:
			return 0, netip.AddrPort{}, syscall.EAGAIN
		}
		if u != nil {
			n, full, src, err := u.TryReadFrom(p, flags&MSG_PEEK != 0)
			if flags&MSG_TRUNC != 0 {
				n = full
			}
			if err != stack.ErrWouldBlock {
				return n, src, errnoOf(err)
			}
			if nb {
				return 0, netip.AddrPort{}, syscall.EAGAIN
			}
		}
		s.waitFor(fd, POLLIN)
	}
}
