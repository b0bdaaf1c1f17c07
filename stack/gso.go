package stack

import (
	"encoding/binary"
	"net/netip"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// Segmentation offload (link.GSOEndpoint, link.GSODispatcher).
//
// Output. When the link carries large segments, TCP segments leave with a
// partial checksum (the pseudo-header sum, for the link's far end to
// complete) and a segment that continues the one queued just before it in
// the same batch is appended to it instead of queued on its own, so that
// one write carries up to 64 KB. The engine is not involved: it still
// produces one MSS-sized segment per Send, and the merge happens as each is
// queued, straight into the buffer of the first, so the text is copied once
// as without offload. Segment b merges into the queued segment a when
//
//   - a is a TCP segment this stack built with a partial checksum, is
//     the last one queued, and its flags are exactly ACK (so a has no SYN,
//     FIN, RST, URG or PSH, and neither has any segment merged into it);
//   - b's flags are ACK, with PSH or FIN or both allowed: it then ends
//     the run, and the kernel's cutting keeps PSH and FIN on the last
//     segment only, where they were;
//   - b goes between the same addresses and ports, its sequence number
//     is the one following a's last byte (RFC 9293 §3.4), and its
//     acknowledgment number, window, urgent pointer, header length and
//     options are a's byte for byte, so that every segment cut from the
//     whole carries exactly the header it would have carried alone
//     (timestamps included: segments queued in one batch share them);
//   - every segment merged so far carried a's payload length (the cut
//     size) and b carries no more, and the whole stays within the link's
//     GSOMaxSize.
//
// The whole keeps a's IPv4 ID; each merged segment still takes an ID from
// the stack's counter, so the IDs the far end gives the cut segments (the
// first's plus the index) are those they would have had, unless another
// shard numbered a packet meanwhile: the segments all carry DF, and the ID
// of such an atomic datagram identifies no fragments (RFC 6864 §4). The IPv4 header
// of the whole gets its total length and a valid checksum, and the TCP
// checksum field the pseudo-header sum for the whole's length, once, when
// the batch is written (sealMerged): until then they are a's.
//
// Fragments. A fragment is never offloaded either way. On input, one the
// link delivers with any description (a partial checksum, a large
// segment to cut) is dropped and counted in GSOInErrors: its transport
// checksum covers the whole datagram, and a kernel completes a partial
// checksum before it fragments (Linux's ip_do_fragment). On output, UDP
// fragments are written as ordinary packets of at most the MTU with
// their checksum complete (udpsock.go); the stack never asks the link for
// UDP segmentation, whose cut datagrams would each get a UDP header.
//
// Input. A packet the link delivers with DeliverGSO is checked like any
// other (IPv4 header and its checksum, addresses, fragments) and against
// its description (offloadMatches): a partial checksum must lie where the
// protocol's does (for TCP, CsumStart the IPv4 header length and
// CsumOffset 16) and a TCPv4 segment must be TCP. Such a
// segment never crossed a wire, and its checksum field holds only the
// pseudo-header sum, so it is the one checksum not verified. A large
// segment is handed to the engine whole, like a segment of the peer's
// largest size: the engine accepts any length within the window.

// Header offsets a merge rewrites in place.
const (
	ipv4TotalLengthAt = 2  // RFC 791 §3.1: the IPv4 total length
	tcpFlagsAt        = 13 // RFC 9293 §3.1: the TCP control bits
	tcpCsumOffset     = 16 // RFC 9293 §3.1: the TCP checksum
	udpCsumOffset     = 6  // RFC 768: the UDP checksum
)

// outMeta is what a batch knows of a queued packet on an offloading link.
type outMeta struct {
	g    link.GSO // how to write it; zero for a packet written as it is
	last uint16   // payload of its last (or only) segment, for TCP ones

	// opts are the TCP options of a TCP segment of ours; a segment joins
	// it only with the same (mergeTCP). merged counts the segments that
	// joined, counted in the stack's stats when the packet is written.
	opts   wire.TCPOptions
	merged uint16

	// text, on a gathering link, is a TCP segment's payload where it lies
	// in its connection's send buffer, in at most two pieces (one chunk's
	// end, then the next one's start), and holds the holds on the chunks
	// they lie in; the packet then holds the headers alone. Nil when the
	// text is in the packet (gather.go).
	text  [2][]byte
	holds [2]tcp.Releaser
}

// initGSO turns output offload on if ep carries large segments, and
// checksum offload if ep leaves transport checksums out
// (link.ChecksumOffloader).
func (s *Stack) initGSO(ep link.Endpoint) {
	if c, ok := ep.(link.ChecksumOffloader); ok && c.ChecksumOffload() {
		s.csumOffload = true
	}
	g, ok := ep.(link.GSOEndpoint)
	if !ok || s.hand != nil {
		return
	}
	if n := min(g.GSOMaxSize(), link.MaxGSOSize); n > ep.MTU() {
		s.gso, s.gsoMax = g, n
		s.gather, _ = ep.(link.GatherEndpoint)
	}
}

// sendTCPGSO is sendTCP on an offloading link (the shard's mu held): the
// segment is merged into the one queued before it when it may be, else
// queued with a partial checksum. On a gathering link the packet holds the
// headers alone and its text stays where it lies, held (gather.go).
func (s *shard) sendTCPGSO(c textHolder, src, dst netip.Addr, h *wire.TCPFields, payload, more []byte) {
	if s.mergeTCP(c, src, dst, h, payload, more) {
		return
	}
	hl := h.Len()
	plen := len(payload) + len(more)
	n := wire.IPv4MinHeaderLen + hl + plen
	var holds [2]tcp.Releaser
	gather := s.gather != nil && plen > 0 && holdText(c, &holds, payload, more)
	p := s.packet(n)
	if gather {
		p = s.outq.shorten(wire.IPv4MinHeaderLen + hl)
	}
	s.ipv4Header(p, wire.ProtocolTCP, src, dst, n)
	t := wire.TCP(p[wire.IPv4MinHeaderLen:])
	h.Encode(t)
	if !gather {
		copy(t[hl+copy(t[hl:], payload):], more)
	}
	t.SetChecksum(wire.PseudoHeaderChecksum(wire.ProtocolTCP, src, dst, uint16(hl+plen)))
	m := outMeta{
		g: link.GSO{NeedsCsum: true, HdrLen: uint16(wire.IPv4MinHeaderLen + hl),
			CsumStart: wire.IPv4MinHeaderLen, CsumOffset: tcpCsumOffset},
		last: uint16(plen),
		opts: h.Options,
	}
	if gather {
		appendPiece(&m.text, payload) // two pieces at most: always fits
		appendPiece(&m.text, more)
		m.holds = holds
	}
	b := s.outq
	b.meta[len(b.meta)-1] = m
}

// mergeTCP appends the segment to the last one queued if the rules above
// allow, and reports whether it did.
func (s *shard) mergeTCP(c textHolder, src, dst netip.Addr, h *wire.TCPFields, payload, more []byte) bool {
	b := s.outq
	i := len(b.pkts) - 1
	plen := len(payload) + len(more)
	if i < 0 || plen == 0 || h.Flags&^(wire.FlagPSH|wire.FlagFIN) != wire.FlagACK {
		return false
	}
	m := &b.meta[i]
	if !m.g.NeedsCsum || m.g.CsumOffset != tcpCsumOffset {
		return false // not a TCP segment of ours
	}
	a := b.pkts[i]
	hdr := int(m.g.HdrLen)
	body := m.bodyLen(a)
	size := m.g.Size
	if m.g.Type == link.GSONone {
		size = m.last // a lone segment: its payload is the cut size
	}
	// The same options make the same header length: no need to encode
	// them to compare.
	if m.last != size || plen > int(size) || hdr+body+plen > s.gsoMax || h.Options != m.opts {
		return false
	}
	if !sameFlow(a, src, dst, h, hdr, body) {
		return false
	}
	if m.text[0] != nil {
		if !m.extendText(c, payload, more) {
			return false // not where the text before it ends: a packet of its own
		}
	} else {
		if cap(a) < len(a)+plen {
			a = b.grow(i, s.gsoMax)
		}
		n := len(a) + plen
		a = a[:n]
		copy(a[len(a)-plen+copy(a[len(a)-plen:], payload):], more)
		b.pkts[i] = a
	}
	m.merged++                                          // counted when written (writeOut): fewer atomic additions per segment
	s.ipID.Add(1)                                       // the ID this segment takes when cut (see above)
	a[wire.IPv4MinHeaderLen+tcpFlagsAt] = byte(h.Flags) // PSH and FIN, if any, end the run
	m.g.Type, m.g.Size, m.last = link.GSOTCPv4, size, uint16(plen)
	return true // the lengths and checksums are set once, by sealMerged
}

// sealMerged gives a merged segment, once no more can join it, its IPv4
// total length and header checksum and its partial TCP checksum, for its
// length, total (the shard's writing owned: the batch is being written).
// a holds its headers, and its text unless gathered.
func sealMerged(a []byte, total int) {
	ip := wire.IPv4(a)
	binary.BigEndian.PutUint16(a[ipv4TotalLengthAt:], uint16(total))
	ip.FillChecksum()
	tcpLen := uint16(total - wire.IPv4MinHeaderLen)
	wire.TCP(a[wire.IPv4MinHeaderLen:]).SetChecksum(wire.PseudoHeaderChecksum(wire.ProtocolTCP, ip.Src(), ip.Dst(), tcpLen))
}

// sameFlow reports whether the header h, between src and dst, continues
// the queued segment a (headers hdr bytes long, then body bytes of text,
// flags exactly ACK): same addresses, ports, acknowledgment, window and
// urgent pointer, and a sequence number right after a's text. (Options
// are compared by mergeTCP.)
func sameFlow(a []byte, src, dst netip.Addr, h *wire.TCPFields, hdr, body int) bool {
	ip := wire.IPv4(a)
	if ip.Src() != src || ip.Dst() != dst {
		return false
	}
	t := wire.TCP(a[wire.IPv4MinHeaderLen:hdr])
	if t.Flags() != wire.FlagACK || t.SrcPort() != h.SrcPort || t.DstPort() != h.DstPort ||
		t.AckNum() != h.Ack || t.Window() != h.Window || t.UrgentPointer() != h.Urgent {
		return false
	}
	return t.SeqNum().Add(seqnum.Size(body)) == h.Seq
}

// grow moves packet i to a buffer of capacity n, copying what it holds,
// and keeps the old buffer in the store.
func (b *batch) grow(i, n int) []byte {
	old := b.pkts[i]
	p := b.store.getAtLeast(n)
	if p == nil {
		p = make([]byte, 0, n)
	}
	p = append(p[:0], old...)
	b.pkts[i] = p
	b.store.putOne(old)
	return p
}

// writeOut writes packet i of q to the link (the shard's writing owned).
func (s *Stack) writeOut(q *batch, i int) error {
	p := q.pkts[i]
	if s.gso != nil {
		m := &q.meta[i]
		if g := m.g; g.NeedsCsum {
			if g.Type == link.GSOTCPv4 {
				sealMerged(p, m.totalLen(p))
				s.stats.OutRequests.Add(uint64(m.merged))
				s.stats.GSOOutMerged.Add(uint64(m.merged))
			}
			if m.text[0] != nil {
				return s.writeGathered(q, p, m) // gather.go
			}
			return s.gso.WriteGSO(p, g)
		}
	}
	if s.hand != nil {
		if q.share && q.refs[i] != nil {
			return s.share.WriteShared(p, q.texts[i], q.refs[i]) // share.go
		}
		return s.hand.WriteOwned(p)
	}
	return s.ep.WritePacket(p)
}

// AcceptsGSO reports that the stack takes offloaded packets from its link
// (link.GSODispatcher).
func (s *Stack) AcceptsGSO() bool { return true }

// DeliverGSO is DeliverPacket for a packet the link describes with g: a
// large segment, or a packet whose TCP checksum is partial.
func (s *Stack) DeliverGSO(pkt []byte, g link.GSO) {
	s.deliverOffload(pkt, nil, g)
}

// offloadMatches reports whether the description g of an inbound packet
// fits its headers: a TCPv4 segment is TCP and a UDPv4 one UDP, a large
// one has a partial checksum, and a partial checksum lies where the
// protocol's does. A UDP datagram that fits goes on to udpInput, which
// takes a partial checksum as none to verify and drops a large one (the
// stack never asks the link for UDP segmentation).
func offloadMatches(ip wire.IPv4, g link.GSO) bool {
	var want link.GSOType
	var csumAt uint16
	switch ip.Protocol() {
	case wire.ProtocolTCP:
		want, csumAt = link.GSOTCPv4, tcpCsumOffset
	case wire.ProtocolUDP:
		want, csumAt = link.GSOUDPv4, udpCsumOffset
	default:
		return false // nothing else is ever offloaded
	}
	if g.Type != link.GSONone && (g.Type != want || !g.NeedsCsum) {
		return false
	}
	return !g.NeedsCsum || (int(g.CsumStart) == ip.HeaderLen() && g.CsumOffset == csumAt)
}
