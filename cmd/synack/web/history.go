package web

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/synack-net/synack/stack"
)

// sample is one point of a connection's plots.
type sample struct {
	T        time.Time `json:"t"`        // the stack's clock
	CWND     int       `json:"cwnd"`     // bytes
	InFlight int       `json:"inflight"` // bytes sent and not acknowledged
	SRTT     int64     `json:"srtt_us"`  // microseconds; 0 before the first sample
}

// series is one connection's samples, a ring of at most size.
type series struct {
	s    []sample
	next int       // where the next sample goes once s is full
	at   time.Time // the stack's clock at the last sample: one per history.every
	last uint64    // history.ticks at the last sample: the least goes first
}

// history keeps, for at most conns connections, their last size samples.
// It is fed by the event streams, so it grows only while a page watches.
// It goes by the stack's clock (the snapshots' Time), not the wall's: on
// a virtual clock that stands still, the tables of every stream are one
// instant, one sample (the newest table's values); each step of the clock
// of at least every is one more.
type history struct {
	size, conns int
	every       time.Duration // at most one sample per connection per every of the stack's clock

	mu    sync.Mutex
	m     map[string]*series
	ticks uint64 // samples taken, to order the series by their last
}

func newHistory(size, conns int, every time.Duration) *history {
	return &history{size: size, conns: conns, every: every, m: make(map[string]*series)}
}

// sample adds a point for each connection of snap that has a congestion
// window (not listeners, not TIME-WAIT records).
func (h *history) sample(snap *stack.Snapshot) {
	now := snap.Time
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if s.TCP.CWND == 0 || !s.Remote.IsValid() {
			continue
		}
		id := ConnID(s.Local, s.Remote)
		g := h.m[id]
		if g == nil {
			if len(h.m) >= h.conns {
				h.evict()
			}
			g = &series{}
			h.m[id] = g
		}
		x := sample{T: now, CWND: s.TCP.CWND, InFlight: s.TCP.InFlight, SRTT: s.TCP.SRTT.Microseconds()}
		if len(g.s) > 0 {
			switch d := now.Sub(g.at); {
			case d == 0: // sampled at this instant (another table of it): the newer values
				g.s[(g.next+len(g.s)-1)%len(g.s)] = x
				continue
			case d < h.every: // just before (or the clock went back)
				continue
			}
		}
		h.ticks++
		g.at, g.last = now, h.ticks
		if len(g.s) < h.size {
			g.s = append(g.s, x)
			continue
		}
		g.s[g.next] = x
		g.next = (g.next + 1) % len(g.s)
	}
}

// evict forgets the connection sampled least recently. Under mu.
func (h *history) evict() {
	var oldest string
	var at uint64
	for id, g := range h.m {
		if oldest == "" || g.last < at {
			oldest, at = id, g.last
		}
	}
	delete(h.m, oldest)
}

// get returns id's samples, oldest first, and whether it has any.
func (h *history) get(id string) ([]sample, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.m[id]
	if g == nil {
		return nil, false
	}
	out := make([]sample, 0, len(g.s))
	for i := range g.s {
		out = append(out, g.s[(g.next+i)%len(g.s)])
	}
	return out, true
}

// history serves /tcp/history?conn=L-R: the connection's samples.
func (v *View) history(w http.ResponseWriter, r *http.Request) {
	if !CheckQuery(w, r, "conn") {
		return
	}
	local, remote, err := ParseConn(r.URL.Query().Get("conn"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := ConnID(local, remote)
	s, ok := v.hist.get(id)
	if !ok {
		http.Error(w, fmt.Sprintf("no history of %s: no such connection, or no page has watched it (the history is sampled while an event stream is open)", id), http.StatusNotFound)
		return
	}
	writeJSON(w, struct {
		Conn    string   `json:"conn"`
		Samples []sample `json:"samples"`
	}{id, s})
}
