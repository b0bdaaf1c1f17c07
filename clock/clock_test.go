package clock

import (
	"testing"
	"time"
)

// TestRealNowFollowsTime checks that the real clock's Now, read from the
// monotonic clock alone, agrees with time.Now taken around it.
func TestRealNowFollowsTime(t *testing.T) {
	c := Real()
	for range 1000 {
		before := time.Now()
		now := c.Now()
		after := time.Now()
		if now.Before(before) || now.After(after) {
			t.Fatalf("Real().Now() = %v, not between %v and %v", now, before, after)
		}
	}
}
