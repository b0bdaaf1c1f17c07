package stack

import (
	"encoding/binary"
	"net/netip"

	"github.com/synack-net/synack/ipfrag"
	"github.com/synack-net/synack/wire"
)

// sendMTU is the largest IPv4 packet to send toward dst: the link's MTU
// for now. It is the one place UDP output asks, so that a per-destination
// path MTU (RFC 1191) takes effect here once the stack keeps one.
func (s *Stack) sendMTU(dst netip.Addr) int { return s.ep.MTU() }

// packetBuf is a buffer of n bytes for the next packet the socket writes
// (wmu held): the link's own when it takes buffers over, else the
// socket's, reused.
func (sk *UDPSocket) packetBuf(n int) []byte {
	if h := sk.s.hand; h != nil {
		return h.NewBuffer(n)
	}
	if cap(sk.wbuf) < n {
		sk.wbuf = make([]byte, n)
	}
	return sk.wbuf[:n]
}

// writeFragments sends p to dst in one UDP datagram cut into IPv4
// fragments of at most mtu bytes (RFC 791 §3.2): one ID for all, each
// fragment's data a multiple of 8 bytes but the last's, MF set on all
// but the last, DF on none (wmu held). The UDP header, with the checksum
// over the whole datagram (RFC 768), travels in the first fragment; the
// fragments leave in order, each a packet of its own, never offloaded
// (gso.go).
func (sk *UDPSocket) writeFragments(p []byte, dst netip.AddrPort, mtu int) {
	s := sk.s
	ulen := wire.UDPHeaderLen + len(p)
	var uh [wire.UDPHeaderLen]byte
	(&wire.UDPFields{SrcPort: sk.local.Port(), DstPort: dst.Port(), Length: uint16(ulen)}).Encode(uh[:])
	sum := wire.PseudoHeaderChecksum(wire.ProtocolUDP, s.addr, dst.Addr(), uint16(ulen))
	c := ^wire.Checksum(p, wire.Checksum(uh[:], sum)) // the header is 8 bytes: p's words stay aligned
	if c == 0 {
		c = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	binary.BigEndian.PutUint16(uh[6:], c)
	each := ipfrag.FragmentPayload(mtu, wire.IPv4MinHeaderLen)
	if each == 0 {
		s.stats.FragFails.Add(1) // an MTU below 28 bytes: New refuses those
		return
	}
	f := wire.IPv4Fields{ID: uint16(s.ipID.Add(1)), TTL: s.ttl, Protocol: wire.ProtocolUDP, Src: s.addr, Dst: dst.Addr()}
	for off := 0; off < ulen; off += each {
		end := min(off+each, ulen)
		n := wire.IPv4MinHeaderLen + end - off
		b := sk.packetBuf(n)
		f.TotalLength, f.FragmentOffset, f.Flags = uint16(n), uint16(off), 0
		if end < ulen {
			f.Flags = wire.IPv4FlagMoreFragments
		}
		f.Encode(b)
		d := b[wire.IPv4MinHeaderLen:]
		if off == 0 {
			copy(d[copy(d, uh[:]):], p[:end-wire.UDPHeaderLen])
		} else {
			copy(d, p[off-wire.UDPHeaderLen:end-wire.UDPHeaderLen])
		}
		s.stats.FragCreates.Add(1)
		if s.writeDirect(b) != nil {
			s.stats.FragFails.Add(1) // the rest would never make a datagram
			s.udp.stats.SndbufErrors.Add(1)
			return
		}
	}
	s.stats.FragOKs.Add(1)
	s.udp.stats.OutDatagrams.Add(1)
}
