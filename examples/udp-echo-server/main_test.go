package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/synack-net/synack/examples/internal/rig"
)

// TestUDPEchoServerEchoesDatagram: the server prints the peer's datagram
// with its sender (the port varies), and the peer gets the same bytes
// back.
func TestUDPEchoServerEchoesDatagram(t *testing.T) {
	var out bytes.Buffer
	if err := rig.Run("udp-echo-server", nil, &out, flags, serve); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^10\.7\.0\.1:\d+: "hello-udp"\n` +
		`peer: UDP client: sent "hello-udp", received "hello-udp"\n$`)
	if !want.MatchString(out.String()) {
		t.Errorf("output:\n%s\nwant it to match:\n%s", out.String(), want)
	}
}
