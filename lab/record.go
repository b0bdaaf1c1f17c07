package lab

import (
	"net/netip"
	"time"

	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// Recording is a scenario's run as data rather than text: what the web
// view (cmd/synack/web) steps through segment by segment. It holds what
// Run prints, the diagrams as their events.
type Recording struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
	Seed    uint64 `json:"seed"`
	// Faults describes link/fault at the client's end, "" when none.
	Faults string `json:"faults,omitempty"`
	// Conns are the connections Run draws, in order.
	Conns []RecordedConn `json:"conns"`
	// Outcome is what the applications saw, one line each.
	Outcome []string `json:"outcome"`
	// Elapsed is the protocol time the run took.
	Elapsed time.Duration `json:"elapsed"`
	Story   string        `json:"story"` // what happened and why
	RFC     string        `json:"rfc"`   // the sections it follows
}

// RecordedConn is one connection of a Recording.
type RecordedConn struct {
	Caption string `json:"caption,omitempty"`
	// Left and Right are the two ends as Run draws them: the client on
	// the left.
	Left  netip.AddrPort `json:"left"`
	Right netip.AddrPort `json:"right"`
	// Events are both sides' events of the connection in the order they
	// happened, each side's sequence numbers relative to its own initial
	// one as Wireshark shows them (ConnTrace.Relative).
	Events []trace.Event `json:"events"`
}

// Record runs the scenario called name with opts and returns what it
// shows; an unknown name is an *UnknownError.
func Record(name string, opts Options) (*Recording, error) {
	s, err := find(name)
	if err != nil {
		return nil, err
	}
	opts = s.conditions(opts)
	rep, events, elapsed, err := s.play(opts)
	if err != nil {
		return nil, err
	}
	r := &Recording{Name: s.Name, Summary: s.Summary, Seed: opts.Seed, Outcome: rep.outcome,
		Elapsed: elapsed, Story: rep.story, RFC: rep.rfc}
	if opts.faulty() {
		r.Faults = "client->server " + opts.Faults.Out.String() + "; server->client " + opts.Faults.In.String()
	}
	for _, d := range rep.conns {
		r.Conns = append(r.Conns, RecordedConn{Caption: d.caption, Left: d.left, Right: d.right,
			Events: relative(trace.Filter(events, d.left, d.right), d.left, d.right)})
	}
	return r, nil
}

// relative makes each side's numbers in events (those of the connection
// between a and b) relative to that side's initial ones, in place.
func relative(events []trace.Event, a, b netip.AddrPort) []trace.Event {
	for _, side := range [2][2]netip.AddrPort{{a, b}, {b, a}} {
		var idx []int
		ct := trace.ConnTrace{Local: side[0], Remote: side[1]}
		for i := range events {
			e := &events[i]
			if e.Local != side[0] || e.Remote != side[1] {
				continue
			}
			idx = append(idx, i)
			ct.Events = append(ct.Events, *e)
			if !e.Flags.Has(wire.FlagSYN) {
				continue
			}
			switch {
			case e.Kind == trace.KindSegmentSent && !ct.HaveISS:
				ct.ISS, ct.HaveISS = e.Seq, true
			case e.Kind == trace.KindSegmentReceived && !ct.HaveIRS:
				ct.IRS, ct.HaveIRS = e.Seq, true
			}
		}
		for j, e := range ct.Relative() {
			events[idx[j]] = e
		}
	}
	return events
}
