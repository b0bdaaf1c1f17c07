package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/synack-net/synack/examples/internal/rig/rigtest"
)

// udpServerPy is the UDP echo server beside article 004's, in the
// kernel's Python: bind, then recvfrom and sendto back, once. It says
// "ready" once bound.
const udpServerPy = `import socket

server = socket.socket(family=socket.AF_INET, type=socket.SOCK_DGRAM)
server.bind(('10.7.0.1', 9999))
print('ready', flush=True)
server.settimeout(10)
data, addr = server.recvfrom(65535)
server.sendto(data, addr)
print('echoed', data.decode(), 'to', addr[0])
server.close()
`

// TestKernelServerUDPEchoClient: the example over TUN sends its datagram
// to the kernel's Python echo server and prints the answer, from the
// kernel's address; one datagram each way and no TCP segment.
func TestKernelServerUDPEchoClient(t *testing.T) {
	l, ns := rigtest.Kernel(t)
	output := rigtest.Start(t, ns, udpServerPy)
	var out bytes.Buffer
	if err := run(l, &out); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^hello-udp \(from 10\.7\.0\.1:9999\)\n` +
		`UDP: datagrams sent 1, received 1; TCP: three-way handshakes 0, segments sent 0, received 0\n$`)
	if !want.MatchString(out.String()) {
		t.Errorf("example printed:\n%s\nwant it to match:\n%s", out.String(), want)
	}
	if got, want := output(), "echoed hello-udp to 10.7.0.2\n"; got != want {
		t.Errorf("python server printed %q, want %q", got, want)
	}
}
