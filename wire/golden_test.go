package wire_test

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/wire"
)

// Golden packets sent by the Linux kernel (6.18, default sysctls) on
// loopback, captured with testdata/capture_lo.py: an AF_PACKET socket bound
// to "lo" in a private network namespace (unshare -n) while Python sockets
// connect to a listener on 127.0.0.1, connect to a closed port, and send a
// UDP datagram to that closed port. The hex starts at the IPv4 header (lo's
// zero Ethernet header stripped).
//
// lo uses checksum offload: for the SYN, SYN-ACK and UDP datagram the kernel
// left the transport checksum for the device (CHECKSUM_PARTIAL, shown as
// TP_STATUS_CSUMNOTREADY), so their checksum field holds only the pseudo
// header sum, 0xfe30 / 0xfe21. The RST-ACK (ip_send_unicast_reply) and the
// ICMP error carry checksums the kernel computed in full, as do all IPv4
// headers.
const (
	linuxSYN    = "4500003cd87f40004006643a7f0000017f000001cdc6960f933d56fe00000000a002ffd7fe3000000204ffd70402080a67c1d5c7000000000103030a"
	linuxSYNACK = "4500003c0000400040063cba7f0000017f000001960fcdc62bb41e9e933d56ffa012ffcbfe3000000204ffd70402080a3660e7ba67c1d5c70103030a"
	linuxRSTACK = "450000280000400040063cce7f0000017f000001932d889200000000dbd23bc7501400007e740000"
	linuxUDP    = "4500002233d54000401108f47f0000017f000001c97f932d000efe2173796e61636b"
	linuxICMP   = "45c0003eaef100004001cd0b7f0000017f00000103035cd9000000004500002233d54000401108f47f0000017f000001c97f932d000efe2173796e61636b"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ipv4FieldsOf reads the values of a parsed header.
func ipv4FieldsOf(ip wire.IPv4) wire.IPv4Fields {
	return wire.IPv4Fields{
		TOS: ip.TOS(), TotalLength: ip.TotalLength(), ID: ip.ID(), Flags: ip.Flags(),
		FragmentOffset: ip.FragmentOffset(), TTL: ip.TTL(), Protocol: ip.Protocol(),
		Src: ip.Src(), Dst: ip.Dst(),
	}
}

// tcpFieldsOf reads the values of a parsed header and its options.
func tcpFieldsOf(t *testing.T, seg wire.TCP) wire.TCPFields {
	t.Helper()
	f := wire.TCPFields{
		SrcPort: seg.SrcPort(), DstPort: seg.DstPort(), Seq: seg.SeqNum(), Ack: seg.AckNum(),
		Flags: seg.Flags(), Window: seg.Window(), Urgent: seg.UrgentPointer(),
	}
	if err := wire.ParseTCPOptions(seg.Options(), &f.Options); err != nil {
		t.Fatalf("ParseTCPOptions: %v", err)
	}
	return f
}

// checkLinuxIPv4 parses a golden packet's IPv4 header, asserts its fields
// and a valid checksum, and that IPv4Fields.Encode reproduces it exactly.
func checkLinuxIPv4(t *testing.T, pkt []byte, want wire.IPv4Fields) wire.IPv4 {
	t.Helper()
	ip, err := wire.ParseIPv4(pkt)
	if err != nil {
		t.Fatalf("ParseIPv4: %v", err)
	}
	if got := ipv4FieldsOf(ip); got != want {
		t.Errorf("IPv4 fields = %+v, want %+v", got, want)
	}
	if ip.HeaderLen() != 20 || len(ip.Options()) != 0 || len(ip.Payload()) != len(pkt)-20 {
		t.Errorf("HeaderLen %d, %d option bytes, %d payload bytes", ip.HeaderLen(), len(ip.Options()), len(ip.Payload()))
	}
	if !ip.IsChecksumValid() {
		t.Errorf("IPv4 checksum %#04x is not valid", ip.Checksum())
	}
	enc := make([]byte, 20)
	want.Encode(enc)
	if !bytes.Equal(enc, pkt[:20]) {
		t.Errorf("IPv4Fields.Encode = %x, Linux sent %x", enc, pkt[:20])
	}
	return ip
}

// linuxSYNOptions are the options of the kernel's SYN and SYN-ACK, in
// Linux's layout: MSS; SACK-permitted and timestamps packed; NOP, WS.
const linuxSYNOptions = "0204ffd70402080a"

func TestTCPDecodeLinuxSYN(t *testing.T) {
	pkt := mustHex(t, linuxSYN)
	ip := checkLinuxIPv4(t, pkt, wire.IPv4Fields{
		TotalLength: 60, ID: 0xd87f, Flags: wire.IPv4FlagDontFragment, TTL: 64,
		Protocol: wire.ProtocolTCP, Src: loopback, Dst: loopback,
	})
	if ip.Checksum() != 0x643a {
		t.Errorf("IPv4 checksum = %#04x, want 0x643a", ip.Checksum())
	}
	seg, err := wire.ParseTCP(ip.Payload())
	if err != nil {
		t.Fatalf("ParseTCP: %v", err)
	}
	want := wire.TCPFields{
		SrcPort: 52678, DstPort: 38415, Seq: 0x933d56fe, Ack: 0,
		Flags: wire.FlagSYN, Window: 65495,
		Options: wire.TCPOptions{
			HasMSS: true, MSS: 65495,
			SACKPermitted: true,
			HasTimestamps: true, TSVal: 0x67c1d5c7, TSEcr: 0,
			HasWindowScale: true, WindowScale: 10,
		},
	}
	checkLinuxTCP(t, ip, seg, want)
	if got := seg.Flags().String(); got != "SYN" {
		t.Errorf("Flags().String() = %q, want SYN", got)
	}
}

func TestTCPDecodeLinuxSYNACK(t *testing.T) {
	pkt := mustHex(t, linuxSYNACK)
	ip := checkLinuxIPv4(t, pkt, wire.IPv4Fields{
		TotalLength: 60, ID: 0, Flags: wire.IPv4FlagDontFragment, TTL: 64,
		Protocol: wire.ProtocolTCP, Src: loopback, Dst: loopback,
	})
	seg, err := wire.ParseTCP(ip.Payload())
	if err != nil {
		t.Fatalf("ParseTCP: %v", err)
	}
	syn, _ := wire.ParseTCP(mustHex(t, linuxSYN)[20:])
	want := wire.TCPFields{
		SrcPort: 38415, DstPort: 52678, Seq: 0x2bb41e9e, Ack: syn.SeqNum().Add(1),
		Flags: wire.FlagSYN | wire.FlagACK, Window: 65483,
		Options: wire.TCPOptions{
			HasMSS: true, MSS: 65495,
			SACKPermitted: true,
			HasTimestamps: true, TSVal: 0x3660e7ba, TSEcr: 0x67c1d5c7,
			HasWindowScale: true, WindowScale: 10,
		},
	}
	checkLinuxTCP(t, ip, seg, want)
	if got := seg.Flags().String(); got != "SYN,ACK" {
		t.Errorf("Flags().String() = %q, want SYN,ACK", got)
	}
}

// checkLinuxTCP asserts a golden SYN or SYN-ACK whose checksum lo left
// partial: every field, the partial value, the checksum once finished the
// way the device would, and that TCPFields.Encode gives Linux's bytes.
func checkLinuxTCP(t *testing.T, ip wire.IPv4, seg wire.TCP, want wire.TCPFields) {
	t.Helper()
	if got := tcpFieldsOf(t, seg); got != want {
		t.Errorf("TCP fields = %+v, want %+v", got, want)
	}
	if seg.DataOffset() != 40 || len(seg.Options()) != 20 || len(seg.Payload()) != 0 {
		t.Errorf("DataOffset %d, %d option bytes, %d payload bytes", seg.DataOffset(), len(seg.Options()), len(seg.Payload()))
	}
	if !bytes.HasPrefix(seg.Options(), mustHex(t, linuxSYNOptions)) {
		t.Errorf("options %x do not start MSS, SACK-permitted, timestamps", seg.Options())
	}
	// CHECKSUM_PARTIAL: the field holds the pseudo-header sum.
	pseudo := wire.PseudoHeaderChecksum(wire.ProtocolTCP, ip.Src(), ip.Dst(), uint16(len(seg)))
	if seg.Checksum() != 0xfe30 || pseudo != 0xfe30 {
		t.Errorf("checksum field %#04x, PseudoHeaderChecksum %#04x, want both 0xfe30", seg.Checksum(), pseudo)
	}
	if seg.IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Errorf("a partial checksum was accepted as valid")
	}
	// Finish it as the device does (sum from csum_start, inverted).
	done := append(wire.TCP(nil), seg...)
	done.SetChecksum(^wire.Checksum(done, 0))
	if !done.IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Errorf("finished checksum %#04x is not valid", done.Checksum())
	}
	// Our encoding: Linux's bytes, and FillChecksum agrees with the device.
	if want.Len() != len(seg) {
		t.Fatalf("TCPFields.Len() = %d, want %d", want.Len(), len(seg))
	}
	enc := make(wire.TCP, want.Len())
	want.Encode(enc)
	zeroed := append([]byte(nil), seg...)
	zeroed[16], zeroed[17] = 0, 0
	if !bytes.Equal(enc, zeroed) {
		t.Errorf("TCPFields.Encode =\n%x, Linux sent\n%x", []byte(enc), zeroed)
	}
	enc.FillChecksum(ip.Src(), ip.Dst())
	if !bytes.Equal(enc, done) {
		t.Errorf("FillChecksum gives %#04x, the device %#04x", enc.Checksum(), done.Checksum())
	}
}

