package tcp

// A Write in two halves (Conn.Reserve, then Conn.Commit, user.go): what a
// host sees when the connection moves on while it fills the room with
// its lock let go, and that the segments sent are those a Write sends.

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// reserveWrite writes p as the stack's fillUnlocked does: one Reserve,
// a Fill of the room, the Commit.
func reserveWrite(t *testing.T, c *Conn, now time.Time, p []byte) (int, error) {
	t.Helper()
	r, err := c.Reserve(now, len(p))
	if err != nil {
		return 0, err
	}
	return c.Commit(now, r, r.Fill(p))
}

// sendAll acknowledges, one rtt after each flight, everything e sent, until
// its send buffer is empty; it returns the segments sent and the time.
func sendAll(t *testing.T, e *end, now time.Time) ([]sentSeg, time.Time) {
	t.Helper()
	var segs []sentSeg
	for range 1000 {
		got := e.take()
		if len(got) == 0 {
			break
		}
		segs = append(segs, got...)
		last := got[len(got)-1]
		now = now.Add(rtt)
		e.c.HandleSegment(now, in(ack, y+1, last.Seq.Add(seqnum.Size(len(last.Payload)))))
	}
	if n := e.c.SendQueue(); n != 0 {
		t.Fatalf("%d bytes still queued after every flight was acknowledged", n)
	}
	return segs, now
}

// text is the payloads of segs, in order.
func text(segs []sentSeg) []byte {
	var p []byte
	for _, s := range segs {
		p = append(p, s.Payload...)
	}
	return p
}

// sameSegments asserts that two connections sent the same segments:
// sequence numbers, flags, sizes and bytes.
func sameSegments(t *testing.T, got, want []sentSeg) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		if i >= len(got) || i >= len(want) {
			t.Fatalf("%d segments sent, a Write sends %d", len(got), len(want))
		}
		g, w := &got[i], &want[i]
		if g.Seq != w.Seq || g.Flags != w.Flags || !bytes.Equal(g.Payload, w.Payload) {
			t.Fatalf("segment %d is %v, a Write's is %v", i, g, w)
		}
	}
}

// mustPanic asserts that f panics.
func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s did not panic", what)
		}
	}()
	f()
}

// TestEstablishedReserveSendsAsWrite: 64 KiB reserved, filled and
// committed leave in the segments a Write of the same 64 KiB sends on an
// identical connection, with segments cut at chunk ends for lending
// (Env.ShareMin): into an empty buffer whose first chunk is sized for
// 64 KiB, and into one holding bytes already, where the room is the
// rest of that chunk (A) and a new one (B) as a Write's bytes are. On a
// new connection, whose first chunk a Write makes 4 KiB, the room is
// one chunk: every segment is full but the last, with no runt where the
// fill's first chunk ends.
func TestEstablishedReserveSendsAsWrite(t *testing.T) {
	p := lowatStream(64 << 10)
	for _, tc := range []struct {
		name   string
		warm   bool // a 64 KiB write was sent before: a fill's first chunk is sized for it
		before int  // bytes written (and sent) just before
	}{
		{"new", false, 0},
		{"warm", true, 0},
		{"new behind 1000 bytes", false, 1000},
		{"warm behind 1000 bytes", true, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent [2][]sentSeg
			for i, write := range []func(c *Conn, now time.Time) (int, error){
				func(c *Conn, now time.Time) (int, error) { return c.Write(now, p) },
				func(c *Conn, now time.Time) (int, error) { return reserveWrite(t, c, now, p) },
			} {
				e := established(t)
				e.env.ShareMin = 300
				now := e.now
				if tc.warm {
					e.write(now, bytesN(64<<10))
					_, now = sendAll(t, e, now)
				}
				if tc.before > 0 {
					e.write(now, bytesN(tc.before))
				}
				if n, err := write(e.c, now); n != len(p) || err != nil {
					t.Fatalf("write %d: %d, %v; want all %d bytes", i, n, err, len(p))
				}
				sent[i], _ = sendAll(t, e, now)
				if got := text(sent[i]); !bytes.Equal(got[tc.before:], p) {
					t.Fatalf("write %d: the %d bytes sent after the first %d are not those written", i, len(got)-tc.before, tc.before)
				}
			}
			mss := len(sent[1][0].Payload)
			if tc.name == "new" {
				for i, s := range sent[1][:len(sent[1])-1] {
					if len(s.Payload) != mss {
						t.Fatalf("segment %d of %d is a runt: %v, MSS %d", i, len(sent[1]), s, mss)
					}
				}
				return
			}
			sameSegments(t, sent[1], sent[0])
		})
	}
}

