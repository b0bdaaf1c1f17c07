package stack

import (
	"net/netip"
	"sync/atomic"

	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// The stack's TCP drops are counted and traced as the engine's are
// (tcp/drop.go): a trace.KindDrop event whose Cause is the counter's
// name, emitted only when Config.Trace is set. A segment too short to
// name its ports is counted but not traced: it belongs to no connection.

// noSocket counts seg, from remote to local, as reaching no socket
// (TCPNoSocket). It is traced as received in CLOSED, its Cause the
// counter's name, not as a drop: CLOSED answers it (RFC 9293 §3.10.7.1,
// the RST that follows in the trace), and the sequence diagram draws it
// arriving, as the textbooks draw a refused connection.
func (s *shard) noSocket(local, remote netip.AddrPort, seg *tcp.Segment) {
	s.stats.TCPNoSocket.Add(1)
	if s.tcp.Trace != nil {
		e := trace.Event{Kind: trace.KindSegmentReceived, Host: s.tcp.Host, Local: local, Remote: remote, Flags: seg.Flags,
			Seq: seg.Seq, Ack: seg.Ack, Window: seg.Window, Len: len(seg.Payload), Options: seg.Options,
			State: "CLOSED", Cause: "TCPNoSocket"}
		s.tcp.Trace.Event(&e)
	}
}

// traceDrop reports a drop counted elsewhere (admitConnLocked counts
// ConnLimitDrops for callers that hold the segment).
func (s *shard) traceDrop(reason string, local, remote netip.AddrPort, seg *tcp.Segment, state string) {
	if s.tcp.Trace != nil {
		tcp.TraceDrop(s.tcp.Trace, s.tcp.Host, reason, local, remote, seg, state)
	}
}

// dropTCP counts a segment that failed validation (a bad checksum, a bad
// option) and traces it by the addresses its headers give.
func (st *Stack) dropTCP(ctr *atomic.Uint64, reason string, ip wire.IPv4, t wire.TCP, seg *tcp.Segment) {
	ctr.Add(1)
	if st.tcp.Trace != nil {
		local := netip.AddrPortFrom(ip.Dst(), t.DstPort())
		remote := netip.AddrPortFrom(ip.Src(), t.SrcPort())
		tcp.TraceDrop(st.tcp.Trace, st.tcp.Host, reason, local, remote, seg, "")
	}
}
