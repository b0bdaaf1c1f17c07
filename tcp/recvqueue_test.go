package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// raceEnabled is set (race_test.go) when the tests run with -race.
var raceEnabled bool

// lender plays the host that lends segment buffers: it hands out buffers,
// and checks that each comes back exactly once through Recycle, and only
// once the read in progress has taken every byte of the text kept in it.
type lender struct {
	t        *testing.T
	end      map[*byte]int // a lent buffer's first byte -> stream offset just past its text
	recycled int
	upTo     int // stream offset the read in progress may reach
}

func newLender(t *testing.T) *lender {
	return &lender{t: t, end: map[*byte]int{}}
}

// reading says a read of n bytes starts at stream offset read.
func (l *lender) reading(read, n int) { l.upTo = read + n }

// done checks, after a read that reached stream offset read, that every
// buffer whose text was all read has come back.
func (l *lender) done(read int) {
	for _, end := range l.end {
		if end <= read {
			l.t.Fatalf("a buffer whose text ends at %d is still kept with the reader at %d", end, read)
		}
	}
}

// lend returns a buffer of capacity size holding text at its offset off,
// which ends at stream offset end.
func (l *lender) lend(text []byte, off, size, end int) (data, buf []byte) {
	buf = make([]byte, size)
	copy(buf[off:], text)
	l.end[&buf[0]] = end
	return buf[off : off+len(text)], buf
}

func (l *lender) recycle(bufs [][]byte) {
	for _, buf := range bufs {
		end, ok := l.end[&buf[0]]
		if !ok {
			l.t.Fatal("Recycle of a buffer that is not lent (or twice)")
		}
		if l.upTo < end {
			l.t.Fatalf("Recycle of a buffer whose text ends at %d by a read that reaches %d", end, l.upTo)
		}
		delete(l.end, &buf[0])
		l.recycled++
	}
}

// TestRecvQueueMatchesAFIFO drives the receive buffer against a plain
// slice model with copies (Put) and kept views (Keep) in random order and
// reads of random sizes: every byte comes out in the order it went in,
// Len and Free count both kinds, and each lent buffer goes back once, after
// its text was read; Reset gives back the rest.
func TestRecvQueueMatchesAFIFO(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var q recvQueue
	q.ring.limit = 1 << 20
	read := 0
	l := newLender(t)
	var model []byte
	next, queued, kept := byte(0), 0, 0
	text := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = next
			next++
		}
		return p
	}
	for step := range 30000 {
		switch op := rng.IntN(5); {
		case op == 0 && queued < 900<<10: // a copy
			p := text(rng.IntN(2000))
			q.Put(p)
			model = append(model, p...)
			queued += len(p)
		case op <= 2 && queued < 900<<10: // a kept view, somewhere inside its buffer
			p := text(1 + rng.IntN(9000))
			off := rng.IntN(60)
			data, buf := l.lend(p, off, off+len(p)+rng.IntN(60), read+len(model)+len(p))
			q.Keep(data, buf, l.recycle)
			model = append(model, p...)
			queued += len(p)
			kept++
		default:
			p := make([]byte, rng.IntN(12000))
			l.reading(read, len(p))
			n := q.Read(p)
			if want := min(len(p), len(model)); n != want || !bytes.Equal(p[:n], model[:n]) {
				t.Fatalf("step %d: Read gave %d bytes, want %d, same bytes %v", step, n, want, bytes.Equal(p[:n], model[:n]))
			}
			model = model[n:]
			read += n
			queued -= n
			l.done(read)
		}
		if q.Len() != len(model) || q.Free() != max(q.ring.limit-len(model), 0) {
			t.Fatalf("step %d: Len %d Free %d with %d queued", step, q.Len(), q.Free(), len(model))
		}
	}
	if l.recycled == 0 || len(l.end) == 0 {
		t.Fatalf("%d buffers recycled, %d still kept: the walk never both drained and held views", l.recycled, len(l.end))
	}
	l.reading(read, 1<<62) // Reset gives every buffer back
	q.Reset()
	if len(l.end) != 0 || l.recycled != kept {
		t.Fatalf("after Reset %d buffers still out, %d of %d recycled", len(l.end), l.recycled, kept)
	}
	if q.Len() != 0 || q.kept != nil {
		t.Fatalf("after Reset Len %d, views %v", q.Len(), q.kept)
	}
}

// TestRecvQueueKeepAllocatesNothing: a bulk receiver's cycle of kept
// segments and reads, which drains the queue now and then, allocates
// nothing once warm.
func TestRecvQueueKeepAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race sync.Pool drops items at random, so pooled memory is allocated again")
	}
	var q recvQueue
	q.ring.limit = 1 << 20
	bufs := make([][]byte, 40)
	for i := range bufs {
		bufs[i] = make([]byte, 1500)
	}
	recycle := func([][]byte) {}
	p := make([]byte, 64<<10)
	cycle := func() {
		for _, b := range bufs {
			q.Keep(b[40:], b, recycle)
			if q.Len() > 20<<10 {
				q.Read(p[:7000])
			}
		}
		for q.Len() > 0 {
			q.Read(p)
		}
	}
	cycle()
	if n := testing.AllocsPerRun(100, cycle); n != 0 {
		t.Fatalf("%v allocations per cycle", n)
	}
}

