// Package pipe joins two link endpoints in memory: a packet written to one
// is delivered to the other's Dispatcher. It is the wire between two stacks
// in tests and simulations. Like every link, it carries opaque IPv4 packets
// and knows nothing of IP or TCP.
//
// Each Endpoint owns a bounded inbound queue and one delivery goroutine,
// started by the first Attach and ended by Close, that drains the queue in
// order. With Options.Queues above one, an Endpoint has that many queues,
// each with its own goroutine, and steers each packet to one by a hash of
// its bytes 12 to 23, as a network card's receive-side scaling does: the
// bytes where an IPv4 header without options has its addresses and TCP
// and UDP their ports, so one flow's packets keep one queue and their
// order, and different flows are delivered in parallel. The pipe hashes
// those bytes without reading them as anything. WritePacket copies the packet into a buffer sized to the MTU and
// appends it to the peer's queue; WriteOwned (link.HandOff) queues the
// writer's own buffer, from NewBuffer, without a copy. Neither blocks or
// calls a Dispatcher. Delivered buffers go back to the receiving end's free
// list, which the writes to it draw on, so a burst of packets is drained in
// one wakeup and in steady state no memory is allocated per packet. A
// Dispatcher that is a link.Borrower may keep a delivered buffer and give
// it back later with Recycle (link.Lender), so a receiving stack need not
// copy the data out of it.
//
// WriteShared (link.TextSharer) queues a packet in two pieces: its headers
// in a buffer from NewBuffer, taken over as WriteOwned takes it, and its
// text where the writer keeps it (a slice of a sending stack's send
// buffer), with the writer's hold on that memory (link.Releaser). The pipe
// keeps the text slice and the hold beside the packet, steers by the
// headers as by any packet, and never looks inside either. A Dispatcher
// that is a link.SharedDispatcher gets the two pieces apart through
// DeliverShared and may keep the hold until its reader has copied the text
// out; the pipe releases every hold it did not keep once the call returns.
// Any other Dispatcher (a capture wrapper between the pipe and a stack)
// gets the packet whole: the pipe copies headers and text into a buffer of
// its own just before delivery and releases the hold then (Stats.Flattened).
// A shared packet that is dropped (too big, closed, detached, a full
// queue, still queued at Close) has its hold released at once, so every
// hold is released exactly once, and a queue holds at most its depth in
// holds.
package pipe

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/synack-net/synack/link"
)

// DefaultQueueDepth is how many packets an Endpoint's inbound queue holds
// when New is used; packets beyond it are dropped and counted. Packets
// taken off the queue for delivery to a link.BatchDispatcher no longer
// count against it, so an end holds at most twice its depth: the queue,
// and a batch as long being delivered.
const DefaultQueueDepth = 4096

// Stats counts an Endpoint's traffic. For every packet written to an open
// endpoint a (with WritePacket, WriteOwned or WriteShared), exactly one of
// a's Sent or a's Dropped (too big) grows, and every packet a has Sent ends
// up counted once in its peer's Delivered or Dropped (queue full, detached
// or closed). Shared and Flattened count no packet of their own: they say
// how some of those in Sent and Delivered went.
type Stats struct {
	// Sent counts packets WritePacket accepted and passed to the peer.
	Sent uint64
	// Delivered counts packets handed to this endpoint's Dispatcher (the
	// count grows once DeliverPacket has returned).
	Delivered uint64
	// Dropped counts packets lost at this endpoint, the sum of the three
	// counters below.
	Dropped uint64

	// DroppedTooBig counts outbound packets refused with ErrTooBig.
	DroppedTooBig uint64
	// DroppedQueueFull counts inbound packets that found the queue full.
	DroppedQueueFull uint64
	// DroppedDetached counts inbound packets that arrived with no
	// Dispatcher attached or after Close.
	DroppedDetached uint64

	// Shared counts the packets among Sent that were written with
	// WriteShared: their text went to the peer where the writer keeps it.
	Shared uint64
	// Flattened counts the packets among Delivered that were written with
	// WriteShared and copied whole into a buffer of this endpoint's before
	// delivery, because its Dispatcher is not a link.SharedDispatcher.
	Flattened uint64
}

