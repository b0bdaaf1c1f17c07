package stack

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// gsoInput is an established connection on a wireNet, its server socket,
// and the next sequence number the peer sends and acknowledges.
func gsoInput(t *testing.T) (n *wireNet, c *TCPConn, local, remote netip.AddrPort, seq, ackN seqnum.Value) {
	t.Helper()
	n = newWireNet(t, Config{})
	local = netip.AddrPortFrom(fzAddr, fzPort)
	remote = netip.AddrPortFrom(fzPeers[0], 40000)
	ln, err := n.s.ListenTCP(local, 4)
	if err != nil {
		t.Fatal(err)
	}
	sa := n.synACK(local, remote, 1000)
	n.send(local, remote, wire.TCPFields{Seq: 1001, Ack: sa.SeqNum().Add(1), Flags: wire.FlagACK, Window: 65535})
	c, err = ln.Accept(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n, c, local, remote, 1001, sa.SeqNum().Add(1)
}

// partialSegment is a TCP segment from remote whose checksum field holds
// only the pseudo-header sum, as a kernel with checksum offload hands it
// over.
func partialSegment(local, remote netip.AddrPort, f *wire.TCPFields, payload []byte) []byte {
	p := tcpPacket(local, remote, f, payload)
	t := wire.TCP(p[wire.IPv4MinHeaderLen:])
	t.SetChecksum(wire.PseudoHeaderChecksum(wire.ProtocolTCP, remote.Addr(), local.Addr(), uint16(len(t))))
	return p
}

var tcpPartial = link.GSO{NeedsCsum: true, CsumStart: 20, CsumOffset: 16}

func TestGSOInputLargeSegmentDelivered(t *testing.T) {
	n, c, local, remote, seq, ackN := gsoInput(t)
	text := data(seq, 40000) // far above the MSS of 1460, within the window
	g := tcpPartial
	g.Type, g.HdrLen, g.Size = link.GSOTCPv4, 40, 1460
	n.got = nil
	n.s.DeliverGSO(partialSegment(local, remote, &wire.TCPFields{Seq: seq, Ack: ackN, Flags: wire.FlagACK | wire.FlagPSH, Window: 65535}, text), g)
	if got := n.s.Stats().GSOInPackets.Load(); got != 1 {
		t.Fatalf("GSOInPackets = %d, want 1", got)
	}
	if got := n.s.Stats().TCPInErrs.Load(); got != 0 {
		t.Fatalf("TCPInErrs = %d: the partial checksum was checked", got)
	}
	buf := make([]byte, len(text))
	if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, text) {
		t.Fatalf("read %v: the text differs", err)
	}
	var acked bool
	for _, p := range n.got {
		if tt := wire.TCP(p[20:]); tt.AckNum() == seq.Add(40000) {
			acked = true
		}
	}
	if !acked {
		t.Fatalf("no ACK for the whole segment among %d sent", len(n.got))
	}
}

func TestGSOInputPartialChecksumWithoutGSO(t *testing.T) {
	n, c, local, remote, seq, ackN := gsoInput(t)
	text := data(seq, 500)
	n.s.DeliverGSO(partialSegment(local, remote, &wire.TCPFields{Seq: seq, Ack: ackN, Flags: wire.FlagACK, Window: 65535}, text), tcpPartial)
	buf := make([]byte, len(text))
	if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, text) {
		t.Fatalf("read %v: the text differs", err)
	}
}

// TestGSOInputPartialChecksumNeedsOffload: the same partial checksum
// through DeliverPacket is a bad checksum.
func TestGSOInputPartialChecksumNeedsOffload(t *testing.T) {
	n, _, local, remote, seq, ackN := gsoInput(t)
	n.s.DeliverPacket(partialSegment(local, remote, &wire.TCPFields{Seq: seq, Ack: ackN, Flags: wire.FlagACK, Window: 65535}, data(seq, 500)))
	if got := n.s.Stats().TCPInErrs.Load(); got != 1 {
		t.Fatalf("TCPInErrs = %d, want 1", got)
	}
}