// TestEngineKeepsLentText: in-order text in a buffer the host lends is kept
// when it fills at least half of it, and copied when it is small for its
// buffer or arrives out of order; the reader gets every byte in order, and
// the kept buffer goes back to the host once read.
func TestEngineKeepsLentText(t *testing.T) {
	e := established(t)
	read := 0
	l := newLender(t)
	e.env.Recycle = l.recycle
	big, small, early := bytesN(1000), bytesN(10), bytesN(700)
	for i := range early {
		early[i] ^= 0x55 // not the same bytes as big's
	}

	bdata, buf := l.lend(big, 40, 1500, len(big))
	seg := in(ack, y+1, x+1, data(bdata))
	seg.Lent = buf
	e.c.HandleSegment(e.now, seg)
	if !seg.Kept || e.env.Stats.ReceiveKept.Load() != 1 {
		t.Fatalf("a 1000-byte text in a 1500-byte lent buffer: kept %v, ReceiveKept %d", seg.Kept, e.env.Stats.ReceiveKept.Load())
	}

	// 10 bytes in a 1500-byte buffer: copied.
	sdata, sbuf := l.lend(small, 40, 1500, 0)
	seg = in(ack, y+1+1000, x+1, data(sdata))
	seg.Lent = sbuf
	e.c.HandleSegment(e.now, seg)
	if seg.Kept {
		t.Fatal("a 10-byte text was kept in a 1500-byte buffer")
	}
	delete(l.end, &sbuf[0]) // the host's again
	clear(sbuf)

	// Beyond RCV.NXT: held for reassembly as a copy, never kept.
	edata, ebuf := l.lend(early, 40, 1000, 0)
	seg = in(ack, y+1+1010+300, x+1, data(edata))
	seg.Lent = ebuf
	e.c.HandleSegment(e.now, seg)
	if seg.Kept {
		t.Fatal("an out-of-order text was kept")
	}
	delete(l.end, &ebuf[0])
	clear(ebuf)
	gap := bytesN(300)
	e.c.HandleSegment(e.now, in(ack, y+1+1010, x+1, data(gap)))

	want := append(append(append(append([]byte{}, big...), small...), gap...), early...)
	if e.c.RecvQueue() != len(want) {
		t.Fatalf("RecvQueue %d, want %d", e.c.RecvQueue(), len(want))
	}
	got := make([]byte, 0, len(want))
	p := make([]byte, 333)
	for len(got) < len(want) {
		l.reading(read, len(p))
		n, err := e.c.Read(e.now, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p[:n]...)
		read += n
		l.done(read)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes read differ from the bytes sent")
	}
	if l.recycled != 1 || len(l.end) != 0 {
		t.Fatalf("%d buffers recycled, %d still out; want the one kept back", l.recycled, len(l.end))
	}
}

// TestEngineKeepsLentTextOnSynAck: text on the SYN,ACK itself (RFC 9293
// §3.10.7.3, step six after the SYN) is kept like any other in-order text,
// and the segment the host handed in says so: a host told otherwise would
// reuse a buffer the receive queue still reads.
func TestEngineKeepsLentTextOnSynAck(t *testing.T) {
	e := synSent(t)
	l := newLender(t)
	e.env.Recycle = l.recycle
	text := bytesN(1000)
	d, buf := l.lend(text, 40, 1500, len(text))
	seg := in(synack, y, x+1, data(d))
	seg.Lent = buf
	e.c.HandleSegment(at(rtt), seg)
	e.state(StateEstablished)
	if !seg.Kept {
		t.Fatal("the SYN,ACK's text was kept but the segment handed in says it was not")
	}
	p := make([]byte, 2000)
	l.reading(0, len(p))
	n, err := e.c.Read(at(rtt), p)
	if err != nil || !bytes.Equal(p[:n], text) {
		t.Fatalf("read %d bytes (%v), want the SYN,ACK's 1000", n, err)
	}
	l.done(n)
}

// TestEngineAbortGivesKeptBuffersBack: a connection the user aborts, or
// closes with unread data (which aborts it), will never be read again, so
// the buffers its receive queue kept go back to the host at once.
func TestEngineAbortGivesKeptBuffersBack(t *testing.T) {
	for _, how := range []string{"Abort", "Close"} {
		t.Run(how, func(t *testing.T) {
			e := established(t)
			l := newLender(t)
			e.env.Recycle = l.recycle
			d, buf := l.lend(bytesN(1000), 40, 1500, 1000)
			seg := in(ack, y+1, x+1, data(d))
			seg.Lent = buf
			e.c.HandleSegment(e.now, seg)
			if !seg.Kept {
				t.Fatal("not kept")
			}
			l.reading(0, 1<<62)
			if how == "Abort" {
				e.c.Abort(e.now)
			} else {
				e.c.Close(e.now)
			}
			e.state(StateClosed)
			if l.recycled != 1 || len(l.end) != 0 {
				t.Fatalf("after %s: %d buffers recycled, %d still kept", how, l.recycled, len(l.end))
			}
		})
	}
}
