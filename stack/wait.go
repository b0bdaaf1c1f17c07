package stack

import (
	"sync"
	"time"
)

// waiter wakes the goroutines blocked on a socket. It is a broadcast:
// signal wakes every goroutine waiting at the time, and each re-checks its
// condition under the lock signal is called under (the socket shard's or
// the listener's mu). (One channel that a signal fills would
// wake only one of several readers, writers or Accept calls, leaving the
// others blocked after a Close or with data still readable.)
//
// Each blocked goroutine (add, then block) waits on a channel of its own,
// buffered for the one token a signal sends, taken from a pool and returned
// after the wait: a Read or Write that blocks allocates nothing in steady
// state (a channel made per wait and closed by the signal cost an
// allocation per round trip). The list is made when someone first waits, so
// a socket nobody blocks on costs one pointer.
//
// A waiter may also carry a readiness hook (setNotify, ready.go), called by
// every signal: how a descriptor layer (package bsd) learns, without a
// goroutine per socket, that a socket's readiness may have changed.
type waiter struct{ list *waitList }

type waitList struct {
	chans  []chan struct{}
	notify func() // called by signal under the same lock; nil for none
}

var wakePool = sync.Pool{New: func() any { return make(chan struct{}, 1) }}

// signal wakes every waiter, if any (mu held).
func (w *waiter) signal() {
	if w.list == nil {
		return
	}
	l := w.list.chans
	for i, ch := range l {
		ch <- struct{}{} // never blocks: each channel is listed once, and the list is emptied here
		l[i] = nil
	}
	w.list.chans = l[:0]
	if f := w.list.notify; f != nil {
		f()
	}
}

// add lists a goroutine about to block and returns the channel it waits on
// with block (mu held).
func (w *waiter) add() chan struct{} {
	if w.list == nil {
		w.list = new(waitList)
	}
	ch := wakePool.Get().(chan struct{})
	w.list.chans = append(w.list.chans, ch)
	return ch
}

// block waits on ch, from add, until the next signal, until dl is closed,
// or until done is closed; it reports whether done was. Either may be nil.
// mu, the lock signal is called under, must not be held.
func (w *waiter) block(mu *sync.Mutex, ch chan struct{}, dl, done <-chan struct{}) (stopped bool) {
	select {
	case <-ch:
		// signal took ch off the list: nothing else refers to it.
		wakePool.Put(ch)
		return false
	case <-dl:
	case <-done:
		stopped = true
	}
	// Woken by something else: ch may still be listed, and a signal may have
	// come in between. Take it off under mu, then empty it.
	mu.Lock()
	l := w.list.chans
	for i, c := range l {
		if c == ch {
			last := len(l) - 1
			l[i] = l[last]
			l[last] = nil
			w.list.chans = l[:last]
			break
		}
	}
	mu.Unlock()
	select {
	case <-ch:
	default:
	}
	wakePool.Put(ch)
	return stopped
}

// setNotify sets the readiness hook signal calls (nil: none), under the
// lock signal is called under.
func (w *waiter) setNotify(f func()) {
	if w.list == nil {
		if f == nil {
			return
		}
		w.list = new(waitList)
	}
	w.list.notify = f
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
