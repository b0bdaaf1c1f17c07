package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/synack-net/synack/lab"
)

// TestLabUnknownNameListsScenarios checks that `synack lab` with a name it
// lacks fails with a usage status and lists every valid name on stderr.
func TestLabUnknownNameListsScenarios(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"lab", "handshak"}, &out, &errb); code != 2 {
		t.Fatalf("lab handshak exited %d, want 2; stderr: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), `no scenario "handshak"`) {
		t.Errorf("stderr does not say which name is unknown: %s", errb.String())
	}
	for _, n := range lab.Names() {
		if !strings.Contains(errb.String(), n) {
			t.Errorf("stderr does not list %q: %s", n, errb.String())
		}
	}
	if out.Len() != 0 {
		t.Errorf("stdout not empty: %s", out.String())
	}
}

// TestLabListsAndRuns checks that `synack lab` alone lists the scenarios
// and that a name runs one, with its flags after the name.
func TestLabListsAndRuns(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"lab"}, &out, &errb); code != 0 {
		t.Fatalf("lab exited %d: %s", code, errb.String())
	}
	for _, n := range lab.Names() {
		if !strings.Contains(out.String(), "  "+n+" ") {
			t.Errorf("list lacks %q:\n%s", n, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"lab", "handshake", "--seed", "7", "--delay", "50ms"}, &out, &errb); code != 0 {
		t.Fatalf("lab handshake exited %d: %s", code, errb.String())
	}
	for _, want := range []string{"seed 7", "client->server delay 50ms; server->client delay 50ms", "connect returned after 100ms", "SYN,ACK"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
