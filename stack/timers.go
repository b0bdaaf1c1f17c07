package stack

import (
	"container/heap"
	"time"
)

// timerHeap is a shard's one timer structure: connections ordered by the
// deadline their engine asks for. One clock timer is armed for the earliest;
// an idle connection costs a heap slot at most, never a runtime timer.
type timerHeap []*TCPConn

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = int32(i), int32(j)
}
func (h *timerHeap) Push(x any) {
	c := x.(*TCPConn)
	c.heapIdx = int32(len(*h))
	*h = append(*h, c)
}
func (h *timerHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.heapIdx = -1
	return c
}

func (h *timerHeap) remove(c *TCPConn) {
	if c.heapIdx >= 0 {
		heap.Remove(h, int(c.heapIdx))
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
