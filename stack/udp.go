package stack

import (
	"net/netip"
	"slices"
	"sync"
	"syscall"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/udp"
	"github.com/synack-net/synack/wire"
)

// udpTable is the stack's UDP sockets by local port. It has a lock of its
// own, never held with the stack's mu nor while writing to the link: UDP
// input, output and socket calls do not touch TCP's state.
//
// A port has one socket, or a group of sockets every two of which both
// set ReusePort or both set ReuseAddr (SO_REUSEPORT, SO_REUSEADDR;
// udpLookup). A connected socket takes only the datagrams
// of its peer, and another source's reach no socket of it (NoPorts, and
// an ICMP port unreachable, as Linux does when no other socket matches).
type udpTable struct {
	mu    sync.Mutex
	socks map[uint16][]*UDPSocket // under mu; a port's sockets, in the order they bound
	next  uint32                  // RFC 6056 next_ephemeral for UDP (mu held)
	stats udp.Stats
	icmp  tokenBucket // ICMP errors sent (ratelimit.go)
	shut  bool        // the stack is closed (mu held)
}

// UDPStats returns the stack's UDP counters.
func (s *Stack) UDPStats() *udp.Stats { return &s.udp.stats }

// udpInput hands a UDP datagram to its socket (RFC 768, RFC 1122 §4.1.3.5)
// or answers it with ICMP port unreachable (RFC 1122 §4.1.3.1).
// g is the link's description of an offloaded packet (gso.go): a partial
// checksum was never on a wire and is not verified.
func (s *Stack) udpInput(ip wire.IPv4, g link.GSO) {
	t := &s.udp
	if g.Type != link.GSONone {
		t.stats.InErrors.Add(1) // a large datagram to cut: never asked for
		return
	}
	d, ok := udp.Parse(&t.stats, ip.Src(), ip.Dst(), ip.Payload(), g.NeedsCsum)
	if !ok {
		return
	}
	src := netip.AddrPortFrom(ip.Src(), d.SrcPort)
	t.mu.Lock()
	sk := udpLookup(t.socks[d.DstPort], netip.AddrPortFrom(ip.Dst(), d.DstPort), src)
	if sk == nil {
		t.mu.Unlock()
		t.stats.NoPorts.Add(1)
		s.sendDestUnreachable(ip, wire.ICMPv4PortUnreachable)
		return
	}
	if sk.q.Push(&t.stats, src, d.Payload) {
		sk.rd.signal()
	}
	t.mu.Unlock()
}

// udpICMPError hands a destination unreachable quoting one of our
// datagrams, from local to remote, to the connected socket that sent it:
// its next call returns err (Linux reports ICMP errors to connected UDP
// sockets only; an unconnected one cannot tell which of its peers it is
// about).
func (s *Stack) udpICMPError(local, remote netip.AddrPort, err error) {
	t := &s.udp
	t.mu.Lock()
	defer t.mu.Unlock()
	sk := udpConnected(t.socks[local.Port()], remote)
	if sk == nil || local.Addr() != s.addr {
		s.stats.ICMPInErrorsNoSocket.Add(1) // about no connected socket of ours
		return
	}
	s.stats.ICMPSoftErrors.Add(1)
	sk.softErr = err
	sk.rd.signal()
}

// bindUDP enters sk under local port port, or an ephemeral port (RFC 6056
// Algorithm 3, from the stack's secret, walking UDP's own next_ephemeral)
// when port is 0.
func (s *Stack) bindUDP(sk *UDPSocket, port uint16) error {
	t := &s.udp
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shut {
		return ErrClosed
	}
	if t.socks == nil {
		t.socks = make(map[uint16][]*UDPSocket)
	}
	if port == 0 {
		offset := s.ports.offset(s.addr, sk.remote)
		const n = ephemeralLast - ephemeralFirst + 1
		for i := uint32(0); i < n; i++ {
			p := uint16(ephemeralFirst + (offset+t.next+i)%n)
			if t.socks[p] == nil {
				port = p
				t.next += i + 1
				break
			}
		}
		if port == 0 {
			return syscall.EADDRNOTAVAIL
		}
	} else {
		for _, m := range t.socks[port] {
			if !(sk.reusePort && m.reusePort || sk.reuseAddr && m.reuseAddr) || m.local.Addr() != sk.local.Addr() {
				return syscall.EADDRINUSE // a group's sockets share pairwise, bound alike
			}
		}
	}
	sk.local = netip.AddrPortFrom(sk.local.Addr(), port)
	t.socks[port] = append(slices.Clip(t.socks[port]), sk)
	return nil
}

// closeUDP closes every UDP socket: the stack is closing.
func (s *Stack) closeUDP() {
	t := &s.udp
	t.mu.Lock()
	t.shut = true
	for _, g := range t.socks {
		for _, sk := range g {
			sk.closed = true
			sk.rd.signal()
		}
	}
	t.socks = nil
	t.mu.Unlock()
}

// sendDestUnreachable answers the packet ip with an ICMP destination
// unreachable of the given code, rate limited (RFC 1812 §4.3.2.8). It
// quotes ip as far as 576 bytes allow (RFC 1812 §4.3.2.3; RFC 792 asks
// for the header and 8 bytes at least).
func (s *Stack) sendDestUnreachable(ip wire.IPv4, code uint8) {
	if !s.udp.icmp.allow(s.clk.Now()) {
		s.stats.ICMPRateLimited.Add(1)
		return
	}
	quote := ip[:min(len(ip), 576-wire.IPv4MinHeaderLen-wire.ICMPv4HeaderLen)]
	n := wire.IPv4MinHeaderLen + wire.ICMPv4HeaderLen + len(quote)
	var p []byte
	if s.hand != nil {
		p = s.hand.NewBuffer(n)
	} else {
		p = make([]byte, n) // rare and rate limited: not worth a pool
	}
	s.directIPv4Header(p, wire.ProtocolICMPv4, ip.Src(), n)
	m := wire.ICMPv4(p[wire.IPv4MinHeaderLen:])
	(&wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: code}).Encode(m)
	copy(m[wire.ICMPv4HeaderLen:], quote)
	m.FillChecksum()
	s.stats.ICMPOutDestUnreachs.Add(1)
	s.writeDirect(p)
}

// directIPv4Header is ipv4Header from the stack's address, for the packets
// written to the link at once, holding no lock.
func (s *Stack) directIPv4Header(b []byte, proto uint8, dst netip.Addr, n int) {
	s.ipv4Header(b, proto, s.addr, dst, n)
}

// writeDirect writes p to the link at once, holding no lock of the
// stack's: p came from the link's NewBuffer when it takes buffers over,
// and is the caller's again on return otherwise.
func (s *Stack) writeDirect(p []byte) error {
	s.stats.OutRequests.Add(1)
	var err error
	if s.hand != nil {
		err = s.hand.WriteOwned(p)
	} else {
		err = s.ep.WritePacket(p)
	}
	if err != nil {
		s.stats.OutDiscards.Add(1)
	}
	return err
}
