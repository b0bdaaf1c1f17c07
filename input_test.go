package synack_test

import (
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// synTo is a valid SYN from the peer to port.
func synTo(port uint16) []byte {
	return tcpPacket(wire.TCPFields{SrcPort: 40000, DstPort: port, Seq: 1000, Flags: wire.FlagSYN, Window: 1000}, nil)
}

// synFrom is a valid SYN to port 80 from src, checksummed for src.
func synFrom(src string) []byte {
	h := wire.TCPFields{SrcPort: 40000, DstPort: 80, Seq: 1000, Flags: wire.FlagSYN, Window: 1000}
	return tcpPacketFrom(netip.MustParseAddr(src), h, nil)
}

// withIPv4 rewrites the IPv4 header of a copy of pkt with f, which may
// set any field, and recomputes the header checksum.
func withIPv4(pkt []byte, f func(h []byte)) []byte {
	p := append([]byte(nil), pkt...)
	f(p)
	p[10], p[11] = 0, 0
	wire.IPv4(p).FillChecksum()
	return p
}

// rawTCP is a packet whose TCP header, options and payload are given as
// bytes (data offset and all), with a correct TCP checksum.
func rawTCP(hdr []byte) []byte {
	seg := append([]byte(nil), hdr...)
	wire.TCP(seg).FillChecksum(peerAddr, serverAddr.Addr())
	return ipv4Packet(wire.ProtocolTCP, peerAddr, serverAddr.Addr(), seg)
}

// tcpHeader is a 20-byte SYN header from port 40000 to port 80 with the
// data offset set to words, followed by opts.
func tcpHeader(words int, opts ...byte) []byte {
	h := make([]byte, 20, 20+len(opts))
	binary.BigEndian.PutUint16(h[0:], 40000)
	binary.BigEndian.PutUint16(h[2:], 80)
	binary.BigEndian.PutUint32(h[4:], 1000)
	h[12] = byte(words << 4)
	h[13] = byte(wire.FlagSYN)
	binary.BigEndian.PutUint16(h[14:], 1000)
	return append(h, opts...)
}

// TestInputMalformedDroppedAndCounted hands the stack one bad packet at a
// time and checks that it is dropped without an answer and counted in
// exactly the counter named for its fault, and nothing else changes.
func TestInputMalformedDroppedAndCounted(t *testing.T) {
	r := newRawPeer(t)
	r.st.Internals().ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 8) // so good SYNs would be answered
	syn := synTo(80)
	ip := map[string]uint64{"InReceives": 1}
	tcpDrop := map[string]uint64{"InReceives": 1, "InDelivers": 1, "TCPInErrs": 1}
	icmpDrop := map[string]uint64{"InReceives": 1, "InDelivers": 1, "ICMPInMsgs": 1, "ICMPInErrors": 1}
	plus := func(m map[string]uint64, k string) map[string]uint64 {
		m = maps.Clone(m)
		m[k]++
		return m
	}
	fragBad := map[string]uint64{"InReceives": 1, "ReasmReqds": 1, "ReasmFails": 1, "ReasmBadFragments": 1}
	other := netip.MustParseAddr("10.0.0.3")
	icmpUnreach := make([]byte, wire.ICMPv4HeaderLen+4) // quotes 4 bytes, not an IP header
	(&wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: wire.ICMPv4PortUnreachable}).Encode(icmpUnreach)
	wire.ICMPv4(icmpUnreach).FillChecksum()
	badICMP := echoRequest(1, 1, []byte("x"))
	badICMP[wire.IPv4MinHeaderLen+2] ^= 0xff

	for _, tc := range []struct {
		name string
		pkt  []byte
		want map[string]uint64
	}{
		{"empty", nil, plus(ip, "InHdrErrors")},
		{"truncated IPv4 header", syn[:19], plus(ip, "InHdrErrors")},
		{"total length past the end", syn[:len(syn)-1], plus(ip, "InHdrErrors")},
		{"total length below the header", withIPv4(syn, func(h []byte) { binary.BigEndian.PutUint16(h[2:], 19) }), plus(ip, "InHdrErrors")},
		{"IP version 6", withIPv4(syn, func(h []byte) { h[0] = 0x65 }), plus(ip, "InNotIPv4")},
		{"IHL below 5", withIPv4(syn, func(h []byte) { h[0] = 0x44 }), plus(ip, "InHdrErrors")},
		{"bad IPv4 checksum", func() []byte { p := append([]byte(nil), syn...); p[10] ^= 0x5a; return p }(), plus(ip, "InHdrErrors")},
		{"for another address", withIPv4(syn, func(h []byte) { copy(h[16:20], other.AsSlice()) }), plus(ip, "InAddrErrors")},
		{"from 0.0.0.0", synFrom("0.0.0.0"), plus(ip, "InAddrErrors")},
		{"from the limited broadcast", synFrom("255.255.255.255"), plus(ip, "InAddrErrors")},
		{"from the link's broadcast", synFrom("10.0.0.255"), plus(ip, "InAddrErrors")},
		{"from a multicast group", synFrom("224.0.0.1"), plus(ip, "InAddrErrors")},
		{"from loopback", synFrom("127.0.0.1"), plus(ip, "InAddrErrors")},
		{"from the stack's own address", synFrom("10.0.0.2"), plus(ip, "InAddrErrors")},
		{"to the link's broadcast", withIPv4(syn, func(h []byte) { copy(h[16:20], []byte{10, 0, 0, 255}) }), plus(ip, "InAddrErrors")},
		{"first fragment of 20 bytes", withIPv4(syn, func(h []byte) { h[6] = 0x20 }), fragBad},                                     // MF, not a multiple of 8
		{"later fragment", withIPv4(syn, func(h []byte) { h[6], h[7] = 0x40, 0x03 }), plus(ip, "ReasmReqds")},                      // DF, offset 24: held
		{"another end for that datagram", withIPv4(syn, func(h []byte) { h[7] = 0x10 }), fragBad},                                  // offset 128, last too: drops it
		{"UDP length field 0", ipv4Packet(wire.ProtocolUDP, peerAddr, serverAddr.Addr(), make([]byte, 8)), plus(ip, "InDelivers")}, // then udp.Stats.InErrors
		{"protocol 253", ipv4Packet(253, peerAddr, serverAddr.Addr(), nil), plus(ip, "InUnknownProtos")},
		{"truncated TCP header", ipv4Packet(wire.ProtocolTCP, peerAddr, serverAddr.Addr(), make([]byte, 19)), tcpDrop},
		{"TCP data offset below 5", rawTCP(tcpHeader(4)), tcpDrop},
		{"TCP data offset past the end", rawTCP(tcpHeader(6)), tcpDrop},
		{"bad TCP checksum", func() []byte { p := append([]byte(nil), syn...); p[20+16] ^= 0x5a; return p }(), tcpDrop},
		{"TCP checksum for another source", withIPv4(syn, func(h []byte) { h[15] = 9 }), tcpDrop},
		{"MSS option length 3", rawTCP(tcpHeader(6, 2, 3, 5, 0)), tcpDrop},
		{"option length 0", rawTCP(tcpHeader(6, 30, 0, 0, 0)), tcpDrop},
		{"option length 1", rawTCP(tcpHeader(6, 30, 1, 0, 0)), tcpDrop},
		{"option past the end", rawTCP(tcpHeader(6, 8, 10, 0, 0)), tcpDrop},
		{"option without its length", rawTCP(tcpHeader(6, 1, 1, 1, 2)), tcpDrop},
		{"truncated ICMP", ipv4Packet(wire.ProtocolICMPv4, peerAddr, serverAddr.Addr(), []byte{8, 0, 0}), icmpDrop},
		{"bad ICMP checksum", badICMP, icmpDrop},
		{"ICMP unreachable quoting no IP header", ipv4Packet(wire.ProtocolICMPv4, peerAddr, serverAddr.Addr(), icmpUnreach),
			map[string]uint64{"InReceives": 1, "InDelivers": 1, "ICMPInMsgs": 1, "ICMPInDestUnreachs": 1, "ICMPInErrorsBadQuote": 1}},
	} {
		before := snapshot(r.st)
		if got := r.send(t, tc.pkt); len(got) != 0 {
			t.Errorf("%s: %d packets sent in answer", tc.name, len(got))
		}
		if d := before.diff(snapshot(r.st)); !maps.Equal(d, tc.want) {
			t.Errorf("%s: counters changed by %v, want %v", tc.name, d, tc.want)
		}
	}
	// A good SYN after all that is still answered.
	if got := r.send(t, syn); len(got) != 1 {
		t.Fatalf("%d packets in answer to a good SYN, want a SYN,ACK", len(got))
	} else if f := parseTCPReply(t, got[0]).Flags(); f != wire.FlagSYN|wire.FlagACK {
		t.Fatalf("answer to a good SYN: %v, want SYN,ACK", f)
	}
}

