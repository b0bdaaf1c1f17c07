package stack

import (
	"encoding/binary"
	"math/bits"
	"runtime"
	"sync"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/tcp"
)

// shard is a part of the stack's connection table: the connections whose
// 4-tuple hashes to it, with their TIME-WAIT records, their timers and
// the packets they produce, under one lock. Connections in different shards run in parallel. A
// shard sees the stack's settings and shared parts through the embedded
// Stack.
type shard struct {
	*Stack

	mu      sync.Mutex // guards everything below and every tcp.Conn of the shard
	tcp     tcp.Env    // the shard's Env: its own scratch space and way out (tcp.Env.Share)
	conns   map[connKey]*TCPConn
	tws     map[connKey]*twEntry // TIME-WAIT records (timewait.go)
	twHeap  twHeap               // the records by deadline
	timers  timerHeap
	timer   clock.Timer // the shard's one clock timer, armed for armedAt
	armedAt time.Time
	outq    *batch // packets produced under mu, written after it is released
	spare   *batch // the batch last written, emptied, for outq to reuse
	closed  bool
	flusher // who writes outq to the link, and when (flush.go)
}

// maxShards bounds Config.Shards: each shard costs its table, heaps,
// batches and a clock timer (about 1.2 KB with no connection in it).
const maxShards = 1 << 12

// minDefaultShards is the fewest shards a stack has by default. Shards
// are not only for running goroutines on different cores: an
// application's Write and Read copy into and out of the connection's
// buffers with the shard's mu held, and the link's goroutine waits for
// that mu to deliver to any connection of the shard. So two busy
// connections that share a shard take turns even on one core, and with
// shards only twice the cores, sixteen connections always share. Linux
// locks each socket on its own. Sixty-four shards keep a few tens of busy
// connections mostly apart for about 75 KB a stack (and, on a link that
// does not take buffers over, the packet buffers their batches keep, which
// batchKeep holds to 8 MiB in all up to 128 shards, and to 64 KiB a shard
// beyond, as on a machine with GOMAXPROCS above 64): measured with sixteen
// bulk connections between two stacks on two cores (BENCHMARKS.md's
// bulk-1500-x16), 4 shards moved 21.0-21.8 Gbit/s and 64 moved 22.8-23.2,
// with the mutex profile's wait on shard locks mostly gone (and with the
// link's delivery spread over two goroutines, 21.4-21.8 against
// 26.2-27.8); one connection, round trips and idle memory unchanged. The
// cost: connections opened and closed one after another each touch a
// shard whose memory has left the caches, about 10% more CPU a
// connection (crr: 14.8-15.1 µs with 4 shards, 16.4-16.7 with 64).
const minDefaultShards = 64

// makeShards cuts the connection table into n shards (rounded up to a
// power of two; 0: the default of Config.Shards).
func (s *Stack) makeShards(n int) {
	if n <= 0 {
		n = min(max(minDefaultShards, 2*runtime.GOMAXPROCS(0)), maxShards)
	}
	n = 1 << bits.Len(uint(n-1))
	s.shards = make([]*shard, n)
	for i := range s.shards {
		sh := &shard{Stack: s, conns: make(map[connKey]*TCPConn), tws: make(map[connKey]*twEntry)}
		sh.tcp = *s.tcp.Share((*sender)(sh))
		sh.outq = s.newBatch()
		sh.idle.L = &sh.mu
		sh.work.L = &sh.mu
		s.shards[i] = sh
	}
}

// shardOf is the shard of a 4-tuple. The hash has no secret: a peer that
// picks its ports to land in one shard only takes parallelism away, and a
// fixed hash keeps runs on the virtual clock the same from run to run.
func (s *Stack) shardOf(k connKey) *shard {
	if len(s.shards) == 1 {
		return s.shards[0]
	}
	return s.shards[tupleHash(k)&uint64(len(s.shards)-1)]
}

// tupleHash mixes a 4-tuple's 96 bits into 64. It has no secret (see
// shardOf); a listener group (reuseport.go) steers by it too.
func tupleHash(k connKey) uint64 {
	h := uint64(binary.LittleEndian.Uint32(k.raddr[:]))<<32 | uint64(k.rport)<<16 | uint64(k.lport)
	h ^= uint64(binary.LittleEndian.Uint32(k.laddr[:])) * 0x9e3779b97f4a7c15
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 29
	return h
}

// lockListener takes the lock of the listener c came from while c is not
// yet accepted, and returns it (nil when there is none): the engine's
// calls on such a connection move it between the listener's queues. The
// shard's mu must be held; c.listener only changes under it.
func (c *TCPConn) lockListener() *TCPListener {
	l := c.listener
	if l != nil {
		l.mu.Lock()
	}
	return l
}

// unlockListener undoes lockListener.
func unlockListener(l *TCPListener) {
	if l != nil {
		l.mu.Unlock()
	}
}
