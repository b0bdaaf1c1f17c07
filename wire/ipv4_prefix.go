package wire

import "encoding/binary"

// ParseIPv4Prefix is ParseIPv4 for the start of a packet: the quoted
// datagram inside an ICMP error (RFC 792: its header and first 64 bits of
// data), whose total length says more than the bytes that are there. The
// header must be whole; the view ends at TotalLength or at the end of b,
// whichever comes first.
func ParseIPv4Prefix(b []byte) (IPv4, error) {
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
	return IPv4(b[:min(tl, len(b))]), nil
}
