package main

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/tcp"
)

// collector is a prometheus.Collector that reads a stack's counters at
// each scrape: no goroutine, no copy kept between scrapes. Each counter is
// synack_<Section>_<Name>, the name nstat prints with "synack_" and an
// underscore added (Tcp ActiveOpens: synack_Tcp_ActiveOpens; a link's:
// synack_LinkTun_InPackets). A counter kept per queue, which nstat-style
// text names QueueDelivered[1], is one metric with a label and a series
// per queue the device has: synack_LinkTun_QueueDelivered{queue="1"}.
// Gauges (CurrEstab, the longest packets) are gauges, the rest counters.
// synack_tcp_sockets{state} counts the sockets in each state. Per-socket
// figures stay in /snapshot's JSON: a series per connection would grow
// without bound.
type collector struct {
	snap   snapshotter
	states *prometheus.Desc
	mu     sync.Mutex
	descs  map[string]*prometheus.Desc // made at the first scrape that needs them
}

func newCollector(snap snapshotter) *collector {
	return &collector{snap: snap, descs: map[string]*prometheus.Desc{},
		states: prometheus.NewDesc("synack_tcp_sockets", "Sockets in each TCP state (RFC 9293 spelling), listeners and TIME-WAIT included.", []string{"state"}, nil)}
}

// Describe describes nothing: the counters are known only when read, so
// the collector is unchecked (a counter added to a Stats struct appears
// without a list to update).
func (c *collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads the counters and the state counts.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	cs := c.snap.Counters()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range cs {
		for _, k := range s.Counters {
			d := c.desc(s.Name, k)
			t := prometheus.CounterValue
			if k.Gauge {
				t = prometheus.GaugeValue
			}
			var values []string
			if k.Label != "" {
				values = []string{strconv.Itoa(k.Index)}
			}
			m, err := prometheus.NewConstMetric(d, t, float64(k.Value), values...)
			if err != nil {
				// Two counters of one name, one with a label and one
				// without (StructCounters makes none: field names are
				// unique), cannot both be a metric: an error the scrape
				// reports, rather than a panic.
				m = prometheus.NewInvalidMetric(d, err)
			}
			ch <- m
		}
	}
	n := c.snap.States()
	for st := tcp.StateClosed; st <= tcp.StateTimeWait; st++ {
		ch <- prometheus.MustNewConstMetric(c.states, prometheus.GaugeValue, float64(n[st]), st.String())
	}
}

// desc returns the Desc of counter k of section sec, made at its first
// scrape: synack_<sec>_<name>, with k's label for an entry of a counter
// kept per queue (the entries share the Desc). c.mu is held.
func (c *collector) desc(sec string, k stack.Counter) *prometheus.Desc {
	name := "synack_" + sec + "_" + k.BaseName()
	key := name + "\x00" + k.Label // a labelled and a plain counter of one name keep their own Desc
	if d := c.descs[key]; d != nil {
		return d
	}
	help := sec + " " + k.BaseName()
	var labels []string
	if k.Label != "" {
		help += " per " + k.Label
		labels = []string{k.Label}
	}
	if k.Field != "" {
		help += " (" + k.Field + ")"
	}
	d := prometheus.NewDesc(name, help, labels, nil)
	c.descs[key] = d
	return d
}
