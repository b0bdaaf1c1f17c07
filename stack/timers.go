package stack

import (
	"container/heap"
	"time"
)

// deadlineHeap orders what a shard must wake for by deadline: its
// connections by the deadline their engine asks for (timerHeap), and its
// TIME-WAIT records by when they end (twHeap). Each item keeps its place
// in the heap, -1 when it is in none, so that it can be moved or removed
// in O(log n). One clock timer is armed for the earliest of both; an idle
// connection costs a heap slot at most, never a runtime timer.
type deadlineHeap[T heapItem[T]] []T

// heapItem is an item of a deadlineHeap.
type heapItem[T any] interface {
	dueBefore(T) bool // its deadline is earlier than the other's
	heapIndex() *int32
}

type (
	timerHeap = deadlineHeap[*TCPConn]
	twHeap    = deadlineHeap[*twEntry]
)

func (c *TCPConn) dueBefore(o *TCPConn) bool { return c.deadline < o.deadline }
func (c *TCPConn) heapIndex() *int32         { return &c.heapIdx }
func (e *twEntry) dueBefore(o *twEntry) bool { return e.rec.Deadline().Before(o.rec.Deadline()) }
func (e *twEntry) heapIndex() *int32         { return &e.idx }

func (h deadlineHeap[T]) Len() int           { return len(h) }
func (h deadlineHeap[T]) Less(i, j int) bool { return h[i].dueBefore(h[j]) }
func (h deadlineHeap[T]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	*h[i].heapIndex(), *h[j].heapIndex() = int32(i), int32(j)
}
func (h *deadlineHeap[T]) Push(x any) {
	e := x.(T)
	*e.heapIndex() = int32(len(*h))
	*h = append(*h, e)
}
func (h *deadlineHeap[T]) Pop() any {
	old := *h
	e := old[len(old)-1]
	var none T
	old[len(old)-1] = none
	*h = old[:len(old)-1]
	*e.heapIndex() = -1
	return e
}

// remove takes e out of the heap, if it is in it.
func (h *deadlineHeap[T]) remove(e T) {
	if i := *e.heapIndex(); i >= 0 {
		heap.Remove(h, int(i))
	}
}

// schedule moves c in the heap to the deadline its engine now asks for and
// arms the clock timer earlier if needed (mu held). The clock timer is only
// ever moved earlier here; when it fires late work is simply re-armed, so a
// deadline pushed back on every ACK costs no timer reset.
func (s *shard) schedule(c *TCPConn) {
	d := c.conn.Deadline()
	at := s.stampOf(d)
	if at == c.deadline && (c.heapIdx >= 0) == (at != 0) {
		return
	}
	c.deadline = at
	switch {
	case at == 0:
		s.timers.remove(c)
		return
	case c.heapIdx >= 0:
		heap.Fix(&s.timers, int(c.heapIdx))
	default:
		heap.Push(&s.timers, c)
	}
	s.arm(d)
}

// arm makes sure the clock timer fires no later than d.
func (s *shard) arm(d time.Time) {
	if !s.armedAt.IsZero() && !d.Before(s.armedAt) {
		return
	}
	s.armedAt = d
	wait := d.Sub(s.clk.Now())
	if s.timer == nil {
		s.timer = s.clk.AfterFunc(wait, s.fire)
	} else {
		s.timer.Reset(wait)
	}
}

// fire runs every connection timer and ends every TIME-WAIT record that
// is due, and re-arms for the next.
func (s *shard) fire() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	now := s.clk.Now()
	s.armedAt = time.Time{}
	for nowAt := s.stampOf(now); len(s.timers) > 0 && s.timers[0].deadline <= nowAt; {
		c := s.timers[0]
		l := c.lockListener()
		c.conn.HandleTimer(now) // clears or moves every deadline that was due
		s.afterLocked(c)
		unlockListener(l)
	}
	s.expireTimeWaitLocked(now)
	if len(s.timers) > 0 {
		s.arm(s.timeOf(s.timers[0].deadline))
	}
	if len(s.twHeap) > 0 {
		s.arm(s.twHeap[0].rec.Deadline())
	}
	s.unlockAndFlush()
}

// stamp is a time on the stack's clock as nanoseconds since the stack's
// epoch, in an int64: 8 bytes where a time.Time takes 24, in the socket
// every connection holds (its timer's deadline and when it was made). The
// epoch lies epochSpan before the stack was made, so that every time its
// clock gives counts positive and zero can mean none; an int64 of
// nanoseconds spans 292 years. The real clock's times keep their
// monotonic reading through Sub and Add, so a step of the wall clock does
// not show in stamps.
type stamp int64

// epochSpan is how far before its making a stack's epoch lies.
const epochSpan = 24 * time.Hour

// stampOf is t as a stamp; the zero time.Time is none (0).
func (s *Stack) stampOf(t time.Time) stamp {
	if t.IsZero() {
		return 0
	}
	return stamp(t.Sub(s.epoch))
}

// timeOf is at as a time; none is the zero time.Time.
func (s *Stack) timeOf(at stamp) time.Time {
	if at == 0 {
		return time.Time{}
	}
	return s.epoch.Add(time.Duration(at))
}

// age is how long before now the stamp at was; 0 for none.
func (s *Stack) age(now time.Time, at stamp) time.Duration {
	if at == 0 {
		return 0
	}
	return time.Duration(max(s.stampOf(now)-at, 0))
}
