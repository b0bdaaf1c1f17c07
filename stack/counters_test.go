package stack

import (
	"encoding/json"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/udp"
)

// TestCountersHoldEveryField: every exported atomic field of Stats,
// tcp.Stats and udp.Stats is in Counters once, under a name unique in its
// section, so a counter added later cannot be forgotten by the snapshot,
// JSON, netstat -s or Prometheus, which are all made from Counters.
func TestCountersHoldEveryField(t *testing.T) {
	var ip Stats
	var tc tcp.Stats
	var uc udp.Stats
	cs := ReadCounters(&ip, &tc, &uc)
	seen := map[string]bool{}
	names := map[string]bool{}
	for _, s := range cs {
		for _, c := range s.Counters {
			if names[s.Name+"."+c.Name] {
				t.Errorf("%s.%s appears twice", s.Name, c.Name)
			}
			names[s.Name+"."+c.Name] = true
			seen[c.Field] = true
		}
	}
	for _, p := range []struct {
		pkg string
		v   any
	}{{"stack", &ip}, {"tcp", &tc}, {"udp", &uc}} {
		v := reflect.ValueOf(p.v).Elem()
		for i := range v.NumField() {
			f := v.Type().Field(i)
			switch f.Type {
			case reflect.TypeFor[atomic.Uint64](), reflect.TypeFor[atomic.Int64]():
				if name := p.pkg + ".Stats." + f.Name; !seen[name] {
					t.Errorf("%s is not in Counters", name)
				}
			}
		}
	}
}

// TestCountersReadValuesAndRoundTrip: a counter set in its atomic reads
// in its section under its Linux name, and JSON keeps sections, order
// and values.
func TestCountersReadValuesAndRoundTrip(t *testing.T) {
	var ip Stats
	var tc tcp.Stats
	var uc udp.Stats
	ip.ICMPRateLimited.Store(3)
	ip.TCPInErrs.Store(4)
	tc.ActiveOpens.Store(5)
	tc.Timeouts.Store(6)
	tc.CurrEstab.Store(-1) // only a bug makes it so: reads 0
	uc.NoPorts.Store(7)
	cs := ReadCounters(&ip, &tc, &uc)
	for _, w := range []struct {
		sec, name string
		v         uint64
	}{{"Icmp", "OutRateLimitGlobal", 3}, {"Tcp", "InErrs", 4}, {"Tcp", "ActiveOpens", 5},
		{"TcpExt", "TCPTimeouts", 6}, {"Tcp", "CurrEstab", 0}, {"Udp", "NoPorts", 7}} {
		if v, ok := cs.Get(w.sec, w.name); !ok || v != w.v {
			t.Errorf("%s.%s = %d, %v; want %d", w.sec, w.name, v, ok, w.v)
		}
	}
	b, err := json.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	var back Counters
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	if len(back) != len(cs) {
		t.Fatalf("%d sections back, want %d", len(back), len(cs))
	}
	for i := range cs {
		if back[i].Name != cs[i].Name || len(back[i].Counters) != len(cs[i].Counters) {
			t.Fatalf("section %d: %s with %d back, want %s with %d", i, back[i].Name, len(back[i].Counters), cs[i].Name, len(cs[i].Counters))
		}
		for j, c := range cs[i].Counters {
			if g := back[i].Counters[j]; g.Name != c.Name || g.Value != c.Value {
				t.Errorf("%s: %s=%d back, want %s=%d", cs[i].Name, g.Name, g.Value, c.Name, c.Value)
			}
		}
	}
	if err := json.Unmarshal([]byte(`{"Tcp":{"ActiveOpens":"x"}}`), &back); err == nil {
		t.Error("a counter that is not a number was taken")
	}
}

type statsEP struct{}

type epStats struct {
	InPackets, OutPackets uint64
	InLongest             uint64
	note                  string
}

func (statsEP) Stats() epStats { return epStats{InPackets: 3, OutPackets: 4, InLongest: 1500} }

type twoStatsEP struct{}

func (twoStatsEP) Stats() (epStats, epStats) { return epStats{}, epStats{} }