// TestEstablishedReserveDrainedMeanwhileCommits: the peer acknowledges
// all that was queued while the room is filled, so the send buffer
// drains; the commit still queues the room's bytes (it kept the chunk
// the room begins in), they are sent, and the room's holds end with the
// queue's.
func TestEstablishedReserveDrainedMeanwhileCommits(t *testing.T) {
	e := established(t)
	c := e.c
	p := lowatStream(64 << 10)
	e.write(e.now, bytesN(1000))
	e.take()
	r, err := c.Reserve(e.now, len(p))
	if err != nil || r.Len() != len(p) || len(r.A) == 0 || len(r.B) == 0 {
		t.Fatalf("Reserve(%d) behind 1000 bytes = A %d B %d, %v; want A and B", len(p), len(r.A), len(r.B), err)
	}
	stA, stB := r.stA, r.stB
	k := r.Fill(p[:60<<10]) // a part of the room
	now := e.now.Add(rtt)
	c.HandleSegment(now, in(ack, y+1, x+1001))
	e.expectNone()
	if c.SendQueue() != 0 || c.sndBuf.ch == nil {
		t.Fatalf("after the ACK of all: %d queued, chunks kept %v; want 0 and the room's chunk kept", c.SendQueue(), c.sndBuf.ch != nil)
	}
	if n, err := c.Commit(now, r, k); n != k || err != nil {
		t.Fatalf("Commit(%d) after the queue drained = %d, %v", k, n, err)
	}
	if c.SendQueue() != k || stA.refs.Load() != 1 || stB.refs.Load() != 1 {
		t.Fatalf("after Commit: %d queued, chunks held %d and %d times; want %d, 1 and 1 (the queue's)",
			c.SendQueue(), stA.refs.Load(), stB.refs.Load(), k)
	}
	segs, _ := sendAll(t, e, now)
	if got := text(segs); !bytes.Equal(got, p[:k]) || segs[0].Seq != x+1001 {
		t.Fatalf("sent %d bytes from %d, want the %d committed from %d", len(got), segs[0].Seq, k, x+1001)
	}
	if stA.refs.Load() != 0 || stB.refs.Load() != 0 {
		t.Fatalf("chunks held %d and %d times once all was acknowledged, want 0 (pooled)", stA.refs.Load(), stB.refs.Load())
	}
}

// TestEstablishedReserveEndedMeanwhileFails: the connection aborted by
// the user, or reset by the peer, while the room is filled: Commit
// returns the connection's error, queues and sends nothing, and every
// hold ends (storage pooled; with the Sender holding text, once it lets
// go of it).
func TestEstablishedReserveEndedMeanwhileFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		held bool // the Sender still holds text in A's chunk (ShareText)
		end  func(e *end)
		err  error
	}{
		{"abort", false, func(e *end) { e.c.Abort(e.now) }, ErrConnectionAborted},
		{"abort with text held", true, func(e *end) { e.c.Abort(e.now) }, ErrConnectionAborted},
		{"reset", false, func(e *end) { e.c.HandleSegment(e.now, in(rst, y+1, 0)) }, ErrConnectionReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := established(t)
			c := e.c
			e.write(e.now, bytesN(1000))
			e.take()
			var held Releaser
			if tc.held {
				a, _ := c.sndBuf.Peek(0, 1000)
				held = c.ShareText(a)
			}
			r, err := c.Reserve(e.now, 64<<10)
			if err != nil || r.stA == nil || r.stB == nil {
				t.Fatalf("Reserve behind 1000 bytes: A %d B %d, %v; want both", len(r.A), len(r.B), err)
			}
			stA, stB := r.stA, r.stB
			k := r.Fill(lowatStream(64 << 10))
			tc.end(e)
			e.state(StateClosed)
			e.take() // the RST, if any
			if n, err := c.Commit(e.now, r, k); n != 0 || !errors.Is(err, tc.err) {
				t.Fatalf("Commit after %s = %d, %v; want 0, %v", tc.name, n, err, tc.err)
			}
			e.expectNone()
			if c.SendQueue() != 0 || c.sndBuf.ch != nil {
				t.Fatalf("after Commit: %d queued, chunks kept %v; want none", c.SendQueue(), c.sndBuf.ch != nil)
			}
			wantA := int32(0)
			if tc.held {
				wantA = 1 // held by the Sender until it lets go
			}
			if stA.refs.Load() != wantA || stB.refs.Load() != 0 {
				t.Fatalf("chunks held %d and %d times after Commit, want %d and 0", stA.refs.Load(), stB.refs.Load(), wantA)
			}
			if held != nil {
				held.Release()
			}
			if stA.refs.Load() != 0 {
				t.Fatalf("A's chunk held %d times after the Sender let go, want 0 (pooled)", stA.refs.Load())
			}
		})
	}
}

