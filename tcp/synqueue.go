package tcp

// The SYN queue's bounds, and the pruning of its old entries under
// pressure, so that neither a fast nor a slow flood of SYNs can hold it.
//
// A listener's SYN queue is full when it holds more half-open connections
// than the backlog (Linux bounds its request queue by the listen backlog:
// inet_csk_reqsk_queue_is_full, len > sk_max_ack_backlog since 6.x), or
// Config.MaxSYNBacklog of them, or when the stack's listeners together hold
// Config.MaxHalfOpen. A SYN that finds it full gets a cookie, or is dropped
// with SYNCookiesOff.

// synQueueFull reports whether a SYN may not add a half-open connection.
func (l *Listener) synQueueFull() bool {
	return l.halfOpen > l.backlog || l.halfOpen >= l.env.Config.MaxSYNBacklog ||
		l.env.shared.halfOpen.Load() >= int64(l.env.Config.MaxHalfOpen)
}

// addHalfOpen counts a new half-open connection: young, as its SYN,ACK has
// not timed out.
func (l *Listener) addHalfOpen() {
	l.halfOpen++
	l.young++
	l.env.shared.halfOpen.Add(1)
}

// removeHalfOpen counts one out of the SYN queue.
func (l *Listener) removeHalfOpen(young bool) {
	l.halfOpen--
	l.env.shared.halfOpen.Add(-1)
	if young {
		l.young--
	}
}

// matured is called as c's SYN,ACK is acknowledged, before its retry count
// is reset: a young entry stops being one (established follows).
func (l *Listener) matured(c *Conn) {
	if c.retries == 0 {
		l.young--
	}
}

// synackRetries is the SYN,ACK retry limit of c, a half-open connection
// whose SYN,ACK just timed out for the c.retries-th time. It is
// Config.SYNACKRetries, shortened while the SYN queue is under pressure,
// as Linux's reqsk_timer_handler does: when the queue is more than half
// full (more than max(8, its bound)/2 entries), the limit falls by one
// for each doubling by which the entries outnumber twice the young ones
// (those whose SYN,ACK has not timed out yet), down to 2. So when most
// entries are old, as in a flood of SYNs that are never acknowledged, they
// are dropped after 2 retries (about 7 s with a 1 s initial RTO) instead of
// 5 (63 s), and half of the queue stays free for young entries. Entries
// dropped before Config.SYNACKRetries are counted in SYNQueuePruned.
func (l *Listener) synackRetries(c *Conn) int {
	limit := l.env.Config.SYNACKRetries
	bound := min(l.backlog, l.env.Config.MaxSYNBacklog)
	if 2*l.halfOpen > max(8, bound) {
		young := 2 * l.young
		for limit > 2 && l.halfOpen >= young {
			limit--
			young *= 2
		}
	}
	if c.retries == 1 {
		l.young-- // its first timeout: no longer young
	}
	if c.retries > limit && c.retries <= l.env.Config.SYNACKRetries {
		l.env.Stats.SYNQueuePruned.Add(1)
	}
	return limit
}
