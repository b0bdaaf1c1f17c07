package tcp

import "time"

// Times kept per connection are nanoseconds from one epoch in an int64,
// not time.Time values: 8 bytes where a time.Time takes 24, in a struct
// every connection of a server holds, idle or not.

// monoSpan is how far before the process started monoEpoch lies: a
// century, so that every time a stack is given (the real clock, and the
// virtual clocks of tests and simulations, which start where their user
// says) counts as a positive number and zero can mean "never" or "not
// armed". An int64 of nanoseconds spans 292 years.
const monoSpan = 100 * 365 * 24 * time.Hour

// monoEpoch is where monoNanos counts from. It keeps time.Now's monotonic
// reading (Add keeps it), so the differences of the real clock's times are
// measured on the monotonic clock and a step of the wall clock does not
// show in them.
var monoEpoch = time.Now().Add(-monoSpan)

// monoNanos is now as nanoseconds since monoEpoch.
func monoNanos(now time.Time) int64 { return int64(now.Sub(monoEpoch)) }

// mono is a point in time as monoNanos counts it; zero is none (a timer
// not armed, an event that has not happened).
type mono int64

// monoAt is t as a mono; the zero time.Time is none.
func monoAt(t time.Time) mono {
	if t.IsZero() {
		return 0
	}
	return mono(monoNanos(t))
}

// IsZero reports whether m is none.
func (m mono) IsZero() bool { return m == 0 }

// Time is m as a time.Time; none is the zero time.Time.
func (m mono) Time() time.Time {
	if m == 0 {
		return time.Time{}
	}
	return monoEpoch.Add(time.Duration(m))
}

// due reports whether m, a deadline that is set, has come at now.
func (m mono) due(now time.Time) bool { return m != 0 && int64(m) <= monoNanos(now) }

// after is the point d after now.
func after(now time.Time, d time.Duration) mono { return mono(monoNanos(now) + int64(d)) }

// since is how long before now m was.
func since(now time.Time, m mono) time.Duration { return time.Duration(monoNanos(now) - int64(m)) }
