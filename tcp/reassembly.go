package tcp

import (
	"slices"
	"sync"

	"github.com/synack-net/synack/seqnum"
)

// This file is reassembly: text that arrives beyond RCV.NXT is held until
// the hole before it fills (RFC 9293 §3.10.7.4 seventh allows it).
//
// What a peer can make a connection hold here is bounded:
//   - Held text is a set of disjoint ranges of sequence space: overlapping
//     and repeated segments are merged, and a byte is stored once however
//     often it arrives.
//   - The bytes held plus the bytes queued for the reader never exceed the
//     receive buffer's limit (Linux charges the out-of-order queue to the
//     receive buffer the same way), nor the stack's receive memory
//     (memory.go). A segment that does not fit makes room by pruning held
//     ranges from the highest sequence numbers down (Linux
//     tcp_prune_ofo_queue, counted in OfoPruned); a segment that would
//     itself be the first pruned is dropped (TCPOFODrop).
//   - There are at most maxHeldRanges ranges: 64, or one per full segment
//     the buffer holds if that is more (limit/MSS). A peer sending one
//     byte per gap cannot make more entries than segments would; the
//     bookkeeping costs 8 bytes a range (16 with the slice's spare room),
//     1/90 of the buffer at MSS 1460.
//   - The ranges are a sorted slice, found by binary search. A segment
//     that makes a new range below others moves those above it up by one:
//     O(n) per segment, the one cost here that grows with the ranges held
//     rather than O(log n), counted in moved. It is bounded by the cap:
//     at most maxHeldRanges*8 bytes of memmove, 34 KB at the largest
//     receive buffer (6 MiB) and MSS 1460, 94 KB at MSS 536. Ranges the
//     reassembly takes off the front are dropped by reslicing, and the
//     rest moved back to the start of the slice's array only when those
//     dropped outnumber them: O(1) amortised per range.
//   - The bytes are stored by sequence number in chunks of oooChunkSize
//     from a pool, not in one allocation per segment, so the memory held
//     is at most the chunks the ranges touch: no more than RCV.WND plus two
//     chunks, and no more than the held bytes plus two chunks per range.

const (
	oooChunkShift = 11
	// oooChunkSize is the unit of storage of held text (2 KiB: a full
	// Ethernet segment touches one or two).
	oooChunkSize = 1 << oooChunkShift
	// minHeldRanges is the least cap on the ranges of held text
	// (maxHeldRanges).
	minHeldRanges = 64
	// chunkNumbers is how many chunk numbers there are: sequence numbers
	// wrap, and chunk numbers with them.
	chunkNumbers = 1 << (32 - oooChunkShift)
)

// oooChunk is a chunk of held text: the bytes of sequence numbers k*2048
// up to (k+1)*2048 (mod 2^32) for its chunk number k.
type oooChunk [oooChunkSize]byte

// reasm is a connection's held text. A connection has one only while it
// holds something (Conn.ooo is nil otherwise), and gives it back to
// reasmPool, ring and all, when it drains.
type reasm struct {
	ranges []sackRange  // held text: disjoint, never touching, in order, beyond RCV.NXT
	store  []sackRange  // the array ranges lies in, from its start; ranges ends where it does
	moved  int          // ranges moved in memory, a measure of the work done (tests)
	held   int          // bytes in ranges
	finAt  seqnum.Value // where a held FIN sits, when hasFin
	hasFin bool         // a FIN arrived out of order
	chunks []*oooChunk  // a ring: chunk k is chunks[k&(len(chunks)-1)]; len is a power of two
}

var (
	reasmPool = sync.Pool{New: func() any {
		r := make([]sackRange, 0, 8)
		return &reasm{ranges: r, store: r}
	}}
	oooChunkPool = sync.Pool{New: func() any { return new(oooChunk) }}
)

func chunkOf(s seqnum.Value) uint32 { return uint32(s) >> oooChunkShift }

// heldBytes is how many bytes of text are held beyond RCV.NXT.
func (c *Conn) heldBytes() int {
	if c.ooo == nil {
		return 0
	}
	return c.ooo.held
}

// heldRanges is how many disjoint ranges of text are held.
func (c *Conn) heldRanges() int {
	if c.ooo == nil {
		return 0
	}
	return len(c.ooo.ranges)
}

