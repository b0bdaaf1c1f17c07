package tcp

import (
	"sync"
	"unsafe"
)

// sendQueue is the send buffer: the bytes from snd.una on, unacknowledged
// and then unsent. It keeps them in chunks of storage, each filled once
// from its start and let go when every byte in it is acknowledged, so a
// queued byte never moves and memory an acknowledgement frees is never
// written again while anyone holds it: a chunk goes back to its pool only
// when its last holder lets go (storage.Release). That is what lets a host
// lend a segment's text to a far end that reads it later (ShareText), as
// an in-memory link between two stacks does: the chunk outlives its
// acknowledgement until that reader has copied the text out.
//
// A fill's first chunk is sized for the queue's recent fills, as a
// byteQueue's storage is (byteQueue.last), so a request-response
// connection holds a few KiB; the chunks after it are at least
// minSendChunk, which is more than any segment's text, so a segment's text
// lies in one chunk or two (Peek's two pieces). A queue that outgrows its
// chunk adds one rather than moving its bytes to a larger one. A queue
// that drains lets go of every chunk: an idle connection holds no buffer
// (but the last, while a host fills room in it: reserve).
type sendQueue struct {
	ch    *chunkList // the chunks; nil while the queue is empty
	limit int        // most bytes it may hold
	n     int32      // queued bytes
	last  int32      // as byteQueue.last: the first chunk's size for the next fill
}

// chunkList is a non-empty sendQueue's chunks, pooled with the queue's
// emptiness, so that a connection that never sends, or has sent all it
// wrote, holds none of it.
type chunkList struct {
	c    []*storage // c[0] holds the first queued byte, at head; all but the last are full
	head int32      // index in c[0].b of the first queued byte
	tail int32      // bytes written in the last chunk
	high int32      // the most bytes queued since the queue last drained

	// reserved says the last chunk's room from tail on is being filled
	// by a host with its lock let go (reserve, commit): nothing else may
	// be queued, and draining keeps that chunk.
	reserved bool
}

var chunkListPool = sync.Pool{New: func() any { return new(chunkList) }}

// minSendChunk is the least size of a chunk after a fill's first, unless
// the limit is smaller: more than the text of any segment (a 64 KiB
// offloaded one included), so a segment's text crosses at most one chunk
// boundary, and several times as much, so that few do: a segment that
// crosses cannot be lent whole (ShareText), and is cut short at the
// crossing (Env.ShareMin).
const minSendChunk = 256 << 10

// maxSendChunk bounds every chunk, a fill's first included: a 4 MiB
// buffer takes two or three, one segment in thirty crosses into the next
// at MTU 65535, and a reader that holds text lent from one (ShareText)
// holds at most two chunks' worth beyond what it holds of the text.
const maxSendChunk = 2 << 20

// Len is the number of queued bytes.
func (q *sendQueue) Len() int { return int(q.n) }

// Free is how many more bytes fit.
func (q *sendQueue) Free() int { return max(q.limit-int(q.n), 0) }

// used is how many bytes of chunk i have been written.
func (l *chunkList) used(i int) int {
	if i == len(l.c)-1 {
		return int(l.tail)
	}
	return len(l.c[i].b)
}

// Peek returns the k queued bytes from position i on, as a and then b (b
// is empty unless they cross from one chunk into the next). The slices
// are valid until the bytes are discarded. Fewer than k bytes come back
// only when they span three chunks, which only chunks made while the
// limit was smaller than k can make happen: the segment is then shorter.
func (q *sendQueue) Peek(i, k int) (a, b []byte) {
	if k <= 0 || q.ch == nil {
		return nil, nil
	}
	l := q.ch
	off, j := int(l.head)+i, 0
	for j < len(l.c)-1 && off >= len(l.c[j].b) {
		off -= len(l.c[j].b)
		j++
	}
	a = l.c[j].b[off:min(l.used(j), off+k)]
	if rest := k - len(a); rest > 0 && j+1 < len(l.c) {
		return a, l.c[j+1].b[:min(rest, l.used(j+1))]
	}
	return a, nil
}

