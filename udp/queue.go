package udp

import "net/netip"

// Receive queue bounds.
const (
	// DefaultQueueBytes is a socket's payload budget, Linux's
	// net.core.rmem_default.
	DefaultQueueBytes = 212992
	// MaxDatagrams bounds the datagrams a queue holds whatever their size,
	// so empty datagrams too are bounded (Linux charges each its buffer's
	// overhead, which gives about as many small ones).
	MaxDatagrams = 256
)

// Queue is a socket's receive queue: datagrams in arrival order, their
// payloads in one byte ring and their sources in a ring of MaxDatagrams
// entries. Both are made when the first datagram arrives, the byte ring
// small and grown by doubling up to the byte budget when the payloads
// queued need it, and reused after: a steady flow allocates nothing, a
// socket nobody sends to costs a few words, and one that is read as fast
// as it is written keeps a ring of a few datagrams. It is not safe for concurrent use: the
// stack holds its lock around every call.
type Queue struct {
	size  int // byte budget; 0 until first use means DefaultQueueBytes
	data  []byte
	head  int // offset in data of the oldest payload
	used  int // payload bytes queued
	ents  []entry
	first int // index in ents of the oldest datagram
	n     int // datagrams queued
}

type entry struct {
	src netip.AddrPort
	len int
}

// SetSize sets the byte budget (at least 1) of a queue not yet used.
func (q *Queue) SetSize(n int) {
	if q.data == nil {
		q.size = max(n, 1)
	}
}

// Size is the queue's byte budget.
func (q *Queue) Size() int {
	if q.size == 0 {
		return DefaultQueueBytes
	}
	return q.size
}

// Len is the number of datagrams queued.
func (q *Queue) Len() int { return q.n }

// Bytes is the payload bytes queued.
func (q *Queue) Bytes() int { return q.used }

// Push queues a copy of payload from src and reports whether it fit; a
// datagram that does not is dropped and counted in st (RcvbufErrors and
// InErrors), else counted in InDatagrams.
func (q *Queue) Push(st *Stats, src netip.AddrPort, payload []byte) bool {
	if q.ents == nil {
		if q.size == 0 {
			q.size = DefaultQueueBytes
		}
		q.ents = make([]entry, MaxDatagrams)
	}
	if q.n == len(q.ents) || q.used+len(payload) > q.size {
		st.RcvbufErrors.Add(1)
		st.InErrors.Add(1)
		return false
	}
	if q.data == nil || q.used+len(payload) > len(q.data) {
		q.grow(q.used + len(payload))
	}
	tail := (q.head + q.used) % len(q.data)
	k := copy(q.data[tail:], payload)
	copy(q.data, payload[k:]) // wraps round
	q.used += len(payload)
	q.ents[(q.first+q.n)%len(q.ents)] = entry{src, len(payload)}
	q.n++
	st.InDatagrams.Add(1)
	return true
}

// grow makes the ring hold at least n bytes (n <= size): twice as many as
// before, from initialRing, up to the budget, the queued payloads moved to
// its start. A socket that takes a few small datagrams at a time keeps a
// small ring; one that queues up to its budget grows to it once and stays.
func (q *Queue) grow(n int) {
	c := min(q.size, max(n, 2*len(q.data), initialRing))
	data := make([]byte, c)
	if q.used > 0 {
		k := copy(data, q.data[q.head:min(q.head+q.used, len(q.data))])
		copy(data[k:q.used], q.data)
	}
	q.data, q.head = data, 0
}

// initialRing is the first ring a queue makes: a few full-sized datagrams.
const initialRing = 8 << 10

// Pop takes the oldest datagram, copying its payload into p; a payload
// longer than p is cut to len(p), the rest lost, as recvfrom does. n is
// the bytes copied, full the payload's length; ok is false when the queue
// is empty.
func (q *Queue) Pop(p []byte) (n, full int, src netip.AddrPort, ok bool) {
	if q.n == 0 {
		return 0, 0, netip.AddrPort{}, false
	}
	e := q.ents[q.first]
	q.ents[q.first] = entry{}
	q.first = (q.first + 1) % len(q.ents)
	q.n--
	n = min(len(p), e.len)
	k := copy(p[:n], q.data[q.head:min(q.head+e.len, len(q.data))])
	copy(p[k:n], q.data)
	q.head = (q.head + e.len) % len(q.data)
	q.used -= e.len
	if q.n == 0 {
		q.head = 0 // an empty ring starts over: payloads stay unwrapped
	}
	return n, e.len, e.src, true
}

// Peek is Pop that leaves the datagram queued (recvfrom with MSG_PEEK).
func (q *Queue) Peek(p []byte) (n, full int, src netip.AddrPort, ok bool) {
	if q.n == 0 {
		return 0, 0, netip.AddrPort{}, false
	}
	e := q.ents[q.first]
	n = min(len(p), e.len)
	k := copy(p[:n], q.data[q.head:min(q.head+e.len, len(q.data))])
	copy(p[k:n], q.data)
	return n, e.len, e.src, true
}
