package wire

import "encoding/binary"

// ICMPv4 header layout (RFC 792).
const (
	icmpType     = 0
	icmpCode     = 1
	icmpChecksum = 2
	icmpRest     = 4 // identifier and sequence number for echo, unused or MTU for errors
	icmpIdent    = 4
	icmpSeq      = 6
)

// ICMPv4HeaderLen is the length of the fixed ICMPv4 header, including the
// 4 type-specific bytes.
const ICMPv4HeaderLen = 8

// ICMPv4 message types (RFC 792).
const (
	// ICMPv4EchoReply is the Echo Reply type.
	ICMPv4EchoReply uint8 = 0
	// ICMPv4DestUnreachable is the Destination Unreachable type.
	ICMPv4DestUnreachable uint8 = 3
	// ICMPv4EchoRequest is the Echo type.
	ICMPv4EchoRequest uint8 = 8
	// ICMPv4TimeExceeded is the Time Exceeded type.
	ICMPv4TimeExceeded uint8 = 11
)

// ICMPv4 Destination Unreachable codes (RFC 792).
const (
	// ICMPv4NetUnreachable is code 0: net unreachable.
	ICMPv4NetUnreachable uint8 = 0
	// ICMPv4HostUnreachable is code 1: host unreachable.
	ICMPv4HostUnreachable uint8 = 1
	// ICMPv4ProtoUnreachable is code 2: protocol unreachable.
	ICMPv4ProtoUnreachable uint8 = 2
	// ICMPv4PortUnreachable is code 3: port unreachable.
	ICMPv4PortUnreachable uint8 = 3
	// ICMPv4FragmentationNeeded is code 4: fragmentation needed and DF set
	// (the next-hop MTU is in the low 16 bits of Rest, RFC 1191 §4).
	ICMPv4FragmentationNeeded uint8 = 4
)

// ICMPv4 is a zero-copy view of an ICMPv4 message, header first. Its
// accessors are safe on any view returned by ParseICMPv4.
type ICMPv4 []byte

// ParseICMPv4 checks that b holds the 8-byte ICMPv4 header (RFC 792) and
// returns the view of the whole message; a shorter b is ErrTruncated.
func ParseICMPv4(b []byte) (ICMPv4, error) {
	if len(b) < ICMPv4HeaderLen {
		return nil, ErrTruncated
	}
	return ICMPv4(b), nil
}

// Type returns the message type.
func (m ICMPv4) Type() uint8 { return m[icmpType] }

// Code returns the message code.
func (m ICMPv4) Code() uint8 { return m[icmpCode] }

// Checksum returns the checksum field.
func (m ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(m[icmpChecksum:]) }

// Ident returns the echo identifier (bytes 4..6).
func (m ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(m[icmpIdent:]) }

// Seq returns the echo sequence number (bytes 6..8).
func (m ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(m[icmpSeq:]) }

// Rest returns the four type-specific bytes 4..8 as one big-endian word.
func (m ICMPv4) Rest() uint32 { return binary.BigEndian.Uint32(m[icmpRest:]) }

// Payload returns the bytes after the 8-byte header, aliasing m: echo data,
// or the quoted IP header and first bytes of the offending datagram.
func (m ICMPv4) Payload() []byte { return m[ICMPv4HeaderLen:] }

// IsChecksumValid reports whether the checksum over the whole message is
// correct (RFC 792).
func (m ICMPv4) IsChecksumValid() bool { return Checksum(m, 0) == 0xffff }

// SetChecksum writes the checksum field.
func (m ICMPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(m[icmpChecksum:], c) }

// FillChecksum computes the checksum over the whole message and writes it.
func (m ICMPv4) FillChecksum() {
	m.SetChecksum(0)
	m.SetChecksum(^Checksum(m, 0))
}

// ICMPv4Fields are the values of an ICMPv4 header.
type ICMPv4Fields struct {
	Type, Code uint8
	Rest       uint32 // for echo: uint32(ident)<<16 | uint32(seq)
}

// Encode writes the 8-byte header into b[:8] with a zero checksum field;
// fill it with ICMPv4.FillChecksum once the payload follows.
func (f *ICMPv4Fields) Encode(b []byte) {
	b = b[:ICMPv4HeaderLen]
	b[icmpType] = f.Type
	b[icmpCode] = f.Code
	binary.BigEndian.PutUint16(b[icmpChecksum:], 0)
	binary.BigEndian.PutUint32(b[icmpRest:], f.Rest)
}
