package link

// Segmentation offload: a link that can carry packets longer than its MTU
// on behalf of the layers above, because the thing at its far end (the
// kernel behind a TUN device with IFF_VNET_HDR, a network card, an AF_XDP
// ring with offloads) cuts them into MTU-sized packets on the way out and
// glues arriving ones together on the way in.
//
// The link still does not parse IP or TCP. The stack builds the large
// segment and describes it with a GSO value: where the headers end, how
// much payload each cut segment carries, and where the transport checksum
// starts and lies. Those are offsets, which the link copies into its own
// descriptor (a virtio-net header, say) without looking at what they point
// to. On the way in, the link passes up the far end's description in the
// same form, and the stack checks it against the headers it parses anyway.

// GSOType says how a packet longer than the MTU is to be cut.
type GSOType uint8

const (
	// GSONone is an ordinary packet of at most the MTU, not to be cut.
	GSONone GSOType = iota
	// GSOTCPv4 is a TCP segment over IPv4 to be cut into segments of Size
	// payload bytes: each copy of the headers gets its own IPv4 total
	// length, ID (the first one's plus the segment's index), header
	// checksum, sequence number and TCP checksum; FIN and PSH stay on the
	// last segment only, CWR on the first only.
	GSOTCPv4
	// GSOUDPv4 is a UDP datagram over IPv4 to be cut into datagrams of
	// Size payload bytes (UDP segmentation offload, Linux UDP_SEGMENT).
	GSOUDPv4
)

// String names the type.
func (t GSOType) String() string {
	switch t {
	case GSONone:
		return "none"
	case GSOTCPv4:
		return "tcpv4"
	case GSOUDPv4:
		return "udpv4"
	}
	return "unknown"
}

// GSO describes a packet handed over with WriteGSO or DeliverGSO: its
// segmentation and its checksum. All offsets count from the first byte of
// the IP header.
type GSO struct {
	// Type says whether and how the packet is to be cut.
	Type GSOType
	// NeedsCsum says the transport checksum is partial: the field at
	// CsumStart+CsumOffset holds the one's-complement sum (not inverted)
	// of the pseudo header only, and whoever cuts or sends the packet
	// completes it over the bytes from CsumStart to the end. On the way
	// in, it also says the packet never crossed a wire (it was built by
	// the host at the far end of the link), so there is no checksum to
	// verify. A packet with a Type other than GSONone always has it.
	NeedsCsum bool
	// HdrLen is the length of the headers (IP and transport) every cut
	// segment repeats; on the way in it is only a hint, which may exceed
	// the headers.
	HdrLen uint16
	// Size is the payload of each cut segment but the last, which may be
	// shorter; zero for GSONone.
	Size uint16
	// CsumStart is where the transport header, and its checksum's
	// coverage, starts: the IP header length.
	CsumStart uint16
	// CsumOffset is the offset of the checksum field from CsumStart (16
	// for TCP, 6 for UDP).
	CsumOffset uint16
}

// MaxGSOSize is the longest packet a GSOEndpoint takes or delivers: the
// IPv4 total length field's limit.
const MaxGSOSize = 65535

// GSOEndpoint is implemented by an Endpoint that can carry packets longer
// than its MTU, to be cut at its far end, and packets whose checksum is
// left for the far end to complete. The stack uses it when GSOMaxSize
// says so. A wrapper (a capture, say) implements it by asking the
// endpoint it wraps, so it can say no at run time.
type GSOEndpoint interface {
	// GSOMaxSize returns the longest packet WriteGSO takes, at most
	// MaxGSOSize; zero means the endpoint does no offload now (it was
	// turned off, or the far end refused it), and WriteGSO must not be
	// used.
	GSOMaxSize() int

	// WriteGSO sends pkt as g describes it. Like WritePacket it neither
	// keeps nor modifies pkt and never calls a Dispatcher synchronously.
	// It returns ErrTooBig if pkt exceeds GSOMaxSize, or a GSONone packet
	// the MTU, and ErrClosed after Close.
	WriteGSO(pkt []byte, g GSO) error
}

// GatherEndpoint is implemented by a GSOEndpoint that can take a packet
// in pieces, as writev(2) does: the headers in one buffer and the payload
// where it already lies (for TCP, the connection's send buffer), so the
// stack need not copy the payload into a packet first. The far end
// completing the checksum (GSO.NeedsCsum) is what makes it possible: the
// stack never reads the payload again after handing it over.
type GatherEndpoint interface {
	GSOEndpoint

	// WriteGSOGather is WriteGSO for the packet made of parts, in order:
	// at most MaxGatherParts of them, the first holding at least the
	// headers (g.HdrLen bytes). It reads the parts only during the call
	// and keeps none. The text may change while it is read, in a
	// retransmitted segment whose bytes the peer acknowledged meanwhile
	// (the stack then lets the send buffer reuse them): an implementation
	// must not depend on the bytes holding still, and one in Go that
	// reads them races, by design, with the application's writes.
	WriteGSOGather(parts [][]byte, g GSO) error
}

// MaxGatherParts is the most pieces WriteGSOGather takes: the headers and
// a payload in at most two pieces (a ring buffer's end and start).
const MaxGatherParts = 3

// GSODispatcher is implemented by a Dispatcher that accepts packets longer
// than the MTU, glued together by the link's far end, and packets with a
// partial checksum (GSO.NeedsCsum). An offloading endpoint asks the far
// end for them only while its Dispatcher is one and AcceptsGSO says yes,
// and delivers those packets with DeliverGSO; other packets still come
// through DeliverPacket. Packets already on their way when the Dispatcher
// changes are dropped by the endpoint and counted.
type GSODispatcher interface {
	Dispatcher

	// AcceptsGSO reports whether DeliverGSO may be used. A wrapper
	// answers for the Dispatcher it wraps.
	AcceptsGSO() bool

	// DeliverGSO hands over one inbound packet as g describes it: of any
	// length up to MaxGSOSize, and with a partial transport checksum
	// that cannot be verified when g.NeedsCsum. The rules of
	// DeliverPacket hold. The receiver checks g against the packet and
	// drops, counting, what does not match.
	DeliverGSO(pkt []byte, g GSO)
}

// CompleteChecksum finishes the partial checksum of pkt as g describes it,
// in place, as the far end of an offloading link would: the one's-
// complement sum (RFC 1071) of the bytes from CsumStart to the end, the
// partial sum in the field included, inverted into the field. It does
// nothing unless g.NeedsCsum and the field lies inside pkt. For a large
// segment the result is the checksum of the whole before cutting, which
// is what a capture shows.
func CompleteChecksum(pkt []byte, g GSO) {
	at := int(g.CsumStart) + int(g.CsumOffset)
	if !g.NeedsCsum || at+2 > len(pkt) {
		return
	}
	b := pkt[g.CsumStart:]
	var s uint64
	for len(b) >= 4 {
		s += uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8 // RFC 1071 §4.1: an odd byte is padded with zero
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	c := ^uint16(s)
	pkt[at], pkt[at+1] = byte(c>>8), byte(c)
}