func TestGSOInputBadDescriptionDropped(t *testing.T) {
	n, _, local, remote, seq, ackN := gsoInput(t)
	seg := partialSegment(local, remote, &wire.TCPFields{Seq: seq, Ack: ackN, Flags: wire.FlagACK, Window: 65535}, data(seq, 500))
	badIP := bytes.Clone(seg)
	badIP[8]-- // TTL: the header checksum no longer holds
	icmp := make([]byte, 28)
	(&wire.IPv4Fields{TotalLength: 28, TTL: 64, Protocol: wire.ProtocolICMPv4, Src: remote.Addr(), Dst: local.Addr()}).Encode(icmp)
	udp := make([]byte, 28)
	(&wire.IPv4Fields{TotalLength: 28, TTL: 64, Protocol: wire.ProtocolUDP, Src: remote.Addr(), Dst: local.Addr()}).Encode(udp)
	for _, tc := range []struct {
		name string
		pkt  []byte
		g    link.GSO
		hdr  bool // dropped for its IPv4 header, not its description
	}{
		{"csum start not TCP's", seg, link.GSO{NeedsCsum: true, CsumStart: 24, CsumOffset: 16}, false},
		{"csum offset not TCP's", seg, link.GSO{NeedsCsum: true, CsumStart: 20, CsumOffset: 6}, false},
		{"TCPv4 on ICMP", icmp, link.GSO{Type: link.GSOTCPv4, NeedsCsum: true, HdrLen: 28, Size: 8, CsumStart: 20, CsumOffset: 2}, false},
		{"partial ICMP", icmp, link.GSO{NeedsCsum: true, CsumStart: 20, CsumOffset: 2}, false},
		{"UDPv4 on TCP", seg, link.GSO{Type: link.GSOUDPv4, NeedsCsum: true, HdrLen: 28, Size: 8, CsumStart: 20, CsumOffset: 6}, false},
		{"TCPv4 on UDP", udp, link.GSO{Type: link.GSOTCPv4, NeedsCsum: true, HdrLen: 28, Size: 8, CsumStart: 20, CsumOffset: 16}, false},
		{"UDP csum offset on TCP", seg, link.GSO{NeedsCsum: true, CsumStart: 20, CsumOffset: 6}, false},
		{"GSO without partial", seg, link.GSO{Type: link.GSOTCPv4, HdrLen: 40, Size: 100}, false},
		{"unknown type", seg, link.GSO{Type: 9, NeedsCsum: true, CsumStart: 20, CsumOffset: 16}, false},
		{"bad IPv4 checksum", badIP, tcpPartial, true},
	} {
		st := n.s.Stats()
		errs, hdrs, in := st.GSOInErrors.Load(), st.InHdrErrors.Load(), n.s.TCPStats().InSegs.Load()
		n.s.DeliverGSO(tc.pkt, tc.g)
		if tc.hdr {
			if st.InHdrErrors.Load() != hdrs+1 {
				t.Errorf("%s: InHdrErrors not counted", tc.name)
			}
		} else if st.GSOInErrors.Load() != errs+1 {
			t.Errorf("%s: GSOInErrors not counted", tc.name)
		}
		if n.s.TCPStats().InSegs.Load() != in {
			t.Errorf("%s: the segment reached TCP", tc.name)
		}
	}
}

