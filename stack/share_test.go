package stack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/wire"
)

// sharedSegment is a TCP segment from 10.0.0.1:4000 to 10.0.0.2:port as a
// stack shares it: the headers alone, and text apart; the TCP checksum is
// the full one over both unless bad is set.
func sharedSegment(port uint16, text []byte, bad bool) []byte {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	hdr := make([]byte, wire.IPv4MinHeaderLen+wire.TCPMinHeaderLen)
	f := wire.IPv4Fields{TotalLength: uint16(len(hdr) + len(text)), TTL: 64, Protocol: wire.ProtocolTCP, Src: src, Dst: dst}
	f.Encode(hdr)
	h := wire.TCPFields{SrcPort: 4000, DstPort: port, Seq: 1000, Ack: 1, Flags: wire.FlagACK, Window: 100}
	t := wire.TCP(hdr[wire.IPv4MinHeaderLen:])
	h.Encode(t)
	sum := wire.Checksum(t, wire.PseudoHeaderChecksum(wire.ProtocolTCP, src, dst, uint16(len(t)+len(text))))
	c := ^wire.Checksum(text, sum)
	if bad {
		c++
	}
	t.SetChecksum(c)
	return hdr
}

// TestDeliverSharedBadInput hands a stack, through DeliverShared, what a
// link that shares text (link.TextSharer) might deliver: a good segment,
// whose checksum is verified across headers and text, and packets that
// are not a segment as a stack shares one. Each is taken or dropped and
// counted by reason, none panics, and the stack keeps no hold on text it
// did not keep: refs[i] stays set for the link to release.
func TestDeliverSharedBadInput(t *testing.T) {
	s := stackOnPipe(t, 65535) // checksums computed and verified
	text := make([]byte, 16<<10)
	for i := range text {
		text[i] = byte(i * 7)
	}
	good := sharedSegment(9, text, false)
	badSum := sharedSegment(9, text, true)
	long := sharedSegment(9, text, false)
	binary.BigEndian.PutUint16(long[2:], uint16(len(long)+len(text)+1))
	wire.IPv4(long).FillChecksum()
	udp := sharedSegment(9, text, false)
	udp[9] = wire.ProtocolUDP
	wire.IPv4(udp).FillChecksum()
	extra := append(sharedSegment(9, text[:len(text)-4], false), text[:4]...) // the headers run on into text

	st := s.Stats()
	cases := []struct {
		name  string
		hdr   []byte
		check func() bool
	}{
		{"good, to no socket", good, func() bool { return st.InShared.Load() == 1 && st.TCPNoSocket.Load() == 1 }},
		{"bad checksum", badSum, func() bool { return st.TCPInErrs.Load() == 1 && st.InShared.Load() == 2 }},
		{"total length beyond the text", long, func() bool { return st.InSharedFlattened.Load() == 1 && st.InHdrErrors.Load() == 1 }},
		{"not TCP", udp, func() bool { return st.InSharedFlattened.Load() == 2 }},
		{"headers longer than TCP's", extra, func() bool { return st.InSharedFlattened.Load() == 3 }},
		{"truncated IPv4 header", good[:10], func() bool { return st.InSharedFlattened.Load() == 4 && st.InHdrErrors.Load() == 2 }},
	}
	for _, c := range cases {
		r := &countingRef{}
		txt := text
		if c.name == "headers longer than TCP's" {
			txt = text[4:]
		}
		refs := []link.Releaser{r}
		s.DeliverShared([][]byte{c.hdr}, [][]byte{txt}, refs, false)
		if refs[0] == nil {
			t.Fatalf("%s: the stack kept a hold on text no connection took", c.name)
		}
		if r.n != 0 {
			t.Fatalf("%s: the stack released a hold it did not keep", c.name)
		}
		if !c.check() {
			t.Fatalf("%s: counters InShared %d TCPNoSocket %d TCPInErrs %d InSharedFlattened %d InHdrErrors %d", c.name,
				st.InShared.Load(), st.TCPNoSocket.Load(), st.TCPInErrs.Load(), st.InSharedFlattened.Load(), st.InHdrErrors.Load())
		}
	}
}

type countingRef struct{ n int }

func (r *countingRef) Release() { r.n++ }