// holdOutOfOrder keeps the text at seq, inside the window but beyond
// RCV.NXT, and a FIN after it. It reports whether the segment is held now
// (kept, or a duplicate of what was); false when it was dropped for want
// of room.
func (c *Conn) holdOutOfOrder(seq seqnum.Value, payload []byte, fin bool) bool {
	q := c.ooo
	end := seq.Add(seqnum.Size(len(payload)))
	if q != nil && q.hasFin {
		// Nothing follows a FIN: text beyond it is not kept, and a second
		// FIN elsewhere is ignored (the first one's place stands).
		if end.GreaterThan(q.finAt) {
			if seq.LessThan(q.finAt) {
				payload = payload[:seq.Size(q.finAt)]
			} else {
				payload = nil // all of it lies at or past the FIN
			}
			end = seq.Add(seqnum.Size(len(payload)))
		}
		fin = false
	}
	if len(payload) == 0 {
		if fin && (q == nil || len(q.ranges) == 0 || !end.LessThan(q.ranges[len(q.ranges)-1].right)) {
			q = c.reasm()
			q.finAt, q.hasFin = end, true
		}
		return c.ooo != nil
	}
	if q == nil {
		q = c.reasm()
	}
	i, j := q.touching(seq, end)
	fresh := len(payload)
	for _, r := range q.ranges[i:j] {
		fresh -= int(overlap(r, sackRange{seq, end}))
	}
	if fresh > 0 {
		after := len(q.ranges) - (j - i) + 1
		for !c.heldFits(fresh, after) {
			// Prune from the top (Linux tcp_prune_ofo_queue): text below
			// is needed sooner. A range that overlaps or touches the new
			// segment stays; the segment itself is then dropped.
			if j == len(q.ranges) {
				if !c.rcvMemoryRoom(fresh) {
					c.rcvMemoryLimited()
				}
				c.drop(&c.env.Stats.OFODrop, "OFODrop")
				c.limitHit(LimitOutOfOrder)
				c.dropHeldIfEmpty()
				return false
			}
			c.pruneTop()
			after--
		}
		q.ensureRing(seq, end)
		q.write(seq, payload, i, j)
		q.held += fresh
		merged := sackRange{seq, end}
		if i < j {
			merged.left = seqMin(merged.left, q.ranges[i].left)
			merged.right = seqMax(merged.right, q.ranges[j-1].right)
		}
		q.replace(i, j, merged)
	}
	if fin && !q.hasFin && end == q.ranges[len(q.ranges)-1].right {
		q.finAt, q.hasFin = end, true
	}
	return true
}

// replace puts r in the place of ranges[i:j], moving those above.
func (q *reasm) replace(i, j int, r sackRange) {
	if i == j && len(q.ranges) == cap(q.ranges) {
		q.room()
	}
	q.moved += len(q.ranges) - j
	q.ranges = slices.Replace(q.ranges, i, j, r)
}

// room makes room for one more range after ranges: moving them back to
// the start of their array when the ranges dropped from its front
// (reassemble) outnumber them, and growing the array otherwise. Either
// move is paid for by the ranges dropped or added since the last.
func (q *reasm) room() {
	n := len(q.ranges)
	if 2*n < cap(q.store) {
		q.ranges = q.store[:copy(q.store[:n], q.ranges)]
	} else {
		q.ranges = slices.Grow(q.ranges, max(n, 4)) // twice the ranges, at least
		q.store = q.ranges[:0]
	}
	q.moved += n
}

// reasm returns the connection's held text, taking one from the pool if
// it holds none.
func (c *Conn) reasm() *reasm {
	if c.ooo == nil {
		c.ooo = reasmPool.Get().(*reasm)
	}
	return c.ooo
}

// maxHeldRanges caps the disjoint ranges of held text, each with a hole
// before it: one per full segment the receive buffer holds, at least 64.
// A slow start that overshoots a bottleneck's queue loses every other
// segment of a window, so an honest peer needs about half of that; more
// is a peer probing the bound.
func (c *Conn) maxHeldRanges() int {
	return max(minHeldRanges, c.rcvBuf.ring.limit/max(c.cfg.MSS, 1))
}

// heldFits reports whether n more bytes may be held, in after ranges:
// within maxHeldRanges, the receive buffer's limit less what the reader
// has not read, and the stack's receive memory.
func (c *Conn) heldFits(n, after int) bool {
	return after <= c.maxHeldRanges() && c.rcvBuf.Len()+c.ooo.held+n <= c.rcvBuf.ring.limit && c.rcvMemoryRoom(n)
}

