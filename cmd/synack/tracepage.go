package main

import (
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/synack-net/synack/cmd/synack/web"
	"github.com/synack-net/synack/trace"
)

// traceFlags are serve's flags for the per-connection traces the admin
// endpoint's /trace serves.
type traceFlags struct {
	ring  int
	keep  time.Duration
	conns int
}

// defaultTraceRing is serve's --trace-ring: on by default, so that the
// web view at /tcp/ on port 80 can draw the handshake of the connection
// that fetched it (at most 64*--trace-conns events of 128 bytes: 8 MiB).
const defaultTraceRing = 64

func (f *traceFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.ring, "trace-ring", defaultTraceRing, "keep the last N events of each connection for the admin endpoint's /trace and the web view's diagrams (0: off)")
	fs.DurationVar(&f.keep, "trace-keep", trace.DefaultRingKeep, "how long a closed connection's trace stays readable")
	fs.IntVar(&f.conns, "trace-conns", trace.DefaultRingConns, "the most connections traced at once, closed ones included")
}

// check refuses bounds that mean nothing.
func (f *traceFlags) check() error {
	switch {
	case f.ring < 0:
		return fmt.Errorf("--trace-ring %d: want a number of events, 0 for off", f.ring)
	case f.keep <= 0:
		return fmt.Errorf("--trace-keep %v: want a positive duration", f.keep)
	case f.conns <= 0:
		return fmt.Errorf("--trace-conns %d: want a positive number", f.conns)
	}
	return nil
}

// rings returns the sink that keeps the traces, nil when tracing is off.
func (f *traceFlags) rings() *trace.Rings {
	if f.ring == 0 {
		return nil
	}
	return trace.NewRings(f.ring, f.keep, f.conns, nil)
}

// withRings adds r to sink; either may be nil, and so is the result when
// both are, so that a stack without either traces nothing.
func withRings(sink trace.Sink, r *trace.Rings) trace.Sink {
	switch {
	case r == nil:
		return sink
	case sink == nil:
		return r
	}
	return trace.Tee(sink, r)
}

// traceOff is what a trace request answers when tracing is off.
const traceOff = "tracing is off: start serve with --trace-ring N to keep each connection's last N events"

// tracePage serves /trace?conn=LOCAL-REMOTE[&format=json|diagram|pcap][&seq=relative|absolute]:
// the events the stack keeps of one connection, its addresses as the
// socket table shows them.
func (a *adminServer) tracePage(w http.ResponseWriter, r *http.Request) {
	if !checkQuery(w, r, "conn", "format", "seq") {
		return
	}
	if a.rings == nil {
		http.Error(w, traceOff, http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	format, seq := q.Get("format"), q.Get("seq")
	if !slices.Contains([]string{"", "json", "diagram", "pcap"}, format) {
		http.Error(w, fmt.Sprintf("format %q: want json, diagram or pcap", format), http.StatusBadRequest)
		return
	}
	if seq != "" && seq != "relative" && seq != "absolute" {
		http.Error(w, fmt.Sprintf("seq %q: want relative (as Wireshark shows them, the default) or absolute", seq), http.StatusBadRequest)
		return
	}
	local, remote, err := parseConn(q.Get("conn"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	tr, ok := a.rings.Trace(local, remote)
	if !ok {
		http.Error(w, fmt.Sprintf("no trace of %v-%v: no such connection, or it closed more than --trace-keep ago (%d connections traced; see /sockets)",
			local, remote, len(a.rings.Conns())), http.StatusNotFound)
		return
	}
	relative := seq != "absolute"
	switch format {
	case "diagram":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		trace.DiagramWith(w, tr.Events, local, remote, trace.DiagramOptions{Relative: relative, Timers: true})
	case "pcap":
		w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", pcapName(local, remote)))
		trace.WritePcap(w, tr.Events) // absolute numbers: Wireshark makes them relative itself
	default:
		if relative {
			tr.Events = tr.Relative()
		}
		writeJSON(w, tr)
	}
}

// parseConn parses LOCAL-REMOTE, two addresses with ports.
func parseConn(s string) (local, remote netip.AddrPort, err error) { return web.ParseConn(s) }

// pcapName is the file name a browser saves a connection's pcap as.
func pcapName(local, remote netip.AddrPort) string {
	r := strings.NewReplacer(":", "_", "[", "", "]", "")
	return "synack-" + r.Replace(local.String()) + "-" + r.Replace(remote.String()) + ".pcap"
}
