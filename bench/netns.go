package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// netns is a network namespace a real-path run makes and deletes.
type netns struct {
	name string // as `ip netns` knows it: synack-bench-<random hex>
}

// randomHex is n random bytes in hex: unique names for namespaces and
// nftables tables, so that concurrent runs never meet.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// newNetns makes a fresh network namespace with its loopback up.
func newNetns(ctx context.Context) (*netns, error) {
	ns := &netns{name: "synack-bench-" + randomHex(4)}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", ns.name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", ns.name, err, out)
	}
	if _, err := ns.run(ctx, nil, "ip", "link", "set", "lo", "up"); err != nil {
		ns.delete()
		return nil, err
	}
	return ns, nil
}

// delete removes the namespace and with it every device and nftables
// table still in it.
func (ns *netns) delete() error {
	if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", ns.name, err, out)
	}
	return nil
}

// run runs args inside the namespace (ip netns exec) with stdin (nil for
// none) and returns its standard output; an error carries its standard
// error.
func (ns *netns) run(ctx context.Context, stdin []byte, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("in %s: %s: %v: %s", ns.name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// do runs fn on an OS thread inside the namespace, so that the sockets and
// devices it makes belong there. The thread goes back afterwards and is
// then let go with its goroutine (never unlocked), so nothing of the
// namespace leaks to other goroutines.
func (ns *netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns.name)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- os.NewSyscallError("setns", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			ferr = errors.Join(ferr, os.NewSyscallError("setns back", err))
		}
		errc <- ferr
	}()
	return <-errc
}

// pathTools are the commands a real-path run needs.
var pathTools = []string{"ip", "nft", "curl", "nstat", "ethtool"}

// pathUsable says why the real-path workloads cannot run here, or nil:
// they need root (to make namespaces, TUN and veth devices and nftables
// rules), /dev/net/tun and pathTools.
func pathUsable() error {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("needs root (network namespaces, TUN and veth devices, nftables); running as uid %d", uid)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("needs /dev/net/tun: %v", err)
	}
	var missing []string
	for _, t := range pathTools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("needs %s installed (apt-get install iproute2 nftables curl ethtool)", strings.Join(missing, ", "))
	}
	return nil
}
