//go:build linux

package tuntest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/synack-net/synack/link/tun"
)

// commandTimeout bounds every command Run starts, so a stuck command fails
// the test instead of hanging it.
const commandTimeout = 30 * time.Second

// NS is a network namespace made for one test and deleted by its cleanup.
type NS struct {
	// Name is the namespace's name, as `ip netns` knows it:
	// synack-tun-<random hex>.
	Name string
}

// Namespace makes a fresh network namespace, with its loopback up, and
// deletes it in t.Cleanup, also when the test fails. It skips the test when
// not run as root, when /dev/net/tun is missing or when the ip command is
// not installed, saying which.
func Namespace(t testing.TB) *NS {
	t.Helper()
	Require(t)
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	ns := &NS{Name: "synack-tun-" + hex.EncodeToString(b[:])}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("tuntest: ip netns add %s: %v: %s", ns.Name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			t.Errorf("tuntest: ip netns del %s: %v: %s", ns.Name, err, out)
		}
	})
	ns.Run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Require skips the test unless it can make namespaces and TUN devices:
// it must run as root, /dev/net/tun must exist and the ip command must be
// installed. The message says which is missing.
func Require(t testing.TB) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		t.Skipf("tuntest: skipped: needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to make network namespaces and TUN devices; running as uid %d", uid)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			t.Skip("tuntest: skipped: /dev/net/tun not found (load the tun module or run where TUN exists)")
		}
		t.Skipf("tuntest: skipped: /dev/net/tun: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("tuntest: skipped: the ip command (iproute2) is not installed")
	}
}

// Command returns a command that runs args inside the namespace
// (`ip netns exec NAME args...`), for a test to start in the background;
// Run is the simpler choice for one that ends by itself.
func (ns *NS) Command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

// Run runs args inside the namespace (`ip netns exec NAME args...`) and
// returns its combined output; it fails the test if the command fails or
// runs longer than 30 s.
func (ns *NS) Run(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tuntest: in %s: %s: %v\n%s", ns.Name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Do runs fn on an OS thread that has entered the namespace, so that the
// sockets and devices fn creates belong to it (and stay there afterwards),
// and fails the test if fn returns an error. fn runs on another goroutine:
// it must not call t.Fatal or t.FailNow. After fn the thread goes back to
// the original namespace and is then discarded (its goroutine ends with
// the thread locked), so nothing fn changed on it, the namespace or its
// capabilities, say, can leak to other goroutines.
func (ns *NS) Do(t testing.TB, fn func() error) {
	t.Helper()
	if err := ns.do(fn); err != nil {
		t.Fatalf("tuntest: in %s: %v", ns.Name, err)
	}
}

// do is Do, returning the error.
func (ns *NS) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine.
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("saving the current namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns.Name)
		if err != nil {
			errc <- fmt.Errorf("opening the namespace: %w", err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering the namespace: %w", os.NewSyscallError("setns", err))
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			ferr = errors.Join(ferr, fmt.Errorf("leaving the namespace: %w", os.NewSyscallError("setns", err)))
		}
		errc <- ferr
	}()
	return <-errc
}

// OpenTUN opens a TUN device inside the namespace with tun.Open(name, cfg)
// and closes it in t.Cleanup; it fails the test if Open fails. The device
// stays in the namespace, and its descriptor serves the test from any
// thread.
func (ns *NS) OpenTUN(t testing.TB, name string, cfg tun.Config) *tun.Device {
	t.Helper()
	var dev *tun.Device
	ns.Do(t, func() error {
		var err error
		dev, err = tun.Open(name, cfg)
		return err
	})
	t.Cleanup(func() { _ = dev.Close() })
	return dev
}
