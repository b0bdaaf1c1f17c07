package stack

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack/tcp"
)

// Path MTU discovery (RFC 1191). Every packet the stack sends carries DF;
// a router that cannot forward one answers "fragmentation needed" with the
// MTU of its next hop, and the stack keeps the smaller MTU per destination
// in pmtuCache: the connection whose segment was quoted lowers its MSS at
// once (tcp.Conn.SetPathMTU), later connections to that destination start
// with the cached value (tcp.Env.PathMTU), and UDP asks pathMTU.

const (
	// maxPMTUEntries bounds the cache. An entry is made only for an ICMP
	// whose quote matched a connection or socket of ours (sequence number
	// checked for TCP), so the destinations are ones this stack talks to;
	// past the bound the entry closest to expiry goes (PMTUCacheEvictions).
	maxPMTUEntries = 1024
	// pmtuExpiry is how long a learned MTU holds before the link's MTU is
	// tried again (RFC 1191 §6.3 suggests 10 minutes; Linux's
	// net.ipv4.route.mtu_expires is 600 s).
	pmtuExpiry = 10 * time.Minute
)

// pmtuPlateaus are RFC 1191 §7's table of common MTUs, for a router too old
// to say its next hop's MTU (RFC 1191 §5: the field is 0).
var pmtuPlateaus = [...]int{32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

// pmtuCache maps a destination to the path MTU learned for it. Its mu is
// a leaf lock: taken under a shard's mu (or none), never the other way.
type pmtuCache struct {
	mu sync.Mutex
	n  atomic.Int32 // entries, read without mu: an empty cache costs no lock
	m  map[netip.Addr]pmtuEntry
}

type pmtuEntry struct {
	mtu     int
	expires time.Time
}

// cachedPathMTU is the path MTU learned for dst and not yet expired, 0
// when none (tcp.Env.PathMTU).
func (s *Stack) cachedPathMTU(dst netip.Addr) int {
	c := &s.pmtu
	if c.n.Load() == 0 {
		return 0
	}
	now := s.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[dst]
	if !ok {
		return 0
	}
	if !now.Before(e.expires) {
		c.remove(dst)
		return 0
	}
	return e.mtu
}

// pathMTU is the largest IPv4 datagram the stack may send to dst without
// fragmentation: the link's MTU, or less where path MTU discovery learned
// less. UDP sizes its datagrams (and fragments) by it.
func (s *Stack) pathMTU(dst netip.Addr) int {
	mtu := s.ep.MTU()
	if m := s.cachedPathMTU(dst); m > 0 && m < mtu {
		return m
	}
	return mtu
}

// fragNeededMTU is the MTU a "fragmentation needed" reports: its next-hop
// MTU field (RFC 1191 §4), or where that is 0 the plateau below the quoted
// datagram's total length (§5). Values below Linux's min_pmtu (552) are
// raised to it (clamped true): a forged tiny MTU would make every segment
// tiny.
func fragNeededMTU(field uint16, quotedLen int) (mtu int, clamped bool) {
	mtu = int(field)
	if mtu == 0 {
		mtu = 68
		for _, p := range pmtuPlateaus {
			if p < quotedLen {
				mtu = p
				break
			}
		}
	}
	if mtu < tcp.MinPathMTU {
		return tcp.MinPathMTU, true
	}
	return mtu, false
}

// lowerPathMTU records mtu for dst if it is below what is known (the
// cached value, else the link's MTU), and reports whether it was
// (PMTUUpdates; else PMTUIgnored). The entry expires pmtuExpiry later.
func (s *Stack) lowerPathMTU(dst netip.Addr, mtu int) bool {
	if mtu >= s.pathMTU(dst) {
		s.stats.PMTUIgnored.Add(1)
		return false
	}
	now := s.clk.Now()
	c := &s.pmtu
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[netip.Addr]pmtuEntry)
	}
	if _, ok := c.m[dst]; !ok && len(c.m) >= maxPMTUEntries {
		c.evict(now)
		s.stats.PMTUCacheEvictions.Add(1)
	}
	c.m[dst] = pmtuEntry{mtu: mtu, expires: now.Add(pmtuExpiry)}
	c.n.Store(int32(len(c.m)))
	s.stats.PMTUUpdates.Add(1)
	return true
}

// evict makes room for one entry (mu held): every expired entry goes, or,
// if none has, the one closest to expiry. It walks the whole cache, which
// is small and changes only on a checked ICMP.
func (c *pmtuCache) evict(now time.Time) {
	var oldest netip.Addr
	var first time.Time
	expired := false
	for a, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, a)
			expired = true
		} else if first.IsZero() || e.expires.Before(first) {
			oldest, first = a, e.expires
		}
	}
	if !expired {
		delete(c.m, oldest)
	}
}

// remove drops dst's entry (mu held).
func (c *pmtuCache) remove(dst netip.Addr) {
	delete(c.m, dst)
	c.n.Store(int32(len(c.m)))
}

// PathMTU is the path MTU the stack uses towards dst (the link's MTU
// unless path MTU discovery learned less), for netstat-like tools.
func (s *Stack) PathMTU(dst netip.Addr) int { return s.pathMTU(dst) }
