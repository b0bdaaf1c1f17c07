package clock

import (
	"sync"
	"time"
)

// Virtual is a Clock whose time moves only when Advance or AdvanceTo is
// called. Timers are kept in one min-heap ordered by deadline, ties broken by
// the order in which they were armed (FIFO). A Virtual is safe for concurrent
// use; callbacks run in the goroutine that advances the clock, without the
// clock's lock held, so they may call Now, AfterFunc, Stop and Reset.
type Virtual struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64          // arming counter: the FIFO tie-break
	timers []*virtualTimer // min-heap by (when, seq)
}

var _ Clock = (*Virtual)(nil)

// NewVirtual returns a virtual clock whose time is start.
func NewVirtual(start time.Time) *Virtual {
	return &Virtual{now: start}
}

// Now returns the clock's current virtual time. While a timer's callback
// runs, Now is that timer's deadline.
func (v *Virtual) Now() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.now
}

// AfterFunc arms a timer that calls f, in the goroutine that advances the
// clock, once the clock reaches Now()+d. A d of zero or less fires at the
// next Advance (even Advance(0)), never inside AfterFunc itself.
func (v *Virtual) AfterFunc(d time.Duration, f func()) Timer {
	t := &virtualTimer{v: v, f: f, index: -1}
	v.mu.Lock()
	v.arm(t, d)
	v.mu.Unlock()
	return t
}

// Advance moves time forward by d, firing every timer due by then in
// deadline order, including timers armed by callbacks that fall due within
// the interval. It returns with Now() equal to the starting time plus d. A
// negative d fires the timers already due and leaves the time unchanged.
func (v *Virtual) Advance(d time.Duration) {
	v.mu.Lock()
	end := v.now
	if d > 0 {
		end = end.Add(d)
	}
	v.mu.Unlock()
	v.AdvanceTo(end)
}

// AdvanceTo moves time forward to t, firing every timer whose deadline is
// at or before t, as Advance does. Time never goes backwards: a t before
// Now() only fires the timers already due.
func (v *Virtual) AdvanceTo(t time.Time) {
	for {
		v.mu.Lock()
		if len(v.timers) == 0 || v.timers[0].when.After(t) {
			if t.After(v.now) {
				v.now = t
			}
			v.mu.Unlock()
			return
		}
		tm := v.timers[0]
		v.remove(tm)
		if tm.when.After(v.now) {
			v.now = tm.when
		}
		f := tm.f
		v.mu.Unlock()
		f() // without the lock: f may use the clock
	}
}

// Next returns the deadline of the earliest armed timer; ok is false when no
// timer is armed.
func (v *Virtual) Next() (deadline time.Time, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.timers) == 0 {
		return time.Time{}, false
	}
	return v.timers[0].when, true
}

// Pending returns how many timers are armed.
func (v *Virtual) Pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.timers)
}

// virtualTimer is one timer of a Virtual clock; index is its place in the
// heap, -1 while it is not armed. All fields but v and f are guarded by v.mu.
type virtualTimer struct {
	v     *Virtual
	f     func()
	when  time.Time
	seq   uint64
	index int
}

// Stop disarms the timer and reports whether it was armed.
func (t *virtualTimer) Stop() bool {
	t.v.mu.Lock()
	defer t.v.mu.Unlock()
	if t.index < 0 {
		return false
	}
	t.v.remove(t)
	return true
}

// Reset re-arms the timer to fire d after the clock's current time and
// reports whether it was armed before.
func (t *virtualTimer) Reset(d time.Duration) bool {
	t.v.mu.Lock()
	defer t.v.mu.Unlock()
	armed := t.index >= 0
	if armed {
		t.v.remove(t)
	}
	t.v.arm(t, d)
	return armed
}

// arm sets t's deadline to now+d and pushes it; v.mu is held.
func (v *Virtual) arm(t *virtualTimer, d time.Duration) {
	if d < 0 {
		d = 0
	}
	t.when = v.now.Add(d)
	t.seq = v.seq
	v.seq++
	t.index = len(v.timers)
	v.timers = append(v.timers, t)
	v.up(t.index)
}

// remove takes t, which is armed, out of the heap; v.mu is held.
func (v *Virtual) remove(t *virtualTimer) {
	i := t.index
	last := len(v.timers) - 1
	if i != last {
		v.swap(i, last)
	}
	v.timers[last] = nil
	v.timers = v.timers[:last]
	t.index = -1
	if i != last {
		if !v.down(i) {
			v.up(i)
		}
	}
}

func (v *Virtual) less(i, j int) bool {
	a, b := v.timers[i], v.timers[j]
	if !a.when.Equal(b.when) {
		return a.when.Before(b.when)
	}
	return a.seq < b.seq
}

func (v *Virtual) swap(i, j int) {
	h := v.timers
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (v *Virtual) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !v.less(i, p) {
			return
		}
		v.swap(i, p)
		i = p
	}
}

// down sifts element i toward the leaves and reports whether it moved.
func (v *Virtual) down(i int) bool {
	start, n := i, len(v.timers)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && v.less(r, l) {
			m = r
		}
		if !v.less(m, i) {
			break
		}
		v.swap(i, m)
		i = m
	}
	return i > start
}
