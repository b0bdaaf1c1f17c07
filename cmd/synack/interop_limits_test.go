package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// pyLimits opens N connections to HOST PORT from one address at once and
// prints, for each, what its first recv returned and after how long:
// "eof 0.01", "data 0.01" or an error name.
const pyLimits = `import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = [socket.create_connection((host, port), timeout=30) for _ in range(n)]
start = time.monotonic()
for s in socks:
    try:
        b = s.recv(1)
        what = "eof" if b == b"" else "data"
    except OSError as e:
        what = type(e).__name__
    print(what, "%.2f" % (time.monotonic() - start), flush=True)
`

// TestServeCapAndIdleTimeoutWithKernel: against the kernel's sockets,
// serve with --max-per-client 2 --idle-timeout 2s closes a client's third
// echo connection at once and its first two after two idle seconds, and
// logs the cap once.
func TestServeCapAndIdleTimeoutWithKernel(t *testing.T) {
	ns := tuntest.Namespace(t)
	py := python(t)
	script := writeScript(t, "limits.py", pyLimits)
	s := startServe(t, ns, "--max-per-client", "2", "--idle-timeout", "2s")
	var out bytes.Buffer
	if stderr, err := runIn(t, ns, 30*time.Second, nil, &out, py, script, serveAddr, "7", "3"); err != nil {
		t.Fatalf("python: %v: %s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("python printed %q, want 3 lines", out.String())
	}
	var after []float64
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 2 || f[0] != "eof" {
			t.Fatalf("connection ended with %q, want eof (closed by serve): %q", l, out.String())
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		after = append(after, v)
	}
	// The first two waited out the idle timeout; the third was closed at
	// accept, so it read EOF as soon as the first two were done.
	if after[0] < 1 || after[0] > 20 || after[2]-after[1] > 1 {
		t.Errorf("EOF after %v s, want the first two after ~2 s idle and the third at once", after)
	}
	log := s.stop(t)
	if n := strings.Count(log, "per-client cap"); n != 1 {
		t.Errorf("serve logged the cap %d times, want 1:\n%s", n, log)
	}
}
