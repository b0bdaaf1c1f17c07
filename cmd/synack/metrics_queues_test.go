package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/synack-net/synack/link/tun"
	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/tcp"
)

// fixedSnapshot is a snapshotter of fixed counters.
type fixedSnapshot stack.Counters

func (f fixedSnapshot) Snapshot() stack.Snapshot         { return stack.Snapshot{Counters: stack.Counters(f)} }
func (f fixedSnapshot) Counters() stack.Counters         { return stack.Counters(f) }
func (fixedSnapshot) States() [tcp.StateTimeWait + 1]int { return [tcp.StateTimeWait + 1]int{} }

// queueSeries returns the series of the metric family name as queue
// label -> value, failing unless every series is a counter
// with the one label queue.
func queueSeries(t *testing.T, mfs map[string]*dto.MetricFamily, name string) map[string]float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("%s is not in /metrics", name)
	}
	if mf.GetType() != dto.MetricType_COUNTER {
		t.Errorf("%s is a %v, want a counter", name, mf.GetType())
	}
	got := map[string]float64{}
	for _, m := range mf.Metric {
		if len(m.Label) != 1 || m.Label[0].GetName() != "queue" {
			t.Fatalf("%s has labels %v, want queue alone", name, m.Label)
		}
		got[m.Label[0].GetValue()] = m.Counter.GetValue()
	}
	return got
}

// parseMetrics parses a /metrics body with Prometheus's own text parser.
func parseMetrics(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, b)
	}
	return mfs
}

// TestAdminMetricsPerQueue: a two-queue device's per-queue counts are one
// labelled metric each on /metrics (synack_LinkTun_QueueDelivered{queue="1"}),
// with a series per queue and no more, kept by ?name[] like any other;
// /snapshot and netstat -s show them as QueueDelivered[1]; a one-queue
// device has the series of queue 0 alone.
func TestAdminMetricsPerQueue(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := tun.Stats{InPackets: 9, OutPackets: 7, QueueDelivered: []uint64{4, 5}, QueueWritten: []uint64{6, 1}}
	h := newAdmin(fixedSnapshot{stack.StructCounters("LinkTun", st)}, log).srv.Handler
	mfs := parseMetrics(t, adminGet(t, h, "/metrics"))
	if d := queueSeries(t, mfs, "synack_LinkTun_QueueDelivered"); len(d) != 2 || d["0"] != 4 || d["1"] != 5 {
		t.Errorf("synack_LinkTun_QueueDelivered = %v, want queue 0: 4, queue 1: 5", d)
	}
	if w := queueSeries(t, mfs, "synack_LinkTun_QueueWritten"); len(w) != 2 || w["0"] != 6 || w["1"] != 1 {
		t.Errorf("synack_LinkTun_QueueWritten = %v, want queue 0: 6, queue 1: 1", w)
	}
	if v, ok := promValue(mfs, "synack_LinkTun_InPackets"); !ok || v != 9 {
		t.Errorf("synack_LinkTun_InPackets = %v, %v; want 9", v, ok)
	}
	for name := range mfs {
		if strings.Contains(name, "[") || strings.HasPrefix(name, "synack_LinkTun_Queue") &&
			name != "synack_LinkTun_QueueDelivered" && name != "synack_LinkTun_QueueWritten" {
			t.Errorf("/metrics has %s: want the per-queue counts as two labelled metrics", name)
		}
	}
	kept := parseMetrics(t, adminGet(t, h, "/metrics?name[]=synack_LinkTun_QueueWritten"))
	if len(kept) != 1 || len(queueSeries(t, kept, "synack_LinkTun_QueueWritten")) != 2 {
		t.Errorf("?name[]=synack_LinkTun_QueueWritten kept %d families", len(kept))
	}

	var snap stack.Snapshot
	if err := json.Unmarshal(adminGet(t, h, "/snapshot"), &snap); err != nil {
		t.Fatal(err)
	}
	if v, ok := snap.Counters.Get("LinkTun", "QueueDelivered[1]"); !ok || v != 5 {
		t.Errorf("/snapshot LinkTun.QueueDelivered[1] = %d, %v; want 5", v, ok)
	}
	var out bytes.Buffer
	if err := writeNetstatS(&out, snap); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"    QueueDelivered[0]: 4\n", "    QueueDelivered[1]: 5\n", "    QueueWritten[1]: 1\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("netstat -s lacks %q:\n%s", want, out.String())
		}
	}

	one := tun.Stats{InPackets: 3, QueueDelivered: []uint64{3}, QueueWritten: []uint64{0}}
	h = newAdmin(fixedSnapshot{stack.StructCounters("LinkTun", one)}, log).srv.Handler
	mfs = parseMetrics(t, adminGet(t, h, "/metrics"))
	if d := queueSeries(t, mfs, "synack_LinkTun_QueueDelivered"); len(d) != 1 || d["0"] != 3 {
		t.Errorf("one queue: synack_LinkTun_QueueDelivered = %v, want queue 0: 3 alone", d)
	}
}