// FuzzDeliverGSO: whatever the packet and whatever its description, the
// stack neither panics nor lets a description that does not fit through.
func FuzzDeliverGSO(f *testing.F) {
	local := netip.AddrPortFrom(fzAddr, fzPort)
	remote := netip.AddrPortFrom(fzPeers[0], 40000)
	seg := partialSegment(local, remote, &wire.TCPFields{Seq: 5, Flags: wire.FlagSYN, Window: 65535}, nil)
	f.Add(seg, uint8(1), true, uint16(40), uint16(1460), uint16(20), uint16(16))
	f.Add(seg, uint8(0), true, uint16(0), uint16(0), uint16(24), uint16(16))
	f.Add(seg[:30], uint8(2), false, uint16(9), uint16(9), uint16(0xffff), uint16(0xffff))
	f.Fuzz(func(t *testing.T, pkt []byte, typ uint8, partial bool, hdrLen, size, start, off uint16) {
		n := newWireNet(t, Config{})
		if _, err := n.s.ListenTCP(local, 4); err != nil {
			t.Fatal(err)
		}
		g := link.GSO{Type: link.GSOType(typ), NeedsCsum: partial, HdrLen: hdrLen, Size: size, CsumStart: start, CsumOffset: off}
		st := n.s.Stats()
		n.s.DeliverGSO(pkt, g)
		if st.GSOInPackets.Load() == 1 && g != (link.GSO{}) {
			ip, err := wire.ParseIPv4(pkt)
			if err != nil || !offloadMatches(ip, g) {
				t.Fatalf("took a packet its description does not fit: %+v", g)
			}
		}
	})
}

// TestGSOInputUDPLargeDropped: a large UDP datagram the kernel offloaded
// fits its description, so it is no bad description, but the stack never
// asked for UDP segmentation: UDP drops it and counts it in InErrors.
func TestGSOInputUDPLargeDropped(t *testing.T) {
	n, _, local, remote, _, _ := gsoInput(t)
	udp := make([]byte, 3028)
	(&wire.IPv4Fields{TotalLength: 3028, TTL: 64, Protocol: wire.ProtocolUDP, Src: remote.Addr(), Dst: local.Addr()}).Encode(udp)
	n.s.DeliverGSO(udp, link.GSO{Type: link.GSOUDPv4, NeedsCsum: true, HdrLen: 28, Size: 1472, CsumStart: 20, CsumOffset: 6})
	st, us := n.s.Stats(), n.s.UDPStats()
	if us.InErrors.Load() != 1 || st.GSOInErrors.Load() != 0 || st.InUnknownProtos.Load() != 0 {
		t.Fatalf("UDP InErrors %d, GSOInErrors %d, InUnknownProtos %d; want 1, 0, 0", us.InErrors.Load(), st.GSOInErrors.Load(), st.InUnknownProtos.Load())
	}
}

// TestGSOInputUDPPartialChecksumAccepted: a UDP datagram whose checksum
// field holds only the pseudo-header sum (the kernel built it and left the
// checksum to the device) is taken, not counted as a bad checksum, while
// the same bytes delivered as an ordinary packet fail the check.
func TestGSOInputUDPPartialChecksumAccepted(t *testing.T) {
	n, _, local, remote, _, _ := gsoInput(t)
	sk, err := n.s.ListenUDP(netip.AddrPortFrom(netip.Addr{}, 5353))
	if err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 20+8+5)
	(&wire.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64, Protocol: wire.ProtocolUDP, Src: remote.Addr(), Dst: local.Addr()}).Encode(pkt)
	(&wire.UDPFields{SrcPort: 999, DstPort: 5353, Length: 13}).Encode(pkt[20:])
	copy(pkt[28:], "hello")
	wire.UDP(pkt[20:]).SetChecksum(wire.PseudoHeaderChecksum(wire.ProtocolUDP, remote.Addr(), local.Addr(), 13))
	n.s.DeliverGSO(pkt, link.GSO{NeedsCsum: true, CsumStart: 20, CsumOffset: 6})
	n.s.DeliverPacket(pkt)
	us := n.s.UDPStats()
	if d, _ := sk.Pending(); d != 1 || us.InCsumErrors.Load() != 1 {
		t.Fatalf("%d datagrams queued, InCsumErrors %d; want 1 (the offloaded one), 1 (the ordinary one)", d, us.InCsumErrors.Load())
	}
}
