package stack

import (
	"encoding/binary"
	"net/netip"

	"github.com/synack-net/synack/ipfrag"
	"github.com/synack-net/synack/wire"
)

// sendMTU is the largest IPv4 packet to send toward dst: the path MTU
// learned for it (RFC 1191, pmtu.go), else the link's. It is the one
// place UDP output asks: a datagram over it is cut into fragments, or is
// EMSGSIZE when the socket asks for DF.
func (s *Stack) sendMTU(dst netip.Addr) int { return s.pathMTU(dst) }

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
// fragments of at most mtu bytes (wmu held). The UDP header, with the
// checksum over the whole datagram (RFC 768), travels in the first
// fragment.
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
	if s.writeFragments(wire.ProtocolUDP, dst.Addr(), uh[:], p, mtu, sk.packetBuf) {
		s.udp.stats.OutDatagrams.Add(1)
	} else {
		s.udp.stats.SndbufErrors.Add(1)
	}
}

// writeFragments sends to dst the datagram of protocol proto whose IP
// payload is head then body, cut into IPv4 fragments of at most mtu
// bytes (RFC 791 §3.2): one ID for all, each fragment's data a multiple
// of 8 bytes but the last's, MF set on all but the last, DF on none. Each
// fragment is built in buf(n) and written to the link at once, holding
// no lock of the stack's, in order, as a packet of its own, never
// offloaded (gso.go). It reports whether every fragment went; the first
// the link refuses ends the datagram (the rest could never make it whole).
func (s *Stack) writeFragments(proto uint8, dst netip.Addr, head, body []byte, mtu int, buf func(n int) []byte) bool {
	total := len(head) + len(body)
	each := ipfrag.FragmentPayload(mtu, wire.IPv4MinHeaderLen)
	if each == 0 {
		s.stats.FragFails.Add(1) // an MTU below 28 bytes: New refuses those
		return false
	}
	f := wire.IPv4Fields{ID: uint16(s.ipID.Add(1)), TTL: s.ttl, Protocol: proto, Src: s.addr, Dst: dst}
	for off := 0; off < total; off += each {
		end := min(off+each, total)
		n := wire.IPv4MinHeaderLen + end - off
		b := buf(n)
		f.TotalLength, f.FragmentOffset, f.Flags = uint16(n), uint16(off), 0
		if end < total {
			f.Flags = wire.IPv4FlagMoreFragments
		}
		f.Encode(b)
		d := b[wire.IPv4MinHeaderLen:]
		k := 0
		if off < len(head) {
			k = copy(d, head[off:min(end, len(head))])
		}
		if end > len(head) {
			copy(d[k:], body[max(off, len(head))-len(head):end-len(head)])
		}
		s.stats.FragCreates.Add(1)
		if s.writeDirect(b) != nil {
			s.stats.FragFails.Add(1)
			return false
		}
	}
	s.stats.FragOKs.Add(1)
	return true
}
