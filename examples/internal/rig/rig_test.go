package rig

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/synack-net/synack/bsd"
)

// TestRunBadArgumentsFail: a wrong address, a stray argument and -h end
// Run with an error naming the problem, before anything runs.
func TestRunBadArgumentsFail(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "10.7.0.2"}, `--addr "10.7.0.2" is not an IPv4 address with a prefix`},
		{[]string{"--addr", "::1/64"}, `--addr "::1/64" is not an IPv4 address`},
		{[]string{"--peer-addr", "10.7.0.2/24"}, `--peer-addr "10.7.0.2/24" is not an IPv4 address with a prefix, other than --addr`},
		{[]string{"--peer-addr", ""}, `--peer-addr "" is not`},
		{[]string{"stray"}, `unexpected arguments ["stray"]`},
	} {
		ran := false
		err := Run("x", tc.args, io.Discard, nil, func(*Rig, io.Writer) error { ran = true; return nil })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error with %q", tc.args, err, tc.want)
		}
		if ran {
			t.Errorf("%q: the example ran", tc.args)
		}
	}
	err := Run("x", []string{"-h"}, io.Discard, nil, func(*Rig, io.Writer) error { return nil })
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: got %v, want flag.ErrHelp", err)
	}
}

// TestRunPipePeerAndErrors: over the pipe the example and its peer get
// the addresses asked for; the peer's transcript follows the example's
// output, each line after "peer: "; the example's error is returned.
func TestRunPipePeerAndErrors(t *testing.T) {
	var out strings.Builder
	boom := errors.New("boom")
	err := Run("x", []string{"--addr", "192.168.5.9/24", "--peer-addr", "192.168.5.1/24"}, &out, nil,
		func(l *Rig, out io.Writer) error {
			if l.Addr.String() != "192.168.5.9" || l.PeerAddr.String() != "192.168.5.1" || l.Peer == nil {
				t.Errorf("rig: addr %v, peer %v (%v)", l.Addr, l.PeerAddr, l.Peer)
			}
			io.WriteString(out, "mine\n")
			l.Say("two\nlines")
			return boom
		})
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want boom", err)
	}
	if want := "mine\npeer: two\npeer: lines\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

// TestRunFailingExampleEndsPeer: an example that fails while its peer
// waits for it (a client connected to a listener nobody accepts from)
// does not hang Run: the stacks close, the peer's calls end, and the
// example's error is returned.
func TestRunFailingExampleEndsPeer(t *testing.T) {
	boom := errors.New("boom")
	err := Run("x", nil, io.Discard, nil, func(l *Rig, out io.Writer) error {
		fd, err := l.Host.Socket(bsd.AF_INET, bsd.SOCK_STREAM, 0)
		if err != nil {
			return err
		}
		if err := l.Host.Bind(fd, netip.AddrPortFrom(l.Addr, 8000)); err != nil {
			return err
		}
		if err := l.Host.Listen(fd, 1); err != nil {
			return err
		}
		l.Clients(8000, 1, "hello")
		// Wait until the peer's connection is queued, then fail
		// without accepting it.
		fds := []bsd.PollFd{{Fd: fd, Events: bsd.POLLIN}}
		if _, err := l.Host.Poll(fds, -1); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want boom", err)
	}
}
