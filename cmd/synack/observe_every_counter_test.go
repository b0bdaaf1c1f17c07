package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/udp"
)

// Issue 17: every counter of the stack, tcp and udp stats is provoked by
// real traffic or calls and seen to move in the admin JSON and in
// /metrics as Prometheus's text parser reads it, or is on
// counterExceptions with the reason it cannot be provoked from here. The
// counters are enumerated by reflection (stack.ReadCounters), so a
// counter added later fails TestEveryCounterMoves until a scenario
// provokes it. The same run checks that every counted drop site of tcp/
// and stack/ (found in the source, dropsites_test.go) emitted a
// trace.KindDrop naming its counter on the connection it belongs to.

// counterExceptions are the counters no scenario here can provoke, keyed
// "Section.Name", each with its reason (a corrupt internal state, say).
// None today: every counter is provoked. A counter put here must not
// move, or the test fails until it is taken off.
var counterExceptions = map[string]string{}

// coverage gathers, over every scenario, which counters moved (read
// through the admin handler) and which drop causes were traced.
type coverage struct {
	t     *testing.T
	mu    sync.Mutex
	moved map[string]string      // "Section.Name" -> the scenario that moved it
	drops map[string]trace.Event // "cause state flags" of a KindDrop -> one event of it
	log   *slog.Logger
}

func newCoverage(t *testing.T) *coverage {
	return &coverage{t: t, moved: map[string]string{}, drops: map[string]trace.Event{},
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// allCounters is every counter of the stack, tcp and udp stats, keyed
// "Section.Name", with the struct field each is read from.
func allCounters() map[string]string {
	all := map[string]string{}
	for _, s := range stack.ReadCounters(&stack.Stats{}, &tcp.Stats{}, &udp.Stats{}) {
		for _, c := range s.Counters {
			all[s.Name+"."+c.Name] = c.Field
		}
	}
	return all
}

// adminGet serves path from h, failing the test unless it answers 200.
func adminGet(t *testing.T, h http.Handler, path string) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

// take reads st's counters through an admin handler of its own, /snapshot
// as JSON and /metrics through the Prometheus text parser, and returns
// the counters above zero in both, moved by scenario what (the stacks
// start at zero), recording them in cv.moved. ev, when not nil, is st's
// trace: its drops are recorded.
func (cv *coverage) take(what string, st *synack.Stack, ev *eventLog) map[string]bool {
	t := cv.t
	t.Helper()
	h := newAdmin(stackSnapshot{st: st.Internals()}, cv.log).srv.Handler
	var snap stack.Snapshot
	if err := json.Unmarshal(adminGet(t, h, "/snapshot"), &snap); err != nil {
		t.Fatalf("/snapshot: %v", err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(adminGet(t, h, "/metrics")))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	cv.mu.Lock()
	defer cv.mu.Unlock()
	moved := map[string]bool{}
	for _, s := range snap.Counters {
		for _, c := range s.Counters {
			key := s.Name + "." + c.Name
			pv, ok := promValue(mfs, "synack_"+s.Name+"_"+c.Name)
			if !ok {
				t.Errorf("%s: %s in /snapshot is not in /metrics", what, key)
			}
			if c.Value > 0 && pv > 0 {
				moved[key] = true
				if cv.moved[key] == "" {
					cv.moved[key] = what
				}
			}
			if (c.Value > 0) != (pv > 0) {
				t.Errorf("%s: %s is %d in /snapshot, %v in /metrics", what, key, c.Value, pv)
			}
		}
	}
	if ev == nil {
		return moved
	}
	ev.mu.Lock()
	for _, m := range ev.misfiled {
		t.Errorf("%s: a drop not in its connection's ring: %s", what, m)
	}
	ev.mu.Unlock()
	for _, e := range ev.all() {
		if e.Kind == trace.KindDrop {
			if k := e.Cause + " " + e.State + " " + e.Flags.String(); !hasKey(cv.drops, k) {
				cv.drops[k] = e
			}
		}
	}
	return moved
}

// check fails the test for each counter no scenario declared and was
// seen to move (declared, by "Section.Name"), unless excepted; for each
// exception that names no counter; and for each exception that moved.
func (cv *coverage) check(declared map[string]bool) {
	t := cv.t
	all := allCounters()
	var missing []string
	for key := range all {
		_, excepted := counterExceptions[key]
		switch what, moved := cv.moved[key]; {
		case moved && excepted:
			t.Errorf("%s moved (in %q) but is on counterExceptions: take it off", key, what)
		case !declared[key] && !excepted:
			missing = append(missing, key+" ("+all[key]+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("no scenario moves %s (among its moves), and it is not on counterExceptions", m)
	}
	for key := range counterExceptions {
		if _, ok := all[key]; !ok {
			t.Errorf("counterExceptions names %s, which is no counter", key)
		}
	}
	n := 0
	for key := range declared {
		if _, ok := all[key]; ok {
			n++
		} else if !strings.HasPrefix(key, "Link.") {
			t.Errorf("a scenario lists %s, which is no counter", key)
		}
	}
	t.Logf("%d counters, %d listed by a scenario and seen to move, %d excepted", len(all), n, len(counterExceptions))
}

// eventLog is a trace.Sink that keeps every event, and hands each to
// per-connection rings as the admin endpoint's are: a drop must be found
// in the ring of the connection it names (misfiled lists those that were
// not).
type eventLog struct {
	mu       sync.Mutex
	evs      []trace.Event
	rings    *trace.Rings
	misfiled []string
}

// newEventLog keeps rings on the clock now, the stacks'.
func newEventLog(now func() time.Time) *eventLog {
	return &eventLog{rings: trace.NewRings(0, 0, 0, now)}
}

func (l *eventLog) Event(e *trace.Event) {
	l.rings.Event(e)
	ok := true
	if e.Kind == trace.KindDrop {
		ok = false
		if tr, found := l.rings.Trace(e.Local, e.Remote); found {
			for i := len(tr.Events) - 1; i >= 0 && !ok; i-- {
				ok = tr.Events[i].Kind == trace.KindDrop && tr.Events[i].Cause == e.Cause
			}
		}
	}
	l.mu.Lock()
	l.evs = append(l.evs, *e)
	if !ok {
		l.misfiled = append(l.misfiled, e.String())
	}
	l.mu.Unlock()
}

func (l *eventLog) all() []trace.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]trace.Event(nil), l.evs...)
}

// TestEveryCounterMoves runs TestAdminCountersMove's steps and the
// scenarios of counter_scenarios_test.go (on rigs of counter_rigs_test.go),
// each of which must see the counters it lists move; then checks that
// every counter is listed by one (or excepted), and that every counted
// drop site emitted its KindDrop (dropsites_test.go).
func TestEveryCounterMoves(t *testing.T) {
	cv := newCoverage(t)
	declared := map[string]bool{}
	for _, ref := range runCounterSteps(t) {
		declared[ref.section+"."+ref.name] = true
	}
	for _, sc := range counterScenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := &scenarioEnv{t: t, cv: cv, name: sc.name, seen: map[string]bool{}}
			sc.run(e)
			e.takeAll()
			for _, key := range sc.moves {
				if !e.seen[key] {
					t.Errorf("%s did not move", key)
				}
				declared[key] = true
			}
		})
	}
	cv.check(declared)
	checkDropsTraced(t, cv)
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}