// ShareText returns a new hold on the chunk the text p lies in, or nil
// if p does not lie in one of the queue's chunks: the host may then read
// p, or lend it to a reader, past this call, and releases the hold when
// done. The chunk's bytes do not change while held. A queue has a few
// chunks (two or three for a 4 MiB buffer), so finding p's is a short
// walk.
func (q *sendQueue) ShareText(p []byte) Releaser {
	if q.ch == nil || len(p) == 0 {
		return nil
	}
	for _, st := range q.ch.c {
		if within(p, st.b) {
			st.refs.Add(1)
			return st
		}
	}
	return nil
}

// within reports whether p lies inside b.
func within(p, b []byte) bool {
	if len(p) == 0 || len(b) == 0 {
		return false
	}
	ps := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	bs := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return ps >= bs && ps+uintptr(len(p)) <= bs+uintptr(len(b))
}

// append queues as much of p as fits and returns how much that was.
func (q *sendQueue) append(p []byte) int {
	n := min(len(p), q.Free())
	if n <= 0 {
		return 0
	}
	p = p[:n]
	if q.ch == nil {
		q.ch = chunkListPool.Get().(*chunkList)
	}
	l := q.ch
	if l.reserved {
		panic("tcp: Write while a Reserve is filled") // a host's bug, never the wire's
	}
	for len(p) > 0 {
		if len(l.c) == 0 || int(l.tail) == len(l.c[len(l.c)-1].b) {
			l.c = append(l.c, getStorage(q.chunkSize(len(l.c) == 0)))
			l.tail = 0
		}
		c := copy(l.c[len(l.c)-1].b[l.tail:], p)
		l.tail += int32(c)
		p = p[c:]
	}
	q.n += int32(n)
	l.high = max(l.high, q.n)
	return n
}

// reserve returns room at the end of the queue for up to n bytes (fewer
// if they do not fit): the rest of the last chunk, and past it, if that
// is not enough, a new chunk that is not yet the queue's (so the queue's
// chunks stay full but the last, whatever acknowledgements do meanwhile).
// The queue's bytes do not change until commit: the room lies past its
// end, where no Peek reads and no acknowledgement lets go, and a queue
// that drains meanwhile keeps the chunk the room begins in.
func (q *sendQueue) reserve(n int) Room {
	n = min(n, q.Free())
	if n <= 0 {
		return Room{}
	}
	if q.ch == nil {
		q.ch = chunkListPool.Get().(*chunkList)
	}
	l := q.ch
	if l.reserved {
		panic("tcp: Reserve while a Reserve is filled") // a host's bug, never the wire's
	}
	var r Room
	if k := len(l.c); k > 0 && int(l.tail) < len(l.c[k-1].b) {
		r.stA = l.c[k-1]
		r.stA.refs.Add(1)
		r.A = r.stA.b[l.tail:]
		r.A = r.A[:min(n, len(r.A))]
	}
	if rest := n - len(r.A); rest > 0 {
		size := q.chunkSize(false)
		if len(l.c) == 0 {
			// A fill's first chunk, sized for the queue's recent fills,
			// but not smaller than the room asked for (up to the size of
			// the chunks after it, as Write would add): a Write's bytes
			// are committed together, or the segments sent from the first
			// part would end in a runt where it ends.
			size = max(q.chunkSize(true), min(rest, size))
		}
		r.stB = getStorage(size)
		r.B = r.stB.b[:min(rest, len(r.stB.b))]
	}
	l.reserved = true
	return r
}

