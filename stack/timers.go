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
type deadlineHeap[T heapItem] []T

// heapItem is an item of a deadlineHeap.
type heapItem interface {
	heapDeadline() time.Time
	heapIndex() *int32
}

type (
	timerHeap = deadlineHeap[*TCPConn]
	twHeap    = deadlineHeap[*twEntry]
)

func (c *TCPConn) heapDeadline() time.Time { return c.deadline }
func (c *TCPConn) heapIndex() *int32       { return &c.heapIdx }
func (e *twEntry) heapDeadline() time.Time { return e.rec.Deadline() }
func (e *twEntry) heapIndex() *int32       { return &e.idx }

func (h deadlineHeap[T]) Len() int           { return len(h) }
func (h deadlineHeap[T]) Less(i, j int) bool { return h[i].heapDeadline().Before(h[j].heapDeadline()) }
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
	if d.Equal(c.deadline) && (c.heapIdx >= 0) == !d.IsZero() {
		return
	}
	c.deadline = d
	switch {
	case d.IsZero():
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
	for len(s.timers) > 0 && !s.timers[0].deadline.After(now) {
		c := s.timers[0]
		l := c.lockListener()
		c.conn.HandleTimer(now) // clears or moves every deadline that was due
		s.afterLocked(c)
		unlockListener(l)
	}
	s.expireTimeWaitLocked(now)
	if len(s.timers) > 0 {
		s.arm(s.timers[0].deadline)
	}
	if len(s.twHeap) > 0 {
		s.arm(s.twHeap[0].rec.Deadline())
	}
	s.unlockAndFlush()
}
