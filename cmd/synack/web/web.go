package web

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/synack-net/synack/lab"
	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/trace"
)

//go:embed assets
var assets embed.FS

// Prefix is where the view is mounted: mux.Handle(web.Prefix, view).
const Prefix = "/tcp/"

// Bounds of what the view keeps (see the package doc).
const (
	MaxStreams      = 16  // event streams open at once
	HistorySamples  = 300 // samples kept per connection: 5 minutes at the default interval
	HistoryConns    = 256 // connections with a history
	DefaultInterval = time.Second
)

// Config is what a View reads.
type Config struct {
	// Snapshot takes the stack's snapshot; required.
	Snapshot func() stack.Snapshot
	// Rings returns the per-connection traces; nil (or a nil result)
	// when tracing is off, and then TraceOff says how to turn it on.
	Rings    func() *trace.Rings
	TraceOff string
	// Self, when set, names the connection a request came on (the
	// stack's side first), so that the page opens its own connection.
	Self func(r *http.Request) (local, remote netip.AddrPort, ok bool)
	// Interval is the time between two tables on an event stream; zero
	// means DefaultInterval.
	Interval time.Duration
}

// View is the web view's handler.
type View struct {
	cfg     Config
	mux     *http.ServeMux
	page    *template.Template
	hist    *history
	streams chan struct{} // a token per open stream
	done    chan struct{} // closed by Close: streams end
	close   sync.Once

	labMu    sync.Mutex                // one lab run at a time
	labCache map[string]*lab.Recording // runs at the default seed
}

// New returns the view of cfg.
func New(cfg Config) *View {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.TraceOff == "" {
		cfg.TraceOff = "tracing is off"
	}
	v := &View{cfg: cfg, hist: newHistory(HistorySamples, HistoryConns, cfg.Interval/2),
		streams: make(chan struct{}, MaxStreams), done: make(chan struct{}), labCache: map[string]*lab.Recording{}}
	v.page = template.Must(template.ParseFS(assets, "assets/index.html"))
	static, _ := fs.Sub(assets, "assets")
	v.mux = http.NewServeMux()
	v.mux.HandleFunc(Prefix+"{$}", v.index)
	v.mux.Handle(Prefix+"static/", http.StripPrefix(Prefix+"static/", http.FileServerFS(static)))
	v.mux.HandleFunc(Prefix+"events", v.events) // sse.go
	v.mux.HandleFunc(Prefix+"trace", v.trace)
	v.mux.HandleFunc(Prefix+"history", v.history) // history.go
	v.mux.HandleFunc(Prefix+"lab/{$}", v.labList)
	v.mux.HandleFunc(Prefix+"lab/{name}", v.labRun)
	v.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("%s: no such page; the view is at %s", r.URL.Path, Prefix), http.StatusNotFound)
	})
	return v
}

// ServeHTTP serves the view; requests outside Prefix are 404.
func (v *View) ServeHTTP(w http.ResponseWriter, r *http.Request) { v.mux.ServeHTTP(w, r) }

// Close ends the open event streams (an http.Server's Shutdown waits for
// them otherwise: give it to RegisterOnShutdown).
func (v *View) Close() { v.close.Do(func() { close(v.done) }) }

