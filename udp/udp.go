package udp

import (
	"net/netip"
	"sync/atomic"

	"github.com/synack-net/synack/wire"
)

// Stats are the UDP counters of a stack, named as Linux prints them in
// the Udp: line of /proc/net/snmp (UDP-MIB, RFC 4113). Every datagram
// dropped is counted here, by reason.
type Stats struct {
	// InDatagrams counts datagrams queued for a socket.
	InDatagrams atomic.Uint64
	// NoPorts counts well-formed datagrams that reached no socket (each
	// may be answered by ICMP port unreachable, rate limited).
	NoPorts atomic.Uint64
	// InErrors counts datagrams dropped for any reason but NoPorts: a bad
	// header, length or checksum, or a full receive queue.
	InErrors atomic.Uint64
	// OutDatagrams counts datagrams sent.
	OutDatagrams atomic.Uint64
	// RcvbufErrors counts datagrams dropped because their socket's
	// receive queue was full (also counted in InErrors).
	RcvbufErrors atomic.Uint64
	// SndbufErrors counts datagrams the link refused.
	SndbufErrors atomic.Uint64
	// InCsumErrors counts datagrams dropped for a bad checksum (also
	// counted in InErrors).
	InCsumErrors atomic.Uint64
}

// Datagram is an arriving datagram's ports and payload; Payload aliases
// the packet it came in.
type Datagram struct {
	SrcPort, DstPort uint16
	Payload          []byte
}

// Parse checks the UDP datagram b, the payload of an IPv4 packet from src
// to dst, and returns its ports and payload. A datagram that fails is
// counted in st (InErrors, and InCsumErrors for a checksum) and ok is
// false:
//   - shorter than the 8-byte header, or a Length field below 8 (RFC 768);
//   - a Length field that disagrees with the IP payload length. Longer
//     than it, the datagram is truncated; shorter, the rest would be bytes
//     no header covers. (Linux trims the second kind; IPv4's own total
//     length already strips link padding, so a sender that does this is
//     broken or probing, and we drop it.)
//   - a checksum that does not verify over the pseudo-header; a zero
//     checksum means the sender computed none and is accepted (RFC 768,
//     RFC 1122 §4.1.3.4). partial says the link delivered the datagram
//     with a partial checksum (built by the host at the link's far end,
//     never on a wire): there is none to verify.
func Parse(st *Stats, src, dst netip.Addr, b []byte, partial bool) (d Datagram, ok bool) {
	u, err := wire.ParseUDP(b)
	if err != nil || len(u) != len(b) {
		st.InErrors.Add(1)
		return Datagram{}, false
	}
	if !partial && !u.IsChecksumValid(src, dst) {
		st.InCsumErrors.Add(1)
		st.InErrors.Add(1)
		return Datagram{}, false
	}
	return Datagram{SrcPort: u.SrcPort(), DstPort: u.DstPort(), Payload: u.Payload()}, true
}

// MaxPayload is the largest payload a datagram can carry in one IPv4
// packet with no options: 65,535 less the IP and UDP headers.
const MaxPayload = 65535 - wire.IPv4MinHeaderLen - wire.UDPHeaderLen

// Encode writes the UDP header for src to dst into b[:8], where
// b[8:] already holds the payload, and fills the checksum over the
// pseudo-header (RFC 768; always sent, RFC 1122 §4.1.3.4).
func Encode(b []byte, src, dst netip.AddrPort) {
	(&wire.UDPFields{SrcPort: src.Port(), DstPort: dst.Port(), Length: uint16(len(b))}).Encode(b)
	wire.UDP(b).FillChecksum(src.Addr(), dst.Addr())
}
