package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/synack-net/synack/bench"
)

// TestCommandEndsWithGoalLines runs the command at tiny sizes, as the
// issue asks the normal suite to, and checks the shape of what it prints
// and of the Markdown it writes.
func TestCommandEndsWithGoalLines(t *testing.T) {
	md := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	var out, errs bytes.Buffer
	args := []string{"-bulk-mib", "1", "-rr", "100", "-crr", "20", "-idle", "20", "-idle-1m", "30", "-scale", "50",
		"-scale-mib", "1", "-scale-rr", "100", "-loss-mib", "1", "-path-bytes", "100000", "-tun-bytes", "100000", "-runs", "1", "-q", "-markdown", md}
	if err := run(args, &out, &errs); err != nil {
		t.Fatalf("run: %v\n%s", err, errs.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	// Without root the real-path workloads are skipped, saying so, and
	// have no target lines.
	goals := len(bench.Goals)
	for _, l := range lines {
		if strings.HasPrefix(l, "skipped path-loss-") {
			goals -= 3 // goodput, timeouts, retransmissions
		}
	}
	if len(lines) < goals {
		t.Fatalf("printed %d lines:\n%s", len(lines), out.String())
	}
	goal := regexp.MustCompile(`^target [a-z0-9-]+ synack=\S+ gvisor=\S+ kernel=\S+ ratio=\S+ goal=\S+ (met|missed)$`)
	for i, l := range lines[len(lines)-goals:] {
		if !goal.MatchString(l) {
			t.Errorf("line %d from the end is %q, want a target line", goals-i, l)
		}
	}
	if l := lines[len(lines)-goals-1]; !strings.HasPrefix(l, "took ") {
		t.Errorf("the line before the target lines is %q, want took ...", l)
	}
	if !strings.HasPrefix(lines[0], "workload") {
		t.Errorf("output starts %q, want the table's header", lines[0])
	}
	if strings.Contains(out.String(), "\nerror ") {
		t.Errorf("a run failed:\n%s", out.String())
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "go run ./cmd/synack-bench -bulk-mib 1 ") {
		t.Errorf("BENCHMARKS.md does not name the command that made it:\n%s", b)
	}
}

func TestUnknownWorkloadAndTarget(t *testing.T) {
	var out, errs bytes.Buffer
	if err := run([]string{"-only", "nope"}, &out, &errs); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("-only nope: err %v, want one naming it", err)
	}
	if err := run([]string{"-targets", "linux"}, &out, &errs); err == nil || !strings.Contains(err.Error(), "linux") {
		t.Errorf("-targets linux: err %v, want one naming it", err)
	}
}
