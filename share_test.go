package synack_test

import (
	"sync/atomic"
	"testing"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
)

// holdCounter is a pipe end that counts the holds on shared text
// (link.TextSharer) its stack writes and how many are still out: each
// hold it passes on is wrapped, and a second release of one fails the
// test's check.
type holdCounter struct {
	*pipe.Endpoint
	given, out, twice atomic.Int64
}

func (l *holdCounter) WriteShared(hdr, text []byte, ref link.Releaser) error {
	l.given.Add(1)
	l.out.Add(1)
	return l.Endpoint.WriteShared(hdr, text, &countedHold{ref: ref, l: l})
}

type countedHold struct {
	ref  link.Releaser
	l    *holdCounter
	done atomic.Bool
}

func (h *countedHold) Release() {
	if h.done.Swap(true) {
		h.l.twice.Add(1)
		return
	}
	h.l.out.Add(-1)
	h.ref.Release()
}

// sharedPair is a pair on a pipe of MTU 65535 that leaves checksums out,
// its ends counting shared text's holds; wrap, if set, wraps the server's
// end further.
func sharedPair(t *testing.T, csum bool, wrap func(link.Endpoint) link.Endpoint) (*pair, *holdCounter, *holdCounter) {
	a, b := pipe.NewWithOptions(65535, pipe.Options{ChecksumOffload: csum})
	ca, cb := &holdCounter{Endpoint: a}, &holdCounter{Endpoint: b}
	server := func(link.Endpoint) link.Endpoint { return cb }
	if wrap != nil {
		server = func(link.Endpoint) link.Endpoint { return wrap(cb) }
	}
	p := newPairOn(t, pairConfig{
		clientLink: func(link.Endpoint) link.Endpoint { return ca },
		serverLink: server,
	}, a, b)
	return p, ca, cb
}

