package tcp

import (
	"bytes"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// The bound on bytes written and not yet sent (TCP_NOTSENT_LOWAT,
// sockopt.go), against a scripted peer that acknowledges one segment at a
// time on the virtual clock.

// lowatStream is n bytes whose every 64 KiB differ, so that a byte out of
// place shows.
func lowatStream(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>16)
	}
	return p
}

// fillLowat writes p[*written:] until Write would block and returns the
// bytes each call took.
func fillLowat(t *testing.T, c *Conn, now time.Time, p []byte, written *int) []int {
	t.Helper()
	var took []int
	for *written < len(p) {
		n, err := c.Write(now, p[*written:])
		*written += n
		if err == ErrWouldBlock {
			break
		}
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		took = append(took, n)
	}
	return took
}

// TestEstablishedNotSentLowatHoldsWrites: with a bound L of 16 KiB, a
// 64 KiB write queues only up to L unsent bytes (more calls fill to L as
// segments leave); poll's writability and EventWritable come back only
// once the unsent bytes fall below L/2, raised by the sending an ACK
// allows (the ACK alone frees nothing unsent); the sender keeps its
// window full all along, and the bytes go out in order, intact.
func TestEstablishedNotSentLowatHoldsWrites(t *testing.T) {
	const L = 16 << 10
	e := established(t)
	c := e.c
	c.SetNotSentLowat(e.now, L)
	if got := c.NotSentLowat(); got != L {
		t.Fatalf("NotSentLowat() = %d, want %d", got, L)
	}
	c.TakeEvents()
	p := lowatStream(256 << 10)
	var wire []byte // the text as sent, in order
	var out []sentSeg
	takeSent := func() {
		for _, s := range e.take() {
			if len(s.Payload) > 0 {
				if got := seqnum.Value(s.Seq); got != x+1+seqnum.Value(len(wire)) {
					t.Fatalf("segment at %d after %d bytes sent: a resend, none expected", got, len(wire))
				}
				wire = append(wire, s.Payload...)
				out = append(out, s)
			}
		}
	}

	written := 0
	n, err := c.Write(e.now, p[:64<<10])
	written += n
	if n != L || err != nil {
		t.Fatalf("first Write(64 KiB) = %d, %v; want %d (the bound), nil", n, err, L)
	}
	takeSent()
	if len(wire) == 0 || c.NotSent() != L-len(wire) {
		t.Fatalf("after the first write: %d sent, NotSent() = %d; want some sent and the rest unsent", len(wire), c.NotSent())
	}
	if c.NotSent()*2 < L {
		t.Fatalf("the initial window sent %d of %d: the test needs more than half left unsent", len(wire), L)
	}
	if c.Writable() {
		t.Fatalf("Writable() with %d of %d unsent: want false until below half", c.NotSent(), L)
	}
	// Below the bound, though not writable to poll, Write still takes
	// what fits under it, as Linux's sendmsg does.
	before := c.NotSent()
	took := fillLowat(t, c, e.now, p, &written)
	if len(took) != 1 || took[0] != L-before || c.NotSent() != L {
		t.Fatalf("Write with %d unsent took %v, NotSent() = %d; want [%d] and %d", before, took, c.NotSent(), L-before, L)
	}
	if ev := c.TakeEvents(); ev&EventWritable != 0 {
		t.Fatalf("events %v while held by the bound", ev)
	}

	now := e.now
	una := x + 1
	woken, held := 0, 0
	for len(out) > 0 {
		now = now.Add(time.Millisecond)
		s := out[0]
		out = out[1:]
		una = seqnum.Value(s.Seq).Add(seqnum.Size(len(s.Payload)))
		c.HandleSegment(now, in(ack, y+1, una))
		takeSent()
		ev := c.TakeEvents()&EventWritable != 0
		wake := c.NotSent()*2 < L
		if ev != wake || c.Writable() != wake {
			t.Fatalf("after ACK %d: NotSent() = %d of %d, EventWritable %v, Writable() %v; want both %v",
				una, c.NotSent(), L, ev, c.Writable(), wake)
		}
		if c.NotSent() > 0 {
			// The window stays full: in flight is the congestion or the
			// peer's window, less than a segment.
			flight := int(c.sndUna.Size(c.sndMax))
			if limit := min(c.cwnd(), int(c.sndWnd)); flight+c.mss <= limit {
				t.Fatalf("after ACK %d: %d in flight, window %d, with %d unsent", una, flight, limit, c.NotSent())
			}
		}
		if !ev {
			held++
			continue
		}
		woken++
		fillLowat(t, c, now, p, &written)
		if c.NotSent() > L || written < len(p) && c.NotSent() != L {
			t.Fatalf("a woken writer left %d unsent, want %d", c.NotSent(), L)
		}
		takeSent()
	}
	if woken == 0 || held == 0 {
		t.Fatalf("writer woken %d times, held %d: want both", woken, held)
	}
	if written != len(p) || !bytes.Equal(wire, p) {
		t.Fatalf("wrote %d of %d, sent %d bytes, equal %v", written, len(p), len(wire), bytes.Equal(wire, p[:min(len(wire), len(p))]))
	}
}

// TestEstablishedNotSentLowatSetWakes: raising or clearing the bound
// wakes a writer it held (Linux's setsockopt calls sk_write_space), and
// with no bound the send buffer alone decides.
func TestEstablishedNotSentLowatSetWakes(t *testing.T) {
	e := established(t)
	c := e.c
	c.SetNotSentLowat(e.now, 8<<10)
	p := lowatStream(32 << 10)
	written := 0
	fillLowat(t, c, e.now, p, &written)
	c.TakeEvents()
	if c.Writable() || c.NotSent() != 8<<10 {
		t.Fatalf("held writer: Writable() %v, NotSent() %d", c.Writable(), c.NotSent())
	}
	c.SetNotSentLowat(e.now, 64<<10)
	if ev := c.TakeEvents(); ev&EventWritable == 0 || !c.Writable() {
		t.Fatalf("bound raised past twice the unsent: events %v, Writable() %v", ev, c.Writable())
	}
	c.SetNotSentLowat(e.now, 1)
	if ev := c.TakeEvents(); ev&EventWritable != 0 || c.Writable() {
		t.Fatalf("bound of 1 with bytes unsent: events %v, Writable() %v", ev, c.Writable())
	}
	if n, err := c.Write(e.now, p[written:]); n != 0 || err != ErrWouldBlock {
		t.Fatalf("Write past the bound = %d, %v; want 0, ErrWouldBlock", n, err)
	}
	c.SetNotSentLowat(e.now, 0)
	if ev := c.TakeEvents(); ev&EventWritable == 0 || !c.Writable() {
		t.Fatalf("bound off: events %v, Writable() %v", ev, c.Writable())
	}
	if n, err := c.Write(e.now, p[written:]); n != len(p)-written || err != nil {
		t.Fatalf("Write with no bound = %d, %v; want %d, nil", n, err, len(p)-written)
	}
}

// TestSynSentNotSentLowatCountsEveryByte: before the handshake nothing
// written has gone, so every queued byte counts as unsent.
func TestSynSentNotSentLowatCountsEveryByte(t *testing.T) {
	e := synSent(t)
	c := e.c
	c.SetNotSentLowat(e.now, 1000)
	if n, err := c.Write(e.now, lowatStream(4000)); n != 1000 || err != nil {
		t.Fatalf("Write in SYN-SENT = %d, %v; want 1000, nil", n, err)
	}
	if got := c.NotSent(); got != 1000 {
		t.Fatalf("NotSent() = %d, want 1000", got)
	}
}
