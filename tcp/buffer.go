package tcp

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// byteQueue is a FIFO of bytes with a capacity bound: the receive buffer's
// copied text (received in order, not yet read; recvqueue.go). It is a
// ring, so neither reading the front nor appending at the back ever moves
// the bytes in between; bytes that cross the ring's end are read out in
// two pieces (Peek). The send buffer is chunked instead (sendqueue.go).
//
// Its storage is taken when the first byte arrives, not when the connection
// opens, and given back when the queue drains, so an idle connection holds
// no buffer. Storage comes from pools by size class and goes back to them:
// a connection that drains and refills its buffer on every read, as a bulk
// receiver does, reuses the same memory rather than allocating it anew.
type byteQueue struct {
	st    *storage // nil while empty (and storage is not kept)
	limit int      // most bytes it may hold
	head  int32    // index in st.b of the first queued byte
	n     int32    // queued bytes

	// last is the most bytes queued in the queue's recent fills: when it
	// drains, the larger of that fill's high water (storage.high) and half
	// the last before. A queue that drains and refills (a bulk reader, a
	// sender whose every byte gets acknowledged) takes storage for its
	// recent fills at once, rather than doubling its way up again and
	// copying its bytes at every step, and one that turns to small
	// messages lets go of the large size within a few of them. (int32s
	// keep the queue at 32 bytes: it is in every connection, twice.)
	last int32
}

// Len is the number of queued bytes.
func (q *byteQueue) Len() int { return int(q.n) }

// Free is how many more bytes fit.
func (q *byteQueue) Free() int { return max(q.limit-int(q.n), 0) }

// Peek returns the k queued bytes from position i on, as a and then b (b
// is empty unless they cross the end of the ring). The slices are valid
// until the next change of q.
func (q *byteQueue) Peek(i, k int) (a, b []byte) {
	if k == 0 {
		return nil, nil
	}
	buf := q.st.b
	start := int(q.head) + i
	if start >= len(buf) {
		start -= len(buf)
	}
	if end := start + k; end <= len(buf) {
		return buf[start:end], nil
	}
	a = buf[start:]
	return a, buf[:k-len(a)]
}

// Append queues as much of p as fits and returns how much that was.
func (q *byteQueue) Append(p []byte) int {
	n := min(len(p), q.Free())
	if n <= 0 {
		return 0
	}
	q.Put(p[:n])
	return n
}

// Put queues all of p, even past the limit: for received text the window
// advertised already bounds, which rounding to the window scale may let
// exceed the limit by less than one scale unit.
func (q *byteQueue) Put(p []byte) {
	if len(p) == 0 {
		return
	}
	if q.st == nil || q.Len()+len(p) > len(q.st.b) {
		q.grow(q.Len() + len(p))
	}
	buf := q.st.b
	tail := int(q.head + q.n)
	if tail >= len(buf) {
		tail -= len(buf)
	}
	c := copy(buf[tail:], p)
	copy(buf, p[c:])
	q.n += int32(len(p))
	q.st.high = max(q.st.high, q.n)
}

// minQueueStorage is the smallest storage a queue takes.
const minQueueStorage = 4 << 10

// grow moves the queue into storage for at least need bytes. A fill's
// first storage is sized for the queue's recent fills (last); a queue that
// outgrows it within the fill takes storage for its whole limit at once,
// which it has promised (the window advertised, the bytes Write may queue),
// so a fill moves its bytes at most once: a bulk receiver whose reader
// falls behind fills megabytes, and doubling its way there copied them
// again at every step.
func (q *byteQueue) grow(need int) {
	size := max(minQueueStorage, int(q.last))
	if q.st != nil {
		size = q.limit
	}
	size = max(min(size, q.limit), need)
	st := getStorage(size)
	st.high = 0
	if q.st != nil {
		a, b := q.Peek(0, q.Len())
		copy(st.b[copy(st.b, a):], b)
		st.high = q.st.high
		q.st.Release()
	}
	q.st, q.head = st, 0
}

// Discard drops the first n queued bytes. A queue that drains gives its
// storage back to the pool at once, whatever its size, as Linux frees a
// socket's buffers once they are acknowledged or read: an idle connection
// holds no buffer memory, however it was used (a request and response
// each way left 16 KiB a pair behind when small storage was kept). The
// pool makes the next fill's storage cheap: request-response traffic, which
// drains on every message, measured no slower (BENCHMARKS.md, rr).
func (q *byteQueue) Discard(n int) {
	if n <= 0 {
		return
	}
	q.n -= int32(n)
	if q.n <= 0 {
		q.n, q.head = 0, 0
		if q.st != nil {
			q.last = max(q.st.high, q.last/2)
			q.st.Release()
			q.st = nil
		}
		return
	}
	q.head += int32(n)
	if int(q.head) >= len(q.st.b) {
		q.head -= int32(len(q.st.b))
	}
}