// TestEstablishedReserveCloseWriteMeanwhileFails: the sending side
// closed (the FIN queued and sent) while the room is filled: Commit
// returns ErrClosing and queues nothing, so nothing follows the FIN.
func TestEstablishedReserveCloseWriteMeanwhileFails(t *testing.T) {
	for _, before := range []int{0, 1000} {
		e := established(t)
		c := e.c
		if before > 0 {
			e.write(e.now, bytesN(before))
			e.take()
		}
		r, err := c.Reserve(e.now, 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		stB := r.stB
		k := r.Fill(lowatStream(64 << 10))
		if err := c.CloseWrite(e.now); err != nil {
			t.Fatal(err)
		}
		finSeq := x + 1 + seqnum.Value(before)
		e.expect(is(finack, finSeq, y+1), hasLen(0))
		if n, err := c.Commit(e.now, r, k); n != 0 || !errors.Is(err, ErrClosing) {
			t.Fatalf("behind %d bytes: Commit after CloseWrite = %d, %v; want 0, ErrClosing", before, n, err)
		}
		e.expectNone()
		if c.SendQueue() != before || stB.refs.Load() != 0 || (before == 0) != (c.sndBuf.ch == nil) {
			t.Fatalf("behind %d bytes: after Commit %d queued, B held %d times, chunks kept %v",
				before, c.SendQueue(), stB.refs.Load(), c.sndBuf.ch != nil)
		}
		c.HandleSegment(e.now.Add(rtt), in(ack, y+1, finSeq+1))
		e.expectNone()
		e.state(StateFinWait2)
	}
}

// TestEstablishedReserveLimitShrunkMeanwhile: the send buffer's limit
// cut (SO_SNDBUF) while the room is filled, below the room's end: Commit
// queues what fits, as Write would, and returns that count; those bytes
// are sent, in order. When none fit, it returns ErrWouldBlock as Write
// does, and queues nothing.
func TestEstablishedReserveLimitShrunkMeanwhile(t *testing.T) {
	p := lowatStream(64 << 10)
	e := established(t)
	c := e.c
	e.write(e.now, p[:1000])
	e.take()
	r, err := c.Reserve(e.now, len(p)-1000)
	if err != nil || r.Len() != len(p)-1000 {
		t.Fatalf("Reserve = %d, %v", r.Len(), err)
	}
	stB := r.stB
	k := r.Fill(p[1000:])
	c.SetSendBufferSize(e.now, 16<<10)
	n, err := c.Commit(e.now, r, k)
	if want := 16<<10 - 1000; n != want || err != nil {
		t.Fatalf("Commit(%d) under a 16 KiB limit behind 1000 bytes = %d, %v; want %d, nil", k, n, err, want)
	}
	if stB.refs.Load() != 0 {
		t.Fatalf("B held %d times after a Commit that copied out of it, want 0", stB.refs.Load())
	}
	segs, now := sendAll(t, e, e.now)
	if got := text(segs); !bytes.Equal(got, p[1000:1000+n]) {
		t.Fatalf("sent %d bytes, not the %d committed", len(got), n)
	}

	// No room at all after the cut: ErrWouldBlock, nothing queued.
	e.write(now, p[:4000])
	e.take()
	r, err = c.Reserve(now, 32<<10)
	if err != nil {
		t.Fatalf("Reserve under 16 KiB with 4000 queued: %v", err)
	}
	k = r.Fill(p)
	c.SetSendBufferSize(now, MinUserBufferSize)
	if n, err := c.Commit(now, r, k); n != 0 || !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Commit with no room left = %d, %v; want 0, ErrWouldBlock", n, err)
	}
	if c.SendQueue() != 4000 {
		t.Fatalf("%d queued, want the 4000 before", c.SendQueue())
	}
	e.expectNone()
}

