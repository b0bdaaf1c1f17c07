package fault

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack/clock"
)

// errDetached is what the In direction's send returns with no Dispatcher.
var errDetached = errors.New("no dispatcher attached")

// line is one direction of an Endpoint: its settings, its generator, its
// bottleneck and the copies it holds until their release time.
//
// Copies go on from one goroutine at a time: the one holding the
// delivering token (delivering == true), taken under mu. The holder passes
// copies on without mu and, before giving the token back, releases every
// copy that fell due meanwhile and re-arms the timer, so a copy pushed while
// another goroutine delivers is never stranded.
type line struct {
	cfg  Direction // normalized by newLine: defaults filled in
	zero bool      // cfg.IsZero(): pass straight through
	clk  clock.Clock
	pool *sync.Pool
	send func(pkt []byte) error // the way out: inner WritePacket or the Dispatcher

	// mu guards everything below but closed and the counters. It is never
	// held while send runs, nor with the other line's mu: under it the line
	// only reads and arms the clock, which calls nothing back under its
	// own lock.
	mu         sync.Mutex
	rng        *rand.Rand
	held       heldHeap    // copies waiting for their release time
	seq        uint64      // arrival counter: the tie-break of equal release times
	last       time.Time   // latest release time given to a copy not reordered
	busy       time.Time   // when the bottleneck finishes its last queued copy
	queue      []time.Time // a ring: the finish times of the copies in the bottleneck
	qHead      int
	qLen       int
	timer      clock.Timer // nil until first needed
	armed      bool        // timer is armed for armedAt
	armedAt    time.Time
	delivering bool   // the token: some goroutine is passing copies on
	batch      []held // the token holder's scratch, owned by the token, not mu
	closed     atomic.Bool
	entered    atomic.Int64 // calls of handle in progress (see settled)

	packets, delivered, dropped, queueDrops, duplicated, corrupted,
	reordered, delayed, discarded atomic.Uint64
}

// held is a copy waiting in a line: buf[:n] of a pooled buffer.
type held struct {
	at  time.Time
	seq uint64
	buf *[]byte
	n   int
}

func newLine(d Direction, clk clock.Clock, seed, stream uint64, pool *sync.Pool, send func([]byte) error) *line {
	d.Loss = clamp(d.Loss)
	d.Duplicate = clamp(d.Duplicate)
	d.Corrupt = clamp(d.Corrupt)
	d.Reorder = clamp(d.Reorder)
	d.Delay = max(d.Delay, 0)
	d.Jitter = max(d.Jitter, 0)
	d.Rate = max(d.Rate, 0)
	if d.ReorderDelay <= 0 {
		d.ReorderDelay = DefaultReorderDelay
	}
	if d.QueueDepth <= 0 {
		d.QueueDepth = DefaultQueueDepth
	}
	l := &line{
		cfg:  d,
		zero: d.IsZero(),
		clk:  clk,
		pool: pool,
		send: send,
		rng:  rand.New(rand.NewPCG(seed, stream)),
	}
	if d.Rate > 0 {
		l.queue = make([]time.Time, d.QueueDepth)
	}
	return l
}

func clamp(p float64) float64 {
	if !(p > 0) { // NaN too
		return 0
	}
	return min(p, 1)
}

// chance draws from the generator only for a probability strictly between
// 0 and 1, so a setting left at zero changes no other decision.
func (l *line) chance(p float64) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	return l.rng.Float64() < p
}

func (l *line) stats() Stats {
	return Stats{
		Packets:    l.packets.Load(),
		Delivered:  l.delivered.Load(),
		Dropped:    l.dropped.Load(),
		QueueDrops: l.queueDrops.Load(),
		Duplicated: l.duplicated.Load(),
		Corrupted:  l.corrupted.Load(),
		Reordered:  l.reordered.Load(),
		Delayed:    l.delayed.Load(),
		Discarded:  l.discarded.Load(),
	}
}

// DeliverPacket makes the In line the inner endpoint's Dispatcher.
func (l *line) DeliverPacket(pkt []byte) { l.handle(pkt) }

