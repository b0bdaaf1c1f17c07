package wire

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 header layout (RFC 791 §3.1).
const (
	ipv4VersionIHL   = 0
	ipv4TOS          = 1
	ipv4TotalLength  = 2
	ipv4ID           = 4
	ipv4FlagsFragOff = 6
	ipv4TTL          = 8
	ipv4Protocol     = 9
	ipv4Checksum     = 10
	ipv4Src          = 12
	ipv4Dst          = 16
)

// IPv4MinHeaderLen is the length of an IPv4 header without options.
const IPv4MinHeaderLen = 20

// IP protocol numbers carried in the IPv4 Protocol field.
const (
	// ProtocolICMPv4 is ICMP for IPv4 (RFC 792).
	ProtocolICMPv4 uint8 = 1
	// ProtocolTCP is TCP (RFC 9293).
	ProtocolTCP uint8 = 6
	// ProtocolUDP is UDP (RFC 768).
	ProtocolUDP uint8 = 17
)

// Values of the 3-bit IPv4 flags field (RFC 791 §3.1); bit 2 is reserved.
const (
	// IPv4FlagMoreFragments is the MF bit: more fragments follow.
	IPv4FlagMoreFragments uint8 = 1
	// IPv4FlagDontFragment is the DF bit: do not fragment.
	IPv4FlagDontFragment uint8 = 2
)

// IPv4 is a zero-copy view of an IPv4 packet, header first. Its accessors
// are safe on any view returned by ParseIPv4.
type IPv4 []byte

// ParseIPv4 checks that b holds an IPv4 header (RFC 791 §3.1) and returns
// the view of the packet, b[:TotalLength], so trailing link padding is cut
// off. It requires len(b) >= 20 (else ErrTruncated), version 4 (else
// ErrBadVersion), IHL >= 5 and IHL*4 <= len(b) (else ErrBadHeaderLength),
// IHL*4 <= TotalLength (else ErrBadLength) and TotalLength <= len(b) (else
// ErrTruncated). It does not check the header checksum.
func ParseIPv4(b []byte) (IPv4, error) { return parseIPv4(b, false) }

// parseIPv4 is ParseIPv4; with prefix set, a total length beyond the end
// of b is allowed and the view ends with b (see ParseIPv4Prefix).
func parseIPv4(b []byte, prefix bool) (IPv4, error) {
	if len(b) < IPv4MinHeaderLen {
		return nil, ErrTruncated
	}
	if b[ipv4VersionIHL]>>4 != 4 {
		return nil, ErrBadVersion
	}
	hl := int(b[ipv4VersionIHL]&0x0f) * 4
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return nil, ErrBadHeaderLength
	}
	tl := int(binary.BigEndian.Uint16(b[ipv4TotalLength:]))
	if tl < hl {
		return nil, ErrBadLength
	}
	if tl > len(b) {
		if !prefix {
			return nil, ErrTruncated
		}
		tl = len(b)
	}
	return IPv4(b[:tl]), nil
}

// HeaderLen returns the header length in bytes (IHL*4).
func (p IPv4) HeaderLen() int { return int(p[ipv4VersionIHL]&0x0f) * 4 }

// TOS returns the type-of-service byte (DSCP and ECN, RFC 2474, RFC 3168).
func (p IPv4) TOS() uint8 { return p[ipv4TOS] }

// TotalLength returns the Total Length field: header plus payload in bytes.
func (p IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(p[ipv4TotalLength:]) }

// ID returns the Identification field.
func (p IPv4) ID() uint16 { return binary.BigEndian.Uint16(p[ipv4ID:]) }

// Flags returns the 3-bit flags field (IPv4FlagDontFragment,
// IPv4FlagMoreFragments, and the reserved bit 4).
func (p IPv4) Flags() uint8 { return p[ipv4FlagsFragOff] >> 5 }

// FragmentOffset returns the fragment offset in bytes (the field counts
// 8-byte units).
func (p IPv4) FragmentOffset() uint16 {
	return (binary.BigEndian.Uint16(p[ipv4FlagsFragOff:]) & 0x1fff) * 8
}

