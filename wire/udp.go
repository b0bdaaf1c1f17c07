package wire

import (
	"encoding/binary"
	"net/netip"
)

// UDP header layout (RFC 768).
const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6
)

// UDPHeaderLen is the length of a UDP header.
const UDPHeaderLen = 8

// UDP is a zero-copy view of a UDP datagram, header first. Its accessors are
// safe on any view returned by ParseUDP.
type UDP []byte

// ParseUDP checks that b holds a UDP header (RFC 768) and returns the view
// of the datagram, b[:Length]. It requires len(b) >= 8 (else ErrTruncated),
// Length >= 8 (else ErrBadLength) and Length <= len(b) (else ErrTruncated).
func ParseUDP(b []byte) (UDP, error) {
	if len(b) < UDPHeaderLen {
		return nil, ErrTruncated
	}
	n := int(binary.BigEndian.Uint16(b[udpLength:]))
	if n < UDPHeaderLen {
		return nil, ErrBadLength
	}
	if n > len(b) {
		return nil, ErrTruncated
	}
	return UDP(b[:n]), nil
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[udpSrcPort:]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[udpDstPort:]) }

// Length returns the Length field: header plus payload in bytes.
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[udpLength:]) }

// Checksum returns the checksum field; 0 means the sender computed none.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[udpChecksum:]) }

// Payload returns the data after the header, aliasing u.
func (u UDP) Payload() []byte { return u[UDPHeaderLen:] }

// IsChecksumValid reports whether the checksum over the datagram and the
// pseudo header for src and dst is correct. A zero checksum field means
// none was sent and counts as valid (RFC 768).
func (u UDP) IsChecksumValid(src, dst netip.Addr) bool {
	if u.Checksum() == 0 {
		return true
	}
	return Checksum(u, PseudoHeaderChecksum(ProtocolUDP, src, dst, uint16(len(u)))) == 0xffff
}

// SetChecksum writes the checksum field.
func (u UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(u[udpChecksum:], c) }

// FillChecksum computes the checksum over the datagram and the pseudo
// header for src and dst and writes it; a computed 0 is sent as 0xffff,
// since 0 means "no checksum" (RFC 768).
func (u UDP) FillChecksum(src, dst netip.Addr) {
	u.SetChecksum(0)
	c := ^Checksum(u, PseudoHeaderChecksum(ProtocolUDP, src, dst, uint16(len(u))))
	if c == 0 {
		c = 0xffff
	}
	u.SetChecksum(c)
}

// UDPFields are the values of a UDP header.
type UDPFields struct {
	SrcPort, DstPort uint16
	Length           uint16 // header plus payload
}

// Encode writes the 8-byte header into b[:8] with a zero checksum field;
// fill it with UDP.FillChecksum once the payload follows.
func (f *UDPFields) Encode(b []byte) {
	b = b[:UDPHeaderLen]
	binary.BigEndian.PutUint16(b[udpSrcPort:], f.SrcPort)
	binary.BigEndian.PutUint16(b[udpDstPort:], f.DstPort)
	binary.BigEndian.PutUint16(b[udpLength:], f.Length)
	binary.BigEndian.PutUint16(b[udpChecksum:], 0)
}