// TestLinkCountersFromStats: an endpoint whose Stats method returns a
// struct of uint64 counters gives section Link, its largest sizes as
// gauges; one without such a method gives none.
func TestLinkCountersFromStats(t *testing.T) {
	sec, ok := linkCounters(statsEP{})
	if !ok || sec.Name != "Link" || len(sec.Counters) != 3 {
		t.Fatalf("linkCounters = %+v, %v; want section Link with 3 counters", sec, ok)
	}
	cs := Counters{sec}
	if v, _ := cs.Get("Link", "OutPackets"); v != 4 {
		t.Errorf("Link.OutPackets = %d, want 4", v)
	}
	if !sec.Counters[2].Gauge || sec.Counters[0].Gauge {
		t.Errorf("gauges: %+v; want InLongest alone", sec.Counters)
	}
	for _, ep := range []any{twoStatsEP{}, struct{}{}} {
		if _, ok := linkCounters(ep); ok {
			t.Errorf("linkCounters(%T) took it", ep)
		}
	}
}

// queueStats is a link's counters with some kept per queue: a slice as
// long as the queues the link has, with a label, a fixed array without.
type queueStats struct {
	InPackets    uint64
	PerQueue     []uint64 `label:"queue"`
	Lanes        [2]uint64
	LongestQueue []uint64 `label:"queue"`
	hidden       []uint64
	Floats       []float64
}

// TestStructCountersPerQueue: a []uint64 field gives a counter per entry,
// named Field[i] with its label and index, and no more entries than the
// slice holds (one queue: [0] alone, none: nothing); an array gives all
// its entries under the label "index"; unexported and non-uint64 slices
// are left out; JSON keeps the names and values.
func TestStructCountersPerQueue(t *testing.T) {
	sec := StructCounters("LinkQ", &queueStats{InPackets: 9, PerQueue: []uint64{4, 5}, Lanes: [2]uint64{7, 8},
		LongestQueue: []uint64{1500}, hidden: []uint64{1}, Floats: []float64{1}})
	type row struct {
		name, label string
		index       int
		value       uint64
		gauge       bool
	}
	var got []row
	for _, c := range sec.Counters {
		got = append(got, row{c.Name, c.Label, c.Index, c.Value, c.Gauge})
		if c.Field == "" {
			t.Errorf("%s has no Field", c.Name)
		}
	}
	want := []row{{"InPackets", "", 0, 9, false}, {"PerQueue[0]", "queue", 0, 4, false}, {"PerQueue[1]", "queue", 1, 5, false},
		{"Lanes[0]", "index", 0, 7, false}, {"Lanes[1]", "index", 1, 8, false}, {"LongestQueue[0]", "queue", 0, 1500, true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("StructCounters:\n got %v\nwant %v", got, want)
	}
	if b := sec.Counters[2].BaseName(); b != "PerQueue" {
		t.Errorf("BaseName of %s = %q, want PerQueue", sec.Counters[2].Name, b)
	}
	if b := sec.Counters[0].BaseName(); b != "InPackets" {
		t.Errorf("BaseName of InPackets = %q", b)
	}
	if f := sec.Counters[1].Field; f != "stack.queueStats.PerQueue" {
		t.Errorf("Field = %q, want stack.queueStats.PerQueue", f)
	}

	one := StructCounters("LinkQ", queueStats{PerQueue: []uint64{3}})
	if n := len(one.Counters); n != 1+1+2 {
		t.Errorf("one queue, no longest: %d counters %+v, want InPackets, PerQueue[0] and the two Lanes", n, one.Counters)
	}
	if v, ok := (Counters{one}).Get("LinkQ", "PerQueue[0]"); !ok || v != 3 {
		t.Errorf("PerQueue[0] = %d, %v; want 3", v, ok)
	}
	if _, ok := (Counters{one}).Get("LinkQ", "PerQueue[1]"); ok {
		t.Error("a one-queue link shows PerQueue[1]")
	}

	b, err := json.Marshal(Counters{sec})
	if err != nil {
		t.Fatal(err)
	}
	var back Counters
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if v, ok := back.Get("LinkQ", "PerQueue[1]"); !ok || v != 5 {
		t.Errorf("after JSON %s: PerQueue[1] = %d, %v; want 5", b, v, ok)
	}
}
