package stack

import (
	"net/netip"
	"sync/atomic"

	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// The stack's TCP drops are counted and traced as the engine's are
// (tcp/drop.go): a trace.KindDrop event whose Cause is the counter's
// name, emitted only when Config.Trace is set. A segment too short to
// name its ports is counted but not traced: it belongs to no connection.

// drop counts seg, from remote to local, dropped for reason (ctr's name)
// in state CLOSED: it reached no socket.
func (s *shard) drop(ctr *atomic.Uint64, reason string, local, remote netip.AddrPort, seg *tcp.Segment) {
	ctr.Add(1)
	if s.tcp.Trace != nil {
		s.traceDrop(reason, local, remote, seg, "CLOSED")
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