// TestInputRandomGarbageNeverPanics feeds the stack thousands of mangled
// packets (bytes flipped, cut short, random headers) and checks that every
// one is received and counted, and the stack still answers afterwards.
func TestInputRandomGarbageNeverPanics(t *testing.T) {
	r := newRawPeer(t)
	r.st.Internals().ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 8)
	rng := rand.New(rand.NewPCG(1, 2))
	seeds := [][]byte{synTo(80), synTo(81), echoRequest(1, 1, []byte("abc")),
		tcpPacket(wire.TCPFields{SrcPort: 1, DstPort: 80, Seq: 5, Ack: 9, Flags: wire.FlagACK | wire.FlagFIN}, []byte("data"))}
	const n = 3000
	for i := range n {
		p := append([]byte(nil), seeds[rng.IntN(len(seeds))]...)
		for range 1 + rng.IntN(4) {
			p[rng.IntN(len(p))] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 {
			p = p[:rng.IntN(len(p)+1)]
		}
		if rng.IntN(2) == 0 && len(p) >= 20 {
			p[10], p[11] = 0, 0
			if h, err := wire.ParseIPv4(p); err == nil {
				h.FillChecksum() // get past the IP checks more often
			}
		}
		if err := r.a.WritePacket(p); err != nil {
			t.Fatal(err)
		}
		r.sent++
		if i%256 == 255 { // stay below the pipe's queue depth
			waitFor(t, "the stack to catch up", func() bool { return r.b.Stats().Delivered == uint64(r.sent) })
		}
	}
	waitFor(t, "every packet handled", func() bool { return r.b.Stats().Delivered == uint64(r.sent) })
	if got := r.st.Internals().Stats().InReceives.Load(); got != n {
		t.Errorf("InReceives = %d, want %d", got, n)
	}
	// The garbage may have opened connections that answer on their own
	// timers: look for the echo reply among whatever comes back.
	replies := 0
	for _, p := range r.send(t, echoRequest(9, 9, nil)) {
		if ip, err := wire.ParseIPv4(p); err == nil && ip.Protocol() == wire.ProtocolICMPv4 {
			if m, err := wire.ParseICMPv4(ip.Payload()); err == nil && m.Type() == wire.ICMPv4EchoReply && m.Ident() == 9 {
				replies++
			}
		}
	}
	if replies != 1 {
		t.Fatalf("%d echo replies to an echo request after the garbage, want 1", replies)
	}
}

