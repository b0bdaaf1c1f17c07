package tcp

import (
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// Env is what a stack gives each of its connections: the settings, the way
// out, where to report and the counters. A stack whose connections run on
// several goroutines at once gives each group that runs one at a time (a
// shard of the stack, under its own lock) an Env of its own made with
// Share: the counters, the memory count and the stack-wide bounds are then
// shared, and the scratch space is not. The engine itself takes no lock:
// what is shared is counted with atomics.
type Env struct {
	// Config is the stack's TCP settings, defaults applied.
	Config Config
	// Out carries the segments the engine sends.
	Out Sender
	// Trace receives segment and state events; nil for none. Shared Envs
	// call it from several goroutines at once.
	Trace trace.Sink
	// Host names this side in traces ("client", "server").
	Host string
	// Stats are the counters the engine updates; nil is made at the first
	// NewConn or NewListener. Shared by the Envs made with Share.
	Stats *Stats
	// Recycle, when the host lends the buffers segments arrive in
	// (Segment.Lent), takes back buffers the engine kept, several at a
	// time; nil if it never lends. It must not keep bufs.
	Recycle func(bufs [][]byte)
	// ChallengeRand draws the stack's challenge-ACK budget each second
	// (ratelimit.go); nil means ChaCha8 seeded from crypto/rand, made at
	// first use by each Env. Tests set a source of their own for exact
	// bounds; one set here is shared by Share, so it must then be safe for
	// concurrent use.
	ChallengeRand rand.Source
	// Memory counts the bytes in the connections' buffers (memory.go);
	// nil is made at the first NewConn or NewListener. Shared by the Envs
	// made with Share.
	Memory *Memory
	// LimitHit, if not nil, is told each time a connection hits a limit
	// (memory.go), with the time of the call; the stack logs them. It runs
	// under the lock of the caller's connection, possibly on several
	// goroutines at once, and must not call into the engine.
	LimitHit func(now time.Time, l Limit)
	// PathMTU, if not nil, is the path MTU the host knows to remote (its
	// path MTU discovery cache; RFC 1191), 0 when it knows none: a
	// connection's send MSS is fitted to it when the peer's SYN arrives.
	// It runs under the caller's connection's lock and must not call
	// into the engine.
	PathMTU func(remote netip.Addr) int

	// ShareMin, when not 0, says the Sender lends the text of segments of
	// at least that many bytes to the far end where it lies (ShareText),
	// which it can only do for text in one piece: a segment of at least
	// ShareMin bytes whose text would cross from one send-buffer chunk
	// into the next then ends with the chunk, so that the next segment,
	// from the crossing on, can be lent (and this one, if still large
	// enough).
	ShareMin int

	// shared is what every Env of a stack counts together.
	shared *envShared

	// hdr is where a connection builds the header it hands to Out: one per
	// Env, as connections sharing an Env run one at a time, and Send must
	// not keep it.
	hdr wire.TCPFields
	// handling is the header of the segment a connection of this Env is
	// processing, copied only while tracing, so that a drop deep in the
	// input path is traced with it (drop.go). A copy, not a pointer: a
	// pointer kept here would make every caller's Segment escape to the
	// heap, an allocation per segment even with tracing off.
	handling handledHeader
}

// envShared is the state the Envs of one stack share, kept with atomics.
type envShared struct {
	// halfOpen counts the connections in SYN-RECEIVED of every listener
	// (Config.MaxHalfOpen; synqueue.go).
	halfOpen atomic.Int64
	// challenge is the challenge-ACK budget of the current second
	// (ratelimit.go): the second, a drawn bit and the ACKs left, packed so
	// that one compare-and-swap takes an ACK or draws a new budget.
	challenge atomic.Uint64
}

// init makes the shared parts a zero Env lacks. Once they are made it
// only reads, so Envs in use on several goroutines may call it.
func (e *Env) init() {
	if e.Stats == nil {
		e.Stats = new(Stats)
	}
	if e.Memory == nil {
		e.Memory = new(Memory)
	}
	if e.shared == nil {
		e.shared = new(envShared)
	}
}

// Share returns an Env for another part of the same stack, sending through
// out: the settings, trace, hooks, counters, memory count, half-open count
// and challenge-ACK budget are e's, and the scratch space its own. The
// connections of the new Env may run at the same time as e's.
func (e *Env) Share(out Sender) *Env {
	e.init()
	n := *e
	n.Out = out
	n.hdr = wire.TCPFields{}
	n.handling = handledHeader{}
	return &n
}