func TestTCPDecodeLinuxRSTACK(t *testing.T) {
	pkt := mustHex(t, linuxRSTACK)
	ip := checkLinuxIPv4(t, pkt, wire.IPv4Fields{
		TotalLength: 40, ID: 0, Flags: wire.IPv4FlagDontFragment, TTL: 64,
		Protocol: wire.ProtocolTCP, Src: loopback, Dst: loopback,
	})
	seg, err := wire.ParseTCP(ip.Payload())
	if err != nil {
		t.Fatalf("ParseTCP: %v", err)
	}
	want := wire.TCPFields{
		SrcPort: 37677, DstPort: 34962, Seq: 0, Ack: 0xdbd23bc7,
		Flags: wire.FlagRST | wire.FlagACK, Window: 0,
	}
	if got := tcpFieldsOf(t, seg); got != want {
		t.Errorf("TCP fields = %+v, want %+v", got, want)
	}
	if seg.Flags().String() != "RST,ACK" || seg.DataOffset() != 20 || len(seg.Payload()) != 0 {
		t.Errorf("flags %v, DataOffset %d, %d payload bytes", seg.Flags(), seg.DataOffset(), len(seg.Payload()))
	}
	if seg.Checksum() != 0x7e74 || !seg.IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Errorf("kernel-computed checksum %#04x not valid", seg.Checksum())
	}
	enc := make(wire.TCP, want.Len())
	want.Encode(enc)
	enc.FillChecksum(loopback, loopback)
	if !bytes.Equal(enc, seg) {
		t.Errorf("re-encoded RST,ACK = %x, Linux sent %x", []byte(enc), []byte(seg))
	}
}

