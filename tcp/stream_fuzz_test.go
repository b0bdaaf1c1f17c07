package tcp

// FuzzStream: two engines joined by a network the fuzzer controls. While
// the fuzz bytes last they decide what the applications do and what the
// network does to each segment (lose it, duplicate it, delay it and so
// reorder it); then the network turns reliable. Whatever happened, each
// byte stream must arrive whole, in order and exactly once, then io.EOF,
// and both connections must reach CLOSED (SPEC.md "Byte stream
// guarantees"; RFC 9293 §3.10, RFC 6298).

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// packet is a segment in flight.
type packet struct {
	at  time.Time
	n   int // order of sending, to break ties
	to  *end
	seg *Segment
}

// network carries segments as the fuzz bytes say; out of bytes, it is reliable.
// A segment whose text the sender shared (sentSeg.holds) arrives with it
// where it lies and a hold per copy (Segment.Shared), counted in book.
type network struct {
	in   *fuzzInput
	q    []packet
	sent int
	book *holdBook
}

// holdBook counts the holds on shared text that are out, and fails the
// test on a second release of one.
type holdBook struct {
	t          *testing.T
	out, given int
}

type bookedHold struct {
	r    Releaser
	book *holdBook
	done bool
}

func (b *holdBook) hold(r Releaser) Releaser {
	b.out++
	b.given++
	return &bookedHold{r: r, book: b}
}

func (h *bookedHold) Release() {
	if h.done {
		h.book.t.Fatal("a hold on shared text released twice")
	}
	h.done = true
	h.book.out--
	h.r.Release()
}

// carry puts what from sent on the way to to and returns it.
func (w *network) carry(now time.Time, from, to *end) []sentSeg {
	segs := from.take()
	for _, sg := range segs {
		b := w.in.byte()
		copies := 1
		switch b % 16 {
		case 1:
			copies = 0 // lost
		case 2:
			copies = 2 // duplicated
		}
		for i := range copies {
			d := 10*time.Millisecond + time.Duration(b>>4)*3*time.Millisecond + time.Duration(i)*time.Millisecond
			w.sent++
			seg := sg.segment()
			if sg.holds[i] != nil {
				seg.Payload, seg.Shared = sg.sharedText, w.book.hold(sg.holds[i])
			}
			w.q = append(w.q, packet{now.Add(d), w.sent, to, seg})
		}
		for _, h := range sg.holds[copies:] {
			if h != nil {
				h.Release() // a copy the network lost, or never made
			}
		}
	}
	return segs
}

// earliest is the index of the next packet to arrive, or -1.
func (w *network) earliest() int {
	best := -1
	for i, p := range w.q {
		if best < 0 || p.at.Before(w.q[best].at) || (p.at.Equal(w.q[best].at) && p.n < w.q[best].n) {
			best = i
		}
	}
	return best
}

// app is one side's application: it writes src, reads into got, then closes.
type app struct {
	src, got      []byte
	written       int
	closed, atEOF bool
}

func (a *app) write(t *testing.T, c *Conn, now time.Time, n int) {
	if c == nil || a.closed {
		return
	}
	n = min(n, len(a.src)-a.written)
	if n > 0 {
		w, err := c.Write(now, a.src[a.written:a.written+n])
		if err != nil && !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("Write in %v: %v", c.State(), err)
		}
		a.written += w
	}
	a.closeIfDone(t, c, now)
}

// closeIfDone closes the sending side once all of src is written.
func (a *app) closeIfDone(t *testing.T, c *Conn, now time.Time) {
	if a.written == len(a.src) {
		if err := c.CloseWrite(now); err != nil {
			t.Fatalf("CloseWrite in %v: %v", c.State(), err)
		}
		a.closed = true
	}
}

// writeInTwo is write through Reserve and Commit (CommitPart when the
// room took less than n), with meanwhile run between the two: the
// network's deliveries, so that ACKs, window updates and the peer's
// segments reach c while the room is out.
func (a *app) writeInTwo(t *testing.T, c *Conn, now time.Time, n int, meanwhile func()) {
	if c == nil || a.closed {
		return
	}
	if n = min(n, len(a.src)-a.written); n > 0 {
		r, err := c.Reserve(now, n)
		switch {
		case errors.Is(err, ErrWouldBlock):
		case err != nil:
			t.Fatalf("Reserve in %v: %v", c.State(), err)
		default:
			k := r.Fill(a.src[a.written : a.written+n])
			meanwhile()
			commit := c.Commit
			if k < n {
				commit = c.CommitPart
			}
			w, err := commit(now, r, k)
			if err != nil && !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("Commit in %v: %v", c.State(), err)
			}
			a.written += w
		}
	}
	a.closeIfDone(t, c, now)
}

