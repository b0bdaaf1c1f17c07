//go:build linux

package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// udpFragScript is the kernel's side of the fragmentation test: Python's
// socket module sends datagrams too big for one 1,500-byte packet to
// synack's UDP echo port (the kernel cuts them, IP_PMTUDISC_WANT being
// UDP's default) and checks each echo byte for byte (synack cut it, the
// kernel put it back together). It prints the kernel's Ip: counters
// FragOKs and ReasmOKs by how much they grew.
const udpFragScript = `
import socket, sys
host, sizes = sys.argv[1], [int(a) for a in sys.argv[2:]]
def ip_counters():
    lines = [l.split() for l in open("/proc/net/snmp") if l.startswith("Ip:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:])))
before = ip_counters()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for n in sizes:
    msg = bytes((i * 7 + i // 256 + n) % 256 for i in range(n))
    s.sendto(msg, (host, 7))
    got, src = s.recvfrom(65536)
    if got != msg or src != (host, 7):
        sys.exit("echo of %d bytes: got %d bytes from %r" % (n, len(got), src))
after = ip_counters()
print("ok FragOKs=%d ReasmOKs=%d" % (after["FragOKs"] - before["FragOKs"], after["ReasmOKs"] - before["ReasmOKs"]))
`

// TestInteropUDPFragmentsBothWays: datagrams of 4,000 bytes (three
// fragments on a 1,500-byte link) and of 65,507 bytes (the largest, 45
// fragments) go from Python on the kernel's sockets to synack serve's UDP
// echo and back: the kernel fragments, synack reassembles; synack
// fragments, the kernel reassembles. Both sides' counters say so. It runs
// with the TUN device's offloads (virtio-net headers) on, serve's
// default, and off: fragments take the path of ordinary packets either
// way.
func TestInteropUDPFragmentsBothWays(t *testing.T) {
	for _, offload := range []bool{true, false} {
		t.Run("offload="+strconv.FormatBool(offload), func(t *testing.T) {
			ns := tuntest.Namespace(t)
			py := python(t)
			s := startServe(t, ns, "--tun-offload="+strconv.FormatBool(offload))
			sizes := []string{"4000", "4000", "65507", "1472"} // the last fits one packet
			out := strings.TrimSpace(mustRunIn(t, ns, 60*time.Second, append([]string{py, writeScript(t, "frag.py", udpFragScript), serveAddr}, sizes...)...))
			if out != "ok FragOKs=3 ReasmOKs=3" {
				t.Errorf("kernel side printed %q; want the 3 datagrams over the MTU fragmented by the kernel and reassembled from synack's fragments", out)
			}
			var stats bytes.Buffer
			if _, err := runIn(t, ns, 10*time.Second, nil, &stats, "curl", "-sS", "--max-time", "5", "http://"+serveAddr+"/stats"); err != nil {
				t.Fatalf("curl /stats: %v", err)
			}
			want := map[string]int{"ReasmOKs": 3, "ReasmReqds": 3 + 3 + 45, "ReasmFails": 0, "FragOKs": 3, "FragCreates": 3 + 3 + 45, "FragFails": 0, "GSOInErrors": 0}
			for name, n := range want {
				m := regexp.MustCompile(`(?m)^Ip: ` + name + ` (\d+)$`).FindStringSubmatch(stats.String())
				if m == nil || m[1] != strconv.Itoa(n) {
					t.Errorf("synack's %s: %v, want %d", name, m, n)
				}
			}
			s.stop(t)
		})
	}
}
