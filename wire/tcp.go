package wire

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/synack-net/synack/seqnum"
)

// TCP header layout (RFC 9293 §3.1).
const (
	tcpSrcPort    = 0
	tcpDstPort    = 2
	tcpSeqNum     = 4
	tcpAckNum     = 8
	tcpDataOffset = 12
	tcpFlags      = 13
	tcpWindow     = 14
	tcpChecksum   = 16
	tcpUrgent     = 18
)

// TCPMinHeaderLen is the length of a TCP header without options.
const TCPMinHeaderLen = 20

// tcpMaxHeaderLen is the longest header a 4-bit data offset can describe.
const tcpMaxHeaderLen = 60

// TCPFlags is the TCP control-bits byte (RFC 9293 §3.1, RFC 3168 §6.1).
type TCPFlags uint8

// The TCP control bits.
const (
	// FlagFIN means no more data from sender.
	FlagFIN TCPFlags = 1 << iota
	// FlagSYN synchronizes sequence numbers.
	FlagSYN
	// FlagRST resets the connection.
	FlagRST
	// FlagPSH is the push function.
	FlagPSH
	// FlagACK means the acknowledgment field is significant.
	FlagACK
	// FlagURG means the urgent pointer field is significant.
	FlagURG
	// FlagECE is ECN-Echo (RFC 3168).
	FlagECE
	// FlagCWR is Congestion Window Reduced (RFC 3168).
	FlagCWR
)

// Has reports whether all bits of g are set in f.
func (f TCPFlags) Has(g TCPFlags) bool { return f&g == g }

// String returns the set flags joined by commas in the order SYN, FIN, RST,
// PSH, ACK, URG, ECE, CWR (e.g. "SYN,ACK"), or "none". It does not allocate.
func (f TCPFlags) String() string { return flagNames[f] }

// flagNames holds the String of every TCPFlags value.
var flagNames = func() (t [256]string) {
	order := []struct {
		f    TCPFlags
		name string
	}{
		{FlagSYN, "SYN"}, {FlagFIN, "FIN"}, {FlagRST, "RST"}, {FlagPSH, "PSH"},
		{FlagACK, "ACK"}, {FlagURG, "URG"}, {FlagECE, "ECE"}, {FlagCWR, "CWR"},
	}
	for i := range t {
		var names []string
		for _, o := range order {
			if TCPFlags(i).Has(o.f) {
				names = append(names, o.name)
			}
		}
		t[i] = "none"
		if len(names) > 0 {
			t[i] = strings.Join(names, ",")
		}
	}
	return t
}()

// TCP is a zero-copy view of a TCP segment, header first. Its accessors are
// safe on any view returned by ParseTCP.
type TCP []byte

// ParseTCP checks that b holds a TCP header (RFC 9293 §3.1) and returns the
// view of the whole segment. It requires len(b) >= 20 (else ErrTruncated),
// and a data offset of at least 5 words that fits in b (else
// ErrBadHeaderLength). Options are not parsed here: see ParseTCPOptions.
func ParseTCP(b []byte) (TCP, error) {
	if len(b) < TCPMinHeaderLen {
		return nil, ErrTruncated
	}
	off := int(b[tcpDataOffset]>>4) * 4
	if off < TCPMinHeaderLen || off > len(b) {
		return nil, ErrBadHeaderLength
	}
	return TCP(b), nil
}

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[tcpSrcPort:]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[tcpDstPort:]) }

// SeqNum returns the sequence number (SEG.SEQ).
func (t TCP) SeqNum() seqnum.Value { return seqnum.Value(binary.BigEndian.Uint32(t[tcpSeqNum:])) }

// AckNum returns the acknowledgment number (SEG.ACK).
func (t TCP) AckNum() seqnum.Value { return seqnum.Value(binary.BigEndian.Uint32(t[tcpAckNum:])) }

// DataOffset returns the header length in bytes (the field counts words).
func (t TCP) DataOffset() int { return int(t[tcpDataOffset]>>4) * 4 }

// Flags returns the control bits.
func (t TCP) Flags() TCPFlags { return TCPFlags(t[tcpFlags]) }

// Window returns the raw window field (SEG.WND before any scaling).
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[tcpWindow:]) }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[tcpChecksum:]) }

// UrgentPointer returns the urgent pointer field.
func (t TCP) UrgentPointer() uint16 { return binary.BigEndian.Uint16(t[tcpUrgent:]) }

// Options returns the raw options (empty when the data offset is 5),
// aliasing t. Decode them with ParseTCPOptions.
func (t TCP) Options() []byte { return t[TCPMinHeaderLen:t.DataOffset()] }

// Payload returns the segment data after the header, aliasing t.
func (t TCP) Payload() []byte { return t[t.DataOffset():] }

// IsChecksumValid reports whether the checksum over the segment and the
// IPv4 pseudo header for src and dst is correct (RFC 9293 §3.1).
func (t TCP) IsChecksumValid(src, dst netip.Addr) bool {
	return Checksum(t, PseudoHeaderChecksum(ProtocolTCP, src, dst, uint16(len(t)))) == 0xffff
}

// SetChecksum writes the checksum field.
func (t TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(t[tcpChecksum:], c) }

// FillChecksum computes the checksum over the whole segment (header and
// payload) and the pseudo header for src and dst, and writes it.
func (t TCP) FillChecksum(src, dst netip.Addr) {
	t.SetChecksum(0)
	t.SetChecksum(^Checksum(t, PseudoHeaderChecksum(ProtocolTCP, src, dst, uint16(len(t)))))
}

// TCPFields are the values of a TCP header and its options.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         seqnum.Value
	Flags            TCPFlags
	Window           uint16 // the raw field, already scaled down
	Urgent           uint16
	Options          TCPOptions
}

// Len returns the header length Encode writes: 20 plus the options' Len.
func (f *TCPFields) Len() int { return TCPMinHeaderLen + f.Options.Len() }

// Encode writes the header and options into b[:f.Len()], with a zero
// checksum field; fill it with TCP.FillChecksum once the payload follows.
func (f *TCPFields) Encode(b []byte) {
	n := f.Len()
	b = b[:n]
	binary.BigEndian.PutUint16(b[tcpSrcPort:], f.SrcPort)
	binary.BigEndian.PutUint16(b[tcpDstPort:], f.DstPort)
	binary.BigEndian.PutUint32(b[tcpSeqNum:], uint32(f.Seq))
	binary.BigEndian.PutUint32(b[tcpAckNum:], uint32(f.Ack))
	b[tcpDataOffset] = byte(n/4) << 4
	b[tcpFlags] = byte(f.Flags)
	binary.BigEndian.PutUint16(b[tcpWindow:], f.Window)
	binary.BigEndian.PutUint16(b[tcpChecksum:], 0)
	binary.BigEndian.PutUint16(b[tcpUrgent:], f.Urgent)
	f.Options.Encode(b[TCPMinHeaderLen:])
}
