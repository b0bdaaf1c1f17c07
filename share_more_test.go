package synack_test

import (
	"bytes"
	"io"
	"sync/atomic"
	"testing"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
)

// TestSharedTextTimeWaitUnreadThenClose: the server closes its side
// first, the client sends text and its FIN, which the server holds unread
// in TIME-WAIT (its Conn kept for the reads); the server then closes
// without reading. Every hold is released.
func TestSharedTextTimeWaitUnreadThenClose(t *testing.T) {
	p, ca, _ := sharedPair(t, true, nil)
	l := p.listen(t, 80, 8)
	c, s := p.connect(t, l)
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 100<<10)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, "the text to arrive unread", func() bool { return s.Info().RecvQ == len(msg) })
	p.settle(t)
	if ca.out.Load() == 0 {
		t.Fatal("nothing held unread")
	}
	t.Logf("server state %v, holds out %d", s.Info().State, ca.out.Load())
	s.Close()
	p.settle(t)
	checkHolds(t, "client", ca)
}

// lossyShare drops every nth shared packet its stack writes, releasing
// its hold as a link that drops must.
type lossyShare struct {
	*holdCounter
	n, i atomic.Int64
}

func (l *lossyShare) WriteShared(hdr, text []byte, ref link.Releaser) error {
	if l.i.Add(1)%l.n.Load() == 0 {
		l.holdCounter.Endpoint.Recycle(hdr)
		ref.Release()
		return nil
	}
	return l.holdCounter.WriteShared(hdr, text, ref)
}

// TestSharedTextRetransmitted loses one shared segment in nine on
// the client's side: lost text is lent again when retransmitted, the
// stream arrives intact and every hold is released once.
func TestSharedTextRetransmitted(t *testing.T) {
	a, b := pipe.NewWithOptions(65535, pipe.Options{ChecksumOffload: true})
	lc := &lossyShare{holdCounter: &holdCounter{Endpoint: a}}
	lc.n.Store(9)
	p := newPairOn(t, pairConfig{
		clientLink: func(link.Endpoint) link.Endpoint { return lc },
	}, a, b)
	c, s := p.connected(t)
	transfer(t, c, s, 16<<20, 13)
	p.settle(t)
	if p.client.Internals().TCPStats().RetransSegs.Load() == 0 || lc.given.Load() == 0 {
		t.Fatalf("no retransmission (%d) or no sharing (%d)", p.client.Internals().TCPStats().RetransSegs.Load(), lc.given.Load())
	}
	checkHolds(t, "client", lc.holdCounter)
}

// holdingWriter checks, during its first Write, that the text it was
// handed stays as it was while the sender drains and refills its buffer
// (run), then lets the rest through.
type holdingWriter struct {
	run     func()
	first   bool
	changed bool
	n       int
}

func (w *holdingWriter) Write(p []byte) (int, error) {
	want := bytes.Clone(p)
	w.run()
	w.changed = w.changed || !bytes.Equal(p, want)
	w.n += len(p)
	return len(p), nil
}

// TestSharedViewOutlivesDrain: WriteTo hands a writer a view of
// shared text; while the writer holds it the sender's buffer drains and
// refills many times (other bytes on another connection of the same
// stack): the view's bytes stay what was sent.
func TestSharedViewOutlivesDrain(t *testing.T) {
	p, ca, _ := sharedPair(t, true, nil)
	l := p.listen(t, 80, 8)
	c, s := p.connect(t, l)
	c2, s2 := p.connect(t, l)
	defer c2.Close()
	defer s2.Close()
	first := bytes.Repeat([]byte{0xa5}, 100<<10)
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	waitFor(t, "the text to arrive", func() bool { return s.Info().RecvQ == len(first) })
	heldDuring := 0
	w := &holdingWriter{run: func() {
		if ca.out.Load() > 0 {
			heldDuring++
		}
		for round := range 40 {
			msg := bytes.Repeat([]byte{byte(round)}, 300<<10)
			go c2.Write(msg)
			if _, err := io.ReadFull(s2, make([]byte, len(msg))); err != nil {
				t.Error(err)
				return
			}
		}
	}}
	if _, err := s.WriteTo(w); err != nil {
		t.Fatal(err)
	}
	if heldDuring == 0 {
		t.Fatal("no write ran while shared text was held")
	}
	if w.changed || w.n != len(first) {
		t.Fatalf("view changed while held: %v, %d bytes", w.changed, w.n)
	}
	c.Close()
	s.Close()
	p.settle(t)
	checkHolds(t, "client", ca)
}