// handle takes one packet into the line. It returns the error of the
// copies passed on at once, if any.
func (l *line) handle(pkt []byte) error {
	l.entered.Add(1)
	defer l.entered.Add(-1)
	if l.closed.Load() {
		return nil // the Endpoint is closed: inbound packets just vanish
	}
	l.packets.Add(1)
	if l.zero {
		return l.pass(pkt, -1)
	}

	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		l.discarded.Add(1)
		return nil
	}
	if l.chance(l.cfg.Loss) {
		l.mu.Unlock()
		l.dropped.Add(1)
		return nil
	}
	copies := 1
	if l.chance(l.cfg.Duplicate) {
		copies = 2
		l.duplicated.Add(1)
	}
	now := l.clk.Now()
	var direct [2]int // the flipped bit (-1: none) of each copy to pass on at once
	nd := 0
	for range copies {
		flip := -1
		if len(pkt) > 0 && l.chance(l.cfg.Corrupt) {
			flip = l.rng.IntN(len(pkt) * 8)
			l.corrupted.Add(1)
		}
		at, ok := l.releaseTime(now, len(pkt))
		if !ok {
			l.queueDrops.Add(1)
			continue
		}
		if at.After(now) || l.delivering || l.dueLocked(now) {
			l.hold(pkt, flip, at)
			continue
		}
		direct[nd] = flip
		nd++
	}
	if l.delivering {
		l.mu.Unlock() // the token holder releases what we held
		return nil
	}
	if nd == 0 && !l.dueLocked(now) {
		l.arm()
		l.mu.Unlock()
		return nil
	}
	l.delivering = true
	l.mu.Unlock()

	var err error
	for _, flip := range direct[:nd] {
		if e := l.pass(pkt, flip); err == nil {
			err = e
		}
	}
	l.run()
	return err
}

// releaseTime runs a copy of size bytes arriving at now through the
// bottleneck, the delay and the reordering, and returns when it is due; ok
// is false if the bottleneck's queue is full. mu is held.
func (l *line) releaseTime(now time.Time, size int) (at time.Time, ok bool) {
	at = now
	if l.cfg.Rate > 0 {
		for l.qLen > 0 && !l.queue[l.qHead].After(now) { // finished: out of the queue
			l.qHead = (l.qHead + 1) % len(l.queue)
			l.qLen--
		}
		if l.qLen >= len(l.queue) {
			return time.Time{}, false // tail drop
		}
		start := now
		if l.busy.After(now) {
			start = l.busy
		}
		l.busy = start.Add(transmissionTime(size, l.cfg.Rate))
		l.queue[(l.qHead+l.qLen)%len(l.queue)] = l.busy
		l.qLen++
		at = l.busy
	}
	at = at.Add(l.cfg.Delay)
	if l.cfg.Jitter > 0 {
		at = at.Add(time.Duration(l.rng.Int64N(int64(l.cfg.Jitter) + 1)))
	}
	if l.chance(l.cfg.Reorder) {
		l.reordered.Add(1)
		return at.Add(l.cfg.ReorderDelay), true // overtaken; later copies are not held up
	}
	if at.Before(l.last) {
		at = l.last // jitter does not reorder: never before an earlier copy
	}
	l.last = at
	return at, true
}

// transmissionTime is how long size bytes take at rate bits per second,
// rounded up to the nanosecond.
func transmissionTime(size int, rate int64) time.Duration {
	bits := int64(size) * 8
	return time.Duration((bits*int64(time.Second) + rate - 1) / rate)
}

// hold copies pkt, with bit flip flipped unless it is -1, to be released
// at at. mu is held.
func (l *line) hold(pkt []byte, flip int, at time.Time) {
	buf := getBuf(l.pool, len(pkt))
	n := copy(*buf, pkt)
	if flip >= 0 {
		(*buf)[flip/8] ^= 1 << (flip % 8)
	}
	l.held.push(held{at: at, seq: l.seq, buf: buf, n: n})
	l.seq++
	l.delayed.Add(1)
}

