package stack

import (
	"sync"
	"time"
)

// ICMP error rate limit (RFC 1812 §4.3.2.8, RFC 1122 §4.3.2.8): Linux's
// defaults, net.ipv4.icmp_msgs_per_sec and icmp_msgs_burst.
const (
	icmpErrorsPerSec = 1000
	icmpErrorBurst   = 50
)

// tokenBucket allows a burst of icmpErrorBurst messages and then
// icmpErrorsPerSec, refilled from the stack's clock, so a flood of
// datagrams to closed ports cannot make the stack flood in return.
type tokenBucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// allow takes a token at now and reports whether there was one.
func (b *tokenBucket) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = icmpErrorBurst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(icmpErrorBurst, b.tokens+d.Seconds()*icmpErrorsPerSec)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
