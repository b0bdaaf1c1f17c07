package tcp

import "sync"

// recvQueue is the receive buffer: the bytes received in order and not yet
// read. Most arrive as copies in a byteQueue ring; but when the host lends
// the buffer a segment arrived in (Segment.Lent, a link.Lender such as an
// in-memory pipe), a large segment is kept where it is, a view of the
// host's buffer, and the reader copies straight out of it: one copy of the
// stream fewer, on the goroutine that delivers packets, which on a fast
// link is the one that sets the pace.
//
// The stream is the ring's bytes and the kept views interleaved in arrival
// order: each view records how many ring bytes come before it (after the
// view before it), so copies and views can follow each other in any order.
// The limit counts both.
type recvQueue struct {
	ring byteQueue
	kept *keptViews // nil until the first view is kept
}

// keptViews are the views a recvQueue holds, oldest first.
type keptViews struct {
	views   []keptView // views[head:] are queued
	head    int
	n       int                 // bytes in the queued views
	tail    int32               // ring bytes queued after the last view
	recycle func(bufs [][]byte) // gives buffers back to the host (Env.Recycle)
	bufs    [][]byte            // giveBack's list, kept for the next
}

// keptView is a segment's text kept in the host's buffer, or in a far
// end's send buffer the host lent it from (Segment.Shared).
type keptView struct {
	data   []byte   // the unread text
	buf    []byte   // the host's buffer, to give back when data is read
	shared Releaser // or the hold on the far end's memory, to release then
	before int32    // ring bytes that come before this view
}

// keptPool holds the keptViews of drained queues: a bulk receiver's queue
// drains and refills all the time, and an idle connection should hold
// none.
var keptPool = sync.Pool{New: func() any { return new(keptViews) }}

// Len is the number of queued bytes.
func (q *recvQueue) Len() int {
	n := q.ring.Len()
	if q.kept != nil {
		n += q.kept.n
	}
	return n
}

// Free is how many more bytes fit.
func (q *recvQueue) Free() int { return max(q.ring.limit-q.Len(), 0) }

// Put queues a copy of p at the end, even past the limit (byteQueue.Put).
func (q *recvQueue) Put(p []byte) {
	q.ring.Put(p)
	if k := q.kept; k != nil && k.head < len(k.views) {
		k.tail += int32(len(p))
	}
}

// Keep queues data, which lies in buf, without copying it: buf is the
// host's until recycle is called with it, once data has been read (or the
// queue reset).
func (q *recvQueue) Keep(data, buf []byte, recycle func([][]byte)) {
	q.keep(keptView{data: data, buf: buf}, recycle)
}

// KeepShared queues data, which lies in memory the host lent with hold
// shared (Segment.Shared), without copying it: shared is released once
// data has been read (or the queue reset).
func (q *recvQueue) KeepShared(data []byte, shared Releaser) {
	q.keep(keptView{data: data, shared: shared}, nil)
}

// keep queues view v; recycle gives back its buffer, if it has one.
func (q *recvQueue) keep(v keptView, recycle func([][]byte)) {
	k := q.kept
	if k == nil {
		k = keptPool.Get().(*keptViews)
		q.kept = k
	}
	if recycle != nil {
		k.recycle = recycle
	}
	before := k.tail
	if k.head == len(k.views) {
		before = int32(q.ring.Len()) // every ring byte comes first
	}
	if len(k.views) == cap(k.views) && k.head > 0 {
		// Slide the queued views down rather than grow: the slice stays
		// as long as the most views queued at once.
		m := copy(k.views, k.views[k.head:])
		clear(k.views[m:])
		k.views, k.head = k.views[:m], 0
	}
	v.before = before
	k.views = append(k.views, v)
	k.n += len(v.data)
	k.tail = 0
}

// Read moves up to len(p) bytes from the front of q into p, giving back
// each kept buffer whose text it has read.
func (q *recvQueue) Read(p []byte) int {
	k := q.kept
	if k == nil || k.head == len(k.views) {
		return q.ring.Read(p)
	}
	n, first := 0, k.head
	for n < len(p) && k.head < len(k.views) {
		v := &k.views[k.head]
		if v.before > 0 {
			m := q.ring.Read(p[n:min(len(p), n+int(v.before))])
			if m == 0 {
				break // cannot happen: before counts queued ring bytes
			}
			v.before -= int32(m)
			n += m
			continue
		}
		m := copy(p[n:], v.data)
		v.data = v.data[m:]
		k.n -= m
		n += m
		if len(v.data) == 0 {
			k.head++
		}
	}
	k.giveBack(first, k.head)
	if k.head == len(k.views) {
		q.dropKept()
		n += q.ring.Read(p[n:]) // the ring bytes after the last view
	}
	return n
}

// giveBack gives the host the buffers of views[from:to], read to their
// end, in one call (one lock of the host's free list for all of them: a
// bulk reader gives back a few dozen a read), and clears them. The list
// is built in bufs, kept with the views so that no read allocates.
func (k *keptViews) giveBack(from, to int) {
	if from == to {
		return
	}
	b := k.bufs[:0]
	for i := from; i < to; i++ {
		if v := &k.views[i]; v.shared != nil {
			v.shared.Release()
		} else {
			b = append(b, v.buf)
		}
		k.views[i] = keptView{}
	}
	if len(b) > 0 {
		k.recycle(b)
		clear(b)
	}
	k.bufs = b[:0]
}

// dropKept gives the drained views' memory to the pool.
func (q *recvQueue) dropKept() {
	k := q.kept
	q.kept = nil
	k.views, k.head, k.n, k.tail, k.recycle = k.views[:0], 0, 0, 0, nil
	keptPool.Put(k)
}

// Reset empties the queue, giving every kept buffer back; the limit stays.
func (q *recvQueue) Reset() {
	q.ring.Reset()
	if k := q.kept; k != nil {
		k.giveBack(k.head, len(k.views))
		q.dropKept()
	}
}

// queueText puts in-order text at the end of the receive buffer: kept in
// the host's buffer when the host lends it and the text fills at least
// half of it (a small segment kept in a large buffer would hold memory
// many times its size against the window), copied otherwise.
func (c *Conn) queueText(seg *Segment, payload []byte) {
	if seg.Shared != nil && !seg.Kept {
		// The far end's send buffer, lent (link.TextSharer): held as it
		// is, whatever its size, as the sender only lends large texts and
		// what the chunks it lies in hold beyond it is bounded there
		// (sendqueue.go).
		c.rcvBuf.KeepShared(payload, seg.Shared)
		seg.Kept = true
		c.env.Stats.ReceiveShared.Add(1)
		return
	}
	if seg.Lent != nil && !seg.Kept && c.env.Recycle != nil && 2*len(payload) >= cap(seg.Lent) {
		c.rcvBuf.Keep(payload, seg.Lent, c.env.Recycle)
		seg.Kept = true
		c.env.Stats.ReceiveKept.Add(1)
		return
	}
	c.rcvBuf.Put(payload)
}