// TestClosedSegmentGetsReset sends segments to a port nobody listens on and
// checks the answers against RFC 9293 §3.10.7.1 (state CLOSED):
//
//	If the ACK bit is off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
//	If the ACK bit is on:  <SEQ=SEG.ACK><CTL=RST>
//	An incoming segment containing a RST is discarded.
func TestClosedSegmentGetsReset(t *testing.T) {
	r := newRawPeer(t)
	for _, tc := range []struct {
		name    string
		h       wire.TCPFields
		payload string
		rst     bool // an answer is expected
		seq     seqnum.Value
		ack     seqnum.Value
		flags   wire.TCPFlags
	}{
		{"SYN", wire.TCPFields{Seq: 1000, Flags: wire.FlagSYN}, "", true, 0, 1001, wire.FlagRST | wire.FlagACK},
		{"SYN with data", wire.TCPFields{Seq: 1000, Flags: wire.FlagSYN}, "hello", true, 0, 1006, wire.FlagRST | wire.FlagACK},
		{"data and FIN without ACK", wire.TCPFields{Seq: 0xfffffffe, Flags: wire.FlagFIN | wire.FlagPSH}, "abc", true, 0, 2, wire.FlagRST | wire.FlagACK},
		{"ACK", wire.TCPFields{Seq: 7, Ack: 123456, Flags: wire.FlagACK}, "", true, 123456, 0, wire.FlagRST},
		{"data with ACK", wire.TCPFields{Seq: 7, Ack: 99, Flags: wire.FlagACK | wire.FlagPSH}, "xyz", true, 99, 0, wire.FlagRST},
		{"SYN,ACK", wire.TCPFields{Seq: 7, Ack: 5000, Flags: wire.FlagSYN | wire.FlagACK}, "", true, 5000, 0, wire.FlagRST},
		{"RST", wire.TCPFields{Seq: 7, Flags: wire.FlagRST}, "", false, 0, 0, 0},
		{"RST,ACK", wire.TCPFields{Seq: 7, Ack: 8, Flags: wire.FlagRST | wire.FlagACK}, "", false, 0, 0, 0},
	} {
		tc.h.SrcPort, tc.h.DstPort, tc.h.Window = 40001, 81, 1000
		before := snapshot(r.st)
		got := r.send(t, tcpPacket(tc.h, []byte(tc.payload)))
		d := before.diff(snapshot(r.st))
		if d["TCPNoSocket"] != 1 {
			t.Errorf("%s: TCPNoSocket grew by %d, want 1", tc.name, d["TCPNoSocket"])
		}
		if !tc.rst {
			if len(got) != 0 || d["TCP.OutRsts"] != 0 {
				t.Errorf("%s: answered with %d packets (OutRsts +%d), want none", tc.name, len(got), d["TCP.OutRsts"])
			}
			continue
		}
		if len(got) != 1 || d["TCP.OutRsts"] != 1 {
			t.Errorf("%s: answered with %d packets (OutRsts +%d), want one RST", tc.name, len(got), d["TCP.OutRsts"])
			continue
		}
		seg := parseTCPReply(t, got[0])
		if seg.SrcPort() != 81 || seg.DstPort() != 40001 {
			t.Errorf("%s: RST from port %d to %d, want 81 to 40001", tc.name, seg.SrcPort(), seg.DstPort())
		}
		if seg.Flags() != tc.flags || seg.SeqNum() != tc.seq || (tc.flags.Has(wire.FlagACK) && seg.AckNum() != tc.ack) {
			t.Errorf("%s: answer %v seq=%d ack=%d, want %v seq=%d ack=%d", tc.name,
				seg.Flags(), seg.SeqNum(), seg.AckNum(), tc.flags, tc.seq, tc.ack)
		}
		if len(seg.Payload()) != 0 {
			t.Errorf("%s: RST carries %d bytes", tc.name, len(seg.Payload()))
		}
	}
}

