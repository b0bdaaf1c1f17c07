package main

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/synack-net/synack/cmd/synack/web"
	"github.com/synack-net/synack/link/sniff"
	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
)

// defaultAdmin is where serve's admin endpoint listens, and where ss and
// netstat look for it.
const defaultAdmin = "127.0.0.1:7070"

const adminAbout = `The admin endpoint (--admin, on the host, never on the synack stack) serves:
  /snapshot       the counters and the socket table as JSON (stack.Snapshot)
  /sockets        the socket table as JSON; ?state=ESTABLISHED,TIME-WAIT keeps those
  /metrics        Prometheus metrics: synack_<Section>_<Name> as nstat names them
                  (synack_Tcp_ActiveOpens, synack_TcpExt_ListenDrops), the link's
                  as synack_Link<Kind>_<Name>, a count per queue of a
                  multi-queue device labelled, as
                  synack_LinkTun_QueueDelivered{queue="1"} (QueueDelivered[1]
                  in /snapshot and netstat -s), synack_tcp_sockets{state=...};
                  ?name[]=synack_Tcp_InSegs&name[]=... keeps those alone
  /trace          one connection's last events (serve --trace-ring N):
                  ?conn=LOCAL-REMOTE, &format=json (default), diagram or pcap,
                  &seq=relative (default, as Wireshark) or absolute
  /tcp/           the live web view: the socket table as it changes, each
                  connection's sequence diagram and plots, the state diagram,
                  the lab stepped segment by segment (open it in a browser)
  /debug/vars     expvar, the snapshot under "synack"
  /debug/pprof/   Go's profiles
'synack ss' and 'synack netstat' read it. It must be a loopback address
unless --admin-public says otherwise: the kernel end of the TUN device is
an address of this host too, and the admin endpoint is not for the peers.`

// snapshotter takes a stack's snapshot with the link's counters added.
type snapshotter interface {
	Snapshot() stack.Snapshot
	// Counters is the snapshot's counters alone.
	Counters() stack.Counters
	// States counts the sockets per state, without the socket table.
	States() [tcp.StateTimeWait + 1]int
}

// adminFlags are serve's flags for the admin endpoint.
type adminFlags struct {
	addr   string
	public bool
	given  bool // --admin was on the command line (set after parsing)
}

// adminPorts is how many ports from the default's a serve started without
// --admin tries, so that a second serve beside a running one gets an
// endpoint of its own (7071, ...) rather than failing; it logs which.
const adminPorts = 10

func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.addr, "admin", defaultAdmin, "serve the admin endpoint (JSON, Prometheus /metrics, pprof) on this host address; \"\" turns it off")
	fs.BoolVar(&a.public, "admin-public", false, "allow an --admin address that is not loopback (reachable from elsewhere, the TUN side included)")
}

// check refuses an --admin that is not an address and port, or not
// loopback without --admin-public. It opens nothing.
func (a *adminFlags) check() error {
	if a.addr == "" {
		return nil
	}
	ap, err := netip.ParseAddrPort(a.addr)
	if err != nil {
		return fmt.Errorf("--admin %q is not an address and port, such as %s", a.addr, defaultAdmin)
	}
	if !ap.Addr().IsLoopback() && !a.public {
		return fmt.Errorf("--admin %s is not a loopback address: it would be reachable from the TUN side and beyond; add --admin-public to mean it", ap)
	}
	return nil
}

// listen opens the admin endpoint's socket, so that an address in use
// ends serve at once with one clear line. It returns nil when the
// endpoint is off.
func (a *adminFlags) listen() (net.Listener, error) {
	if err := a.check(); err != nil || a.addr == "" {
		return nil, err
	}
	l, err := net.Listen("tcp", a.addr)
	fallback := !a.given && a.addr == defaultAdmin
	for i := 1; fallback && i < adminPorts && errors.Is(err, syscall.EADDRINUSE); i++ {
		ap := netip.MustParseAddrPort(defaultAdmin)
		l, err = net.Listen("tcp", netip.AddrPortFrom(ap.Addr(), ap.Port()+uint16(i)).String())
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		if fallback {
			return nil, fmt.Errorf("the admin endpoint's ports %s to %d are in use (other synack serves?): pick an address with --admin, or --admin \"\" to run without", a.addr, netip.MustParseAddrPort(defaultAdmin).Port()+adminPorts-1)
		}
		return nil, fmt.Errorf("--admin %s is in use (another synack serve?): pick another address, or --admin \"\" to run without", a.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("--admin %s: %w", a.addr, err)
	}
	return l, nil
}

// adminServer is the admin endpoint of one stack.
type adminServer struct {
	snap  snapshotter
	srv   *http.Server
	log   *slog.Logger
	rings *trace.Rings // the per-connection traces; nil when off (tracepage.go)
}

// currentSnapshot is what expvar's "synack" publishes: the snapshot of the
// latest admin endpoint made (expvar's names are process-wide).
var (
	currentSnapshot sync.Map // "s" -> snapshotter
	publishOnce     sync.Once
)

// newAdmin makes the admin endpoint's handler for snap.
func newAdmin(snap snapshotter, log *slog.Logger) *adminServer {
	a := &adminServer{snap: snap, log: log}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(snap), collectors.NewGoCollector())
	currentSnapshot.Store("s", snap)
	publishOnce.Do(func() {
		expvar.Publish("synack", expvar.Func(func() any {
			if s, ok := currentSnapshot.Load("s"); ok {
				return s.(snapshotter).Snapshot()
			}
			return nil
		}))
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, adminAbout)
	})
	mux.HandleFunc("/snapshot", a.snapshotPage)
	mux.HandleFunc("/sockets", a.socketsPage)
	mux.HandleFunc("/trace", a.tracePage) // tracepage.go
	view := web.New(web.Config{Snapshot: snap.Snapshot, Rings: func() *trace.Rings { return a.rings }, TraceOff: traceOff})
	mux.Handle(web.Prefix, view)
	prom := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		// A scrape sends no query unless its job's params say so; the
		// client library reads name[] (repeated: the metrics to keep).
		if checkQuery(w, r, "name[]") {
			prom.ServeHTTP(w, r)
		}
	})
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	a.srv.RegisterOnShutdown(view.Close) // its event streams would hold Shutdown
	return a
}