// pass sends pkt on, through a copy with bit flip flipped unless flip is
// -1, and counts the outcome.
func (l *line) pass(pkt []byte, flip int) error {
	var err error
	if flip < 0 {
		err = l.send(pkt)
	} else {
		buf := getBuf(l.pool, len(pkt))
		n := copy(*buf, pkt)
		(*buf)[flip/8] ^= 1 << (flip % 8)
		err = l.send((*buf)[:n])
		l.pool.Put(buf)
	}
	if err != nil {
		l.discarded.Add(1)
	} else {
		l.delivered.Add(1)
	}
	return err
}

// dueLocked reports whether a held copy is due at now. mu is held.
func (l *line) dueLocked(now time.Time) bool {
	return len(l.held) > 0 && !l.held[0].at.After(now)
}

// settled reports whether nothing is in progress in the line: no packet
// being taken in or passed on, and the timer armed for the earliest held
// copy, if any.
func (l *line) settled() bool {
	if l.entered.Load() != 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.delivering {
		return false
	}
	return len(l.held) == 0 || (l.armed && l.armedAt.Equal(l.held[0].at))
}

// arm sets the timer for the earliest held copy, or stops it when nothing
// is held. mu is held, and the token is free.
func (l *line) arm() {
	if len(l.held) == 0 {
		if l.armed {
			l.timer.Stop()
			l.armed = false
		}
		return
	}
	at := l.held[0].at
	if l.armed && l.armedAt.Equal(at) {
		return
	}
	d := at.Sub(l.clk.Now())
	if l.timer == nil {
		l.timer = l.clk.AfterFunc(d, l.fire)
	} else {
		l.timer.Reset(d)
	}
	l.armed, l.armedAt = true, at
}

// fire is the timer's callback: it takes the token, unless someone holds
// it (who will re-arm the timer), and releases what is due.
func (l *line) fire() {
	l.mu.Lock()
	l.armed = false
	if l.closed.Load() || l.delivering {
		l.mu.Unlock()
		return
	}
	l.delivering = true
	l.mu.Unlock()
	l.run()
}

// run passes on, in order, every held copy that is due, until none is;
// then it re-arms the timer and gives the token back. The caller holds the
// token and not mu.
func (l *line) run() {
	for {
		l.mu.Lock()
		if l.closed.Load() {
			l.delivering = false
			l.mu.Unlock()
			return
		}
		now := l.clk.Now()
		batch := l.batch[:0]
		for l.dueLocked(now) {
			batch = append(batch, l.held.pop())
		}
		if len(batch) == 0 {
			l.delivering = false
			l.arm()
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()

		for i, h := range batch {
			if l.closed.Load() {
				l.discarded.Add(1)
			} else if err := l.send((*h.buf)[:h.n]); err != nil {
				l.discarded.Add(1)
			} else {
				l.delivered.Add(1)
			}
			l.pool.Put(h.buf)
			batch[i] = held{}
		}
		l.batch = batch[:0] // only the token holder touches batch
	}
}

// close discards what the line holds and stops its timer; nothing is
// passed on afterwards.
func (l *line) close() {
	l.mu.Lock()
	l.closed.Store(true)
	if l.armed {
		l.timer.Stop()
		l.armed = false
	}
	held := l.held
	l.held = nil
	l.mu.Unlock()
	for _, h := range held {
		l.discarded.Add(1)
		l.pool.Put(h.buf)
	}
}

// heldHeap is a min-heap of held copies by release time, ties by arrival.
// It is written out rather than built on container/heap, whose interface
// boxing would allocate per packet.
type heldHeap []held

func (h heldHeap) less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}

func (h *heldHeap) push(x held) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *heldHeap) pop() held {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = held{}
	s = s[:last]
	for i := 0; ; {
		m, l, r := i, 2*i+1, 2*i+2
		if l < len(s) && s.less(l, m) {
			m = l
		}
		if r < len(s) && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