// Endpoint is one end of a pipe. It implements link.Endpoint and is safe
// for concurrent use.
type Endpoint struct {
	peer *Endpoint
	mtu  atomic.Int64
	csum bool // Options.ChecksumOffload

	d atomic.Pointer[dispatcherBox] // nil box or nil d: detached

	// queues are the inbound queues, one or Options.Queues (steer).
	queues []*inQueue

	// mu guards started and the free list, and serializes the writes of
	// closed; closed is also read without it. A queue's own lock is
	// never taken with mu held, nor mu with a queue's.
	mu      sync.Mutex
	started bool // the delivery goroutines have been started
	closed  atomic.Bool

	free      [][]byte // delivered buffers kept for reuse (mu), up to freeLimit bytes
	freeBytes int

	done chan struct{} // closed by Close

	sent, delivered                 atomic.Uint64
	tooBig, queueFull, detachedDrop atomic.Uint64
	shared, flattened               atomic.Uint64
}

var (
	_ link.Endpoint = (*Endpoint)(nil)
	_ link.HandOff  = (*Endpoint)(nil)
	_ link.Lender   = (*Endpoint)(nil)

	_ link.TextSharer = (*Endpoint)(nil)

	_ link.ChecksumOffloader = (*Endpoint)(nil)
)

// inQueue is one inbound queue and what its delivery goroutine needs.
// pending, texts and refs are parallel: texts[i] and refs[i] are the text
// and hold of pending[i] when the peer wrote it with WriteShared, else
// nil, and shared counts the non-nil refs.
type inQueue struct {
	mu      sync.Mutex
	pending [][]byte // written by the peer, not yet taken by the deliverer
	texts   [][]byte // shared texts beside pending
	refs    []link.Releaser
	shared  int
	queued  atomic.Int64  // len(pending) plus what of the taken batch is not yet delivered (see deliverLoop)
	depth   int           // most packets queued
	wake    chan struct{} // capacity 1: "pending is not empty"
}

// MaxQueues bounds Options.Queues.
const MaxQueues = 64

// dispatcherBox is the attached Dispatcher, and the same as a Borrower,
// a BatchDispatcher and a SharedDispatcher when it is one.
type dispatcherBox struct {
	d  link.Dispatcher
	b  link.Borrower
	bd link.BatchDispatcher
	sd link.SharedDispatcher
}

// New returns two joined endpoints with the given MTU and queues of
// DefaultQueueDepth packets: a packet written to a is delivered to b's
// Dispatcher, and one written to b to a's.
func New(mtu int) (a, b *Endpoint) {
	return NewWithQueue(mtu, DefaultQueueDepth)
}

// NewWithQueue is New with inbound queues of depth packets each
// (DefaultQueueDepth if depth <= 0).
func NewWithQueue(mtu, depth int) (a, b *Endpoint) {
	return NewWithOptions(mtu, Options{QueueDepth: depth})
}

// Options are a pipe's settings beyond its MTU.
type Options struct {
	// QueueDepth is how many packets each end's inbound queue holds
	// (DefaultQueueDepth if <= 0).
	QueueDepth int
	// Queues is how many inbound queues, each delivered by a goroutine of
	// its own, each end has (1 if <= 0, at most MaxQueues); QueueDepth is
	// shared out among them. Packets are steered to a queue by a hash of
	// their bytes 12 to 23 (see the package doc): several flows are then
	// delivered in parallel, as a stack with many cores wants, while each
	// flow stays in order.
	Queues int
	// ChecksumOffload makes both ends link.ChecksumOffloaders: the
	// stacks on them leave the TCP checksums out and trust what arrives,
	// as two sockets on Linux's loopback do. A pipe carries every byte as
	// written, so only a packet written with a wrong checksum on purpose
	// (a test of checksum handling) needs the option off.
	ChecksumOffload bool
}

// NewWithOptions is New with the settings of o.
func NewWithOptions(mtu int, o Options) (a, b *Endpoint) {
	depth := o.QueueDepth
	if depth <= 0 {
		depth = DefaultQueueDepth
	}
	n := min(max(o.Queues, 1), MaxQueues)
	a = newEndpoint(mtu, depth, n)
	b = newEndpoint(mtu, depth, n)
	a.csum, b.csum = o.ChecksumOffload, o.ChecksumOffload
	a.peer, b.peer = b, a
	return a, b
}

// ChecksumOffload reports whether the pipe was made with
// Options.ChecksumOffload (link.ChecksumOffloader).
func (e *Endpoint) ChecksumOffload() bool { return e.csum }

