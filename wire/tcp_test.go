package wire_test

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
)

// tcpWithData is a hand-built segment: 80 -> 49152, seq 0xfffffff0 (about to
// wrap), ack 1, data offset 6 (options: NOP,NOP,NOP,EOL), PSH|ACK|FIN|URG,
// window 0x1234, checksum 0xabcd, urgent 3, payload "hello".
const tcpWithData = "0050c000" + "fffffff0" + "00000001" + "60" + "39" + "1234" + "abcd" + "0003" + "01010100" + "68656c6c6f"

func TestTCPDecode(t *testing.T) {
	seg, err := wire.ParseTCP(mustHex(t, tcpWithData))
	if err != nil {
		t.Fatalf("ParseTCP: %v", err)
	}
	if seg.SrcPort() != 80 || seg.DstPort() != 49152 {
		t.Errorf("ports %d>%d", seg.SrcPort(), seg.DstPort())
	}
	if seg.SeqNum() != 0xfffffff0 || seg.AckNum() != 1 || !seg.SeqNum().LessThan(seg.AckNum()) {
		t.Errorf("seq %#x ack %#x", seg.SeqNum(), seg.AckNum())
	}
	if want := wire.FlagFIN | wire.FlagPSH | wire.FlagACK | wire.FlagURG; seg.Flags() != want {
		t.Errorf("flags %v, want %v", seg.Flags(), want)
	}
	if seg.DataOffset() != 24 || seg.Window() != 0x1234 || seg.Checksum() != 0xabcd || seg.UrgentPointer() != 3 {
		t.Errorf("offset %d window %#x checksum %#x urgent %d", seg.DataOffset(), seg.Window(), seg.Checksum(), seg.UrgentPointer())
	}
	if !bytes.Equal(seg.Options(), []byte{1, 1, 1, 0}) || string(seg.Payload()) != "hello" {
		t.Errorf("options %x payload %q", seg.Options(), seg.Payload())
	}
	var o wire.TCPOptions
	if err := wire.ParseTCPOptions(seg.Options(), &o); err != nil || o != (wire.TCPOptions{}) {
		t.Errorf("options parse to %+v, %v; want none", o, err)
	}
	seg.FillChecksum(addrA, addrB)
	if !seg.IsChecksumValid(addrA, addrB) {
		t.Errorf("FillChecksum gave an invalid checksum")
	}
	if seg.IsChecksumValid(addrB, addrA.Next()) {
		t.Errorf("checksum valid for the wrong pseudo header")
	}
	seg.Payload()[4] ^= 0x01
	if seg.IsChecksumValid(addrA, addrB) {
		t.Errorf("checksum valid after flipping a payload bit")
	}
}

func TestTCPEncode(t *testing.T) {
	f := wire.TCPFields{
		SrcPort: 49152, DstPort: 443, Seq: 0x01020304, Ack: 0xa0b0c0d0,
		Flags: wire.FlagACK | wire.FlagPSH, Window: 501, Urgent: 0,
		Options: wire.TCPOptions{
			HasTimestamps: true, TSVal: 7, TSEcr: 9,
			NumSACKBlocks: 2,
			SACKBlocks:    [4]wire.SACKBlock{{Left: 100, Right: 200}, {Left: 300, Right: 400}},
		},
	}
	if f.Len() != 20+12+4+16 {
		t.Fatalf("Len() = %d, want 52", f.Len())
	}
	payload := []byte("GET / HTTP/1.0\r\n\r\n")
	b := make([]byte, f.Len()+len(payload)+10)
	for i := range b {
		b[i] = 0xee // Encode must write every byte of the header
	}
	f.Encode(b)
	if b[f.Len()] != 0xee {
		t.Fatalf("Encode wrote past Len()")
	}
	copy(b[f.Len():], payload)
	seg, err := wire.ParseTCP(b[:f.Len()+len(payload)])
	if err != nil {
		t.Fatalf("ParseTCP of our own segment: %v", err)
	}
	if seg.Checksum() != 0 {
		t.Errorf("Encode left checksum %#x, want 0", seg.Checksum())
	}
	if got := tcpFieldsOf(t, seg); got != f {
		t.Errorf("round trip = %+v\nwant %+v", got, f)
	}
	if b[12]&0x0f != 0 {
		t.Errorf("reserved bits set: %#x", b[12])
	}
	if !bytes.Equal(seg.Payload(), payload) {
		t.Errorf("payload %q", seg.Payload())
	}
	seg.FillChecksum(addrA, addrB)
	if !seg.IsChecksumValid(addrA, addrB) {
		t.Errorf("FillChecksum gave an invalid checksum")
	}

	// Without options: a bare 20-byte header.
	bare := wire.TCPFields{SrcPort: 1, DstPort: 2, Seq: seqnum.Value(3), Flags: wire.FlagRST}
	h := make([]byte, bare.Len())
	bare.Encode(h)
	if want := mustHex(t, "0001000200000003000000005004000000000000"); !bytes.Equal(h, want) {
		t.Errorf("bare RST = %x, want %x", h, want)
	}
}

