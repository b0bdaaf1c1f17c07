package main

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synack-net/synack/tcp"
)

// collector is a prometheus.Collector that reads a stack's counters at
// each scrape: no goroutine, no copy kept between scrapes. Each counter is
// synack_<Section>_<Name>, the name nstat prints with "synack_" and an
// underscore added (Tcp ActiveOpens: synack_Tcp_ActiveOpens; a link's:
// synack_LinkTun_InPackets); gauges (CurrEstab, the longest packets) are
// gauges, the rest counters. synack_tcp_sockets{state} counts the sockets
// in each state. Per-socket figures stay in /snapshot's JSON: a series
// per connection would grow without bound.
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
			name := "synack_" + s.Name + "_" + k.Name
			d := c.descs[name]
			if d == nil {
				help := s.Name + " " + k.Name
				if k.Field != "" {
					help += " (" + k.Field + ")"
				}
				d = prometheus.NewDesc(name, help, nil, nil)
				c.descs[name] = d
			}
			t := prometheus.CounterValue
			if k.Gauge {
				t = prometheus.GaugeValue
			}
			ch <- prometheus.MustNewConstMetric(d, t, float64(k.Value))
		}
	}
	n := c.snap.States()
	for st := tcp.StateClosed; st <= tcp.StateTimeWait; st++ {
		ch <- prometheus.MustNewConstMetric(c.states, prometheus.GaugeValue, float64(n[st]), st.String())
	}
}