// Read moves up to len(p) bytes from the front of q into p.
func (q *byteQueue) Read(p []byte) int {
	a, b := q.Peek(0, min(len(p), q.Len()))
	n := copy(p, a)
	n += copy(p[n:], b)
	q.Discard(n)
	return n
}

// Reset empties the queue and gives its storage back; the limit stays.
func (q *byteQueue) Reset() {
	if q.st != nil {
		q.st.Release()
	}
	*q = byteQueue{limit: q.limit, last: q.last}
}

// storage is a queue's memory, and the most bytes queued in it since the
// queue last drained. The pools hold *storage, a pointer, so giving one
// back allocates nothing.
//
// refs counts its holders: the queue that took it, and each far end a
// send buffer lent text in it to (ShareText). It goes back to its pool
// when the last of them lets go (Release), so bytes a reader still holds
// are never handed to another queue to overwrite.
type storage struct {
	b    []byte
	high int32
	refs atomic.Int32
}

// Release lets go of one hold on st, pooling it with the last.
func (st *storage) Release() {
	switch n := st.refs.Add(-1); {
	case n == 0:
		putStorage(st)
	case n < 0:
		panic("tcp: storage released more often than held") // a host's bug, never the wire's
	}
}

// Storage sizes come in classes: powers of two from 4 KiB and the sizes
// halfway between (6, 12, 24 KiB ...), so a buffer is never more than a
// third larger than asked for. Classes up to 16 MiB are pooled.
const (
	minClassShift = 12 // 4 KiB
	maxClassShift = 24 // 16 MiB
)

var storagePools [2*(maxClassShift-minClassShift) + 1]sync.Pool

// storageClass returns the size class for n bytes and its pool index, or
// -1 for a size too large to pool.
func storageClass(n int) (size, idx int) {
	if n <= 1<<minClassShift {
		return 1 << minClassShift, 0
	}
	k := bits.Len(uint(n - 1)) // 1<<k is the power of two at or above n
	if k > maxClassShift {
		return n, -1
	}
	if three := 3 << (k - 2); three >= n {
		return three, 2*(k-minClassShift) - 1
	}
	return 1 << k, 2 * (k - minClassShift)
}

// getStorage returns storage of at least n bytes, from its class's pool.
func getStorage(n int) *storage {
	size, idx := storageClass(n)
	if size >= minBigStorage {
		if st := bigStorage.get(size); st != nil {
			st.refs.Store(1)
			return st
		}
	} else if idx >= 0 {
		if st, ok := storagePools[idx].Get().(*storage); ok {
			st.refs.Store(1)
			return st
		}
	}
	st := &storage{b: make([]byte, size)}
	st.refs.Store(1)
	return st
}

// Storage of minBigStorage bytes or more (a send buffer's chunks, a large
// receive ring) is kept in one list, most recently given back first, up to
// bigStorageLimit bytes for the whole process, rather than in the pools: a
// bulk sender lets go of a chunk and takes a new one every few MiB, and
// the one it just let go is the one still in the CPU's caches. A sync.Pool
// gives a goroutine on another processor the oldest of another's, and
// with it cache misses in the application's copy in and the link's copy
// out: a TUN download moved 9% less on chunks so taken (20 GB, 26.0
// against 28.5 Gbit/s). The list is also not emptied by a collection.
const (
	minBigStorage   = minSendChunk
	bigStorageLimit = 32 << 20
)

var bigStorage bigList

// bigList is the list of large storage kept for reuse.
type bigList struct {
	mu    sync.Mutex
	list  []*storage
	bytes int
}

// get takes the storage of size bytes given back last, or nil.
func (l *bigList) get(size int) *storage {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.list) - 1; i >= 0; i-- {
		if st := l.list[i]; len(st.b) == size {
			copy(l.list[i:], l.list[i+1:])
			l.list[len(l.list)-1] = nil
			l.list = l.list[:len(l.list)-1]
			l.bytes -= size
			return st
		}
	}
	return nil
}

// put keeps st, making room by letting the oldest go past the limit.
func (l *bigList) put(st *storage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.list) > 0 && l.bytes+len(st.b) > bigStorageLimit {
		l.bytes -= len(l.list[0].b)
		k := copy(l.list, l.list[1:])
		l.list[k] = nil
		l.list = l.list[:k]
	}
	if len(st.b) <= bigStorageLimit {
		l.list = append(l.list, st)
		l.bytes += len(st.b)
	}
}

// scribblePooled, set by tests, has putStorage overwrite what it pools, so
// that a reader of storage after its last hold let go reads garbage, not
// the bytes it expected (FuzzStreamShared).
var scribblePooled atomic.Bool

// putStorage gives st back to its class's pool.
func putStorage(st *storage) {
	if scribblePooled.Load() {
		for i := range st.b {
			st.b[i] = 0xEE
		}
	}
	size, idx := storageClass(len(st.b))
	switch {
	case size != len(st.b):
	case size >= minBigStorage:
		bigStorage.put(st)
	case idx >= 0:
		storagePools[idx].Put(st)
	}
}
