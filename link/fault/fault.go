// Package fault disturbs the traffic of a link the way a real network does:
// an Endpoint wraps any link.Endpoint and, from a seed, drops, duplicates,
// corrupts, delays and reorders packets, and pushes them through a
// bandwidth-limited bottleneck with a bounded queue, so that congestion
// control has something to do. Like every link, it treats packets as opaque
// bytes and knows nothing of IP or TCP.
//
// Each direction has its own settings (Direction) and its own
// pseudo-random generator, a PCG seeded from Config.Seed: Out applies to
// the packets the stack writes (WritePacket, toward the inner endpoint), In
// to the packets the inner endpoint delivers (toward the stack's
// Dispatcher). With the same seed and the same packets in the same order,
// every decision is the same, so a run under a virtual clock repeats
// exactly; traffic in one direction never changes the decisions of the
// other.
//
// A packet passes these stages in order, each drawing from the generator
// only when its setting is non-zero:
//
//  1. Loss: the packet is dropped (Stats.Dropped).
//  2. Duplicate: the packet goes on as two copies (Stats.Duplicated); each
//     copy passes the stages below on its own.
//  3. Corrupt: one bit, chosen at random, of a copy is flipped
//     (Stats.Corrupted). The caller's buffer is never touched. A single
//     flipped bit always changes an Internet checksum, so the receiver
//     discards the packet as damaged.
//  4. Rate: the bottleneck, a serializing link of Rate bits per second
//     with a FIFO queue of QueueDepth packets. A packet finishes
//     transmission at max(now, previous packet's finish) + size*8/Rate; a
//     packet that finds QueueDepth packets still waiting or in transmission
//     is dropped (tail drop, Stats.QueueDrops).
//  5. Delay and Jitter: the packet then travels Delay plus a uniform random
//     extra in [0, Jitter]. Jitter alone never reorders: a packet is never
//     released before one that entered the direction before it, so the
//     propagation delay of each packet stays within [Delay, Delay+Jitter]
//     (measured from the end of its transmission when Rate is set).
//  6. Reorder: with probability Reorder a packet is held back ReorderDelay
//     beyond its release time (Stats.Reordered), and the packets released
//     meanwhile overtake it. It does not hold up the packets after it.
//     Whether anything overtakes depends on the traffic: a packet held back
//     on an idle link arrives late but in order.
//
// A packet due at once (no rate, delay or hold-back applies) goes on in the
// caller's goroutine. The others are copied into pooled buffers and
// released, in order of release time (ties in arrival order), from a timer
// of the configured clock: with clock.Virtual they go on when the test
// advances the clock, from the goroutine that advances it. Packets of one
// direction go on from one goroutine at a time and never under a lock of
// the Endpoint, so the inner endpoint and the Dispatcher may call back into
// it. With a zero Direction the wrapper passes packets straight through,
// allocating nothing.
package fault

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
)

// DefaultQueueDepth is the bottleneck's queue, in packets, when
// Direction.QueueDepth is zero.
const DefaultQueueDepth = 1000

// DefaultReorderDelay is how long a reordered packet is held back when
// Direction.ReorderDelay is zero.
const DefaultReorderDelay = time.Millisecond

// Config describes an Endpoint: its clock, its seed and what it does to
// each direction.
type Config struct {
	// Clock times delays and the bottleneck; nil is the real clock.
	Clock clock.Clock
	// Seed seeds both directions' generators: the same seed and the same
	// packets give the same decisions.
	Seed uint64
	// Out disturbs the packets written to the Endpoint, on their way to the
	// inner endpoint.
	Out Direction
	// In disturbs the packets the inner endpoint delivers, on their way to
	// the Dispatcher.
	In Direction
}

// Direction is what happens to the packets going one way. Probabilities are
// in [0, 1]; values below 0 count as 0 and above 1 as 1. Negative durations
// count as zero. The zero Direction passes packets through untouched.
type Direction struct {
	// Loss is the probability that a packet is dropped.
	Loss float64
	// Duplicate is the probability that a packet is sent twice.
	Duplicate float64
	// Corrupt is the probability that a copy has one bit flipped.
	Corrupt float64
	// Reorder is the probability that a copy is held back ReorderDelay past
	// its release, letting later packets overtake it.
	Reorder float64
	// ReorderDelay is how long a reordered copy is held back
	// (DefaultReorderDelay if zero).
	ReorderDelay time.Duration

	// Delay is the fixed one-way delay of every copy.
	Delay time.Duration
	// Jitter is the largest random delay added to Delay, drawn uniformly
	// from [0, Jitter] per copy; it does not reorder packets.
	Jitter time.Duration

	// Rate is the bottleneck's bandwidth in bits per second; 0 is
	// unlimited (no bottleneck).
	Rate int64
	// QueueDepth is how many packets the bottleneck holds, the one in
	// transmission included, before it drops arrivals (DefaultQueueDepth if
	// zero). It matters only when Rate is set.
	QueueDepth int
}

// IsZero reports whether d leaves packets alone: no probability, delay,
// jitter or rate is set. QueueDepth and ReorderDelay only qualify Rate and
// Reorder, so they alone do not count.
func (d Direction) IsZero() bool {
	return d.Loss <= 0 && d.Duplicate <= 0 && d.Corrupt <= 0 && d.Reorder <= 0 &&
		d.Delay <= 0 && d.Jitter <= 0 && d.Rate <= 0
}

