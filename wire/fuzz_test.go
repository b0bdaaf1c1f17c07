package wire_test

import (
	"bytes"
	"testing"

	"github.com/synack-net/synack/wire"
)

// Fuzz targets for every parser. Seeds: the golden Linux packets and the
// hand-built ones here, plus the files under testdata/fuzz/<FuzzName>/.
// Run one with e.g. go test -run '^$' -fuzz '^FuzzParseTCP$' -fuzztime 30s ./wire

func addGolden(f *testing.F, skip int, hexes ...string) {
	for _, h := range hexes {
		b := mustHex(f, h)
		f.Add(b[min(skip, len(b)):])
	}
}

func FuzzParseIPv4(f *testing.F) {
	addGolden(f, 0, linuxSYN, linuxSYNACK, linuxRSTACK, linuxUDP, linuxICMP, ipv4WithOptions)
	f.Add([]byte{})
	f.Add([]byte{0x4f, 0, 0, 60})
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, err := wire.ParseIPv4(b)
		if err != nil {
			if ip != nil {
				t.Fatalf("error %v with a non-nil view", err)
			}
			return
		}
		hl := ip.HeaderLen()
		if hl < 20 || hl > len(ip) || int(ip.TotalLength()) != len(ip) || len(ip) > len(b) {
			t.Fatalf("HeaderLen %d TotalLength %d view %d buffer %d", hl, ip.TotalLength(), len(ip), len(b))
		}
		if len(ip.Options()) != hl-20 || len(ip.Payload()) != len(ip)-hl {
			t.Fatalf("options %d payload %d", len(ip.Options()), len(ip.Payload()))
		}
		if ip.Flags() > 7 || ip.FragmentOffset()%8 != 0 || !ip.Src().Is4() || !ip.Dst().Is4() {
			t.Fatalf("flags %d offset %d src %v dst %v", ip.Flags(), ip.FragmentOffset(), ip.Src(), ip.Dst())
		}
		_, _, _, _, _ = ip.TOS(), ip.ID(), ip.TTL(), ip.Protocol(), ip.Checksum()
		_ = ip.IsChecksumValid()

		c := append(wire.IPv4(nil), ip...)
		c.SetTTL(c.TTL() + 1)
		c.FillChecksum()
		if !c.IsChecksumValid() {
			t.Fatalf("FillChecksum gave an invalid checksum")
		}
		if hl == 20 {
			fields := ipv4FieldsOf(c)
			enc := make([]byte, 20)
			fields.Encode(enc)
			if !bytes.Equal(enc, c[:20]) {
				t.Fatalf("re-encoded header %x, parsed %x", enc, []byte(c[:20]))
			}
		}
	})
}

func FuzzParseTCP(f *testing.F) {
	addGolden(f, 20, linuxSYN, linuxSYNACK, linuxRSTACK)
	addGolden(f, 0, tcpWithData)
	f.Add([]byte{})
	f.Add(make([]byte, 20))
	f.Fuzz(func(t *testing.T, b []byte) {
		seg, err := wire.ParseTCP(b)
		if err != nil {
			if seg != nil {
				t.Fatalf("error %v with a non-nil view", err)
			}
			return
		}
		off := seg.DataOffset()
		if off < 20 || off > 60 || off > len(seg) || len(seg.Options()) != off-20 || len(seg.Payload()) != len(seg)-off {
			t.Fatalf("offset %d, options %d, payload %d of %d", off, len(seg.Options()), len(seg.Payload()), len(seg))
		}
		_, _, _, _ = seg.SrcPort(), seg.DstPort(), seg.SeqNum(), seg.AckNum()
		_, _, _, _ = seg.Window(), seg.Checksum(), seg.UrgentPointer(), seg.Flags().String()
		_ = seg.IsChecksumValid(addrA, addrB)

		var o wire.TCPOptions
		if err := wire.ParseTCPOptions(seg.Options(), &o); err != nil {
			return
		}
		checkOptionsRoundTrip(t, o)

		fields := wire.TCPFields{
			SrcPort: seg.SrcPort(), DstPort: seg.DstPort(), Seq: seg.SeqNum(), Ack: seg.AckNum(),
			Flags: seg.Flags(), Window: seg.Window(), Urgent: seg.UrgentPointer(), Options: o,
		}
		enc := make(wire.TCP, fields.Len(), fields.Len()+len(seg.Payload()))
		fields.Encode(enc)
		enc = append(enc, seg.Payload()...)
		enc.FillChecksum(addrA, addrB)
		again, err := wire.ParseTCP(enc)
		if err != nil {
			t.Fatalf("ParseTCP of the re-encoded segment %x: %v", []byte(enc), err)
		}
		if !again.IsChecksumValid(addrA, addrB) || !bytes.Equal(again.Payload(), seg.Payload()) {
			t.Fatalf("re-encoded segment: checksum or payload differs")
		}
		if !bytes.Equal(enc[:12], seg[:12]) || !bytes.Equal(enc[13:16], seg[13:16]) || !bytes.Equal(enc[18:20], seg[18:20]) {
			t.Fatalf("re-encoded header %x, parsed %x", []byte(enc[:20]), []byte(seg[:20]))
		}
	})
}