// connected is a connection from the client to the server's port 80, both
// ends closed when the test ends.
func (p *pair) connected(t *testing.T) (c, s *synack.TCPConn) {
	c, s = p.connect(t, p.listen(t, 80, 8))
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// checkHolds fails the test unless every hold given through l was
// released, once.
func checkHolds(t *testing.T, who string, l *holdCounter) {
	t.Helper()
	if out, twice := l.out.Load(), l.twice.Load(); out != 0 || twice != 0 {
		t.Fatalf("%s: %d holds on shared text still out, %d released twice (of %d given)", who, out, twice, l.given.Load())
	}
}

// TestSharedTextTransfer moves 32 MiB each way over an in-memory link
// that carries shared text: large segments leave with their text in the
// sender's send buffer (OutShared), the receiver keeps it there
// (InShared, ReceiveShared), every byte arrives intact, and every hold
// the senders gave is released once the receivers have read.
func TestSharedTextTransfer(t *testing.T) {
	p, ca, cb := sharedPair(t, true, nil)
	c, s := p.connected(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		transfer(t, s, c, 32<<20, 11) // the server's way, at the same time
	}()
	transfer(t, c, s, 32<<20, 7)
	<-done
	p.settle(t)
	for _, st := range []*synack.Stack{p.client, p.server} {
		in := st.Internals()
		if in.Stats().OutShared.Load() == 0 || in.Stats().InShared.Load() == 0 || in.TCPStats().ReceiveShared.Load() == 0 {
			t.Fatalf("OutShared %d InShared %d ReceiveShared %d: large segments must share their text",
				in.Stats().OutShared.Load(), in.Stats().InShared.Load(), in.TCPStats().ReceiveShared.Load())
		}
		if n := in.Stats().InSharedFlattened.Load(); n != 0 {
			t.Fatalf("%d shared segments copied whole: a stack's own must be taken as they are", n)
		}
	}
	if ca.given.Load() == 0 || cb.given.Load() == 0 {
		t.Fatal("no hold on shared text was given")
	}
	checkHolds(t, "client", ca)
	checkHolds(t, "server", cb)
}

// TestSharedTextReleasedOnAbort leaves shared text unread in the
// receiver's buffer and then ends the connection: aborted by the reader,
// or its whole stack closed, every hold is released.
func TestSharedTextReleasedOnAbort(t *testing.T) {
	for _, how := range []string{"abort", "stack close"} {
		t.Run(how, func(t *testing.T) {
			p, ca, _ := sharedPair(t, true, nil)
			l := p.listen(t, 80, 8)
			c, s := p.connect(t, l)
			defer c.Close()
			msg := make([]byte, 100<<10) // within the receive buffer: all of it arrives unread
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the text to arrive unread", func() bool { return s.Info().RecvQ == len(msg) })
			if p.server.Internals().TCPStats().ReceiveShared.Load() == 0 || ca.out.Load() == 0 {
				t.Fatalf("nothing held unread (ReceiveShared %d, holds out %d)", p.server.Internals().TCPStats().ReceiveShared.Load(), ca.out.Load())
			}
			if how == "abort" {
				s.SetLinger(0)
				s.Close()
			} else {
				p.server.Close()
			}
			p.settle(t)
			checkHolds(t, "client", ca)
		})
	}
}

// TestSharedTextNotWithoutChecksumOffload checks a pipe that computes
// checksums shares nothing: every segment carries its text, summed.
func TestSharedTextNotWithoutChecksumOffload(t *testing.T) {
	p, ca, _ := sharedPair(t, false, nil)
	c, s := p.connected(t)
	transfer(t, c, s, 4<<20, 3)
	if n := p.client.Internals().Stats().OutShared.Load(); n != 0 || ca.given.Load() != 0 {
		t.Fatalf("OutShared %d with checksums on: want none", n)
	}
}

// TestSharedTextThroughACapture puts a capture between the pipe and the
// receiving stack that takes whole packets one at a time (a plain
// link.Dispatcher), so the pipe copies each shared packet whole for it:
// the capture sees every byte sent, the stack takes every byte intact,
// and every hold is released.
func TestSharedTextThroughACapture(t *testing.T) {
	var capture *wholeTap
	wrap := func(ep link.Endpoint) link.Endpoint {
		capture = &wholeTap{holdCounter: ep.(*holdCounter)}
		return capture
	}
	p, ca, _ := sharedPair(t, true, wrap)
	c, s := p.connected(t)
	transfer(t, c, s, 8<<20, 5)
	p.settle(t)
	if p.client.Internals().Stats().OutShared.Load() == 0 {
		t.Fatal("the client shared nothing: its end has no capture")
	}
	if n := p.server.Internals().Stats().InShared.Load(); n != 0 {
		t.Fatalf("the server took %d segments apart through a capture", n)
	}
	if n := capture.bytes.Load(); n < 8<<20 {
		t.Fatalf("the capture saw %d bytes for an 8 MiB transfer", n)
	}
	checkHolds(t, "client", ca)
}

// wholeTap is a capture in front of a stack: it counts the bytes of the
// packets delivered to it, one whole packet at a time, and passes them
// on. It passes the pipe's checksum offload on, as tapLink does. The
// stack's Dispatcher is swapped atomically: the pipe's goroutine delivers
// while the stack detaches at Close.
type wholeTap struct {
	*holdCounter
	d     atomic.Pointer[link.Dispatcher]
	bytes atomic.Int64
}

func (w *wholeTap) Attach(d link.Dispatcher) {
	if d == nil {
		w.holdCounter.Attach(nil)
		w.d.Store(nil)
		return
	}
	w.d.Store(&d)
	w.holdCounter.Attach(wholeTapDispatcher{w})
}

type wholeTapDispatcher struct{ w *wholeTap }

func (d wholeTapDispatcher) DeliverPacket(pkt []byte) {
	d.w.bytes.Add(int64(len(pkt)))
	if to := d.w.d.Load(); to != nil {
		(*to).DeliverPacket(pkt)
	}
}
