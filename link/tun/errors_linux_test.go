//go:build linux

package tun

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The clone device's absence and a missing capability cannot be staged
// without a private mount namespace, so their messages are checked here.

func TestOpenErrorCloneDeviceMissing(t *testing.T) {
	err := openError("", &fs.PathError{Op: "open", Path: cloneDevice, Err: unix.ENOENT})
	if !strings.HasPrefix(err.Error(), "tun: /dev/net/tun not found: load the tun module or run where TUN exists") {
		t.Errorf("message = %q", err)
	}
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, unix.ENOENT) {
		t.Errorf("%v does not match fs.ErrNotExist and ENOENT", err)
	}
}

func TestOpenErrorPermission(t *testing.T) {
	for _, errno := range []unix.Errno{unix.EACCES, unix.EPERM} {
		err := openError("syn0", &fs.PathError{Op: "open", Path: cloneDevice, Err: errno})
		if !strings.HasPrefix(err.Error(), "tun: creating syn0 needs CAP_NET_ADMIN (run as root)") {
			t.Errorf("message = %q", err)
		}
		if !errors.Is(err, errno) || !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%v does not match %v and fs.ErrPermission", err, errno)
		}
	}
}