// TestEstablishedReserveBounds: Reserve gives no more room than the send
// buffer's free space and the TCP_NOTSENT_LOWAT bound leave, and
// ErrWouldBlock, reserving nothing, when they leave none.
func TestEstablishedReserveBounds(t *testing.T) {
	// The send buffer's limit.
	e := established(t, func(c *Config) { c.SendBufferSize = 8 << 10 })
	c := e.c
	e.write(e.now, bytesN(1000))
	r, err := c.Reserve(e.now, 64<<10)
	if err != nil || r.Len() != 8<<10-1000 {
		t.Fatalf("Reserve(64 KiB) with %d free = %d, %v", 8<<10-1000, r.Len(), err)
	}
	if n, err := c.Commit(e.now, r, r.Fill(bytesN(r.Len()))); n != 8<<10-1000 || err != nil {
		t.Fatalf("Commit = %d, %v", n, err)
	}
	if _, err := c.Reserve(e.now, 1); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Reserve with the buffer full = %v, want ErrWouldBlock", err)
	}
	if _, err := c.Write(e.now, []byte{1}); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Write after a Reserve that failed = %v, want ErrWouldBlock (and no panic: nothing reserved)", err)
	}

	// TCP_NOTSENT_LOWAT: in SYN-SENT every queued byte is unsent.
	e = synSent(t)
	c = e.c
	c.SetNotSentLowat(e.now, 4<<10)
	r, err = c.Reserve(e.now, 64<<10)
	if err != nil || r.Len() != 4<<10 {
		t.Fatalf("Reserve(64 KiB) under a 4 KiB TCP_NOTSENT_LOWAT = %d, %v", r.Len(), err)
	}
	if n, err := c.Commit(e.now, r, 1000); n != 1000 || err != nil {
		t.Fatalf("Commit(1000) = %d, %v", n, err)
	}
	if r, err = c.Reserve(e.now, 64<<10); err != nil || r.Len() != 4<<10-1000 {
		t.Fatalf("Reserve(64 KiB) with 1000 unsent under 4 KiB = %d, %v", r.Len(), err)
	}
	if n, err := c.Commit(e.now, r, r.Len()); n != r.Len() || err != nil {
		t.Fatalf("Commit(%d) = %d, %v", r.Len(), n, err)
	}
	if _, err := c.Reserve(e.now, 1); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Reserve at the TCP_NOTSENT_LOWAT bound = %v, want ErrWouldBlock", err)
	}

	// A bound set while the room is filled is kept as Write keeps it:
	// Commit queues what the bound leaves room for.
	e = synSent(t)
	c = e.c
	r, err = c.Reserve(e.now, 16<<10)
	if err != nil || r.Len() != 16<<10 {
		t.Fatalf("Reserve(16 KiB) = %d, %v", r.Len(), err)
	}
	k := r.Fill(bytesN(16 << 10))
	c.SetNotSentLowat(e.now, 4<<10)
	if n, err := c.Commit(e.now, r, k); n != 4<<10 || err != nil || c.SendQueue() != 4<<10 {
		t.Fatalf("Commit of 16 KiB under a 4 KiB bound set meanwhile = %d, %v with %d queued; want 4 KiB", n, err, c.SendQueue())
	}

	// Reserve of nothing is Write of nothing: no room, no error, and its
	// Commit does nothing.
	e = established(t)
	c = e.c
	if r, err = c.Reserve(e.now, 0); err != nil || r.Len() != 0 {
		t.Fatalf("Reserve(0) = %d, %v; want 0, nil", r.Len(), err)
	}
	if n, err := c.Commit(e.now, r, 0); n != 0 || err != nil || c.SendQueue() != 0 || c.sndBuf.ch != nil {
		t.Fatalf("Commit of Reserve(0) = %d, %v with %d queued", n, err, c.SendQueue())
	}
	e.write(e.now, []byte{1}) // nothing left reserved
}