func TestTCPTruncated(t *testing.T) {
	good := mustHex(t, linuxSYN)[20:]
	for n := 0; n < wire.TCPMinHeaderLen; n++ {
		if _, err := wire.ParseTCP(good[:n]); !errors.Is(err, wire.ErrTruncated) {
			t.Errorf("%d bytes: err = %v, want ErrTruncated", n, err)
		}
	}
	// Data offset 10 (40 bytes) does not fit in 20..39 bytes.
	for n := wire.TCPMinHeaderLen; n < 40; n++ {
		if _, err := wire.ParseTCP(good[:n]); !errors.Is(err, wire.ErrBadHeaderLength) {
			t.Errorf("%d bytes with data offset 40: err = %v, want ErrBadHeaderLength", n, err)
		}
	}
	for off := 0; off < 5; off++ {
		b := append([]byte(nil), good...)
		b[12] = byte(off << 4)
		if _, err := wire.ParseTCP(b); !errors.Is(err, wire.ErrBadHeaderLength) {
			t.Errorf("data offset %d: err = %v, want ErrBadHeaderLength", off, err)
		}
	}
	b := append([]byte(nil), good...)
	b[12] = 0xf0 // 60 bytes
	if _, err := wire.ParseTCP(append(b, make([]byte, 20)...)); err != nil {
		t.Errorf("data offset 15 with 60 bytes: %v", err)
	}
	// Bad options do not fail ParseTCP; ParseTCPOptions reports them.
	b[12] = 0xa0
	b[20+1] = 3 // MSS with length 3
	seg, err := wire.ParseTCP(b)
	if err != nil {
		t.Fatalf("ParseTCP: %v", err)
	}
	var o wire.TCPOptions
	if err := wire.ParseTCPOptions(seg.Options(), &o); !errors.Is(err, wire.ErrBadOption) {
		t.Errorf("MSS of length 3: err = %v, want ErrBadOption", err)
	}
}

func TestTCPFlagsString(t *testing.T) {
	cases := []struct {
		f    wire.TCPFlags
		want string
	}{
		{0, "none"},
		{wire.FlagSYN, "SYN"},
		{wire.FlagSYN | wire.FlagACK, "SYN,ACK"},
		{wire.FlagFIN | wire.FlagPSH | wire.FlagACK, "FIN,PSH,ACK"},
		{wire.FlagRST, "RST"},
		{wire.FlagRST | wire.FlagACK, "RST,ACK"},
		{wire.FlagSYN | wire.FlagFIN, "SYN,FIN"},
		{wire.FlagSYN | wire.FlagECE | wire.FlagCWR, "SYN,ECE,CWR"},
		{0xff, "SYN,FIN,RST,PSH,ACK,URG,ECE,CWR"},
	}
	for _, c := range cases {
		if got := c.f.String(); got != c.want {
			t.Errorf("TCPFlags(%#x).String() = %q, want %q", uint8(c.f), got, c.want)
		}
	}
	seen := map[string]bool{}
	for i := 0; i < 256; i++ {
		seen[wire.TCPFlags(i).String()] = true
	}
	if len(seen) != 256 {
		t.Errorf("%d distinct strings for 256 flag values", len(seen))
	}
	f := wire.FlagSYN | wire.FlagACK
	if n := testing.AllocsPerRun(100, func() { _ = f.String() }); n != 0 {
		t.Errorf("String allocates %v times", n)
	}
}

func TestTCPFlagsHas(t *testing.T) {
	f := wire.FlagSYN | wire.FlagACK
	if !f.Has(wire.FlagSYN) || !f.Has(wire.FlagACK) || !f.Has(f) || !f.Has(0) {
		t.Errorf("%v lacks its own bits", f)
	}
	if f.Has(wire.FlagFIN) || f.Has(wire.FlagSYN|wire.FlagFIN) {
		t.Errorf("%v claims FIN", f)
	}
}
