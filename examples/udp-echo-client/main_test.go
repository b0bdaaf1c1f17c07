package main

import (
	"bytes"
	"testing"

	"github.com/synack-net/synack/examples/internal/rig"
)

// TestUDPEchoClientNoHandshake: the client gets its datagram back from
// the server's address, and the whole exchange is one datagram each way
// and not one TCP segment.
func TestUDPEchoClientNoHandshake(t *testing.T) {
	var out bytes.Buffer
	if err := rig.Run("udp-echo-client", nil, &out, nil, run); err != nil {
		t.Fatal(err)
	}
	want := "hello-udp (from 10.7.0.1:9999)\n" +
		"UDP: datagrams sent 1, received 1; TCP: three-way handshakes 0, segments sent 0, received 0\n" +
		"peer: UDP echo server on 10.7.0.1:9999: echoed 1 datagrams\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