func newEndpoint(mtu, depth, n int) *Endpoint {
	e := &Endpoint{done: make(chan struct{})}
	for range n {
		e.queues = append(e.queues, &inQueue{depth: (depth + n - 1) / n, wake: make(chan struct{}, 1)})
	}
	e.mtu.Store(int64(mtu))
	return e
}

// steer returns the queue pkt goes to: by a hash of its bytes 12 to 23
// when there are several (see the package doc).
func (e *Endpoint) steer(pkt []byte) *inQueue {
	n := uint64(len(e.queues))
	if n == 1 || len(pkt) < 24 {
		return e.queues[0]
	}
	h := binary.LittleEndian.Uint64(pkt[12:20]) ^ uint64(binary.LittleEndian.Uint32(pkt[20:24]))<<29
	h *= 0x9e3779b97f4a7c15 // Fibonacci hashing: the high bits mix every input bit
	return e.queues[(h>>32)*n>>32]
}

// MTU returns the largest packet WritePacket on e accepts.
func (e *Endpoint) MTU() int { return int(e.mtu.Load()) }

// SetMTU changes the largest packet WritePacket on e accepts. It changes
// this end only, so the two directions may differ (to test path MTU
// discovery, for instance).
func (e *Endpoint) SetMTU(n int) { e.mtu.Store(int64(n)) }

// Stats returns a snapshot of e's counters.
func (e *Endpoint) Stats() Stats {
	s := Stats{
		Sent:             e.sent.Load(),
		Shared:           e.shared.Load(),
		Flattened:        e.flattened.Load(),
		Delivered:        e.delivered.Load(),
		DroppedTooBig:    e.tooBig.Load(),
		DroppedQueueFull: e.queueFull.Load(),
		DroppedDetached:  e.detachedDrop.Load(),
	}
	s.Dropped = s.DroppedTooBig + s.DroppedQueueFull + s.DroppedDetached
	return s
}

// Attach installs d as the receiver of packets written to the peer and
// starts e's delivery goroutine on first use. Attach(nil) detaches: packets
// arriving while detached are dropped and counted. Attach after Close does
// nothing.
func (e *Endpoint) Attach(d link.Dispatcher) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return
	}
	if d == nil {
		e.d.Store(nil)
		return
	}
	b, _ := d.(link.Borrower)
	bd, _ := d.(link.BatchDispatcher)
	sd, _ := d.(link.SharedDispatcher)
	e.d.Store(&dispatcherBox{d, b, bd, sd})
	if !e.started {
		e.started = true
		for _, q := range e.queues {
			go e.deliverLoop(q)
		}
	}
}

// WritePacket copies pkt and queues the copy for the peer's Dispatcher. It
// never blocks: when the peer's queue is full, or nobody is attached there,
// the packet is dropped and counted at the peer, and WritePacket returns
// nil, as a real link would. It returns ErrTooBig if len(pkt) > MTU() and
// ErrClosed after Close.
func (e *Endpoint) WritePacket(pkt []byte) error {
	return e.write(pkt, false)
}

// NewBuffer returns a buffer of n bytes for a packet to write with
// WriteOwned: one the peer has delivered before, when it has one.
func (e *Endpoint) NewBuffer(n int) []byte {
	p := e.peer
	p.mu.Lock()
	buf := p.getBuf(max(n, e.MTU()))
	p.mu.Unlock()
	return buf[:n]
}

// WriteOwned is WritePacket without the copy: pkt, from NewBuffer, is
// queued for the peer as it is and belongs to the pipe from now on.
func (e *Endpoint) WriteOwned(pkt []byte) error {
	return e.write(pkt, true)
}

func (e *Endpoint) write(pkt []byte, owned bool) error {
	if e.closed.Load() {
		e.peer.putBack(pkt, owned)
		return link.ErrClosed
	}
	if len(pkt) > e.MTU() {
		e.tooBig.Add(1)
		e.peer.putBack(pkt, owned)
		return link.ErrTooBig
	}
	e.sent.Add(1)
	e.peer.enqueue(pkt, owned, e.MTU(), nil, nil)
	return nil
}

// putBack keeps an owned buffer that was not queued, for reuse.
func (e *Endpoint) putBack(pkt []byte, owned bool) {
	if owned {
		e.mu.Lock()
		e.keep(pkt)
		e.mu.Unlock()
	}
}

