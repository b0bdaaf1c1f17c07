package wire_test

import (
	"errors"
	"testing"

	"github.com/synack-net/synack/wire"
)

func TestICMPv4Decode(t *testing.T) {
	// Echo request, ident 0x1234, seq 7, payload "ping".
	m, err := wire.ParseICMPv4(mustHex(t, "0800"+"0000"+"1234"+"0007"+"70696e67"))
	if err != nil {
		t.Fatalf("ParseICMPv4: %v", err)
	}
	if m.Type() != wire.ICMPv4EchoRequest || m.Code() != 0 || m.Ident() != 0x1234 || m.Seq() != 7 || m.Rest() != 0x12340007 {
		t.Errorf("type %d code %d ident %#x seq %d rest %#x", m.Type(), m.Code(), m.Ident(), m.Seq(), m.Rest())
	}
	if string(m.Payload()) != "ping" {
		t.Errorf("payload %q", m.Payload())
	}
	if m.IsChecksumValid() {
		t.Errorf("a zero checksum was accepted")
	}
	m.FillChecksum()
	if !m.IsChecksumValid() {
		t.Errorf("FillChecksum wrote %#x, not valid", m.Checksum())
	}
	m.Payload()[0] ^= 0x80
	if m.IsChecksumValid() {
		t.Errorf("checksum valid after flipping a payload bit")
	}
}

func TestICMPv4Encode(t *testing.T) {
	f := wire.ICMPv4Fields{Type: wire.ICMPv4EchoReply, Code: 0, Rest: uint32(0xbeef)<<16 | 42}
	b := make(wire.ICMPv4, wire.ICMPv4HeaderLen+3)
	for i := range b {
		b[i] = 0xee
	}
	f.Encode(b)
	if b.Checksum() != 0 || b[wire.ICMPv4HeaderLen] != 0xee {
		t.Errorf("Encode wrote checksum %#x or past the header", b.Checksum())
	}
	m, err := wire.ParseICMPv4(b)
	if err != nil {
		t.Fatalf("ParseICMPv4: %v", err)
	}
	if m.Type() != f.Type || m.Code() != f.Code || m.Ident() != 0xbeef || m.Seq() != 42 || m.Rest() != f.Rest {
		t.Errorf("round trip type %d code %d ident %#x seq %d", m.Type(), m.Code(), m.Ident(), m.Seq())
	}
	m.FillChecksum()
	if !m.IsChecksumValid() {
		t.Errorf("FillChecksum wrote %#x, not valid", m.Checksum())
	}
	// Fragmentation needed carries the next-hop MTU in the low 16 bits.
	f = wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: wire.ICMPv4FragmentationNeeded, Rest: 1280}
	f.Encode(b)
	if b[0] != 3 || b[1] != 4 || b[6] != 0x05 || b[7] != 0x00 {
		t.Errorf("frag needed header %x", []byte(b[:8]))
	}
}

func TestICMPv4Truncated(t *testing.T) {
	good := mustHex(t, linuxICMP)[20:]
	for n := 0; n < wire.ICMPv4HeaderLen; n++ {
		if _, err := wire.ParseICMPv4(good[:n]); !errors.Is(err, wire.ErrTruncated) {
			t.Errorf("%d bytes: err = %v, want ErrTruncated", n, err)
		}
	}
	if m, err := wire.ParseICMPv4(good[:8]); err != nil || len(m.Payload()) != 0 {
		t.Errorf("8 bytes: %v, payload %d", err, len(m.Payload()))
	}
}
