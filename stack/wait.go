package stack

import (
	"sync"
	"time"
)

// waiter wakes the goroutines blocked on a socket. It is a broadcast:
// signal wakes every goroutine waiting at the time, and each re-checks its
// condition under the stack's mutex. (One buffered channel that a signal
// fills would wake only one of several readers, writers or Accept calls,
// leaving the others blocked after a Close or with data still readable.)
// The channel is made when someone first waits, so a socket nobody blocks
// on costs nothing.
type waiter struct{ ch chan struct{} }

// signal wakes every waiter, if any (mu held).
func (w *waiter) signal() {
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// c returns the channel to wait on, closed by the next signal (mu held).
func (w *waiter) c() <-chan struct{} {
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

// deadline is a settable point in real time after which blocked calls fail
// with os.ErrDeadlineExceeded, as net.Conn's SetReadDeadline says. Setting
// it wakes calls already blocked.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed once the deadline has passed
}

// set moves the deadline; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for the close it was doing
	}
	d.timer = nil
	closed := d.cancel != nil && isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = nil
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed || d.cancel == nil {
			d.cancel = make(chan struct{})
		}
		c := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(c) })
		return
	}
	if d.cancel == nil || !closed {
		if d.cancel == nil {
			d.cancel = make(chan struct{})
		}
		close(d.cancel)
	}
}

// wait returns a channel closed when the deadline passes (nil: never).
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

// expired reports whether the deadline has passed.
func (d *deadline) expired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel != nil && isClosed(d.cancel)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
