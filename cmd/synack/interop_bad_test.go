//go:build linux

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// TestServeTUNVanishes: the TUN device is deleted from outside while serve
// serves a connection; serve says so and exits with status 1 at once,
// without a panic.
func TestServeTUNVanishes(t *testing.T) {
	ns := tuntest.Namespace(t)
	s := startServe(t, ns)
	py := startAgent(t, ns)
	py.do(t, "connect "+serveAddr+" 7")
	echoRoundTrip(t, py, 5000)

	start := time.Now()
	mustRunIn(t, ns, 10*time.Second, "ip", "link", "del", s.tun)
	s.wait(t, 10*time.Second)
	t.Logf("serve exited %v after the device was deleted", time.Since(start).Round(time.Millisecond))
	log := s.stderr.String()
	if s.exitCode() != 1 {
		t.Errorf("serve exited with status %d, want 1:\n%s", s.exitCode(), log)
	}
	want := "synack serve: TUN device failed: tun: device " + s.tun + " is gone (deleted from outside?)"
	if !strings.Contains(log, want) {
		t.Errorf("serve's stderr lacks %q:\n%s", want, log)
	}
	checkNoPanic(t, "synack serve", log)
}

// echoRoundTrip has the agent, connected to echo, send n bytes and read
// them back.
func echoRoundTrip(t *testing.T, py *agent, n int) {
	t.Helper()
	py.do(t, fmt.Sprintf("send %d", n))
	sum := sha256.Sum256(pattern(n))
	if got := py.do(t, fmt.Sprintf("recv %d", n)); got != hex.EncodeToString(sum[:]) {
		t.Errorf("echo sent back %d bytes with sha256 %s, not the ones sent", n, got)
	}
}

// TestServePortInUse: two services on one port make serve exit with a
// clear message (and remove its device); a second serve on a device the
// first one holds is told it is busy, and the first serves on.
func TestServePortInUse(t *testing.T) {
	ns := tuntest.Namespace(t)
	requireTools(t, "curl")
	bin := synackBinary(t)
	tun := tunName()
	stderr, err := runIn(t, ns, 20*time.Second, nil, nil, bin, "serve", "--tun", tun, "--echo", "80")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 ||
		!strings.Contains(stderr, "synack serve: http service: listen tcp 0.0.0.0:80: address already in use") {
		t.Errorf("serve --echo 80: %v, stderr:\n%s\nwant exit 1 and the http service's port in use", err, stderr)
	}
	checkNoPanic(t, "synack serve", stderr)
	if out, err := exec.Command("ip", "-n", ns.Name, "link", "show", "dev", tun).CombinedOutput(); err == nil {
		t.Errorf("device %s still exists after serve exited:\n%s", tun, out)
	}

	s := startServe(t, ns)
	stderr, err = runIn(t, ns, 20*time.Second, nil, nil, bin, "serve", "--tun", s.tun, "--addr", "10.7.0.3/24")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr, "tun: "+s.tun+" is busy") {
		t.Errorf("a second serve on %s: %v, stderr:\n%s\nwant exit 1 and the device busy", s.tun, err, stderr)
	}
	checkNoPanic(t, "the second synack serve", stderr)
	if err := curlBytes(t, ns, 1, 100_000); err != nil {
		t.Errorf("the first serve no longer serves: %v", err)
	}
	s.stop(t)
}

// pyReset connects to HOST PORT, starts an upload (MODE "upload": an HTTP
// POST to /upload announcing more than it sends; "raw": bytes to the
// port), sends N bytes of it and closes with SO_LINGER 0: a RST.
const pyReset = `import socket, struct, sys
host, port, mode, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.create_connection((host, port), timeout=20)
if mode == "upload":
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n" % (host.encode(), 4 * n))
s.sendall(bytes(n))
print("local=%s:%d" % s.getsockname(), flush=True)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
`

var resetLocal = regexp.MustCompile(`local=(\S+)`)

// TestServeClientResetsMidTransfer: clients reset their connections in the
// middle of an upload, to discard and to HTTP's /upload; serve logs each
// reset, no panic, and goes on serving: a connection opened before the
// resets still echoes, and new clients succeed.
func TestServeClientResetsMidTransfer(t *testing.T) {
	ns := tuntest.Namespace(t)
	script := writeScript(t, "reset.py", pyReset)
	bulkScript := writeScript(t, "bulk.py", pyBulk)
	s := startServe(t, ns)
	survivor := startAgent(t, ns)
	survivor.do(t, "connect "+serveAddr+" 7")
	echoRoundTrip(t, survivor, 10000)

	for _, c := range []struct {
		port int
		mode string
		log  string // what serve logs for the reset connection
	}{
		{9, "raw", `msg=closed service=discard remote=%s bytes=\d+ err=".*connection reset by peer"`},
		{80, "upload", `msg="upload failed" service=http remote=%s bytes=\d+ err=".*connection reset by peer"`},
	} {
		out := mustRunIn(t, ns, 30*time.Second, python(t), script, serveAddr, fmt.Sprint(c.port), c.mode, "3000000")
		m := resetLocal.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("reset client printed %q", out)
		}
		want := regexp.MustCompile(fmt.Sprintf(c.log, regexp.QuoteMeta(m[1])))
		eventually(t, 10*time.Second, "serve logs the reset of "+m[1]+" on port "+fmt.Sprint(c.port), func() bool {
			return want.MatchString(s.stderr.String())
		})
		// synack holds nothing of the reset connection.
		eventually(t, 10*time.Second, "synack's table drops "+m[1], func() bool {
			return !strings.Contains(mustRunIn(t, ns, 10*time.Second, "curl", "-sS", "--fail", "http://"+serveAddr+"/netstat"), m[1])
		})
	}

	echoRoundTrip(t, survivor, 100000)
	if err := curlBytes(t, ns, 5, 1_000_000); err != nil {
		t.Error(err)
	}
	if _, got, bad := bulk(t, ns, bulkScript, 7, 64<<10, 1_000_000); got != 1_000_000 || bad != -1 {
		t.Errorf("a new echo client after the resets: %d bytes back, first wrong at %d", got, bad)
	}
	survivor.do(t, "close")
	log := s.stop(t)
	t.Logf("serve's log:\n%s", log)
}
