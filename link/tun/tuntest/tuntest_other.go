//go:build !linux

package tuntest

import (
	"os/exec"
	"testing"

	"github.com/synack-net/synack/link/tun"
)

// NS is a network namespace made for one test (Linux only).
type NS struct {
	// Name is the namespace's name, as `ip netns` knows it.
	Name string
}

// Namespace skips the test: network namespaces exist on Linux only.
func Namespace(t testing.TB) *NS {
	t.Helper()
	t.Skip("tuntest: network namespaces and TUN devices need Linux")
	return nil
}

// Run is not reached: Namespace skips.
func (ns *NS) Run(t testing.TB, args ...string) string { return "" }

// Command is not reached: Namespace skips.
func (ns *NS) Command(args ...string) *exec.Cmd { return nil }

// Do is not reached: Namespace skips.
func (ns *NS) Do(t testing.TB, fn func() error) {}

// OpenTUN is not reached: Namespace skips.
func (ns *NS) OpenTUN(t testing.TB, name string, cfg tun.Config) *tun.Device { return nil }
