package trace

import (
	"net/netip"
	"sync"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// Defaults of Rings' bounds.
const (
	DefaultRingSize  = 256              // events kept per connection
	DefaultRingKeep  = 60 * time.Second // how long a closed connection's ring stays
	DefaultRingConns = 1024             // rings kept at most, open and closed
)

// Rings is a Sink that keeps, per connection (its Local and Remote
// addresses), a ring of that connection's last Size events, so that a
// long-lived stack can show any connection's recent history at a bounded
// cost. Its bounds, all written here:
//
//   - a ring holds at most Size events; older ones are overwritten (and
//     counted in ConnTrace.Overwritten);
//   - a ring whose connection closed (a state change to CLOSED) is kept for
//     Keep after the close, then forgotten;
//   - at most Conns rings exist. A new connection's ring takes the place of
//     the ring that closed first; with no closed ring to take, the new
//     connection is not traced (counted in Untraced).
//
// Events that belong to no connection the stack holds (a segment dropped
// for a bad checksum, the RST answering a segment for no socket) get a
// ring too, closed from its start, so a peer that sprays 4-tuples makes
// rings that are the first to go. An event keeps 128 bytes (its options
// included; the strings it holds are the engine's constants), so the
// worst case is Size*Conns*128 bytes: 32 MiB at the defaults, reached only
// with that many connections alive or closed within Keep. A ring grows to
// Size as its connection's events come, so a short connection costs less.
//
// Rings is safe for concurrent use. Time is the events' own (a stack
// stamps them with its clock) when they arrive, and Now's when a trace is
// looked up, so a virtual clock drives the keep time in tests.
type Rings struct {
	size, conns int
	keep        time.Duration
	now         func() time.Time

	mu       sync.Mutex
	m        map[ringKey]*ring
	closed   ring // sentinel of the list of closed rings, oldest close first
	untraced uint64
}

var _ Sink = (*Rings)(nil)

// ringKey names a connection as its side sees it.
type ringKey struct{ local, remote netip.AddrPort }

// rec is one event in a ring, without what the ring itself names (the
// addresses and the host).
type rec struct {
	t                  int64 // unix nanoseconds; 0 for a zero Time
	kind               Kind
	flags              wire.TCPFlags
	win                uint16
	n                  int32
	seq, ack           seqnum.Value
	state, from, cause string
	opts               wire.TCPOptions
}

// ring is the events of one connection.
type ring struct {
	key        ringKey
	host       string
	recs       []rec // grows to size, then wraps at next
	next       int
	overwrote  uint64
	iss, irs   seqnum.Value // the seq of the first SYN sent and received
	haveISS    bool
	haveIRS    bool
	closedAt   time.Time // zero while open
	prev, succ *ring     // in Rings.closed while closed
}

// NewRings returns Rings keeping size events per connection, closed
// connections for keep, and conns rings at most; a value of zero or less
// takes the default. now tells the time for lookups; nil means time.Now.
func NewRings(size int, keep time.Duration, conns int, now func() time.Time) *Rings {
	if size <= 0 {
		size = DefaultRingSize
	}
	if keep <= 0 {
		keep = DefaultRingKeep
	}
	if conns <= 0 {
		conns = DefaultRingConns
	}
	if now == nil {
		now = time.Now
	}
	r := &Rings{size: size, keep: keep, conns: conns, now: now, m: make(map[ringKey]*ring)}
	r.closed.prev, r.closed.succ = &r.closed, &r.closed
	return r
}

// Event adds e to the ring of its connection. It allocates only when a
// connection's ring is made or grows.
func (r *Rings) Event(e *Event) {
	k := ringKey{e.Local, e.Remote}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !e.Time.IsZero() {
		r.expire(e.Time)
	}
	g := r.m[k]
	if g == nil {
		if g = r.make(k, e); g == nil {
			return
		}
	}
	g.add(e, r.size)
	if e.Kind == KindStateChange {
		switch {
		case e.State == closedState && g.closedAt.IsZero():
			g.closedAt = e.Time
			if g.closedAt.IsZero() {
				g.closedAt = r.now()
			}
			r.pushClosed(g)
		case e.State != closedState && !g.closedAt.IsZero():
			g.closedAt = time.Time{} // the 4-tuple is in use again
			g.unlink()
		}
	}
}

// closedState is the RFC spelling of CLOSED, which ends a connection.
const closedState = "CLOSED"

// make makes the ring of k for its first event e, or returns nil when
// every ring is open and none may be added. Under mu.
func (r *Rings) make(k ringKey, e *Event) *ring {
	if len(r.m) >= r.conns {
		old := r.closed.succ
		if old == &r.closed {
			r.untraced++
			return nil
		}
		old.unlink()
		delete(r.m, old.key)
	}
	g := &ring{key: k, host: e.Host}
	r.m[k] = g
	if e.Kind != KindStateChange || e.State == closedState {
		g.closedAt = e.Time // a ring of no connection: the first to go
		if g.closedAt.IsZero() {
			g.closedAt = r.now()
		}
		r.pushClosed(g)
	}
	return g
}

// expire forgets the rings that closed Keep or more before now. Under mu.
func (r *Rings) expire(now time.Time) {
	for g := r.closed.succ; g != &r.closed && !now.Before(g.closedAt.Add(r.keep)); g = r.closed.succ {
		g.unlink()
		delete(r.m, g.key)
	}
}

// pushClosed appends g to the list of closed rings. Under mu.
func (r *Rings) pushClosed(g *ring) {
	g.prev, g.succ = r.closed.prev, &r.closed
	r.closed.prev.succ = g
	r.closed.prev = g
}

// unlink takes g out of the list of closed rings.
func (g *ring) unlink() {
	if g.prev != nil {
		g.prev.succ, g.succ.prev = g.succ, g.prev
		g.prev, g.succ = nil, nil
	}
}

// add keeps e, overwriting the oldest event once the ring holds size.
func (g *ring) add(e *Event, size int) {
	var t int64
	if !e.Time.IsZero() {
		t = e.Time.UnixNano()
	}
	x := rec{t: t, kind: e.Kind, flags: e.Flags, win: e.Window, n: int32(e.Len), seq: e.Seq, ack: e.Ack,
		state: e.State, from: e.From, cause: e.Cause, opts: e.Options}
	if e.Flags.Has(wire.FlagSYN) {
		switch {
		case e.Kind == KindSegmentSent && !g.haveISS:
			g.iss, g.haveISS = e.Seq, true
		case e.Kind == KindSegmentReceived && !g.haveIRS:
			g.irs, g.haveIRS = e.Seq, true
		}
	}
	if len(g.recs) < size {
		g.recs = append(g.recs, x)
		return
	}
	g.recs[g.next] = x
	g.next = (g.next + 1) % len(g.recs)
	g.overwrote++
}

// ConnTrace is what Rings holds of one connection.
type ConnTrace struct {
	Host   string         `json:"host,omitempty"`
	Local  netip.AddrPort `json:"local"` // the connection as its side sees it
	Remote netip.AddrPort `json:"remote"`
	// Closed is when the connection closed; zero while it is open.
	Closed time.Time `json:"closed,omitzero"`
	// ISS and IRS are the seq of the first SYN sent and received, kept
	// when the ring has overwritten them; HaveISS and HaveIRS say whether
	// there was one.
	ISS     seqnum.Value `json:"iss"`
	IRS     seqnum.Value `json:"irs"`
	HaveISS bool         `json:"have_iss"`
	HaveIRS bool         `json:"have_irs"`
	// Overwritten counts the events the ring dropped to keep the newest.
	Overwritten uint64  `json:"overwritten,omitzero"`
	Events      []Event `json:"events"`
}

// Trace returns a copy of the ring of the connection from local to
// remote, oldest event first, and whether there is one.
func (r *Rings) Trace(local, remote netip.AddrPort) (ConnTrace, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(r.now())
	g := r.m[ringKey{local, remote}]
	if g == nil {
		return ConnTrace{}, false
	}
	t := ConnTrace{Host: g.host, Local: local, Remote: remote, Closed: g.closedAt,
		ISS: g.iss, IRS: g.irs, HaveISS: g.haveISS, HaveIRS: g.haveIRS, Overwritten: g.overwrote,
		Events: make([]Event, 0, len(g.recs))}
	for i := range g.recs {
		x := &g.recs[(g.next+i)%len(g.recs)]
		e := Event{Kind: x.kind, Host: g.host, Local: local, Remote: remote, Flags: x.flags, Seq: x.seq, Ack: x.ack,
			Window: x.win, Len: int(x.n), Options: x.opts, State: x.state, From: x.from, Cause: x.cause}
		if x.t != 0 {
			e.Time = time.Unix(0, x.t).UTC()
		}
		t.Events = append(t.Events, e)
	}
	return t, true
}

// Conns returns the connections Rings holds a ring for, in no order.
func (r *Rings) Conns() [][2]netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(r.now())
	out := make([][2]netip.AddrPort, 0, len(r.m))
	for k := range r.m {
		out = append(out, [2]netip.AddrPort{k.local, k.remote})
	}
	return out
}

// Untraced counts the connections not traced because every ring was in use.
func (r *Rings) Untraced() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.untraced
}

// Relative returns a copy of t's events with Seq and Ack relative to the
// initial sequence numbers, as Wireshark shows them: the SYN sent has
// seq=0 and the first byte of data 1. A number with no base to be relative
// to (no SYN seen that way) is left as it is.
func (t *ConnTrace) Relative() []Event {
	out := append([]Event(nil), t.Events...)
	for i := range out {
		e := &out[i]
		if !e.Kind.IsSegment() {
			continue
		}
		ours := e.Kind == KindSegmentSent
		seqBase, haveSeq, ackBase, haveAck := t.IRS, t.HaveIRS, t.ISS, t.HaveISS
		if ours {
			seqBase, haveSeq, ackBase, haveAck = t.ISS, t.HaveISS, t.IRS, t.HaveIRS
		}
		if haveSeq {
			e.Seq = seqnum.Value(seqBase.Size(e.Seq))
		}
		if haveAck && e.Flags.Has(wire.FlagACK) {
			e.Ack = seqnum.Value(ackBase.Size(e.Ack))
		}
	}
	return out
}