// touching returns the held ranges [i, j) that overlap or touch [seq, end).
func (q *reasm) touching(seq, end seqnum.Value) (i, j int) {
	i, _ = slices.BinarySearchFunc(q.ranges, seq, func(r sackRange, s seqnum.Value) int {
		if r.right.LessThan(s) {
			return -1
		}
		return 1
	})
	j = i
	for j < len(q.ranges) && q.ranges[j].left.LessThanEq(end) {
		j++
	}
	return i, j
}

// ensureRing makes the ring of chunks span every chunk from the lowest
// held byte, or seq, to the highest, or end-1.
func (q *reasm) ensureRing(seq, end seqnum.Value) {
	lo, hi := seq, end
	if len(q.ranges) > 0 {
		lo, hi = seqMin(lo, q.ranges[0].left), seqMax(hi, q.ranges[len(q.ranges)-1].right)
	}
	need := int((chunkOf(hi.Sub(1))-chunkOf(lo))%chunkNumbers) + 1
	if need <= len(q.chunks) {
		return
	}
	size := 8
	for size < need {
		size *= 2
	}
	ring := make([]*oooChunk, size)
	if len(q.ranges) > 0 {
		from, to := chunkOf(q.ranges[0].left), chunkOf(q.ranges[len(q.ranges)-1].right.Sub(1))
		for k := from; ; k = (k + 1) % chunkNumbers {
			ring[k&uint32(size-1)] = q.chunks[k&uint32(len(q.chunks)-1)]
			if k == to {
				break
			}
		}
	}
	q.chunks = ring
}

// write copies the parts of p, the text at seq, that ranges[i:j] (those
// it overlaps or touches) do not hold: a byte already held is kept as it
// first arrived, as Linux keeps it.
func (q *reasm) write(seq seqnum.Value, p []byte, i, j int) {
	end := seq.Add(seqnum.Size(len(p)))
	pos := seq
	for k := i; k <= j; k++ {
		stop := end
		if k < j {
			stop = seqMin(q.ranges[k].left, end)
		}
		if pos.LessThan(stop) {
			q.copyIn(pos, p[seq.Size(pos):seq.Size(stop)])
		}
		if k < j && q.ranges[k].right.GreaterThan(pos) {
			pos = q.ranges[k].right
		}
	}
}

// copyIn stores b, the text at pos, in its chunks.
func (q *reasm) copyIn(pos seqnum.Value, b []byte) {
	mask := uint32(len(q.chunks) - 1)
	for len(b) > 0 {
		slot := &q.chunks[chunkOf(pos)&mask]
		if *slot == nil {
			*slot = oooChunkPool.Get().(*oooChunk)
		}
		n := copy((*slot)[uint32(pos)&(oooChunkSize-1):], b)
		b, pos = b[n:], pos.Add(seqnum.Size(n))
	}
}

// copyOut passes the held text in [from, to) to f, a chunk's piece at a time.
func (q *reasm) copyOut(from, to seqnum.Value, f func([]byte)) {
	mask := uint32(len(q.chunks) - 1)
	for from.LessThan(to) {
		ch := q.chunks[chunkOf(from)&mask]
		off := uint32(from) & (oooChunkSize - 1)
		n := min(oooChunkSize-off, uint32(from.Size(to)))
		f(ch[off : off+n])
		from = from.Add(seqnum.Size(n))
	}
}

// release gives back the chunks of ranges[k] that no other range touches.
func (q *reasm) release(k int) {
	r := q.ranges[k]
	from, to := chunkOf(r.left), chunkOf(r.right.Sub(1))
	if k > 0 && chunkOf(q.ranges[k-1].right.Sub(1)) == from {
		if from == to {
			return
		}
		from = (from + 1) % chunkNumbers
	}
	if k+1 < len(q.ranges) && chunkOf(q.ranges[k+1].left) == to {
		if from == to {
			return
		}
		to = (to - 1) % chunkNumbers
	}
	mask := uint32(len(q.chunks) - 1)
	for n := from; ; n = (n + 1) % chunkNumbers {
		if ch := q.chunks[n&mask]; ch != nil {
			oooChunkPool.Put(ch)
			q.chunks[n&mask] = nil
		}
		if n == to {
			break
		}
	}
}

// pruneTop drops the highest held range, and a FIN after it (Linux
// tcp_prune_ofo_queue), and withdraws SACK blocks that reported it: a
// receiver may renege on what it SACKed, but reports only what it holds
// (RFC 2018 §8).
func (c *Conn) pruneTop() {
	q := c.ooo
	k := len(q.ranges) - 1
	r := q.ranges[k]
	q.release(k)
	q.ranges = q.ranges[:k]
	q.held -= int(r.left.Size(r.right))
	q.hasFin = false
	c.env.Stats.OfoPruned.Add(1)
	c.limitHit(LimitOutOfOrder)
	c.reportHeldOnly()
}

