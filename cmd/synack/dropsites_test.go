package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// dropSite is one counted drop in tcp/ or stack/: a call of a drop
// helper (drop, dropFor, dropTCP, traceDrop) with the cause it traces and
// the counter it adds to (none for traceDrop, which traces a drop counted
// elsewhere).
type dropSite struct {
	pos     string // file:line
	fn      string // the function it is in
	counter string // the field added to
	cause   string
}

// key names the site as "file:function:cause", which line numbers do
// not change; two sites of one cause in one function share it.
func (s dropSite) key() string {
	return s.pos[:strings.LastIndex(s.pos, ":")] + ":" + s.fn + ":" + s.cause
}

// dropHelpers are the functions that count and trace a drop, and where a
// drop counter's Add is allowed.
var dropHelpers = map[string]bool{"drop": true, "dropFor": true, "dropTCP": true, "traceDrop": true}

// untracedDropAdds are the drop counters added to outside the drop
// helpers, by "file:function:Field", each with the reason it escapes no
// trace.
var untracedDropAdds = map[string]string{
	// A SYN that finds the SYN queue full is traced by the dropFor of
	// TCPReqQFullDrop beside it.
	"tcp/listener.go:ClassifyFrom:ListenDrops": "traced by the dropFor of TCPReqQFullDrop beside it",
	// admitConnLocked counts; its callers holding a segment trace it
	// (traceDrop "ConnLimitDrops"); a refused dial has no segment.
	"stack/limits.go:admitConnLocked:ConnLimitDrops": "traced by the callers of admitConnLocked that hold a segment",
	// A SYN that finds the accept queue full: the dropFor of ListenDrops
	// beside it traces it, as ListenOverflows.
	"tcp/listener.go:ClassifyFrom:ListenOverflows": "traced by the dropFor of ListenDrops beside it",
	// A segment too short to name its ports belongs to no connection
	// (stack/drop.go).
	"stack/demux.go:tcpInput:TCPInErrs": "a segment too short for its ports names no connection to trace it on",
}

// otherCause are the drop helper calls whose cause is not the counter
// they add to: a SYN that finds the accept queue full is counted in both
// ListenOverflows and ListenDrops (as Linux counts it) and traced once, as
// ListenOverflows.
var otherCause = map[string]string{"ListenDrops": "ListenOverflows"}

// isDropCounter says whether a counter field counts dropped segments by
// its name: Drop..., ...Drop or ...Drops.
func isDropCounter(name string) bool {
	return strings.HasPrefix(name, "Drop") || strings.HasSuffix(name, "Drop") || strings.HasSuffix(name, "Drops")
}

// scanDropSites parses the non-test Go files of tcp/ and stack/ and
// returns the drop helper calls, and the Adds to drop counters made
// outside the helpers ("file:function:Field" -> position).
func scanDropSites(t *testing.T) (sites []dropSite, adds map[string]string) {
	t.Helper()
	allAdds := map[string]string{} // every Add to a field, "file:function:Field" -> position
	fset := token.NewFileSet()
	for _, dir := range []string{"tcp", "stack"} {
		files, err := filepath.Glob(filepath.Join("..", "..", dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no sources in %s: %v", dir, err)
		}
		for _, fn := range files {
			if strings.HasSuffix(fn, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, fn, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			rel := dir + "/" + filepath.Base(fn)
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Body == nil || dropHelpers[fd.Name.Name] {
					continue
				}
				ast.Inspect(fd.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					pos := rel + ":" + strconv.Itoa(fset.Position(call.Pos()).Line)
					switch name := sel.Sel.Name; {
					case dropHelpers[name]:
						site := siteOf(t, pos, name, call)
						site.fn = fd.Name.Name
						sites = append(sites, site)
					case name == "Add":
						if ctr, ok := sel.X.(*ast.SelectorExpr); ok {
							allAdds[rel+":"+fd.Name.Name+":"+ctr.Sel.Name] = pos
						}
					}
					return true
				})
			}
		}
	}
	sort.Slice(sites, func(i, j int) bool { return sites[i].pos < sites[j].pos })
	// The drop counters: those named as drops, and every counter a drop
	// helper adds to or traces somewhere, which must then be traced
	// wherever it is added.
	drops := map[string]bool{}
	for _, s := range sites {
		drops[s.counter], drops[s.cause] = true, true
	}
	adds = map[string]string{}
	for key, pos := range allAdds {
		if f := key[strings.LastIndex(key, ":")+1:]; drops[f] || isDropCounter(f) {
			adds[key] = pos
		}
	}
	return sites, adds
}

// siteOf reads a drop helper call: its counter (&x.Field) and its cause,
// a string literal.
func siteOf(t *testing.T, pos, helper string, call *ast.CallExpr) dropSite {
	t.Helper()
	s := dropSite{pos: pos}
	causeArg := 1
	if helper == "traceDrop" {
		causeArg = 0
	} else if u, ok := call.Args[0].(*ast.UnaryExpr); ok {
		if sel, ok := u.X.(*ast.SelectorExpr); ok {
			s.counter = sel.Sel.Name
		}
	}
	lit, ok := call.Args[causeArg].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		t.Errorf("%s: %s's cause is not a string literal", pos, helper)
		return s
	}
	s.cause, _ = strconv.Unquote(lit.Value)
	return s
}

