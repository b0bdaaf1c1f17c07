package stack

import (
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/wire"
)

// Runs: the packets a link delivers together (link.BatchDispatcher).
//
// A link that collects packets while its goroutine sleeps (link/pipe)
// hands them over at once, and consecutive ones are often one burst of
// one connection. The stack takes such a run under one hold of the
// shard's mu and gives it to the engine as a run (tcp.Conn.
// HandleSegmentInRun), which answers it once: one ACK, one round of
// output, as Linux answers the segment GRO made of a burst. The run ends
// at the first packet handed to another connection or to anything but
// TCP (before it is handled), when the engine answers a segment at once,
// at maxRunSegments, and at the end of the batch. A packet dropped on
// its IP or TCP checks (counted, traced, no lock taken) leaves it open.
// Nothing else is taken or called while a run holds mu, so the lock order
// is the one of a single segment. Packets are handled in the order they
// came, each connection's and everyone's.

// maxRunSegments bounds a run: the shard's other callers (the
// application's reads and writes, its timers) wait for at most that many
// segments' handling.
const maxRunSegments = 64

// inputRun is an open run: the connection whose segments it holds and
// its shard, whose mu is held. The zero value holds nothing; methods on a
// nil *inputRun do nothing, for the callers that handle one packet.
type inputRun struct {
	s *shard
	c *TCPConn
	k connKey
	n int // segments in the run so far
}

// holds reports whether the run is open on the connection of 4-tuple k.
func (r *inputRun) holds(k connKey) bool {
	return r != nil && r.s != nil && r.k == k
}

// begin opens the run on c, whose shard's mu is held, after its first
// segment.
func (r *inputRun) begin(s *shard, c *TCPConn, k connKey) {
	*r = inputRun{s: s, c: c, k: k, n: 1}
}

// next counts one more segment of the run and reports whether it may take
// another.
func (r *inputRun) next() bool {
	r.n++
	return r.n < maxRunSegments
}

// end closes an open run: the engine sends what the run left owed, the
// connection's waiters and timers are updated, and mu is let go.
func (r *inputRun) end() {
	if r == nil || r.s == nil {
		return
	}
	s, c := r.s, r.c
	*r = inputRun{}
	c.conn.EndRun(s.clk.Now())
	s.afterLocked(c)
	s.unlockAndFlush()
}

// DeliverBatch is the link's way in for the packets it has at once
// (link.BatchDispatcher): each is taken as DeliverPacket would take it, in
// order, and the consecutive segments of one connection as a run. With
// lent, the buffers are lent as to DeliverBorrowed, and pkts[i] is nil on
// return for each one a connection kept. It may be called from several
// goroutines at once, as DeliverPacket may.
func (s *Stack) DeliverBatch(pkts [][]byte, lent bool) {
	s.DeliverShared(pkts, nil, nil, lent) // share.go: none of them with text apart
}

// deliverInRun is IPv4 input for one packet of a batch: a TCP segment may
// join or open the run r; anything else ends it first.
func (s *Stack) deliverInRun(pkt, lent []byte, r *inputRun) (kept bool) {
	if ip, err := wire.ParseIPv4(pkt); err != nil || ip.Protocol() != wire.ProtocolTCP ||
		ip.FragmentOffset() != 0 || ip.Flags()&wire.IPv4FlagMoreFragments != 0 {
		r.end()
		return s.deliverOffload(pkt, lent, link.GSO{})
	}
	ip, ok := s.acceptIPv4(pkt) // what deliverOffload checks, counted as it counts
	if !ok {
		return false
	}
	s.stats.InDelivers.Add(1)
	return s.tcpInput(ip, lent, nil, s.csumOffload, r)
}
