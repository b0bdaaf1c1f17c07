package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/wire"
)

// ipv4WithOptions is a hand-built fragment: IHL 6 (one word of options:
// NOP,NOP,NOP,EOL), TOS 0x10, total length 28, ID 0x1234, MF set, offset
// 1480 bytes (185 units), TTL 17, protocol UDP, 10.1.2.3 -> 192.0.2.9,
// 4 payload bytes, then 2 bytes of link padding that must be cut off.
const ipv4WithOptions = "4610001c1234" + "20b9" + "1111" + "0000" + "0a010203" + "c0000209" + "01010100" + "deadbeef" + "0000"

func TestIPv4Decode(t *testing.T) {
	b := mustHex(t, ipv4WithOptions)
	ip, err := wire.ParseIPv4(b)
	if err != nil {
		t.Fatalf("ParseIPv4: %v", err)
	}
	want := wire.IPv4Fields{
		TOS: 0x10, TotalLength: 28, ID: 0x1234, Flags: wire.IPv4FlagMoreFragments,
		FragmentOffset: 1480, TTL: 17, Protocol: wire.ProtocolUDP,
		Src: netip.MustParseAddr("10.1.2.3"), Dst: netip.MustParseAddr("192.0.2.9"),
	}
	if got := ipv4FieldsOf(ip); got != want {
		t.Errorf("fields = %+v, want %+v", got, want)
	}
	if len(ip) != 28 {
		t.Errorf("view is %d bytes, want 28 (padding trimmed)", len(ip))
	}
	if ip.HeaderLen() != 24 || !bytes.Equal(ip.Options(), []byte{1, 1, 1, 0}) {
		t.Errorf("HeaderLen %d, Options %x", ip.HeaderLen(), ip.Options())
	}
	if !bytes.Equal(ip.Payload(), []byte{0xde, 0xad, 0xbe, 0xef}) {
		t.Errorf("Payload = %x, want deadbeef", ip.Payload())
	}
	if ip.IsChecksumValid() {
		t.Errorf("a zero checksum was accepted")
	}
	ip.FillChecksum()
	if !ip.IsChecksumValid() || ip.Checksum() == 0 {
		t.Errorf("FillChecksum wrote %#04x, not valid", ip.Checksum())
	}
	// The options are covered by the checksum.
	ip.Options()[0] = 0x02
	if ip.IsChecksumValid() {
		t.Errorf("checksum still valid after changing an option byte")
	}
}

func TestIPv4Encode(t *testing.T) {
	f := wire.IPv4Fields{
		TOS: 0xb8, TotalLength: 1500, ID: 0xbeef, Flags: wire.IPv4FlagDontFragment | wire.IPv4FlagMoreFragments,
		FragmentOffset: 8 * 0x1fff, TTL: 255, Protocol: wire.ProtocolTCP,
		Src: netip.MustParseAddr("203.0.113.7"), Dst: netip.MustParseAddr("198.51.100.1"),
	}
	b := make([]byte, 1500)
	f.Encode(b)
	ip, err := wire.ParseIPv4(b)
	if err != nil {
		t.Fatalf("ParseIPv4 of our own header: %v", err)
	}
	if got := ipv4FieldsOf(ip); got != f {
		t.Errorf("round trip = %+v, want %+v", got, f)
	}
	if !ip.IsChecksumValid() || ip.HeaderLen() != 20 || len(ip.Payload()) != 1480 {
		t.Errorf("checksum valid %v, HeaderLen %d, payload %d", ip.IsChecksumValid(), ip.HeaderLen(), len(ip.Payload()))
	}
	ip.SetTTL(ip.TTL() - 1)
	if ip.TTL() != 254 || ip.IsChecksumValid() {
		t.Errorf("after SetTTL: TTL %d, checksum still valid %v", ip.TTL(), ip.IsChecksumValid())
	}
	ip.FillChecksum()
	if !ip.IsChecksumValid() {
		t.Errorf("FillChecksum after SetTTL did not give a valid checksum")
	}

	// Non-IPv4 addresses are written as 0.0.0.0 rather than panicking;
	// IPv4-mapped ones as IPv4.
	g := wire.IPv4Fields{TotalLength: 20, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("::ffff:10.0.0.1")}
	g.Encode(b)
	ip, _ = wire.ParseIPv4(b[:20])
	if ip.Src() != netip.IPv4Unspecified() || ip.Dst() != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("Src %v Dst %v, want 0.0.0.0 and 10.0.0.1", ip.Src(), ip.Dst())
	}
}

