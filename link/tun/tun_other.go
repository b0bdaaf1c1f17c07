//go:build !linux

package tun

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/synack-net/synack/link"
)

// Open is available on Linux only; elsewhere it returns an error that
// matches errors.ErrUnsupported.
func Open(name string, cfg Config) (*Device, error) {
	return nil, fmt.Errorf("tun: TUN devices are supported on Linux only, not %s: %w",
		runtime.GOOS, errors.ErrUnsupported)
}

// readError wraps a failed read (never reached: Open always fails here).
func readError(name string, err error) error {
	return fmt.Errorf("tun: reading from %s: %w", name, err)
}

// writeError wraps a failed write (never reached: Open always fails here).
func writeError(name string, err error) error {
	return fmt.Errorf("tun: writing to %s: %w", name, err)
}

// setOffloads is never reached: Open always fails here.
func setOffloads(f *os.File, o Offloads) error { return errors.ErrUnsupported }

// vnetWriter is never used: Open always fails here.
type vnetWriter struct{}

func (w *vnetWriter) init(f *os.File) {}

func (w *vnetWriter) write(pkt []byte, g link.GSO) (int, error) { return 0, errors.ErrUnsupported }

func (w *vnetWriter) writeParts(parts [][]byte, g link.GSO) (int, error) {
	return 0, errors.ErrUnsupported
}