// index serves the page, telling it which connection fetched it.
func (v *View) index(w http.ResponseWriter, r *http.Request) {
	if !CheckQuery(w, r) {
		return
	}
	var data struct{ Self string }
	if v.cfg.Self != nil {
		if l, rm, ok := v.cfg.Self(r); ok {
			data.Self = ConnID(l, rm)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	v.page.Execute(w, data)
}

// ConnID is how the view names a connection: LOCAL-REMOTE, "*" for the
// remote of a listener; /trace?conn= takes it.
func ConnID(local, remote netip.AddrPort) string {
	if !remote.IsValid() {
		return local.String() + "-*"
	}
	return local.String() + "-" + remote.String()
}

// trace serves /tcp/trace?conn=L-R[&seq=relative|absolute]: the admin
// endpoint's /trace as JSON.
func (v *View) trace(w http.ResponseWriter, r *http.Request) {
	if !CheckQuery(w, r, "conn", "seq") {
		return
	}
	q := r.URL.Query()
	seq := q.Get("seq")
	if seq != "" && seq != "relative" && seq != "absolute" {
		http.Error(w, fmt.Sprintf("seq %q: want relative (as Wireshark shows them, the default) or absolute", seq), http.StatusBadRequest)
		return
	}
	local, remote, err := ParseConn(q.Get("conn"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var rings *trace.Rings
	if v.cfg.Rings != nil {
		rings = v.cfg.Rings()
	}
	if rings == nil {
		http.Error(w, v.cfg.TraceOff, http.StatusNotFound)
		return
	}
	tr, ok := rings.Trace(local, remote)
	if !ok {
		http.Error(w, fmt.Sprintf("no trace of %v-%v: no such connection, or it closed too long ago", local, remote), http.StatusNotFound)
		return
	}
	if seq != "absolute" {
		tr.Events = tr.Relative()
	}
	writeJSON(w, tr)
}

// labEntry is one scenario in /tcp/lab/.
type labEntry struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
}

// labList serves /tcp/lab/: the scenarios.
func (v *View) labList(w http.ResponseWriter, r *http.Request) {
	if !CheckQuery(w, r) {
		return
	}
	list := []labEntry{}
	for _, s := range lab.Scenarios() {
		list = append(list, labEntry{s.Name, s.Summary})
	}
	writeJSON(w, list)
}

// labRun serves /tcp/lab/NAME[?seed=S]: the scenario's run as a
// lab.Recording.
func (v *View) labRun(w http.ResponseWriter, r *http.Request) {
	if !CheckQuery(w, r, "seed") {
		return
	}
	name := r.PathValue("name")
	seed := uint64(lab.DefaultSeed)
	if s := r.URL.Query().Get("seed"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			http.Error(w, fmt.Sprintf("seed %q: want an unsigned integer", s), http.StatusBadRequest)
			return
		}
		seed = n
	}
	v.labMu.Lock()
	rec := v.labCache[name]
	var err error
	if rec == nil || seed != lab.DefaultSeed {
		rec, err = lab.Record(name, lab.Options{Seed: seed})
		if err == nil && seed == lab.DefaultSeed {
			v.labCache[name] = rec // at most one per scenario
		}
	}
	v.labMu.Unlock()
	var unknown *lab.UnknownError
	switch {
	case errors.As(err, &unknown):
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		writeJSON(w, rec)
	}
}

// CheckQuery answers 400 and returns false if r's query cannot be parsed
// (a bad %-escape, a semicolon), has a parameter not in allowed, or has
// one twice: seed=1&seed=2 is refused rather than read as seed=1. An
// allowed name ending in "[]" is a list and may repeat, as Prometheus's
// name[] does.
func CheckQuery(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		http.Error(w, fmt.Sprintf("the query %q could not be parsed: %v", r.URL.RawQuery, err), http.StatusBadRequest)
		return false
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(allowed, k) {
			msg := fmt.Sprintf("unknown query parameter %q", k)
			if len(allowed) > 0 {
				msg += fmt.Sprintf(": %s takes %q", r.URL.Path, allowed)
			} else {
				msg += ": " + r.URL.Path + " takes none"
			}
			http.Error(w, msg, http.StatusBadRequest)
			return false
		}
		if len(q[k]) > 1 && !strings.HasSuffix(k, "[]") {
			http.Error(w, fmt.Sprintf("query parameter %q given %d times (%q): give it once", k, len(q[k]), q[k]), http.StatusBadRequest)
			return false
		}
	}
	return true
}

// ParseConn parses LOCAL-REMOTE, two addresses with ports.
func ParseConn(s string) (local, remote netip.AddrPort, err error) {
	if s == "" {
		return local, remote, fmt.Errorf("conn is required: conn=LOCAL-REMOTE, such as conn=10.0.0.2:80-10.0.0.1:40000, as /sockets lists them")
	}
	l, rm, ok := strings.Cut(s, "-")
	if ok {
		local, err = netip.ParseAddrPort(l)
		if err == nil {
			remote, err = netip.ParseAddrPort(rm)
		}
	}
	if !ok || err != nil {
		return local, remote, fmt.Errorf("conn %q: want LOCAL-REMOTE, two addresses with ports, such as 10.0.0.2:80-10.0.0.1:40000", s)
	}
	return local, remote, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
