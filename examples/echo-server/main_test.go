package main

import (
	"bytes"
	"testing"

	"github.com/synack-net/synack/examples/internal/rig"
)

// TestEchoServerEchoesPeer runs the example over the pipe: the peer's
// client gets its text back, and the server ends after its connection.
func TestEchoServerEchoesPeer(t *testing.T) {
	var out bytes.Buffer
	if err := rig.Run("echo-server", nil, &out, flags, serve); err != nil {
		t.Fatal(err)
	}
	want := "peer: client 0: sent \"hello-world\", received \"hello-world\"\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
