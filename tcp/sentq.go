package tcp

import "github.com/synack-net/synack/seqnum"

// This file is the record of what is in flight, segment by segment: when
// each was last sent and what is known of its fate. RACK (rack.go) judges
// losses by these send times (RFC 8985 §6.1: "Segment.xmit_ts"), and
// recovery resends and counts the pipe by these records, as Linux keeps one
// skb per segment in its retransmission queue.

// The flags of a sent segment.
const (
	segLost    = 1 << iota // deemed lost and not delivered since: to be resent
	segRetrans             // resent, and that copy not yet deemed lost (Linux TCPCB_SACKED_RETRANS)
	segEver                // resent at least once: its RTT samples are ambiguous (Karn)
	segSACKed              // wholly SACKed
)

// flightSeg is one segment as first sent: the sequence space from the end of
// the one before it (SND.UNA for the first) to end.
//
// meta packs the flags (low 8 bits) and, above them, the bytes of the
// segment not SACKed as last counted into lossState.lostOut and retransOut
// while the segment is lost or resent: keeping what was counted with the
// segment lets every change (a SACK that covers part of it, a cumulative
// ACK that ends inside it) correct the totals exactly.
type flightSeg struct {
	end  seqnum.Value
	meta uint32
	xmit int64 // monoNanos of the latest transmission (RACK's Segment.xmit_ts)
}

func (s *flightSeg) flags() uint8             { return uint8(s.meta) }
func (s *flightSeg) has(f uint8) bool         { return uint8(s.meta)&f != 0 }
func (s *flightSeg) set(f uint8)              { s.meta |= uint32(f) }
func (s *flightSeg) clear(f uint8)            { s.meta &^= uint32(f) }
func (s *flightSeg) counted() seqnum.Size     { return seqnum.Size(s.meta >> 8) }
func (s *flightSeg) setCounted(n seqnum.Size) { s.meta = uint32(s.flags()) | uint32(n)<<8 }

// sentQueue holds the segments in flight in sequence order, SND.UNA first,
// as a ring that grows by doubling and is reused: once it has grown to the
// most segments the connection ever had in flight, sending and acknowledging
// allocate nothing.
//
// Its size is bounded by what is in flight: one record (16 bytes) per
// segment between SND.UNA and SND.MAX, so at most the send buffer divided by
// the smallest segment sent (MinSendMSS bytes of payload, or a lone FIN).
type sentQueue struct {
	buf   []flightSeg
	head  int
	n     int
	start seqnum.Value // the left edge of the first segment: SND.UNA
}

// len is the number of segments in flight.
func (q *sentQueue) len() int { return q.n }

// at returns the i-th segment, 0 being the oldest.
func (q *sentQueue) at(i int) *flightSeg { return &q.buf[(q.head+i)&(len(q.buf)-1)] }

// left is where the i-th segment starts.
func (q *sentQueue) left(i int) seqnum.Value {
	if i == 0 {
		return q.start
	}
	return q.at(i - 1).end
}

// push records a segment newly sent, [seq, end), at xmit: seq is the
// previous one's end, or SND.UNA when the queue is empty.
func (q *sentQueue) push(seq, end seqnum.Value, xmit int64) {
	if q.n == 0 {
		q.start = seq
	}
	if q.n == len(q.buf) {
		q.grow()
	}
	*q.at(q.n) = flightSeg{end: end, xmit: xmit}
	q.n++
}

func (q *sentQueue) grow() {
	buf := make([]flightSeg, max(8, 2*len(q.buf)))
	for i := range q.n {
		buf[i] = *q.at(i)
	}
	q.buf, q.head = buf, 0
}

// popFront drops the oldest segment.
func (q *sentQueue) popFront() {
	q.start = q.at(0).end
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
}

// find returns the index of the segment holding seq, or -1 when seq is
// below the first or not below the last one's end. O(log n).
func (q *sentQueue) find(seq seqnum.Value) int {
	if q.n == 0 || seq.LessThan(q.start) || q.at(q.n-1).end.LessThanEq(seq) {
		return -1
	}
	lo, hi := 0, q.n-1 // the answer is in [lo, hi]
	for lo < hi {
		mid := (lo + hi) / 2
		if seq.LessThan(q.at(mid).end) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// reset forgets every segment, keeping the memory, with start as SND.UNA.
func (q *sentQueue) reset(start seqnum.Value) {
	q.head, q.n, q.start = 0, 0, start
}