func TestUDPDecodeLinux(t *testing.T) {
	pkt := mustHex(t, linuxUDP)
	ip := checkLinuxIPv4(t, pkt, wire.IPv4Fields{
		TotalLength: 34, ID: 0x33d5, Flags: wire.IPv4FlagDontFragment, TTL: 64,
		Protocol: wire.ProtocolUDP, Src: loopback, Dst: loopback,
	})
	checkLinuxUDP(t, ip)
}

// checkLinuxUDP asserts the golden UDP datagram (its checksum left partial).
func checkLinuxUDP(t *testing.T, ip wire.IPv4) {
	t.Helper()
	u, err := wire.ParseUDP(ip.Payload())
	if err != nil {
		t.Fatalf("ParseUDP: %v", err)
	}
	if u.SrcPort() != 51583 || u.DstPort() != 37677 || u.Length() != 14 || string(u.Payload()) != "synack" {
		t.Errorf("UDP %d>%d len %d payload %q", u.SrcPort(), u.DstPort(), u.Length(), u.Payload())
	}
	pseudo := wire.PseudoHeaderChecksum(wire.ProtocolUDP, ip.Src(), ip.Dst(), u.Length())
	if u.Checksum() != 0xfe21 || pseudo != 0xfe21 {
		t.Errorf("checksum field %#04x, PseudoHeaderChecksum %#04x, want both 0xfe21", u.Checksum(), pseudo)
	}
	enc := make(wire.UDP, u.Length())
	f := wire.UDPFields{SrcPort: u.SrcPort(), DstPort: u.DstPort(), Length: u.Length()}
	f.Encode(enc)
	copy(enc.Payload(), u.Payload())
	enc.FillChecksum(ip.Src(), ip.Dst())
	done := append(wire.UDP(nil), u...)
	done.SetChecksum(^wire.Checksum(done, 0)) // as the device finishes it
	if !bytes.Equal(enc, done) || !enc.IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Errorf("re-encoded UDP = %x, want %x", []byte(enc), []byte(done))
	}
}

func TestICMPv4DecodeLinuxPortUnreachable(t *testing.T) {
	pkt := mustHex(t, linuxICMP)
	ip := checkLinuxIPv4(t, pkt, wire.IPv4Fields{
		TOS: 0xc0, TotalLength: 62, ID: 0xaef1, Flags: 0, TTL: 64,
		Protocol: wire.ProtocolICMPv4, Src: loopback, Dst: loopback,
	})
	m, err := wire.ParseICMPv4(ip.Payload())
	if err != nil {
		t.Fatalf("ParseICMPv4: %v", err)
	}
	if m.Type() != wire.ICMPv4DestUnreachable || m.Code() != wire.ICMPv4PortUnreachable || m.Rest() != 0 {
		t.Errorf("ICMP type %d code %d rest %#x", m.Type(), m.Code(), m.Rest())
	}
	if m.Checksum() != 0x5cd9 || !m.IsChecksumValid() {
		t.Errorf("kernel-computed ICMP checksum %#04x not valid", m.Checksum())
	}
	// RFC 792: the error quotes the offending datagram (here all of it).
	if !bytes.Equal(m.Payload(), mustHex(t, linuxUDP)) {
		t.Errorf("quoted datagram %x, want the UDP datagram sent", m.Payload())
	}
	quoted, err := wire.ParseIPv4(m.Payload())
	if err != nil {
		t.Fatalf("ParseIPv4(quoted): %v", err)
	}
	checkLinuxUDP(t, quoted)
	enc := make(wire.ICMPv4, len(m))
	f := wire.ICMPv4Fields{Type: m.Type(), Code: m.Code(), Rest: m.Rest()}
	f.Encode(enc)
	copy(enc.Payload(), m.Payload())
	enc.FillChecksum()
	if !bytes.Equal(enc, m) {
		t.Errorf("re-encoded ICMP = %x, Linux sent %x", []byte(enc), []byte(m))
	}
}