// TestReserveErrorsAsWrite: Reserve fails where Write does, with its
// error: before the connection is opened, after the sending side
// closed, once it ended; it gives room from SYN-SENT (sent once open) to
// CLOSE-WAIT. A room given up (k = 0) queues nothing.
func TestReserveErrorsAsWrite(t *testing.T) {
	aborted := func(t *testing.T) *end {
		e := established(t)
		e.c.Abort(e.now)
		return e
	}
	reset := func(t *testing.T) *end {
		e := established(t)
		e.c.HandleSegment(e.now, in(rst, y+1, 0))
		return e
	}
	closed := func(t *testing.T) *end { return newClient(t) }
	for _, tc := range []struct {
		name    string
		fixture func(*testing.T) *end
		err     error
	}{
		{"CLOSED", closed, ErrNotConnected},
		{"SYN-SENT", func(t *testing.T) *end { return synSent(t) }, nil},
		{"ESTABLISHED", func(t *testing.T) *end { return established(t) }, nil},
		{"CLOSE-WAIT", func(t *testing.T) *end { return closeWait(t) }, nil},
		{"FIN-WAIT-1", func(t *testing.T) *end { return finWait1(t) }, ErrClosing},
		{"FIN-WAIT-2", func(t *testing.T) *end { return finWait2(t) }, ErrClosing},
		{"CLOSING", func(t *testing.T) *end { return closing(t) }, ErrClosing},
		{"LAST-ACK", func(t *testing.T) *end { return lastAck(t) }, ErrClosing},
		{"TIME-WAIT", func(t *testing.T) *end { return timeWait(t) }, ErrClosing},
		{"aborted", aborted, ErrConnectionAborted},
		{"reset", reset, ErrConnectionReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.fixture(t)
			e.take()
			r, err := e.c.Reserve(e.now, 64<<10)
			if !errors.Is(err, tc.err) || err == nil && r.Len() != 64<<10 || err != nil && r.Len() != 0 {
				t.Fatalf("Reserve(64 KiB) = %d, %v; want %v", r.Len(), err, tc.err)
			}
			if _, werr := tc.fixture(t).c.Write(e.now, []byte{1}); !errors.Is(werr, tc.err) {
				t.Fatalf("Write = %v, Reserve %v", werr, err)
			}
			if err != nil {
				return
			}
			if n, err := e.c.Commit(e.now, r, 0); n != 0 || err != nil || e.c.SendQueue() != 0 || e.c.sndBuf.ch != nil {
				t.Fatalf("Commit(0) = %d, %v with %d queued, chunks kept %v; want nothing",
					n, err, e.c.SendQueue(), e.c.sndBuf.ch != nil)
			}
			e.expectNone()
		})
	}
}

// TestEstablishedReserveOutstandingPanics: while a room is outstanding,
// a second Reserve or a Write is a host's bug and panics, leaving the
// room as it was: its Commit queues and sends its bytes.
func TestEstablishedReserveOutstandingPanics(t *testing.T) {
	e := established(t)
	c := e.c
	p := lowatStream(20 << 10)
	r, err := c.Reserve(e.now, len(p))
	if err != nil {
		t.Fatal(err)
	}
	k := r.Fill(p)
	mustPanic(t, "a second Reserve", func() { _, _ = c.Reserve(e.now, 1) })
	mustPanic(t, "a Write", func() { _, _ = c.Write(e.now, []byte{1}) })
	e.expectNone()
	if n, err := c.Commit(e.now, r, k); n != len(p) || err != nil {
		t.Fatalf("Commit after the panics = %d, %v", n, err)
	}
	if segs, _ := sendAll(t, e, e.now); !bytes.Equal(text(segs), p) {
		t.Fatal("the bytes sent are not the room's")
	}
}