// TTL returns the Time to Live field.
func (p IPv4) TTL() uint8 { return p[ipv4TTL] }

// Protocol returns the protocol number of the payload (ProtocolTCP, ...).
func (p IPv4) Protocol() uint8 { return p[ipv4Protocol] }

// Checksum returns the header checksum field.
func (p IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(p[ipv4Checksum:]) }

// Src returns the source address.
func (p IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(p[ipv4Src : ipv4Src+4])) }

// Dst returns the destination address.
func (p IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(p[ipv4Dst : ipv4Dst+4])) }

// Options returns the header options (empty when IHL is 5), aliasing p.
func (p IPv4) Options() []byte { return p[IPv4MinHeaderLen:p.HeaderLen()] }

// Payload returns the bytes after the header up to TotalLength, aliasing p.
func (p IPv4) Payload() []byte { return p[p.HeaderLen():] }

// IsChecksumValid reports whether the header checksum is correct: the sum
// over the header is 0xffff (RFC 791 §3.1, RFC 1071).
func (p IPv4) IsChecksumValid() bool { return Checksum(p[:p.HeaderLen()], 0) == 0xffff }

// SetTTL writes the Time to Live field. It does not update the checksum.
func (p IPv4) SetTTL(ttl uint8) { p[ipv4TTL] = ttl }

// SetChecksum writes the header checksum field.
func (p IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(p[ipv4Checksum:], c) }

// FillChecksum computes the header checksum and writes it.
func (p IPv4) FillChecksum() {
	p.SetChecksum(0)
	p.SetChecksum(^Checksum(p[:p.HeaderLen()], 0))
}

// IPv4Fields are the values of an IPv4 header without options.
type IPv4Fields struct {
	TOS            uint8
	TotalLength    uint16 // header plus payload
	ID             uint16
	Flags          uint8  // the 3-bit flags field
	FragmentOffset uint16 // in bytes; a multiple of 8
	TTL            uint8
	Protocol       uint8
	Src, Dst       netip.Addr // IPv4 (or IPv4-mapped); anything else is written as 0.0.0.0
}

// Encode writes a 20-byte header (IHL 5, no options) into b[:20], with a
// correct checksum. The payload is not touched.
func (f *IPv4Fields) Encode(b []byte) {
	b = b[:IPv4MinHeaderLen]
	verIHL := uint16(4<<4|IPv4MinHeaderLen/4)<<8 | uint16(f.TOS)
	flagsOff := uint16(f.Flags&7)<<13 | (f.FragmentOffset/8)&0x1fff
	ttlProto := uint16(f.TTL)<<8 | uint16(f.Protocol)
	src, dst := addr4(f.Src), addr4(f.Dst)
	binary.BigEndian.PutUint16(b[ipv4VersionIHL:], verIHL)
	binary.BigEndian.PutUint16(b[ipv4TotalLength:], f.TotalLength)
	binary.BigEndian.PutUint16(b[ipv4ID:], f.ID)
	binary.BigEndian.PutUint16(b[ipv4FlagsFragOff:], flagsOff)
	binary.BigEndian.PutUint16(b[ipv4TTL:], ttlProto)
	binary.BigEndian.PutUint32(b[ipv4Src:], src)
	binary.BigEndian.PutUint32(b[ipv4Dst:], dst)
	// RFC 1071: the checksum is summed from the values, not read back from
	// b: reading bytes just written, in wider words than they were written
	// in, stalls the processor, and this is every packet's header.
	sum := uint64(verIHL) + uint64(f.TotalLength) + uint64(f.ID) + uint64(flagsOff) + uint64(ttlProto) +
		uint64(src>>16) + uint64(src&0xffff) + uint64(dst>>16) + uint64(dst&0xffff)
	binary.BigEndian.PutUint16(b[ipv4Checksum:], ^fold(sum))
}

// addr4 is a as a big-endian number; a non-IPv4 address is 0.0.0.0.
func addr4(a netip.Addr) uint32 {
	if a.Is4() || a.Is4In6() {
		a4 := a.Unmap().As4()
		return binary.BigEndian.Uint32(a4[:])
	}
	return 0
}
