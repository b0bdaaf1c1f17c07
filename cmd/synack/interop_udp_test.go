//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// udpClientScript is the kernel's side of the UDP tests: Python's socket
// module sends datagrams of the sizes given to synack's echo port and
// checks each echo, then checks that discard sends nothing back and that
// a datagram to a closed port makes the kernel's connected socket fail
// with ECONNREFUSED (from synack's ICMP port unreachable).
const udpClientScript = `
import socket, sys
host = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for n in (0, 1, 512, 1472):
    msg = bytes((i * 7 + n) % 256 for i in range(n))
    s.sendto(msg, (host, 7))
    got, src = s.recvfrom(65536)
    if got != msg or src != (host, 7):
        sys.exit("echo of %d bytes: got %d bytes from %r" % (n, len(got), src))
d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
d.settimeout(0.5)
d.sendto(b"into the void", (host, 9))
try:
    d.recvfrom(100)
    sys.exit("discard answered")
except socket.timeout:
    pass
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(5)
c.connect((host, 4444))
c.send(b"anyone?")
try:
    c.recv(100)
    sys.exit("closed port answered")
except ConnectionRefusedError:
    pass
print("ok")
`

// TestInteropUDPEchoFromKernel: Python on the kernel's sockets talks UDP
// to synack serve: echo on port 7 returns each datagram (0 to 1,472
// bytes, the most one 1,500-byte packet carries), discard on port 9
// answers nothing, and a closed port answers ICMP port unreachable, which
// the kernel reports to its connected socket as ECONNREFUSED.
func TestInteropUDPEchoFromKernel(t *testing.T) {
	ns := tuntest.Namespace(t)
	py := python(t)
	s := startServe(t, ns)
	out := mustRunIn(t, ns, 30*time.Second, py, writeScript(t, "udp.py", udpClientScript), serveAddr)
	if strings.TrimSpace(out) != "ok" {
		t.Errorf("kernel-side UDP script printed %q", out)
	}
	s.stop(t)
}

// dnsServerScript is a tiny DNS server on the kernel's side: it answers
// an A query for kernel.test. with the address given, NXDOMAIN for any
// other name, over UDP port 53.
const dnsServerScript = `
import socket, struct, sys
addr = socket.inet_aton(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 53))
print("listening", flush=True)
while True:
    q, src = s.recvfrom(512)
    qid, flags, qd = struct.unpack("!HHH", q[:6])
    i = 12
    labels = []
    while q[i]:
        labels.append(q[i+1:i+1+q[i]].decode())
        i += 1 + q[i]
    qtype = struct.unpack("!H", q[i+1:i+3])[0]
    question = q[12:i+5]
    name = ".".join(labels).lower()
    if name == "kernel.test" and qtype == 1:
        r = struct.pack("!HHHHHH", qid, 0x8400, 1, 1, 0, 0) + question
        r += struct.pack("!HHHLH", 0xc00c, 1, 1, 60, 4) + addr
    elif name == "kernel.test":
        r = struct.pack("!HHHHHH", qid, 0x8400, 1, 0, 0, 0) + question
    else:
        r = struct.pack("!HHHHHH", qid, 0x8403, 1, 0, 0, 0) + question
    s.sendto(r, src)
`

// TestInteropGetByNameThroughDNS: synack get --dns fetches
// http://kernel.test:8000/ from Python's http.server, the name looked up
// by Go's resolver running over synack's UDP, asking a tiny DNS server in
// Python on the kernel's sockets.
func TestInteropGetByNameThroughDNS(t *testing.T) {
	ns := tuntest.Namespace(t)
	py := python(t)
	requireTools(t, "ss")
	dns := startProc(t, ns, nil, py, writeScript(t, "dns.py", dnsServerScript), clientHost)
	eventually(t, 10*time.Second, "the DNS script listens", func() bool { return strings.Contains(dns.stdout.String(), "listening") })
	dir := t.TempDir()
	text := "hello by name\n"
	if err := os.WriteFile(filepath.Join(dir, "name.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	startProc(t, ns, nil, py, "-m", "http.server", "8000", "--bind", "0.0.0.0", "--directory", dir)
	waitListening(t, ns, 8000)
	var out bytes.Buffer
	args := append(append([]string{synackBinary(t), "get", "--dns", clientHost + ":53"}, clientFlags(tunName())...), "http://kernel.test:8000/name.txt")
	stderr, err := runIn(t, ns, 60*time.Second, nil, &out, args...)
	if err != nil {
		t.Fatalf("synack get by name: %v\n%s", err, stderr)
	}
	checkNoPanic(t, "synack get", stderr)
	if got, want := out.String(), "HTTP/1.0 200 OK\n"+text; got != want {
		t.Errorf("synack get printed %q, want %q", got, want)
	}
	out.Reset()
	args = append(append([]string{synackBinary(t), "get", "--dns", clientHost + ":53"}, clientFlags(tunName())...), "http://nowhere.test:8000/")
	if stderr, err := runIn(t, ns, 60*time.Second, nil, &out, args...); err == nil || !strings.Contains(stderr, "no such host") {
		t.Errorf("synack get of a name that does not exist: %v, %s", err, stderr)
	}
	// No DNS server on the port asked: the kernel answers the query with
	// ICMP port unreachable, which synack matches to the resolver's
	// connected socket, whose read fails with ECONNREFUSED.
	args = append(append([]string{synackBinary(t), "get", "--dns", clientHost + ":5353"}, clientFlags(tunName())...), "http://kernel.test:8000/")
	if stderr, err := runIn(t, ns, 60*time.Second, nil, &out, args...); err == nil || !strings.Contains(stderr, "connection refused") {
		t.Errorf("synack get asking a port with no DNS server: %v, %s", err, stderr)
	}
}

// TestInteropPingBothWays: the kernel's ping(8) gets synack serve's echo
// replies, and synack ping gets the kernel's.
func TestInteropPingBothWays(t *testing.T) {
	ns := tuntest.Namespace(t)
	requireTools(t, "ping")
	s := startServe(t, ns)
	out := mustRunIn(t, ns, 30*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "5", serveAddr)
	if !strings.Contains(out, "3 packets transmitted, 3 received") {
		t.Errorf("kernel ping of synack:\n%s", out)
	}
	s.stop(t)

	out = mustRunIn(t, ns, 30*time.Second, append(append([]string{synackBinary(t), "ping", "-c", "3", "-i", "200ms", "-s", "100"}, clientFlags(tunName())...), clientHost)...)
	if !strings.Contains(out, "3 packets transmitted, 3 received") {
		t.Errorf("synack ping of the kernel:\n%s", out)
	}
	if n := len(regexp.MustCompile(`108 bytes from `+regexp.QuoteMeta(clientHost)+`: icmp_seq=\d time=[0-9.]+ ms`).FindAllString(out, -1)); n != 3 {
		t.Errorf("synack ping printed %d reply lines, want 3:\n%s", n, out)
	}
}
