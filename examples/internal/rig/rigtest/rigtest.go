// Package rigtest runs the examples against the Linux kernel in tests:
// the example's stack on a TUN device inside a network namespace made
// for the test (link/tun/tuntest), and the kernel's side played by
// Python's own socket module running the articles' programs. Tests using
// it skip, saying why, without root, /dev/net/tun, the ip command or
// python3; CI runs them as root.
//
// Layer: test harness over package rig and tuntest.
package rigtest

import (
	"bufio"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/examples/internal/rig"
	"github.com/synack-net/synack/link/tun/tuntest"
)

// The addresses over TUN: the example's stack, and the kernel's side of
// the device.
var (
	Addr     = netip.MustParsePrefix("10.7.0.2/24")
	PeerAddr = netip.MustParsePrefix("10.7.0.1/24")
)

// limit bounds each Python program and each wait, so that a stuck
// exchange fails the test instead of hanging it.
const limit = 20 * time.Second

// Kernel makes a namespace, a TUN device in it and the example's stack on
// the device, as `--tun` does: the kernel is the peer at 10.7.0.1, the
// example at 10.7.0.2. Everything is removed in t.Cleanup.
func Kernel(t *testing.T) (*rig.Rig, *tuntest.NS) {
	t.Helper()
	Python(t)
	ns := tuntest.Namespace(t)
	var l *rig.Rig
	ns.Do(t, func() error {
		var err error
		l, err = rig.Open(rig.Flags{TUN: "snk0", Addr: Addr.String(), PeerAddr: PeerAddr.String()})
		return err
	})
	t.Cleanup(func() { l.Close() })
	return l, ns
}

// Python returns Debian's /usr/bin/python3 (what CI installs), else
// python3 from PATH; it skips the test when there is none.
func Python(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("rigtest: skipped: python3 is not installed (.ci/run installs it with apt-get)")
	}
	return p
}

// Run runs the Python program script inside ns and returns its standard
// output; it fails the test if the program fails or takes longer than 20 s.
func Run(t *testing.T, ns *tuntest.NS, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, Python(t), write(t, script))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python in %s: %v\n%s%s", ns.Name, err, out, stderr.String())
	}
	return string(out)
}

// Start starts the Python program script inside ns and returns once it
// has printed its first line, which it must print (flushed) when ready,
// its socket bound; the rest of its output comes from the Output function
// returned, which waits for the program to end. The program is killed in
// t.Cleanup if still running.
func Start(t *testing.T, ns *tuntest.NS, script string) (output func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, Python(t), write(t, script))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	r := bufio.NewReader(stdout)
	lines := make(chan string, 1)
	rest := make(chan string, 1)
	go func() {
		defer close(done)
		first, _ := r.ReadString('\n')
		lines <- first
		var b strings.Builder
		r.WriteTo(&b)
		cmd.Wait()
		rest <- b.String()
	}()
	if first := <-lines; first == "" {
		t.Fatalf("python in %s ended before it was ready:\n%s", ns.Name, stderr.String())
	}
	return func() string {
		t.Helper()
		out := <-rest
		if cmd.ProcessState == nil || !cmd.ProcessState.Success() {
			t.Errorf("python in %s: %v\n%s", ns.Name, cmd.ProcessState, stderr.String())
		}
		return out
	}
}

// write puts script in a file of the test's temporary directory.
func write(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "article.py")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
