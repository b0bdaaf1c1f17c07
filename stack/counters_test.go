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
