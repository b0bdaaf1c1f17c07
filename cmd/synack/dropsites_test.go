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
	counter string // the field added to
	cause   string
}

// dropHelpers are the functions that count and trace a drop, and where a
// drop counter's Add is allowed.
var dropHelpers = map[string]bool{"drop": true, "dropFor": true, "dropTCP": true, "traceDrop": true}

// untracedDropAdds are the drop counters added to outside the drop
// helpers, by "file:Field", each with the reason it escapes no trace.
var untracedDropAdds = map[string]string{
	// A SYN that finds the SYN queue full is traced by the dropFor of
	// TCPReqQFullDrop beside it.
	"tcp/listener.go:ListenDrops": "traced by the dropFor of TCPReqQFullDrop beside it",
	// admitConnLocked counts; its callers holding a segment trace it
	// (traceDrop "ConnLimitDrops"); a refused dial has no segment.
	"stack/limits.go:ConnLimitDrops": "traced by the callers of admitConnLocked that hold a segment",
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
// outside the helpers ("file:Field" -> position).
func scanDropSites(t *testing.T) (sites []dropSite, adds map[string]string) {
	t.Helper()
	adds = map[string]string{}
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
						sites = append(sites, siteOf(t, pos, name, call))
					case name == "Add":
						if ctr, ok := sel.X.(*ast.SelectorExpr); ok && isDropCounter(ctr.Sel.Name) {
							adds[rel+":"+ctr.Sel.Name] = pos
						}
					}
					return true
				})
			}
		}
	}
	sort.Slice(sites, func(i, j int) bool { return sites[i].pos < sites[j].pos })
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

// dropExceptions are the drop causes no scenario can provoke on a traced
// stack, each with its reason. None today.
var dropExceptions = map[string]string{}

// checkDropsTraced: every cause of a drop site was seen as a KindDrop on
// a traced stack of TestEveryCounterMoves, naming its connection's
// addresses, or is on dropExceptions.
func checkDropsTraced(t *testing.T, cv *coverage) {
	sites, _ := scanDropSites(t)
	for _, s := range sites {
		e, ok := cv.drops[s.cause]
		_, excepted := dropExceptions[s.cause]
		switch {
		case ok && excepted:
			t.Errorf("a KindDrop %q was traced but it is on dropExceptions", s.cause)
		case !ok && !excepted:
			t.Errorf("%s: no scenario traced a KindDrop %q", s.pos, s.cause)
		case ok && (!e.Local.IsValid() || !e.Remote.IsValid() || e.Local.Port() == 0 || e.Remote.Port() == 0):
			t.Errorf("the KindDrop %q names no connection: %v", s.cause, e.String())
		}
	}
}
