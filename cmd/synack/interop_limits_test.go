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
socks = []
for _ in range(n):
    try:
        socks.append(socket.create_connection((host, port), timeout=30))
    except OSError as e:  # reset before connect returned
        socks.append(type(e).__name__)
start = time.monotonic()
for s in socks:
    if isinstance(s, str):
        print(s, "0.00", flush=True)
        continue
    try:
        b = s.recv(1)
        what = "eof" if b == b"" else "data"
    except OSError as e:
        what = type(e).__name__
    print(what, "%.2f" % (time.monotonic() - start), flush=True)
`

// TestServeCapAndIdleTimeoutWithKernel: against the kernel's sockets,
// serve with --max-conns-per-ip 2 --idle-timeout 2s refuses a client's
// third echo connection at once, closed (EOF) or, with --over-cap reset,
// reset (ConnectionResetError), and closes its first two after two idle
// seconds; it logs the refusal once.
func TestServeCapAndIdleTimeoutWithKernel(t *testing.T) {
	ns := tuntest.Namespace(t)
	py := python(t)
	script := writeScript(t, "limits.py", pyLimits)
	for _, c := range []struct{ overCap, third string }{{"close", "eof"}, {"reset", "ConnectionResetError"}} {
		t.Run(c.overCap, func(t *testing.T) {
			s := startServe(t, ns, "--max-conns-per-ip", "2", "--idle-timeout", "2s", "--over-cap", c.overCap)
			var out bytes.Buffer
			if stderr, err := runIn(t, ns, 30*time.Second, nil, &out, py, script, serveAddr, "7", "3"); err != nil {
				t.Fatalf("python: %v: %s", err, stderr)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 3 {
				t.Fatalf("python printed %q, want 3 lines", out.String())
			}
			var after []float64
			for i, l := range lines {
				f := strings.Fields(l)
				want := "eof"
				if i == 2 {
					want = c.third
				}
				if len(f) != 2 || f[0] != want {
					t.Fatalf("connection %d ended with %q, want %s: %q", i+1, l, want, out.String())
				}
				v, _ := strconv.ParseFloat(f[1], 64)
				after = append(after, v)
			}
			// The first two waited out the idle timeout; the third was
			// refused at accept, so its end was there as soon as the first
			// two were done.
			if after[0] < 1 || after[0] > 20 || after[2]-after[1] > 1 {
				t.Errorf("ends after %v s, want the first two after ~2 s idle and the third at once", after)
			}
			log := s.stop(t)
			if n := strings.Count(log, "msg=policy refused-per-addr=1 "); n != 1 || !strings.Contains(log, "refuse="+c.overCap) {
				t.Errorf("serve logged the refusal %d times, want 1:\n%s", n, log)
			}
			if !strings.Contains(log, "refused-per-addr=1 refused-total=0 idle-closed=2") {
				t.Errorf("serve's final counts lack the refusal and the two idle closes:\n%s", log)
			}
		})
	}
}
