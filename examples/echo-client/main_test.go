package main

import (
	"bytes"
	"testing"

	"github.com/synack-net/synack/examples/internal/rig"
)

// TestEchoClientPrintsEcho runs the example over the pipe against the
// peer's echo server: it prints the article's line, and the server saw
// one connection and echoed its 11 bytes.
func TestEchoClientPrintsEcho(t *testing.T) {
	var out bytes.Buffer
	if err := rig.Run("echo-client", nil, &out, nil, run); err != nil {
		t.Fatal(err)
	}
	want := "hello-world\n" +
		"peer: echo server on 10.7.0.1:8000: served 1 connections, echoed 11 bytes\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