// TestDropCountersAreTraced: every drop counter added to in tcp/ or
// stack/ is added through a drop helper, which traces it, or is listed
// in untracedDropAdds with the reason; and each helper call's cause is
// the name of a counter (the one it adds to, but for the listed pairs).
func TestDropCountersAreTraced(t *testing.T) {
	sites, adds := scanDropSites(t)
	if len(sites) < 20 {
		t.Fatalf("found only %d drop sites: the scan is broken", len(sites))
	}
	for key, pos := range adds {
		if _, ok := untracedDropAdds[key]; !ok {
			t.Errorf("%s adds to %s outside the drop helpers (tcp/drop.go, stack/drop.go): no KindDrop is traced", pos, key)
		}
	}
	for key := range untracedDropAdds {
		if _, ok := adds[key]; !ok {
			t.Errorf("untracedDropAdds lists %s, which the sources no longer do", key)
		}
	}
	fields := map[string]bool{}
	for _, f := range allCounters() {
		fields[f[strings.LastIndex(f, ".")+1:]] = true
	}
	for _, s := range sites {
		if !fields[s.cause] {
			t.Errorf("%s: the cause %q names no counter", s.pos, s.cause)
		}
		if s.counter != "" && s.counter != s.cause && otherCause[s.counter] != s.cause {
			t.Errorf("%s: adds to %s but traces %q", s.pos, s.counter, s.cause)
		}
	}
}

// dropEvidence says, for each drop site of tcp/ and stack/, the state
// and flags of the KindDrop events by which TestEveryCounterMoves's
// scenarios show it traced: each must be seen with the site's cause. A
// drop site not listed fails the test until a scenario provokes it and
// its evidence is added; the sites of a function with one cause (in one
// entry) are told apart by what each drops.
var dropEvidence = map[string][]string{
	"tcp/input.go:synSent:DropBadACK":                     {"SYN-SENT SYN,ACK"},
	"tcp/input.go:synSent:DropBadFlags":                   {"SYN-SENT RST", "SYN-SENT ACK"}, // a RST without an acceptable ACK; no SYN
	"tcp/input_sync.go:synchronizedInput:DropOutOfWindow": {"ESTABLISHED ACK", "ESTABLISHED RST"},
	"tcp/input_sync.go:synchronizedInput:DropNoACK":       {"ESTABLISHED PSH"},
	"tcp/input_sync.go:ackSynReceived:DropBadACK":         {"SYN-RECEIVED ACK"},
	"tcp/input_sync.go:ackSynReceived:ListenOverflows":    {"SYN-RECEIVED ACK"},
	"tcp/input_sync.go:holdText:DropOutOfOrder":           {"CLOSE-WAIT ACK"},
	"tcp/input_sync.go:processFIN:DropOutOfOrder":         {"ESTABLISHED FIN,ACK"},
	"tcp/ratelimit.go:unacceptableACK:DropBadACK":         {"ESTABLISHED ACK"},
	"tcp/ratelimit.go:unacceptableACK:DropACKTooOld":      {"ESTABLISHED ACK"},
	"tcp/options.go:paws:DropNoTimestamp":                 {"ESTABLISHED ACK"},
	"tcp/options.go:paws:DropPAWS":                        {"ESTABLISHED ACK"},
	"tcp/timewait.go:HandleSegment:DropOutOfWindow":       {"TIME-WAIT RST", "TIME-WAIT ACK"}, // a RST not at RCV.NXT; an old duplicate
	"tcp/timewait.go:paws:DropNoTimestamp":                {"TIME-WAIT ACK"},
	"tcp/timewait.go:paws:DropPAWS":                       {"TIME-WAIT ACK"},
	"tcp/listener.go:ClassifyFrom:DropBadFlags":           {"LISTEN SYN,FIN"},
	"tcp/listener.go:ClassifyFrom:ListenOverflows":        {"LISTEN SYN"},
	"tcp/listener.go:ClassifyFrom:TCPReqQFullDrop":        {"LISTEN SYN"},
	"tcp/syncookie.go:CheckCookie:SyncookiesFailed":       {"LISTEN ACK"},
	"tcp/syncookie.go:CheckCookie:ListenOverflows":        {"LISTEN ACK"},
	"tcp/reassembly.go:holdOutOfOrder:OFODrop":            {"ESTABLISHED ACK"},
	"tcp/memory.go:admitInOrder:RcvQDrop":                 {"ESTABLISHED ACK"},
	"tcp/sockopt.go:discardText:ReadShutDiscards":         {"ESTABLISHED ACK"},
	"stack/demux.go:tcpInput:TCPInErrs":                   {" SYN", " ACK"}, // a bad checksum; an option of a bad length
	"stack/demux.go:listenInput:ConnLimitDrops":           {"LISTEN SYN"},
	"stack/syncookie.go:cookieACKLocked:ConnLimitDrops":   {"LISTEN ACK"},
}

// checkDropsTraced: each drop site's evidence was seen, as a KindDrop of
// its cause on a traced stack of TestEveryCounterMoves, naming its
// connection's addresses (take checked that it is in that connection's
// ring); and dropEvidence lists no site that is gone.
func checkDropsTraced(t *testing.T, cv *coverage) {
	sites, _ := scanDropSites(t)
	keys := map[string]bool{}
	for _, s := range sites {
		keys[s.key()] = true
		ev, ok := dropEvidence[s.key()]
		if !ok {
			t.Errorf("%s: the drop site %s has no dropEvidence: provoke it in a scenario and list what shows it", s.pos, s.key())
			continue
		}
		for _, want := range ev {
			e, seen := cv.drops[s.cause+" "+want]
			switch {
			case !seen:
				t.Errorf("%s: no scenario traced a KindDrop %q in %q", s.pos, s.cause, want)
			case !e.Local.IsValid() || !e.Remote.IsValid() || e.Local.Port() == 0 || e.Remote.Port() == 0:
				t.Errorf("the KindDrop %q names no connection: %v", s.cause, e.String())
			}
		}
	}
	for k := range dropEvidence {
		if !keys[k] {
			t.Errorf("dropEvidence lists %s, which is no drop site", k)
		}
	}
}