// serve serves l until close.
func (a *adminServer) serve(l net.Listener) {
	go func() {
		if err := a.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin endpoint failed", "err", err)
		}
	}()
}

// close stops the admin endpoint.
func (a *adminServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	a.srv.Shutdown(ctx)
}

// checkQuery answers 400 and returns false if r has a query parameter
// not in allowed.
func checkQuery(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	return web.CheckQuery(w, r, allowed...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// snapshotPage serves /snapshot.
func (a *adminServer) snapshotPage(w http.ResponseWriter, r *http.Request) {
	if checkQuery(w, r) {
		writeJSON(w, a.snap.Snapshot())
	}
}

// socketsPage serves /sockets?state=S,...
func (a *adminServer) socketsPage(w http.ResponseWriter, r *http.Request) {
	if !checkQuery(w, r, "state") {
		return
	}
	keep, err := parseStates(r.URL.Query().Get("state"))
	if err != nil {
		http.Error(w, "state: "+err.Error(), http.StatusBadRequest)
		return
	}
	t := filterStates(a.snap.Snapshot().Sockets, keep)
	if t == nil {
		t = []stack.SocketInfo{}
	}
	writeJSON(w, t)
}

// fetchSnapshot reads a running serve's snapshot from its admin endpoint.
func fetchSnapshot(addr string) (stack.Snapshot, error) {
	var snap stack.Snapshot
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + addr + "/snapshot")
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return snap, fmt.Errorf("no admin endpoint answers at %s: is 'synack serve' running, with --admin %s? (%v)", addr, addr, op.Err)
		}
		return snap, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return snap, fmt.Errorf("admin endpoint %s: %s: %s", addr, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		return snap, fmt.Errorf("admin endpoint %s: reading the snapshot: %w", addr, err)
	}
	return snap, nil
}

// stackSnapshot is a snapshotter of a stack and, when links is set, its
// link's counters, which then stand for the stack's own Link section (the
// outermost endpoint's only).
type stackSnapshot struct {
	st    *stack.Stack
	links func() []stack.Section // nil: the stack's Link section
}

func (s stackSnapshot) withLinks(cs stack.Counters) stack.Counters {
	if s.links == nil {
		return cs
	}
	cs = slices.DeleteFunc(cs, func(sec stack.Section) bool { return sec.Name == "Link" })
	return append(cs, s.links()...)
}

func (s stackSnapshot) Counters() stack.Counters { return s.withLinks(s.st.Counters()) }

func (s stackSnapshot) Snapshot() stack.Snapshot {
	snap := s.st.Snapshot()
	snap.Counters = s.withLinks(snap.Counters)
	return snap
}

func (s stackSnapshot) States() [tcp.StateTimeWait + 1]int { return s.st.States() }

// linkSections are the counters of ts's link: the device's, what the
// faults did each way, and the capture's.
func (ts *tunStack) linkSections() []stack.Section {
	secs := []stack.Section{stack.StructCounters("LinkTun", ts.dev.Stats())}
	if ts.fault != nil {
		out, in := ts.fault.Stats()
		secs = append(secs, stack.StructCounters("LinkFaultOut", out), stack.StructCounters("LinkFaultIn", in))
	}
	if sn, ok := ts.ep.(*sniff.Endpoint); ok {
		secs = append(secs, stack.StructCounters("LinkPcap", sn.Stats()))
	}
	return secs
}

// startAdmin serves the admin endpoint of ts on l (nil: off) and returns
// what stops it.
func startAdmin(l net.Listener, ts *tunStack, rings *trace.Rings, log *slog.Logger) func() {
	if l == nil {
		return func() {}
	}
	a := newAdmin(stackSnapshot{st: ts.st.Internals(), links: ts.linkSections}, log)
	a.rings = rings
	a.serve(l)
	log.Info("admin endpoint", "addr", l.Addr().String(), "metrics", "http://"+l.Addr().String()+"/metrics")
	return a.close
}
