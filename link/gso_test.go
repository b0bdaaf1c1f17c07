package link_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/wire"
)

// TestCompleteChecksumMatchesFull: a TCP segment given the pseudo-header
// sum and completed has the checksum a full computation gives, for even
// and odd lengths.
func TestCompleteChecksumMatchesFull(t *testing.T) {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for _, n := range []int{0, 1, 2, 3, 1447, 1448, 60000} {
		p := make([]byte, 20+20+n)
		(&wire.IPv4Fields{TotalLength: uint16(len(p)), TTL: 64, Protocol: wire.ProtocolTCP, Src: src, Dst: dst}).Encode(p)
		tcp := wire.TCP(p[20:])
		(&wire.TCPFields{SrcPort: 1, DstPort: 2, Seq: 77, Flags: wire.FlagACK, Window: 9}).Encode(tcp)
		for i := range n {
			tcp[20+i] = byte(i*31 + 5)
		}
		tcp.SetChecksum(wire.PseudoHeaderChecksum(wire.ProtocolTCP, src, dst, uint16(len(tcp))))
		link.CompleteChecksum(p, link.GSO{NeedsCsum: true, CsumStart: 20, CsumOffset: 16})
		got := tcp.Checksum()
		tcp.FillChecksum(src, dst)
		if want := tcp.Checksum(); got != want {
			t.Errorf("%d bytes of payload: completed %#04x, want %#04x", n, got, want)
		}
	}
}

func TestCompleteChecksumIgnoresFieldOutside(t *testing.T) {
	p := []byte{1, 2, 3, 4}
	link.CompleteChecksum(p, link.GSO{NeedsCsum: true, CsumStart: 2, CsumOffset: 1})
	link.CompleteChecksum(p, link.GSO{CsumStart: 0, CsumOffset: 0})
	if binary.BigEndian.Uint32(p) != 0x01020304 {
		t.Fatalf("packet changed: % x", p)
	}
}
