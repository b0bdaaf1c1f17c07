package synack_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestNotSentLowatHoldsWriter: with TCP_NOTSENT_LOWAT at 16 KiB and a
// reader that has stopped, a 1 MiB Write blocks holding between half the
// bound and the bound unsent (it waits for fewer than half); as the reader
// reads, the data is sent, the Write resumes and completes, no more than
// the bound is ever unsent, and the bytes arrive intact.
func TestNotSentLowatHoldsWriter(t *testing.T) {
	const L = 16 << 10
	p := newPair(t, pairConfig{virtual: true})
	l := p.listen(t, 7, 1)
	c, s := p.connect(t, l)
	var op *net.OpError
	if err := c.SetNotSentLowat(-1); !errors.As(err, &op) || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("SetNotSentLowat(-1) = %v, want a *net.OpError with EINVAL", err)
	}
	if err := c.SetNotSentLowat(L); err != nil {
		t.Fatal(err)
	}
	if got := c.Info().TCP.NotSentLowat; got != L {
		t.Fatalf("Info().TCP.NotSentLowat = %d, want %d", got, L)
	}
	if err := s.SetReadBuffer(64 << 10); err != nil { // a fixed window: the writer must wait for the reader
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	var wrote atomic.Int64
	done := make(chan error, 1)
	go func() {
		n, err := c.Write(data)
		wrote.Store(int64(n))
		done <- err
	}()
	held := func() bool { n := c.Info().TCP.NotSent; return p.quiet() && 2*n >= L }
	waitFor(t, "the writer to be held with half the bound unsent", held)
	select {
	case err := <-done:
		t.Fatalf("Write of 1 MiB returned (%d, %v) with the reader stopped", wrote.Load(), err)
	default:
	}
	if n := c.Info().TCP.NotSent; n > L {
		t.Fatalf("%d bytes unsent, over the bound %d", n, L)
	}

	var read, over atomic.Int64
	var finished atomic.Bool
	got := make([]byte, 0, len(data))
	go func() {
		defer finished.Store(true)
		buf := make([]byte, 4096)
		for len(got) < len(data) {
			n, err := s.Read(buf)
			got = append(got, buf[:n]...)
			read.Add(int64(n))
			if u := c.Info().TCP.NotSent; u > L {
				over.Store(int64(u))
			}
			if err != nil {
				return
			}
		}
	}()
	p.runClock(t, 1000, read.Load, finished.Load)
	if err := <-done; err != nil || wrote.Load() != int64(len(data)) {
		t.Fatalf("Write = %d, %v; want %d, nil", wrote.Load(), err, len(data))
	}
	if u := over.Load(); u != 0 {
		t.Errorf("%d bytes were unsent at one time, over the bound %d", u, L)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, not the %d written (first difference at %d)", len(got), len(data), firstDiff(got, data))
	}
}

// firstDiff is the index of the first byte where a and b differ.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