func (a *app) read(t *testing.T, c *Conn, now time.Time, n int, want []byte) {
	if c == nil || a.atEOF || n == 0 {
		return
	}
	buf := make([]byte, n)
	for {
		k, err := c.Read(now, buf)
		a.got = append(a.got, buf[:k]...)
		if !bytes.HasPrefix(want, a.got) {
			t.Fatalf("read %d bytes that are not a prefix of the %d sent", len(a.got), len(want))
		}
		switch {
		case err == io.EOF:
			if len(a.got) != len(want) {
				t.Fatalf("io.EOF after %d of %d bytes", len(a.got), len(want))
			}
			a.atEOF = true
			return
		case errors.Is(err, ErrWouldBlock):
			return
		case err != nil:
			t.Fatalf("Read in %v: %v", c.State(), err)
		}
	}
}

func streamConfig(c *Config) {
	c.MSS = 100
	c.SendBufferSize = 1000
	c.ReceiveBufferSize = 600
	c.SYNRetries, c.SYNACKRetries, c.Retries = 1<<30, 1<<30, 1<<30 // losses end with the fuzz input: never give up
	c.MSL = time.Second
	c.MaxRTO = 2 * time.Second
}

func FuzzStream(f *testing.F) {
	streamSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzStream(t, data, false) })
}

// FuzzStreamShared is FuzzStream with the text of every segment sent in
// one piece lent where it lies in the sender's send buffer, as an
// in-memory link between two stacks lends it (Conn.ShareText,
// Segment.Shared), a hold for each copy the network delivers; send
// buffers cut segments at their chunks' ends to be lent (Env.ShareMin),
// and storage is scribbled over as it goes back to its pool. So a chunk
// pooled while a reader still held text in it, or text changed while
// held, corrupts the stream the apps check; and once both connections
// are closed every hold must have been released, once.
func FuzzStreamShared(f *testing.F) {
	streamSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		scribblePooled.Store(true)
		defer scribblePooled.Store(false)
		fuzzStream(t, data, true)
	})
}

func streamSeeds(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 200, 1, 200, 2, 50, 3, 50})
	f.Add([]byte{1, 1, 1, 1, 0, 255, 2, 2, 2, 0x31, 0x21, 1, 1})
	f.Add([]byte{0, 255, 0, 255, 7, 0x11, 0xf2, 0x01, 0x31, 0x41, 0x02, 2, 10, 2, 10})
	f.Add([]byte{0, 255, 0x02, 0, 255, 0x22, 0, 255, 0x01, 3, 200, 3, 200, 2, 10})
	f.Add([]byte{4, 255, 4, 255, 3, 200, 5, 100, 2, 200, 4, 40, 3, 200, 3, 200})
}