// enqueue appends pkt to its queue at e, or counts the drop: the buffer
// itself when it is owned, else a copy in a buffer of at least size bytes.
// A shared packet (ref not nil, see WriteShared) is owned, and its text and
// hold are queued beside it, or the hold released when it is dropped.
func (e *Endpoint) enqueue(pkt []byte, owned bool, size int, text []byte, ref link.Releaser) {
	q := e.steer(pkt)
	if e.closed.Load() || e.d.Load() == nil {
		e.discard(pkt, owned, ref)
		e.detachedDrop.Add(1) // nobody to deliver to: don't queue
		return
	}
	if !owned {
		e.mu.Lock()
		buf := e.getBuf(max(size, len(pkt)))
		e.mu.Unlock()
		pkt = buf[:copy(buf, pkt)]
	}
	q.mu.Lock()
	switch {
	case e.closed.Load() || e.d.Load() == nil: // since: Close has emptied the queue
		q.mu.Unlock()
		e.discard(pkt, true, ref)
		e.detachedDrop.Add(1)
		return
	case q.queued.Load() >= int64(q.depth):
		q.mu.Unlock()
		e.discard(pkt, true, ref)
		e.queueFull.Add(1)
		return
	}
	q.pending = append(q.pending, pkt)
	q.texts = append(q.texts, text)
	q.refs = append(q.refs, ref)
	if ref != nil {
		q.shared++
	}
	q.queued.Add(1)
	q.mu.Unlock()

	select {
	case q.wake <- struct{}{}:
	default: // a wakeup is already pending: the deliverer will see this packet
	}
}

// freeLimit bounds the delivered buffers an endpoint keeps for reuse: the
// packets of a fast connection's window, not the whole queue's worth of
// jumbo frames. Past it they are left to the collector.
const freeLimit = 16 << 20

// getBuf returns a buffer of length at least size, one this endpoint
// delivered before if it has one (mu held). The free list is what a steady
// flow lives on: unlike a sync.Pool, a collection of the heap does not
// empty it.
func (e *Endpoint) getBuf(size int) []byte {
	if n := len(e.free); n > 0 {
		buf := e.free[n-1]
		e.free[n-1] = nil
		e.free = e.free[:n-1]
		e.freeBytes -= cap(buf)
		if cap(buf) >= size {
			return buf[:cap(buf)]
		}
		// Too small after an MTU increase: let it go, allocate afresh.
	}
	return e.slab(size)
}

// slabBytes is about how much memory one allocation of new buffers takes.
const slabBytes = 256 << 10

// slab allocates several buffers of size bytes at once, up to 64 of them
// in about slabBytes, returns one and puts the rest on the free list (mu
// held): a flow whose packets in flight reach a new peak, as a window
// that opens does, grows its buffers in a few allocations rather than one
// per packet.
func (e *Endpoint) slab(size int) []byte {
	k := min(max(slabBytes/size, 1), 64)
	mem := make([]byte, k*size)
	for i := 1; i < k && e.freeBytes+size <= freeLimit; i++ {
		e.free = append(e.free, mem[i*size:(i+1)*size:(i+1)*size])
		e.freeBytes += size
	}
	return mem[:size:size]
}

// keep puts buf on the free list while it is under freeLimit (mu held).
func (e *Endpoint) keep(buf []byte) {
	if e.freeBytes+cap(buf) <= freeLimit {
		e.free = append(e.free, buf)
		e.freeBytes += cap(buf)
	}
}

// keepIf keeps buf if it is owned (mu held).
func (e *Endpoint) keepIf(buf []byte, owned bool) {
	if owned {
		e.keep(buf)
	}
}

// batch is what a delivery goroutine took off its queue at once:
// pkts, texts and refs as inQueue's pending, texts and refs.
type batch struct {
	pkts   [][]byte
	texts  [][]byte
	refs   []link.Releaser
	shared int
}