func FuzzParseTCPOptions(f *testing.F) {
	syn := mustHex(f, linuxSYN)
	f.Add(syn[40:60])
	f.Add(mustHex(f, linuxSYNACK)[40:60])
	f.Add(mustHex(f, "0101080a00000003000000040101051a"+"000000010000000200000003000000040000000500000006"))
	f.Add(mustHex(f, "1e04abcd"+"fd02"+"030308"+"01"+"00"+"0201ffff"))
	// MSS, timestamps, WS and four SACK blocks: only two blocks fit in 40 bytes.
	f.Add(mustHex(f, "020405b4"+"080a0000000100000002"+"030307"+"0522"+
		"0000000100000002000000030000000400000005000000060000000700000008"))
	f.Add(mustHex(f, "0502"))
	f.Add([]byte{2})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var o wire.TCPOptions
		if err := wire.ParseTCPOptions(b, &o); err != nil {
			return
		}
		if o.NumSACKBlocks < 0 || o.NumSACKBlocks > 4 {
			t.Fatalf("NumSACKBlocks %d", o.NumSACKBlocks)
		}
		checkOptionsRoundTrip(t, o)
	})
}

// checkOptionsRoundTrip asserts that o encodes within 40 bytes and parses
// back to itself, less any SACK blocks that did not fit.
func checkOptionsRoundTrip(t *testing.T, o wire.TCPOptions) {
	t.Helper()
	n := o.Len()
	if n%4 != 0 || n > 40 {
		t.Fatalf("Len() = %d for %+v", n, o)
	}
	b := make([]byte, n)
	if got := o.Encode(b); got != n {
		t.Fatalf("Encode returned %d, Len %d", got, n)
	}
	var got wire.TCPOptions
	if err := wire.ParseTCPOptions(b, &got); err != nil {
		t.Fatalf("ParseTCPOptions(Encode(%+v) = %x): %v", o, b, err)
	}
	want := o
	if got.NumSACKBlocks < o.NumSACKBlocks {
		if n+8 <= 40 {
			t.Fatalf("%d of %d SACK blocks encoded in %d bytes", got.NumSACKBlocks, o.NumSACKBlocks, n)
		}
		want.NumSACKBlocks = got.NumSACKBlocks
		clear(want.SACKBlocks[got.NumSACKBlocks:])
	}
	if got != want {
		t.Fatalf("round trip through %x:\n got %+v\nwant %+v", b, got, want)
	}
}

func FuzzParseUDP(f *testing.F) {
	addGolden(f, 20, linuxUDP)
	addGolden(f, 0, "00359c40000c0000616263")
	f.Add([]byte{})
	f.Add(make([]byte, 8))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := wire.ParseUDP(b)
		if err != nil {
			if u != nil {
				t.Fatalf("error %v with a non-nil view", err)
			}
			return
		}
		if int(u.Length()) != len(u) || len(u) > len(b) || len(u.Payload()) != len(u)-8 {
			t.Fatalf("Length %d view %d payload %d", u.Length(), len(u), len(u.Payload()))
		}
		_, _, _ = u.SrcPort(), u.DstPort(), u.Checksum()
		_ = u.IsChecksumValid(addrA, addrB)
		c := append(wire.UDP(nil), u...)
		c.FillChecksum(addrA, addrB)
		if c.Checksum() == 0 || !c.IsChecksumValid(addrA, addrB) {
			t.Fatalf("FillChecksum wrote %#x", c.Checksum())
		}
		enc := make([]byte, 8)
		fields := wire.UDPFields{SrcPort: u.SrcPort(), DstPort: u.DstPort(), Length: u.Length()}
		fields.Encode(enc)
		if !bytes.Equal(enc[:6], u[:6]) {
			t.Fatalf("re-encoded header %x, parsed %x", enc, []byte(u[:8]))
		}
	})
}

func FuzzParseICMPv4(f *testing.F) {
	addGolden(f, 20, linuxICMP)
	addGolden(f, 0, "08000000123400077069")
	f.Add([]byte{})
	f.Add(make([]byte, 8))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := wire.ParseICMPv4(b)
		if err != nil {
			if m != nil {
				t.Fatalf("error %v with a non-nil view", err)
			}
			return
		}
		if len(m.Payload()) != len(m)-8 || m.Rest() != uint32(m.Ident())<<16|uint32(m.Seq()) {
			t.Fatalf("payload %d, rest %#x ident %#x seq %#x", len(m.Payload()), m.Rest(), m.Ident(), m.Seq())
		}
		_, _, _ = m.Type(), m.Code(), m.Checksum()
		_ = m.IsChecksumValid()
		c := append(wire.ICMPv4(nil), m...)
		c.FillChecksum()
		if !c.IsChecksumValid() {
			t.Fatalf("FillChecksum wrote %#x", c.Checksum())
		}
		fields := wire.ICMPv4Fields{Type: m.Type(), Code: m.Code(), Rest: m.Rest()}
		fields.Encode(c)
		c.SetChecksum(m.Checksum())
		if !bytes.Equal(c, m) {
			t.Fatalf("re-encoded %x, parsed %x", []byte(c), []byte(m))
		}
		// An error message quotes an IP header: parsing it must be safe too.
		if ip, err := wire.ParseIPv4(m.Payload()); err == nil {
			_ = ip.Payload()
		}
	})
}
