package main

import (
	"bytes"
	"testing"

	"github.com/synack-net/synack/examples/internal/rig"
)

// TestOneShotServerAnswersNothing: the server prints nothing, and its
// client, the peer, gets the end of the stream and no text.
func TestOneShotServerAnswersNothing(t *testing.T) {
	var out bytes.Buffer
	if err := rig.Run("oneshot-server", nil, &out, nil, run); err != nil {
		t.Fatal(err)
	}
	want := "peer: client 0: sent \"I am client\", received \"\"\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