// deliverLoop is the delivery goroutine of e's queue q: it waits for a
// wakeup, takes every pending packet at once and hands them to the
// Dispatcher in order. The slices of a batch go back to the queue empty,
// to be filled again, so a steady flow allocates none.
func (e *Endpoint) deliverLoop(q *inQueue) {
	var b batch
	for {
		select {
		case <-e.done:
			return
		case <-q.wake:
		}
		q.mu.Lock()
		b.pkts, q.pending = q.pending, b.pkts[:0]
		b.texts, q.texts = q.texts, b.texts[:0]
		b.refs, q.refs = q.refs, b.refs[:0]
		b.shared, q.shared = q.shared, 0
		q.mu.Unlock()

		if box := e.d.Load(); box != nil && box.bd != nil && !e.closed.Load() {
			// All at once (link.BatchDispatcher): the lent buffers it
			// kept come back nil. The batch leaves the queue as it is
			// taken, as a driver's poll takes a ring's packets off it:
			// one by one, each left as it was delivered, and a batch of
			// hundreds kept the queue that much fuller all along. So
			// the memory a queue holds is its depth in waiting packets
			// and at most as many being delivered.
			q.queued.Add(-int64(len(b.pkts)))
			e.deliverBatch(box, &b)
			e.delivered.Add(uint64(len(b.pkts)))
			e.release(&b)
			continue
		}
		for i, p := range b.pkts {
			if box := e.d.Load(); box != nil && !e.closed.Load() {
				if b.refs[i] != nil {
					e.flatten(&b, i, i+1)
					p = b.pkts[i]
				}
				if box.b == nil {
					box.d.DeliverPacket(p)
				} else if box.b.DeliverBorrowed(p) {
					b.pkts[i] = nil // the Dispatcher's until it is recycled
				}
				e.delivered.Add(1)
			} else {
				e.detachedDrop.Add(1)
			}
			q.queued.Add(-1)
		}
		e.release(&b)
	}
}

// deliverBatch hands b to a BatchDispatcher: with DeliverShared when it
// takes shared packets apart and b has some, else with DeliverBatch, the
// shared packets copied whole first.
func (e *Endpoint) deliverBatch(box *dispatcherBox, b *batch) {
	switch {
	case b.shared == 0:
		box.bd.DeliverBatch(b.pkts, box.b != nil)
	case box.sd != nil:
		box.sd.DeliverShared(b.pkts, b.texts, b.refs, box.b != nil)
	default:
		e.flatten(b, 0, len(b.pkts))
		box.bd.DeliverBatch(b.pkts, box.b != nil)
	}
}

// release gives the buffers of delivered or dropped packets back to the
// free list, and releases the holds of the shared texts nobody kept, after
// the free list's lock: a Releaser may take locks of its own. It leaves b's
// slices empty of references.
func (e *Endpoint) release(b *batch) {
	e.mu.Lock()
	for i, p := range b.pkts {
		if p != nil {
			e.keep(p)
			b.pkts[i] = nil
		}
	}
	e.mu.Unlock()
	if b.shared > 0 {
		releaseAll(b.refs)
		clear(b.texts)
		b.shared = 0
	}
}

// Recycle takes back a buffer a Borrower kept (link.Lender): it joins the
// free list the peer's writes draw on.
func (e *Endpoint) Recycle(pkt []byte) {
	e.mu.Lock()
	e.keep(pkt[:cap(pkt)])
	e.mu.Unlock()
}

// RecycleAll is Recycle for several buffers under one lock of the free
// list (link.BatchLender).
func (e *Endpoint) RecycleAll(pkts [][]byte) {
	e.mu.Lock()
	for _, p := range pkts {
		e.keep(p[:cap(p)])
	}
	e.mu.Unlock()
}

// Close stops e's delivery and drops, counting them, the packets still
// queued, releasing the holds of their shared texts before it returns;
// later writes on e return ErrClosed and packets the peer writes to
// e are dropped and counted. Close does not wait for a DeliverPacket call in
// progress, so a Dispatcher may call it; a batch being delivered
// (link.BatchDispatcher) is delivered to its end, and counted delivered.
// Closing twice does nothing.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	if e.closed.Load() {
		e.mu.Unlock()
		return nil
	}
	e.closed.Store(true)
	e.d.Store(nil)
	close(e.done)
	e.mu.Unlock()

	for _, q := range e.queues {
		q.mu.Lock()
		pending, refs := q.pending, q.refs
		q.pending, q.texts, q.refs, q.shared = nil, nil, nil, 0
		q.queued.Add(-int64(len(pending)))
		q.mu.Unlock()
		releaseAll(refs) // outside q.mu, as everywhere
		e.detachedDrop.Add(uint64(len(pending)))
	}
	return nil
}
