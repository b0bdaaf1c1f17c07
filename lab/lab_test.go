package lab

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/fault"
)

// update rewrites the golden files: go test ./lab -run TestGolden -update.
var update = flag.Bool("update", false, "rewrite testdata/*.golden with the scenarios' output")

// TestGolden runs every scenario at its defaults twice: the two runs must
// print the same bytes (the lab is deterministic), and those bytes must be
// the golden file's.
func TestGolden(t *testing.T) {
	for _, s := range Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			var first, second bytes.Buffer
			if err := Run(&first, s.Name, Options{Seed: DefaultSeed}); err != nil {
				t.Fatal(err)
			}
			if err := Run(&second, s.Name, Options{Seed: DefaultSeed}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Bytes(), second.Bytes()) {
				t.Fatalf("two runs with the same seed differ:\n%s\n---- second run ----\n%s", first.Bytes(), second.Bytes())
			}
			path := filepath.Join("testdata", s.Name+".golden")
			if *update {
				if err := os.WriteFile(path, first.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if !bytes.Equal(first.Bytes(), want) {
				t.Errorf("output differs from %s (run with -update after checking the change):\n%s", path, first.Bytes())
			}
		})
	}
}

// TestEveryScenarioListed checks that each registered scenario has its place
// in the list's order and a one-line summary.
func TestEveryScenarioListed(t *testing.T) {
	for _, s := range scenarios {
		found := false
		for _, n := range order {
			found = found || n == s.Name
		}
		if !found {
			t.Errorf("scenario %q is not in order", s.Name)
		}
		if s.Summary == "" || strings.Contains(s.Summary, "\n") {
			t.Errorf("scenario %q: summary %q is not one line", s.Name, s.Summary)
		}
	}
	var b bytes.Buffer
	if err := List(&b); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(b.String(), "\n"); got != len(scenarios) {
		t.Errorf("List wrote %d lines for %d scenarios:\n%s", got, len(scenarios), b.String())
	}
}

// TestUnknownNameListsValidNames checks that a name the lab lacks is an
// UnknownError naming every scenario.
func TestUnknownNameListsValidNames(t *testing.T) {
	err := Run(new(bytes.Buffer), "no-such-thing", Options{Seed: DefaultSeed})
	var u *UnknownError
	if !errors.As(err, &u) {
		t.Fatalf("Run(no-such-thing) = %v, want an *UnknownError", err)
	}
	for _, n := range Names() {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not name %q", err, n)
		}
	}
}

// TestSameSeedSameRunWithFaults runs every scenario twice with loss and
// delay on link/fault: the same seed must give the same bytes, and the
// output must name the conditions.
func TestSameSeedSameRunWithFaults(t *testing.T) {
	d := fault.Direction{Loss: 0.2, Delay: 10 * time.Millisecond}
	opts := Options{Seed: 2, Faults: fault.Config{Out: d, In: d}}
	for _, s := range Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			var first, second bytes.Buffer
			if err := Run(&first, s.Name, opts); err != nil {
				t.Fatal(err)
			}
			if err := Run(&second, s.Name, opts); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Bytes(), second.Bytes()) {
				t.Fatalf("two runs with seed 2, 20%% loss and 10ms delay differ:\n%s\n---- second run ----\n%s", first.Bytes(), second.Bytes())
			}
			if !strings.Contains(first.String(), "seed 2\nlink/fault at the client's end: client->server loss 20% delay 10ms; server->client loss 20% delay 10ms\n") {
				t.Errorf("the conditions line is missing:\n%s", first.String())
			}
		})
	}
}

// TestSeedPicksThePort checks that another seed runs the same scenario
// from another client port.
func TestSeedPicksThePort(t *testing.T) {
	var one, two bytes.Buffer
	if err := Run(&one, "handshake", Options{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if err := Run(&two, "handshake", Options{Seed: 2}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(one.String(), "10.0.0.1:49153") || !strings.Contains(two.String(), "10.0.0.1:49154") {
		t.Errorf("seed 1 and 2 should dial from ports 49153 and 49154:\n%s\n%s", one.String(), two.String())
	}
}