// Stats counts what one direction of an Endpoint did. Every packet entering
// it counts in Packets; it then either counts in Dropped or goes on as one
// copy, or two (Duplicated). Every copy ends in exactly one of QueueDrops,
// Delivered or Discarded, or is still held.
type Stats struct {
	// Packets counts the packets that entered the direction.
	Packets uint64
	// Delivered counts the copies passed on: written to the inner endpoint
	// without error (Out) or handed to the Dispatcher (In).
	Delivered uint64
	// Dropped counts the packets lost on purpose (Loss).
	Dropped uint64
	// QueueDrops counts the copies that found the bottleneck's queue full.
	QueueDrops uint64
	// Duplicated counts the packets sent twice.
	Duplicated uint64
	// Corrupted counts the copies with a bit flipped.
	Corrupted uint64
	// Reordered counts the copies held back by ReorderDelay.
	Reordered uint64
	// Delayed counts the copies held to be released later by the clock.
	Delayed uint64
	// Discarded counts the copies that could not be passed on: held at
	// Close, refused by the inner endpoint, or released with no Dispatcher
	// attached.
	Discarded uint64
}

// Endpoint is a link.Endpoint that disturbs the traffic of the endpoint it
// wraps. It is safe for concurrent use.
type Endpoint struct {
	inner  link.Endpoint
	out    *line
	in     *line
	d      atomic.Pointer[dispatcherBox] // nil: detached
	closed atomic.Bool
	pool   sync.Pool // of *[]byte, shared by both directions
}

var _ link.Endpoint = (*Endpoint)(nil)

type dispatcherBox struct{ d link.Dispatcher }

// Streams of the PCG for each direction: one seed, two independent
// sequences.
const (
	streamOut = 0x6f7574 // "out"
	streamIn  = 0x696e   // "in"
)

// New wraps inner in an Endpoint that disturbs its traffic as cfg says.
// Closing the Endpoint closes inner.
func New(inner link.Endpoint, cfg Config) *Endpoint {
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real()
	}
	e := &Endpoint{inner: inner}
	e.out = newLine(cfg.Out, clk, cfg.Seed, streamOut, &e.pool, inner.WritePacket)
	e.in = newLine(cfg.In, clk, cfg.Seed, streamIn, &e.pool, e.dispatch)
	return e
}

// MTU returns the inner endpoint's MTU.
func (e *Endpoint) MTU() int { return e.inner.MTU() }

// Stats returns a snapshot of the counters of each direction.
func (e *Endpoint) Stats() (out, in Stats) {
	return e.out.stats(), e.in.stats()
}

// Settled reports whether every packet handed to e in either direction so
// far has been passed on, dropped, or is held with the clock timer for its
// release armed: nothing is in progress inside e. A driver of a virtual
// clock checks it, after reading the clock's next timer, before moving the
// clock, so that no packet's release is armed behind its back.
func (e *Endpoint) Settled() bool { return e.out.settled() && e.in.settled() }

// Attach installs d as the receiver of the inner endpoint's packets, which
// reach it through the In direction. Attach(nil) detaches: the inner
// endpoint is detached too, and packets the In direction still holds are
// discarded when they fall due. Attach after Close does nothing.
func (e *Endpoint) Attach(d link.Dispatcher) {
	if e.closed.Load() {
		return
	}
	if d == nil {
		e.d.Store(nil)
		e.inner.Attach(nil)
		return
	}
	e.d.Store(&dispatcherBox{d})
	e.inner.Attach(e.in)
}

// dispatch hands pkt to the attached Dispatcher: the In direction's way
// out.
func (e *Endpoint) dispatch(pkt []byte) error {
	box := e.d.Load()
	if box == nil || e.closed.Load() {
		return errDetached
	}
	box.d.DeliverPacket(pkt)
	return nil
}

// WritePacket passes pkt through the Out direction to the inner endpoint.
// pkt is neither kept nor modified: what is held is copied. It returns
// link.ErrTooBig if pkt is longer than the inner endpoint's MTU and
// link.ErrClosed after Close; otherwise it returns what the inner
// endpoint's WritePacket returned for the copies passed on at once, and
// nil for packets dropped or held, whose fate Stats tells.
func (e *Endpoint) WritePacket(pkt []byte) error {
	if e.closed.Load() {
		return link.ErrClosed
	}
	if len(pkt) > e.inner.MTU() {
		return link.ErrTooBig
	}
	return e.out.handle(pkt)
}

// Close stops both directions, discarding (and counting) the packets they
// hold without passing them on, stops their timers and closes the inner
// endpoint, returning its error. A copy being passed on at that moment may
// still arrive: Close does not wait for it, so a Dispatcher may call Close.
// Closing twice does nothing.
func (e *Endpoint) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	e.d.Store(nil)
	e.out.close()
	e.in.close()
	return e.inner.Close()
}

// minBuf is the smallest pooled buffer: an Ethernet-sized packet fits.
const minBuf = 1500

// getBuf returns a pooled buffer of length at least n. A pooled buffer too
// small for n (after the MTU grew) is let go.
func getBuf(pool *sync.Pool, n int) *[]byte {
	if buf, _ := pool.Get().(*[]byte); buf != nil && cap(*buf) >= n {
		*buf = (*buf)[:cap(*buf)]
		return buf
	}
	b := make([]byte, max(n, minBuf))
	return &b
}
