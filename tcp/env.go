package tcp

import (
	"math/rand/v2"
	"time"

	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// Env is what a stack gives each of its connections: the settings, the way
// out, where to report and the counters. Connections share one Env.
type Env struct {
	// Config is the stack's TCP settings, defaults applied.
	Config Config
	// Out carries the segments the engine sends.
	Out Sender
	// Trace receives segment and state events; nil for none.
	Trace trace.Sink
	// Host names this side in traces ("client", "server").
	Host string
	// Stats are the counters the engine updates.
	Stats Stats
	// Recycle, when the host lends the buffers segments arrive in
	// (Segment.Lent), takes back one the engine kept; nil if it never
	// lends.
	Recycle func(buf []byte)
	// ChallengeRand draws the stack's challenge-ACK budget each second
	// (ratelimit.go); nil means ChaCha8 seeded from crypto/rand, made at
	// first use. Tests set a source of their own for exact bounds.
	ChallengeRand rand.Source
	// Memory counts the bytes in the connections' buffers (memory.go).
	Memory Memory
	// LimitHit, if not nil, is told each time a connection hits a limit
	// (memory.go), with the time of the call; the stack logs them. It runs
	// under the stack's lock and must not call into the engine.
	LimitHit func(now time.Time, l Limit)

	// halfOpen counts the connections in SYN-RECEIVED of every listener
	// (Config.MaxHalfOpen; synqueue.go).
	halfOpen int

	// hdr is where a connection builds the header it hands to Out: one per
	// Env, as connections sharing an Env run one at a time (the stack's
	// lock), and Send must not keep it.
	hdr wire.TCPFields

	// The challenge ACKs left in the budget of the second challengeSecond
	// (Unix time), once challengeDrawn (ratelimit.go).
	challengeSecond int64
	challengeLeft   int
	challengeDrawn  bool
}
