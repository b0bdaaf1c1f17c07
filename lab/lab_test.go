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

// TestScenariosShowWhatTheyClaim checks, beyond the golden files (which
// -update rewrites), that each scenario's output shows the behaviour its
// story tells: a golden file rewritten after a regression still fails here.
func TestScenariosShowWhatTheyClaim(t *testing.T) {
	want := map[string][]string{
		"handshake":           {"---- SYN seq=0", "<--- SYN,ACK seq=0 ack=1", "---- ACK seq=1 ack=1", "server: accept returned the connection"},
		"close":               {"FIN-WAIT-1   |---- FIN,ACK", "FIN-WAIT-2   |<--- ACK", "TIME-WAIT    |<--- FIN,ACK", "|  CLOSE-WAIT", "|  LAST-ACK", "(timeout 2MSL)", "then CLOSED"},
		"refused":             {"<--- RST,ACK seq=0 ack=1", "(ECONNREFUSED) after 0s"},
		"bound-not-listening": {"<--- RST,ACK seq=0 ack=1", "(ECONNREFUSED)", "macOS"},
		"timeout":             {"the SYN was sent at 0s, 1s, 3s, 7s, 15s, 31s, 1m3s", "(ETIMEDOUT) after 2m7s"},
		"half-close":          {"read the answer \"15\\n\" in FIN-WAIT-2", "|<--- PSH,ACK seq=1 ack=17 len=3"},
		"simultaneous-close":  {"|  CLOSING", "CLOSING      |", "|  TIME-WAIT", "TIME-WAIT    |"},
		"simultaneous-open":   {"|<--- SYN seq=0", "SYN-RECEIVED  |", "|  SYN-RECEIVED", "(no listener, no accept)"},
		"lost-segment":        {"len=13 ----X", "(timer loss probe)", "(timer retransmit)", "retransmitted segments: 2"},
		"fast-retransmit":     {"seq=1449 ack=1 len=1448 ------X", "retransmitted segments: 1, with no timeout"},
		"zero-window":         {"win=0", "(timer persist)", "window probes at 440ms, 840ms, 1.64s, 3.24s", "win=4096", "---->|\n             |               (drop: DropOutOfWindow)  |\n"},
		"time-wait":           {"---- ACK seq=2 ack=2 ---------------X", "acknowledged again", "CLOSED at 1m0.2s"},
		"keepalive":           {"(timer keepalive)", "RST seq=1", "(ETIMEDOUT) at 1m30s"},
		"backlog-full":        {"(drop: ListenOverflows)", "(drop: reason) = arrived", "SYN,ACK of the second sent again at 1s, 3s", "(ESTABLISHED) at 3s", "stayed SYN-RECEIVED"},
		"syn-flood":           {"8 half-open connections", "4 SYNs answered with a cookie", "(rcv ACK of SYN cookie)", "client: connect returned: ESTABLISHED"},
		"old-duplicate-syn":   {"SYN seq=-100000", "ack=-99999", "RST seq=-99999", "ended CLOSED, reset by the client"},
		"short-vs-long":       {"ten connections: 100 segments", "one connection:  28 segments", "10 connections in TIME-WAIT against 1"},
	}
	for _, s := range Scenarios() {
		lines, ok := want[s.Name]
		if !ok {
			t.Errorf("scenario %s has no claims to check here", s.Name)
			continue
		}
		var b bytes.Buffer
		if err := Run(&b, s.Name, Options{Seed: DefaultSeed}); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		for _, w := range lines {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", s.Name, w, b.String())
			}
		}
	}
}