// fuzzStream is FuzzStream's and FuzzStreamShared's body.
func fuzzStream(t *testing.T, data []byte, share bool) {
	{
		in := fuzzInput(data)
		cl, sv := newClient(t, streamConfig), newServer(t, 16, streamConfig)
		book := &holdBook{t: t}
		w := &network{in: &in, book: book}
		if share {
			cl.out.share, sv.out.share = true, true
			cl.env.ShareMin, sv.env.ShareMin = 1, 1
		}
		ca := &app{src: bytesN(3000)}
		sa := &app{src: bytes.Repeat([]byte("0123456789"), 200)}
		st := newFuzzState()
		// The host lends the buffer of every segment with text
		// (Segment.Lent), some just big enough to be kept, some too big.
		// A buffer is scribbled over the moment it is the host's again:
		// when the engine did not keep it, and when it is recycled. So a
		// kept view the engine reads after giving it back, or a buffer
		// kept without saying so, corrupts the stream the apps check.
		lent := map[*byte]bool{}
		scribble := func(buf []byte) {
			for i := range buf {
				buf[i] = 0xEE
			}
		}
		recycle := func(bufs [][]byte) {
			for _, buf := range bufs {
				if !lent[&buf[0]] {
					t.Fatal("Recycle of a buffer that is not lent, or twice")
				}
				delete(lent, &buf[0])
				scribble(buf)
			}
		}
		cl.env.Recycle, sv.env.Recycle = recycle, recycle
		now := base
		_ = cl.c.Connect(now, x)
		var sc *Conn           // the server's connection, once the SYN made it
		var reliable time.Time // when the network turned reliable
		for step, calm := 0, 0; ; step++ {
			if sc == nil && sv.c != nil {
				sc = sv.c
			}
			draining := len(in) == 0
			if draining {
				if reliable.IsZero() {
					reliable = now
				}
				if calm++; calm > 100000 || now.Sub(reliable) > 10*time.Minute {
					t.Fatalf("stalled at %v, %v after the network turned reliable: client %v (read %d of %d), server %v (read %d of %d)",
						fmtTime(now), now.Sub(reliable), cl.c.State(), len(ca.got), len(sa.src), stateOf(sc), len(sa.got), len(ca.src))
				}
			}
			if !draining {
				switch op := in.byte(); op % 8 {
				case 0:
					ca.write(t, cl.c, now, int(in.byte())*8)
				case 1:
					sa.write(t, sc, now, int(in.byte())*8)
				case 2:
					ca.read(t, cl.c, now, int(in.byte())*4, sa.src)
				case 3:
					sa.read(t, sc, now, int(in.byte())*4, ca.src)
				case 4, 5: // a write in two halves, the network delivering between them
					meanwhile := func() {
						st.checkSent(t, w.carry(now, cl, sv))
						st.checkSent(t, w.carry(now, sv, cl))
					}
					if op%8 == 4 {
						ca.writeInTwo(t, cl.c, now, int(in.byte())*64, meanwhile)
					} else {
						sa.writeInTwo(t, sc, now, int(in.byte())*64, meanwhile)
					}
				}
			} else {
				ca.write(t, cl.c, now, len(ca.src))
				sa.write(t, sc, now, len(sa.src))
				ca.read(t, cl.c, now, 1000, sa.src)
				sa.read(t, sc, now, 1000, ca.src)
			}
			st.checkSent(t, w.carry(now, cl, sv))
			st.checkSent(t, w.carry(now, sv, cl))
			st.checkConn(t, cl.c, nil)
			if sc != nil {
				st.checkConn(t, sc, nil)
			}
			if sc != nil && cl.c.State() == StateClosed && sc.State() == StateClosed && ca.atEOF && sa.atEOF {
				if testing.Verbose() {
					t.Logf("done at %v after %d steps, %d segments, %d holds on shared text", fmtTime(now), step, w.sent, book.given)
				}
				if cl.c.Err() != nil || sc.Err() != nil {
					t.Fatalf("closed with errors: client %v, server %v", cl.c.Err(), sc.Err())
				}
				if len(lent) != 0 {
					t.Fatalf("%d kept buffers never given back", len(lent))
				}
				for _, p := range w.q { // copies still on their way: the network's
					if p.seg.Shared != nil {
						p.seg.Shared.Release()
					}
				}
				if book.out != 0 {
					t.Fatalf("%d holds on shared text never released", book.out)
				}
				return
			}
			// The next thing to happen: a packet arrives or a timer fires.
			next, who := time.Time{}, (*end)(nil)
			for _, e := range []*end{cl, sv} {
				if e.c != nil {
					if d := e.c.Deadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
						next, who = d, e
					}
				}
			}
			if i := w.earliest(); i >= 0 && (next.IsZero() || !w.q[i].at.After(next)) {
				p := w.q[i]
				w.q = append(w.q[:i], w.q[i+1:]...)
				now = latest(now, p.at)
				seg := p.seg
				if n := len(seg.Payload); n > 0 && seg.Shared == nil {
					off := []int{0, n / 2, n}[p.n%3] // buffers of n, 2n and 3n bytes
					buf := make([]byte, n+2*off)
					copy(buf[off:], seg.Payload)
					seg.Payload, seg.Lent = buf[off:off+n], buf
					lent[&buf[0]] = true
				}
				p.to.deliver(now, seg)
				if seg.Lent != nil && !seg.Kept {
					delete(lent, &seg.Lent[0])
					scribble(seg.Lent)
				}
				if seg.Shared != nil && !seg.Kept {
					seg.Shared.Release()
				}
				continue
			}
			if who != nil {
				now = latest(now, next)
				who.c.HandleTimer(now)
				continue
			}
			if draining {
				// Nothing in flight, no timer, the applications idle: not done.
				t.Fatalf("deadlock: client %v (read %d), server %v (read %d)",
					cl.c.State(), len(ca.got), stateOf(sc), len(sa.got))
			}
		}
	}
}

// stateOf is c's state, or "none" before the connection exists.
func stateOf(c *Conn) string {
	if c == nil {
		return "none"
	}
	return c.State().String()
}