// commit ends what reserve began: it queues the first k bytes of r's
// room, and reports whether it did. It does not when the queue no longer
// ends where the room begins (a reset emptied it meanwhile) or the k
// bytes no longer fit (the limit shrank); nor for k = 0, which gives the
// room up. A queue left empty lets go of its chunks, as a drained one
// does. The new chunk, if the bytes reach into it, becomes the queue's
// (usedB); the other holds stay the caller's to release.
func (q *sendQueue) commit(r *Room, k int) (ok, usedB bool) {
	l := q.ch
	if l == nil || !l.reserved {
		return false, false
	}
	l.reserved = false
	ok = k > 0 && k <= len(r.A)+len(r.B) && k <= q.Free()
	if ok && len(r.A) > 0 {
		last := l.c[len(l.c)-1]
		ok = last == r.stA && int(l.tail) < len(last.b) && &last.b[l.tail] == &r.A[0]
	} else if ok && len(l.c) > 0 { // B follows a full chunk: all but the last are full
		ok = int(l.tail) == len(l.c[len(l.c)-1].b)
	}
	if ok {
		a := min(k, len(r.A))
		l.tail += int32(a)
		if b := k - a; b > 0 {
			l.c = append(l.c, r.stB)
			l.tail, usedB = int32(b), true
		}
		q.n += int32(k)
		l.high = max(l.high, q.n)
	}
	if q.n == 0 {
		q.reset()
	}
	return ok, usedB
}

// chunkSize is the size of the next chunk: for a fill's first, the
// queue's recent fills; after it, half the limit within [minSendChunk,
// maxSendChunk], or the limit if that is less (a small SO_SNDBUF). Either
// way no more than the limit and maxSendChunk, and at least
// minQueueStorage.
func (q *sendQueue) chunkSize(first bool) int {
	size := min(max(q.limit/2, minSendChunk), maxSendChunk)
	if first {
		size = max(int(q.last), minQueueStorage)
	}
	return max(min(size, q.limit, maxSendChunk), minQueueStorage)
}

// discard drops the first n queued bytes, letting go of each chunk they
// empty.
func (q *sendQueue) discard(n int) {
	if n <= 0 || q.ch == nil {
		return
	}
	l := q.ch
	q.n -= int32(n)
	if q.n <= 0 {
		q.last = max(l.high, q.last/2)
		if l.reserved { // the last chunk's room is being filled (reserve): it stays, if full for one copy's time
			q.n, l.high = 0, 0
			q.trim(len(l.c) - 1)
			l.head = l.tail
			return
		}
		q.reset()
		return
	}
	l.head += int32(n)
	i := 0
	for off := int(l.head); i < len(l.c)-1 && off >= len(l.c[i].b); i++ {
		off -= len(l.c[i].b)
	}
	for _, st := range l.c[:i] {
		l.head -= int32(len(st.b))
	}
	q.trim(i)
}

// trim lets go of the first i chunks, which hold no queued byte.
func (q *sendQueue) trim(i int) {
	if i <= 0 {
		return
	}
	l := q.ch
	for _, st := range l.c[:i] {
		st.Release()
	}
	k := copy(l.c, l.c[i:])
	clear(l.c[k:])
	l.c = l.c[:k]
}

// reset empties the queue and lets go of its chunks; the limit and the
// size of the next fill stay.
func (q *sendQueue) reset() {
	l := q.ch
	if l == nil {
		q.n = 0
		return
	}
	for i, st := range l.c {
		st.Release()
		l.c[i] = nil
	}
	l.c, l.head, l.tail, l.high, l.reserved = l.c[:0], 0, 0, 0, false
	chunkListPool.Put(l)
	q.ch, q.n = nil, 0
}

// ShareText returns a hold on the send buffer's memory that p, text
// handed to Sender.Send, lies in, or nil if it cannot: p must lie in one
// of the buffer's chunks (a segment's text in two pieces takes a hold for
// each). A host takes one to read the text past Send: to lend it to an
// in-memory link's far end (link.TextSharer), or to write it to its link
// once the lock is let go (a gathering write). The bytes do not change
// until the hold is released, whatever the connection does meanwhile
// (acknowledged, closed, aborted): the chunk is pooled for another queue
// only when its last holder lets go. Called during Send, under the lock
// of c's Env.
func (c *Conn) ShareText(p []byte) Releaser { return c.sndBuf.ShareText(p) }
