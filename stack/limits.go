package stack

import (
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/synack-net/synack/tcp"
)

// This file holds the stack-wide limits on what peers and applications
// can make a stack hold: connections (Config.MaxConnections), TIME-WAIT
// records (Config.MaxTimeWait, timewait.go) and the
// buffer memory of tcp.Config (MaxStackReceiveMemory,
// MaxStackSendMemory, enforced by the engine through tcp.Env.Memory).
// Each hit is counted (Stats.ConnLimitDrops, Stats.TCPTimeWaitOverflow, the tcp.Stats of each
// limit) and, when Config.Logger is set, logged at most once per minute
// of the stack's clock for each kind of limit.

// DefaultMaxConnections is the default of Config.MaxConnections: Linux's
// fs.nr_open, the most file descriptors, and so sockets, one process may
// hold. An idle connection costs about 1.2 KiB (its tcp.Conn, socket and
// table entry), so a stack at the limit holds about 1.2 GiB of them.
const DefaultMaxConnections = 1 << 20

// ErrConnectionLimit is the error of a dial when the stack holds
// Config.MaxConnections connections; it matches syscall.ENFILE ("too many
// open files in system").
var ErrConnectionLimit = fmt.Errorf("stack holds its maximum of connections: %w", syscall.ENFILE)

// limitLogInterval is how often each kind of limit hit is logged at most.
const limitLogInterval = time.Minute

// limitConnections and limitTimeWait are the kinds of the connection
// limit and the TIME-WAIT cap, after the engine's tcp.Limit kinds.
const (
	limitConnections = int(tcp.NumLimits) + iota
	limitTimeWait
	numLimits
)

// limitLog rate-limits the logging of limit hits. Shards hit limits at
// the same time: it has its own lock, taken last.
type limitLog struct {
	mu     sync.Mutex
	log    *slog.Logger
	last   [numLimits]time.Time // when each kind was last logged
	missed [numLimits]uint64    // hits of each kind since, not logged
}

// hit records a hit of the limit of kind k, called name, at now, and logs
// it unless that kind was logged less than a minute ago.
func (l *limitLog) hit(now time.Time, k int, name string) {
	if l.log == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last[k].IsZero() && now.Sub(l.last[k]) < limitLogInterval {
		l.missed[k]++
		return
	}
	l.log.Warn("synack: limit reached", "limit", name, "since last logged", l.missed[k])
	l.last[k], l.missed[k] = now, 0
}

// tcpLimitHit is the stack's tcp.Env.LimitHit (a shard's mu held: the
// engine runs under it).
func (s *Stack) tcpLimitHit(now time.Time, l tcp.Limit) {
	s.limits.hit(now, int(l), l.String())
}

// admitConnLocked reports whether the stack may open one more connection,
// and if so counts it (the caller's shard mu held, and the connection made
// under it); when not, the refusal is counted and logged. The count is the
// stack's, kept with a compare-and-swap, so shards at the limit at the
// same moment cannot together pass it.
func (s *Stack) admitConnLocked(now time.Time) bool {
	for {
		n := s.nconns.Load()
		if n >= int64(s.maxConns) {
			break
		}
		if s.nconns.CompareAndSwap(n, n+1) {
			return true
		}
	}
	s.stats.ConnLimitDrops.Add(1)
	s.limits.hit(now, limitConnections, "connections")
	return false
}
