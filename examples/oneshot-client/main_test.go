package main

import (
	"bytes"
	"testing"

	"github.com/synack-net/synack/examples/internal/rig"
)

// TestOneShotClientPrintsEmptyLine: against the one-shot server, which
// reads and closes, the client's recv gets the end of the stream: it
// prints an empty line, and the server got the client's text.
func TestOneShotClientPrintsEmptyLine(t *testing.T) {
	var out bytes.Buffer
	if err := rig.Run("oneshot-client", nil, &out, nil, run); err != nil {
		t.Fatal(err)
	}
	want := "\n" +
		"peer: one-shot server on 10.7.0.1:8080: received \"I am client\", closed without answering\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