func TestIPv4Truncated(t *testing.T) {
	good := mustHex(t, linuxSYN)
	for n := 0; n < wire.IPv4MinHeaderLen; n++ {
		if _, err := wire.ParseIPv4(good[:n]); !errors.Is(err, wire.ErrTruncated) {
			t.Errorf("%d bytes: err = %v, want ErrTruncated", n, err)
		}
	}
	// Shorter than the total length says.
	for n := wire.IPv4MinHeaderLen; n < len(good); n++ {
		if _, err := wire.ParseIPv4(good[:n]); !errors.Is(err, wire.ErrTruncated) {
			t.Errorf("%d of %d bytes: err = %v, want ErrTruncated", n, len(good), err)
		}
	}
	cases := []struct {
		name string
		edit func(b []byte) []byte
		want error
	}{
		{"version 6", func(b []byte) []byte { b[0] = 0x65; return b }, wire.ErrBadVersion},
		{"version 0", func(b []byte) []byte { b[0] = 0x05; return b }, wire.ErrBadVersion},
		{"IHL 4", func(b []byte) []byte { b[0] = 0x44; return b }, wire.ErrBadHeaderLength},
		{"IHL 0", func(b []byte) []byte { b[0] = 0x40; return b }, wire.ErrBadHeaderLength},
		{"IHL past the end", func(b []byte) []byte { b[0] = 0x4f; return b[:40] }, wire.ErrBadHeaderLength},
		{"total length below header", func(b []byte) []byte { b[2], b[3] = 0, 19; return b }, wire.ErrBadLength},
		{"total length below options", func(b []byte) []byte { b[0], b[2], b[3] = 0x46, 0, 20; return b }, wire.ErrBadLength},
		{"total length zero", func(b []byte) []byte { b[2], b[3] = 0, 0; return b }, wire.ErrBadLength},
		{"total length past the end", func(b []byte) []byte { b[2], b[3] = 0, 61; return b }, wire.ErrTruncated},
	}
	for _, c := range cases {
		b := c.edit(append([]byte(nil), good...))
		if ip, err := wire.ParseIPv4(b); !errors.Is(err, c.want) || ip != nil {
			t.Errorf("%s: err = %v, view %d bytes; want %v", c.name, err, len(ip), c.want)
		}
	}
	// Exactly the minimum is fine: a header with no payload.
	if _, err := wire.ParseIPv4(mustHex(t, "45000014000000004006000001020304050607080000")); err != nil {
		t.Errorf("20-byte packet: %v", err)
	}
}

func TestIPv4PrefixTruncated(t *testing.T) {
	f := wire.IPv4Fields{TotalLength: 576, TTL: 64, Protocol: wire.ProtocolTCP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}
	b := make([]byte, 28) // header and 8 bytes, as an ICMP error quotes
	f.Encode(b)
	if _, err := wire.ParseIPv4(b); err != wire.ErrTruncated {
		t.Fatalf("ParseIPv4 of a quoted prefix: err %v, want ErrTruncated", err)
	}
	p, err := wire.ParseIPv4Prefix(b)
	if err != nil || len(p.Payload()) != 8 || p.Src() != f.Src {
		t.Fatalf("ParseIPv4Prefix: %v, payload %d bytes", err, len(p.Payload()))
	}
	if _, err := wire.ParseIPv4Prefix(b[:19]); err != wire.ErrTruncated {
		t.Fatalf("ParseIPv4Prefix of 19 bytes: err %v", err)
	}
}

// TestIPv4EncodeChecksumFromValues: the checksum Encode sums from the
// field values is the one summed over the bytes it wrote, for headers
// of every kind of field value.
func TestIPv4EncodeChecksumFromValues(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, wire.IPv4MinHeaderLen)
	for range 10000 {
		var s, d [4]byte
		binary.BigEndian.PutUint32(s[:], r.Uint32())
		binary.BigEndian.PutUint32(d[:], r.Uint32())
		f := wire.IPv4Fields{TOS: uint8(r.Uint32()), TotalLength: uint16(r.Uint32()), ID: uint16(r.Uint32()),
			Flags: uint8(r.Uint32() & 7), FragmentOffset: uint16(r.Uint32()) &^ 7, TTL: uint8(r.Uint32()),
			Protocol: uint8(r.Uint32()), Src: netip.AddrFrom4(s), Dst: netip.AddrFrom4(d)}
		f.Encode(b)
		if !wire.IPv4(b).IsChecksumValid() {
			t.Fatalf("Encode(%+v) wrote a bad checksum: % x", f, b)
		}
		got := wire.IPv4(b).Checksum()
		wire.IPv4(b).FillChecksum() // summed over the bytes
		if wire.IPv4(b).Checksum() != got {
			t.Fatalf("Encode(%+v): checksum %#04x, over the bytes %#04x", f, got, wire.IPv4(b).Checksum())
		}
	}
}
