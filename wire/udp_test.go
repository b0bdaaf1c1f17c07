package wire_test

import (
	"errors"
	"testing"

	"github.com/synack-net/synack/wire"
)

func TestUDPDecode(t *testing.T) {
	// 53 -> 40000, length 12, checksum 0 (none), payload "abcd", 3 bytes of
	// trailing junk beyond Length.
	u, err := wire.ParseUDP(mustHex(t, "00359c40000c0000"+"61626364"+"ffffff"))
	if err != nil {
		t.Fatalf("ParseUDP: %v", err)
	}
	if u.SrcPort() != 53 || u.DstPort() != 40000 || u.Length() != 12 || u.Checksum() != 0 {
		t.Errorf("%d>%d len %d checksum %#x", u.SrcPort(), u.DstPort(), u.Length(), u.Checksum())
	}
	if len(u) != 12 || string(u.Payload()) != "abcd" {
		t.Errorf("view %d bytes, payload %q", len(u), u.Payload())
	}
	if !u.IsChecksumValid(addrA, addrB) {
		t.Errorf("a zero checksum (none sent) must count as valid")
	}
	u.SetChecksum(0x1234)
	if u.Checksum() != 0x1234 || u.IsChecksumValid(addrA, addrB) {
		t.Errorf("a wrong checksum %#x was accepted", u.Checksum())
	}
}

func TestUDPEncode(t *testing.T) {
	payload := []byte("datagram")
	f := wire.UDPFields{SrcPort: 5353, DstPort: 9, Length: uint16(wire.UDPHeaderLen + len(payload))}
	b := make([]byte, int(f.Length))
	for i := range b {
		b[i] = 0xee
	}
	f.Encode(b)
	copy(b[wire.UDPHeaderLen:], payload)
	u, err := wire.ParseUDP(b)
	if err != nil {
		t.Fatalf("ParseUDP of our own datagram: %v", err)
	}
	if got := (wire.UDPFields{SrcPort: u.SrcPort(), DstPort: u.DstPort(), Length: u.Length()}); got != f || u.Checksum() != 0 {
		t.Errorf("round trip %+v checksum %#x, want %+v and 0", got, u.Checksum(), f)
	}
	u.FillChecksum(addrA, addrB)
	if u.Checksum() == 0 || !u.IsChecksumValid(addrA, addrB) || u.IsChecksumValid(addrB, addrB) {
		t.Errorf("FillChecksum wrote %#x", u.Checksum())
	}
}

func TestUDPChecksumZeroIsSentAsOnes(t *testing.T) {
	// Choose the last payload word so that the computed checksum is 0.
	b := make(wire.UDP, 10)
	f := wire.UDPFields{SrcPort: 1, DstPort: 2, Length: 10}
	f.Encode(b)
	s := wire.Checksum(b, wire.PseudoHeaderChecksum(wire.ProtocolUDP, addrA, addrB, 10))
	b[8], b[9] = byte(^s>>8), byte(^s) // now the sum is 0xffff and ^sum is 0
	b.FillChecksum(addrA, addrB)
	if b.Checksum() != 0xffff || !b.IsChecksumValid(addrA, addrB) {
		t.Errorf("checksum %#x, want 0xffff (RFC 768)", b.Checksum())
	}
}

func TestUDPTruncated(t *testing.T) {
	good := mustHex(t, linuxUDP)[20:]
	for n := 0; n < wire.UDPHeaderLen; n++ {
		if _, err := wire.ParseUDP(good[:n]); !errors.Is(err, wire.ErrTruncated) {
			t.Errorf("%d bytes: err = %v, want ErrTruncated", n, err)
		}
	}
	for n := wire.UDPHeaderLen; n < len(good); n++ {
		if _, err := wire.ParseUDP(good[:n]); !errors.Is(err, wire.ErrTruncated) {
			t.Errorf("%d of %d bytes: err = %v, want ErrTruncated", n, len(good), err)
		}
	}
	for _, l := range []byte{0, 1, 7} {
		b := append([]byte(nil), good...)
		b[4], b[5] = 0, l
		if _, err := wire.ParseUDP(b); !errors.Is(err, wire.ErrBadLength) {
			t.Errorf("length %d: err = %v, want ErrBadLength", l, err)
		}
	}
}
