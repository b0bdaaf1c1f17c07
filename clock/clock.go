// Package clock is the source of time for the stack: the current instant and
// one-shot timers. It sits beside every layer and knows nothing of packets,
// connections or protocols.
//
// Two clocks implement the Clock interface. Real wraps the time package and
// is what a stack talking to the outside world uses. Virtual only moves when
// told to (Advance, AdvanceTo), so tests and simulators run hours of protocol
// time (keepalive, 2MSL, backed-off retransmissions) in milliseconds and see
// the same sequence of timer firings on every run.
package clock

import "time"

// Clock tells the time and arms one-shot timers.
type Clock interface {
	// Now returns the current instant.
	Now() time.Time

	// AfterFunc arranges for f to be called once d has passed. Real clock:
	// f runs in its own goroutine (time.AfterFunc). Virtual clock: f runs in
	// the goroutine that advances the clock, with Now() equal to the
	// timer's deadline.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer armed by Clock.AfterFunc. Its methods have the meaning of
// *time.Timer's.
type Timer interface {
	// Stop prevents the timer from firing. It reports whether the call
	// stopped the timer: false if it had already fired or been stopped.
	Stop() bool

	// Reset re-arms the timer to fire d after the clock's current time. It
	// reports whether the timer was armed before the call.
	Reset(d time.Duration) bool
}

// Real returns the system's clock: AfterFunc is time.AfterFunc, and Now
// is time.Now as it read when the program started plus the monotonic time
// elapsed since. Reading the monotonic clock alone costs half of what
// time.Now does (which reads the wall clock as well), and a stack reads
// the time for every segment it receives. The wall-clock part therefore
// does not follow steps of the system clock made after the start, which a
// protocol's timers must not follow either; compare its times with each
// other, not with a fresh time.Now's wall clock.
func Real() Clock { return realClock{} }

type realClock struct{}

// started is when the program started, with a monotonic reading.
var started = time.Now()

func (realClock) Now() time.Time { return started.Add(time.Since(started)) }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
