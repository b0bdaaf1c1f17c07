//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// Interop tests of a newcomer's path (tunpick.go, dial.go): commands run
// without device flags beside a running serve take a device and subnet of
// their own, addresses given that clash are refused, dial gives up a
// silent peer after --timeout, and Ctrl-C ends a dial with a FIN. Root
// only, like every interop test; each skips, saying why, without it.

// TestClientsBesideServe: with serve on 10.7.0.0/24, ping and a second
// serve, given no device flags, take 10.7.1.0/24 and work; a dial given
// serve's subnet is refused with a message naming serve's device; the
// first serve serves on throughout.
func TestClientsBesideServe(t *testing.T) {
	ns := tuntest.Namespace(t)
	bin := synackBinary(t)
	s := startServe(t, ns)

	var out bytes.Buffer
	stderr, err := runIn(t, ns, 30*time.Second, nil, &out, bin, "ping", "10.7.0.1", "-c", "1")
	if err != nil || !strings.Contains(stderr, "using --addr 10.7.1.2/24 --host-addr 10.7.1.1/24") ||
		!strings.Contains(out.String(), "1 packets transmitted, 1 received") {
		t.Errorf("synack ping beside serve: %v\nstdout:\n%s\nstderr:\n%s\nwant one reply, on 10.7.1.0/24", err, out.String(), stderr)
	}
	checkNoPanic(t, "synack ping", stderr)

	second := startProc(t, ns, nil, bin, "serve")
	eventually(t, 20*time.Second, "the second serve logs that it serves", func() bool {
		if second.exited() {
			t.Fatalf("the second serve exited (%v):\n%s", second.err, second.stderr.String())
		}
		return strings.Contains(second.stderr.String(), "msg=serving")
	})
	if log := second.stderr.String(); !strings.Contains(log, "addr=10.7.1.2/24 host-addr=10.7.1.1/24") || !strings.Contains(log, "tun=synack") {
		t.Errorf("the second serve does not serve on a synackN device with 10.7.1.0/24:\n%s", log)
	}
	page := mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--max-time", "10", "http://10.7.1.2/")
	if !strings.Contains(page, "Hello from synack") {
		t.Errorf("the second serve's page: %q", page)
	}
	second.signal(t, syscall.SIGTERM)
	if err := second.wait(t, 20*time.Second); err != nil {
		t.Errorf("the second serve exited with %v after SIGTERM:\n%s", err, second.stderr.String())
	}

	tun := tunName()
	stderr, err = runIn(t, ns, 20*time.Second, nil, nil, bin, "dial", "10.7.0.1:7",
		"--tun", tun, "--addr", "10.7.0.3/24", "--host-addr", "10.7.0.1/24")
	want := "synack dial: --host-addr 10.7.0.1/24 overlaps 10.7.0.1/24 on " + s.tun + " (a running synack serve?)"
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("dial on serve's subnet: %v, stderr:\n%s\nwant exit 1 and the one line %q...", err, stderr, want)
	}
	if out, err := exec.Command("ip", "-n", ns.Name, "link", "show", "dev", tun).CombinedOutput(); err == nil {
		t.Errorf("the refused dial made its device %s:\n%s", tun, out)
	}

	if err := curlBytes(t, ns, 1, 100_000); err != nil {
		t.Errorf("the first serve no longer serves: %v", err)
	}
	s.stop(t)
}

// TestDialTimeoutOnTUN: a SYN to an address the kernel only routes (and,
// not forwarding, drops) is never answered: dial gives up after --timeout.
func TestDialTimeoutOnTUN(t *testing.T) {
	ns := tuntest.Namespace(t)
	start := time.Now()
	stderr, err := runIn(t, ns, 30*time.Second, nil, nil, synackBinary(t), "dial", "--timeout", "500ms", "10.7.0.99:7")
	took := time.Since(start)
	want := "synack dial: no answer from 10.7.0.99:7 within --timeout 500ms\n"
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || stderr != want {
		t.Errorf("dial to a silent address: %v, stderr %q; want exit 1 and %q", err, stderr, want)
	}
	if took < 500*time.Millisecond || took > 20*time.Second {
		t.Errorf("dial gave up after %v; want soon after 500ms", took)
	}
}

// pyReadToEOF accepts one connection on PORT, reads it to its end and
// prints how many bytes came, then closes.
const pyReadToEOF = `import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", int(sys.argv[1])))
l.listen(1)
c, _ = l.accept()
n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    n += len(b)
print("eof after %d bytes" % n, flush=True)
c.close()
`

// TestDialInterruptOnTUN: SIGINT ends a dial whose stdin is still open
// with a FIN after the data: the kernel's reader sees its end of file,
// closes, and dial exits with status 0, leaving no kernel socket behind.
func TestDialInterruptOnTUN(t *testing.T) {
	ns := tuntest.Namespace(t)
	requireTools(t, "ss")
	srv := startProc(t, ns, nil, python(t), writeScript(t, "eof.py", pyReadToEOF), "7000")
	waitListening(t, ns, 7000)
	in, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	dial := startProc(t, ns, in, synackBinary(t), "dial", "10.7.0.1:7000")
	if _, err := inW.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the kernel's connection is established", func() bool {
		r, ok := kernelConn(t, ns, 7000)
		return ok && r.state == "ESTAB"
	})
	dial.signal(t, syscall.SIGINT)
	if err := dial.wait(t, 20*time.Second); err != nil {
		t.Errorf("synack dial exited with %v after SIGINT; want status 0\n%s", err, dial.stderr.String())
	}
	if err := srv.wait(t, 20*time.Second); err != nil || srv.stdout.String() != "eof after 6 bytes\n" {
		t.Errorf("the kernel's reader: %v, printed %q; want the 6 bytes then end of file", err, srv.stdout.String())
	}
	checkNoPanic(t, "synack dial", dial.stderr.String())
	eventually(t, 10*time.Second, "the kernel's connection is gone", func() bool {
		_, ok := kernelConn(t, ns, 7000)
		return !ok
	})
}
