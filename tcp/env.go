package tcp

import "github.com/synack-net/synack/trace"

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
}