// TestListenACKGetsReset sends a bare ACK to a listener, which answers
// <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.2), and a RST, which it ignores.
func TestListenACKGetsReset(t *testing.T) {
	r := newRawPeer(t)
	r.st.Internals().ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 8)
	got := r.send(t, tcpPacket(wire.TCPFields{SrcPort: 40002, DstPort: 80, Seq: 1, Ack: 777, Flags: wire.FlagACK}, nil))
	if len(got) != 1 {
		t.Fatalf("%d answers to an ACK for a listener, want a RST", len(got))
	}
	if seg := parseTCPReply(t, got[0]); seg.Flags() != wire.FlagRST || seg.SeqNum() != 777 {
		t.Errorf("answer %v seq=%d, want RST seq=777", seg.Flags(), seg.SeqNum())
	}
	if got := r.send(t, tcpPacket(wire.TCPFields{SrcPort: 40002, DstPort: 80, Seq: 1, Flags: wire.FlagRST}, nil)); len(got) != 0 {
		t.Errorf("%d answers to a RST for a listener, want none", len(got))
	}
	if n := r.st.Internals().Stats().TCPNoSocket.Load(); n != 0 {
		t.Errorf("TCPNoSocket = %d for segments a listener took", n)
	}
}

// TestInputPaddingAndOptionsAccepted checks two well-formed variations:
// link padding after the IPv4 total length is ignored (the TCP checksum
// covers only what the total length says), and IPv4 options are skipped.
func TestInputPaddingAndOptionsAccepted(t *testing.T) {
	r := newRawPeer(t)
	syn := synTo(81) // no listener: each is answered with a RST,ACK
	padded := append(append([]byte(nil), syn...), 0xde, 0xad, 0xbe, 0xef)
	// IHL 6: one word of options (four NOPs) between the header and TCP.
	opts := make([]byte, 0, len(syn)+4)
	opts = append(append(append(opts, syn[:20]...), 1, 1, 1, 1), syn[20:]...)
	opts = withIPv4(opts, func(h []byte) {
		h[0] = 0x46
		binary.BigEndian.PutUint16(h[2:], uint16(len(opts)))
	})
	for name, pkt := range map[string][]byte{"padded": padded, "with IP options": opts} {
		got := r.send(t, pkt)
		if len(got) != 1 {
			t.Errorf("%s: %d answers to a SYN for a closed port, want a RST", name, len(got))
			continue
		}
		if seg := parseTCPReply(t, got[0]); seg.Flags() != wire.FlagRST|wire.FlagACK || seg.AckNum() != 1001 {
			t.Errorf("%s: answer %v ack=%d, want RST,ACK ack=1001", name, seg.Flags(), seg.AckNum())
		}
	}
	if n := r.st.Internals().Stats().InHdrErrors.Load() + r.st.Internals().Stats().TCPInErrs.Load(); n != 0 {
		t.Errorf("%d packets counted as errors", n)
	}
}
