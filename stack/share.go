package stack

import (
	"net/netip"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// Shared text (link.TextSharer).
//
// Between two stacks of one process (link/pipe) a large segment's text
// need not be copied into a packet at all: the sending stack writes the
// headers in a buffer of their own and passes the text where it lies in
// the connection's send buffer, with a hold on that memory
// (tcp.Conn.ShareText); the receiving stack's connection keeps the text
// there, as it keeps a lent packet (tcp.Segment.Shared), and its reader
// copies it out, releasing the hold. The send buffer's chunks are pooled
// only once every hold on them is let go, so the bytes stay put however
// long the reader takes (tcp/sendqueue.go). A byte is then copied twice,
// into the send buffer and out to the reader, where it was copied three
// times: Linux's loopback copies twice too, its socket buffers passed by
// reference from sender to receiver.
//
// The stack shares only on a link that leaves checksums out
// (link.ChecksumOffloader), where nothing need be summed over the text,
// and only texts of minSharedText or more. What a reader may so hold of
// a sending stack's memory is bounded by its receive buffer, plus the
// chunks the held text begins and ends in (at most two of tcp's
// maxSendChunk, 2 MiB, each, whatever the sender's buffer).

// minSharedText is the least text a segment shares rather than copies.
// Sharing pays at MTU 1500 too: with 1 KiB rather than 8 (which shared
// only large-MTU segments), interleaved runs moved 7-14% more on one
// connection and 15-30% more on four and sixteen, with less CPU per GiB.
// It also bounds the views a receive buffer keeps: one per 1 KiB of its
// limit at most.
const minSharedText = 1 << 10

// initShare turns sharing on when ep can carry shared text and checksums
// are left out (after initGSO).
func (s *Stack) initShare(ep link.Endpoint) {
	if t, ok := ep.(link.TextSharer); ok && s.csumOffload && s.gso == nil {
		s.share = t
	}
}

// sendShared queues a segment whose text stays where it lies, held by
// ref, in a packet of the headers alone (the shard's mu held).
func (s *shard) sendShared(src, dst netip.Addr, h *wire.TCPFields, text []byte, ref tcp.Releaser) {
	hl := h.Len()
	n := wire.IPv4MinHeaderLen + hl + len(text)
	p := s.packet(wire.IPv4MinHeaderLen + hl)
	s.ipv4Header(p, wire.ProtocolTCP, src, dst, n)
	t := wire.TCP(p[wire.IPv4MinHeaderLen:])
	h.Encode(t)
	// link.ChecksumOffloader: the pseudo-header sum alone, as sendTCP.
	t.SetChecksum(wire.PseudoHeaderChecksum(wire.ProtocolTCP, src, dst, uint16(hl+len(text))))
	b := s.outq
	i := len(b.pkts) - 1
	b.texts[i], b.refs[i] = text, ref
	s.stats.OutShared.Add(1)
}

// sharedText is a delivered packet's text that lies apart from its
// headers, and the hold on it (link.SharedDispatcher).
type sharedText struct {
	text []byte
	ref  link.Releaser
}

// DeliverShared is DeliverBatch for a link whose packets' text may lie
// apart from their headers (link.SharedDispatcher): texts[i], when not
// nil, is the text of pkts[i] and refs[i] the hold on it, set to nil on
// return when a connection kept the text. texts nil says no packet's is.
func (s *Stack) DeliverShared(pkts, texts [][]byte, refs []link.Releaser, lent bool) {
	lend := lent && s.tcp.Recycle != nil // else not our link's: nowhere to give them back to
	var r inputRun
	for i, p := range pkts {
		if texts != nil && texts[i] != nil {
			if s.deliverSharedInRun(p, sharedText{texts[i], refs[i]}, &r) {
				refs[i] = nil
			}
			continue
		}
		var l []byte
		if lend {
			l = p
		}
		if s.deliverInRun(p, l, &r) {
			pkts[i] = nil
		}
	}
	r.end()
}

// deliverSharedInRun is IPv4 input for a packet of headers hdr whose
// text lies apart; it reports whether a connection kept the text. A TCP
// segment whose headers end hdr, as a stack sends them (sendShared), is
// taken where it lies; anything else a link might so deliver is copied
// whole first and taken as any packet.
func (s *Stack) deliverSharedInRun(hdr []byte, sh sharedText, r *inputRun) (kept bool) {
	ip, err := wire.ParseIPv4Prefix(hdr)
	if err != nil || ip.Protocol() != wire.ProtocolTCP || int(ip.TotalLength()) != len(hdr)+len(sh.text) ||
		ip.FragmentOffset() != 0 || ip.Flags()&wire.IPv4FlagMoreFragments != 0 || !tcpHeaderEnds(ip.Payload()) {
		r.end()
		whole := make([]byte, len(hdr)+len(sh.text)) // never for what a stack shares
		copy(whole[copy(whole, hdr):], sh.text)
		s.stats.InSharedFlattened.Add(1)
		s.deliver(whole, nil)
		return false
	}
	ip, ok := s.acceptIPv4Apart(hdr, len(sh.text))
	if !ok {
		return false
	}
	s.stats.InDelivers.Add(1)
	s.stats.InShared.Add(1)
	return s.tcpInput(ip, nil, &sh, s.csumOffload, r)
}

// tcpHeaderEnds reports whether b is a TCP header and nothing more.
func tcpHeaderEnds(b []byte) bool {
	t, err := wire.ParseTCP(b)
	return err == nil && t.DataOffset() == len(b)
}

// sharedChecksumValid reports whether the checksum of TCP header t and its
// text apart is right: the header's length is a multiple of four, so the
// sum runs on across the two.
func sharedChecksumValid(t wire.TCP, text []byte, src, dst netip.Addr) bool {
	sum := wire.Checksum(t, wire.PseudoHeaderChecksum(wire.ProtocolTCP, src, dst, uint16(len(t)+len(text))))
	return wire.Checksum(text, sum) == 0xffff
}

// tcpChecksumValid reports whether TCP segment t of ip, whose text lies
// apart when apart is not nil, has the right checksum.
func (s *Stack) tcpChecksumValid(ip wire.IPv4, t wire.TCP, apart *sharedText) bool {
	if apart != nil {
		return sharedChecksumValid(t, apart.text, ip.Src(), ip.Dst())
	}
	return t.IsChecksumValid(ip.Src(), ip.Dst())
}

var _ link.SharedDispatcher = (*Stack)(nil)
