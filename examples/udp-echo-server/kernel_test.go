package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/synack-net/synack/examples/internal/rig/rigtest"
)

// udpClientPy is the UDP client beside article 004's, in the kernel's
// Python: sendto, recvfrom, print.
const udpClientPy = `import socket

address = ('10.7.0.2', 9999)
client = socket.socket(family=socket.AF_INET, type=socket.SOCK_DGRAM)
client.settimeout(10)
client.sendto(b'hello-udp', address)
data, addr = client.recvfrom(65535)
print(data.decode(), addr)
client.close()
`

// TestKernelClientUDPEchoServer: the kernel's Python sends a datagram to
// the example over TUN and gets it back from synack's address and port;
// the example printed the kernel's address and the datagram.
func TestKernelClientUDPEchoServer(t *testing.T) {
	l, ns := rigtest.Kernel(t)
	datagrams = 1
	t.Cleanup(func() { datagrams = 0 })
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- serve(l, &out) }()
	select {
	case <-l.Serving():
	case err := <-done:
		t.Fatalf("the server ended before it was bound: %v", err)
	}
	if got, want := rigtest.Run(t, ns, udpClientPy), "hello-udp ('10.7.0.2', 9999)\n"; got != want {
		t.Errorf("python client printed %q, want %q", got, want)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := regexp.MustCompile(`^10\.7\.0\.1:\d+: "hello-udp"\n$`); !want.MatchString(out.String()) {
		t.Errorf("example printed %q, want it to match %s", out.String(), want)
	}
}