// makeRoomInOrder prunes held text so that n bytes arriving in order fit
// with it in the receive buffer's limit and the stack's memory: held
// text, needed later and still in the peer's retransmission queue, goes
// first (Linux tcp_prune_queue).
func (c *Conn) makeRoomInOrder(n int) {
	for c.ooo != nil && len(c.ooo.ranges) > 0 &&
		(c.rcvBuf.Len()+c.ooo.held+n > c.rcvBuf.ring.limit || !c.rcvMemoryRoom(n)) {
		c.pruneTop()
	}
	c.dropHeldIfEmpty()
}

// reassemble moves held text that now follows RCV.NXT into the receive
// buffer. It reports whether it reached a FIN, which then sits at RCV.NXT.
// The ranges it takes are dropped from the front of the slice, moving none.
func (c *Conn) reassemble() (fin bool) {
	q := c.ooo
	for len(q.ranges) > 0 && q.ranges[0].left.LessThanEq(c.rcvNxt) {
		r := q.ranges[0]
		if r.right.GreaterThan(c.rcvNxt) {
			// Held inside a window already advertised: Put, past the limit
			// if the window's rounding to its scale allowed that.
			q.copyOut(c.rcvNxt, r.right, c.rcvBuf.Put)
			n := c.rcvNxt.Size(r.right)
			c.rcvNxt = r.right
			c.bytesRcvd += uint64(n)
			c.events |= EventReadable
		}
		q.release(0)
		q.ranges = q.ranges[1:]
		q.held -= int(r.left.Size(r.right))
	}
	fin = q.hasFin && q.finAt == c.rcvNxt
	if fin {
		c.dropHeld() // nothing can follow a FIN
		return true
	}
	c.dropHeldIfEmpty()
	return false
}

// dropHeldIfEmpty gives the held-text state back when it holds nothing.
func (c *Conn) dropHeldIfEmpty() {
	if q := c.ooo; q != nil && len(q.ranges) == 0 && !q.hasFin {
		c.dropHeld()
	}
}

// dropHeld forgets all held text and gives its memory back to the pools.
func (c *Conn) dropHeld() {
	q := c.ooo
	if q == nil {
		return
	}
	for len(q.ranges) > 0 { // every chunk in use is some range's
		q.release(len(q.ranges) - 1)
		q.ranges = q.ranges[:len(q.ranges)-1]
	}
	q.ranges, q.held, q.hasFin, q.finAt, q.moved = q.store[:0], 0, false, 0, 0
	if cap(q.store) > 4*minHeldRanges {
		q.ranges, q.store = nil, nil // a pooled reasm keeps little
	}
	c.ooo = nil
	reasmPool.Put(q)
}

// heldRangeOf returns the held range that holds seq (a held FIN counts as
// the sequence number after the text before it), and whether there is one.
func (q *reasm) heldRangeOf(seq seqnum.Value) (sackRange, bool) {
	i, _ := q.touching(seq, seq)
	for ; i < len(q.ranges); i++ {
		r := q.ranges[i]
		if q.hasFin && r.right == q.finAt {
			r.right = r.right.Add(1)
		}
		if r.left.LessThanEq(seq) && seq.LessThan(r.right) {
			return r, true
		}
		if seq.LessThan(r.left) {
			break
		}
	}
	if q.hasFin && seq == q.finAt {
		return sackRange{seq, seq.Add(1)}, true
	}
	return sackRange{}, false
}

// holds reports whether every sequence number of r is held.
func (q *reasm) holds(r sackRange) bool {
	h, ok := q.heldRangeOf(r.left)
	return ok && r.right.LessThanEq(h.right)
}

// reportHeldOnly withdraws the SACK blocks to report that are no longer
// all held (pruned): RFC 2018 §8 lets a receiver discard what it SACKed,
// and a block must never claim what it does not hold.
func (c *Conn) reportHeldOnly() {
	s := &c.rcvSACK
	k := 0
	for _, b := range s.b[:s.n] {
		if c.ooo != nil && c.ooo.holds(b) {
			s.b[k] = b
			k++
		}
	}
	s.n = k
}

func seqMin(a, b seqnum.Value) seqnum.Value {
	if a.LessThan(b) {
		return a
	}
	return b
}

func seqMax(a, b seqnum.Value) seqnum.Value {
	if a.GreaterThan(b) {
		return a
	}
	return b
}
