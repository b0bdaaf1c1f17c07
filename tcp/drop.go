package tcp

import (
	"net/netip"
	"sync/atomic"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// Every segment the engine discards, or whose text it discards, is counted
// by reason in Stats and, when the Env traces, reported as a
// trace.KindDrop event whose Cause is the counter's name
// ("DropOutOfWindow"), so a trace shows each counted drop where it
// happened. The helpers here are the one way to do both: with no trace
// they are an atomic add and a nil check, allocating nothing.

// drop counts a segment of c's (or its text) discarded for reason, the
// name of ctr.
func (c *Conn) drop(ctr *atomic.Uint64, reason string) {
	ctr.Add(1)
	if c.env.Trace != nil {
		c.traceDrop(reason)
	}
}

// traceDrop reports the drop, with the header of the segment being
// handled when there is one (Env.handling).
func (c *Conn) traceDrop(reason string) {
	e := trace.Event{Kind: trace.KindDrop, Host: c.env.Host, Local: c.Local, Remote: c.Remote,
		State: c.state.String(), Cause: reason}
	if h := &c.env.handling; h.ok {
		e.Flags, e.Seq, e.Ack, e.Window, e.Len, e.Options = h.flags, h.seq, h.ack, h.window, h.n, h.opts
	}
	c.env.Trace.Event(&e)
}

// handledHeader is Env.handling: what a drop's trace shows of the segment
// being handled.
type handledHeader struct {
	ok       bool
	flags    wire.TCPFlags
	seq, ack seqnum.Value
	window   uint16
	n        int
	opts     wire.TCPOptions
}

// set copies seg's header (tracing only).
func (h *handledHeader) set(seg *Segment) {
	*h = handledHeader{ok: true, flags: seg.Flags, seq: seg.Seq, ack: seg.Ack, window: seg.Window, n: len(seg.Payload), opts: seg.Options}
}

// dropFor counts seg, from remote to local, discarded for reason (the
// name of ctr) outside any connection: by a listener or a TIME-WAIT
// record, whose state is given.
func (env *Env) dropFor(ctr *atomic.Uint64, reason string, local, remote netip.AddrPort, seg *Segment, state State) {
	ctr.Add(1)
	if env.Trace != nil {
		TraceDrop(env.Trace, env.Host, reason, local, remote, seg, state.String())
	}
}

// TraceDrop reports to sink that seg, from remote to local, was dropped
// for reason in state: the stack's drops (a bad checksum, no room for a
// connection) use it too, so every drop reads alike.
func TraceDrop(sink trace.Sink, host, reason string, local, remote netip.AddrPort, seg *Segment, state string) {
	e := trace.Event{Kind: trace.KindDrop, Host: host, Local: local, Remote: remote, State: state, Cause: reason}
	if seg != nil {
		e.Flags, e.Seq, e.Ack, e.Window, e.Len, e.Options = seg.Flags, seg.Seq, seg.Ack, seg.Window, len(seg.Payload), seg.Options
	}
	sink.Event(&e)
}
