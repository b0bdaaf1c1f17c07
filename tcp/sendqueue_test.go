package tcp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSendQueueMatchesAFIFO drives the chunked send buffer against a plain
// slice model with random appends, peeks and acknowledgements, through
// limits small and large: every byte comes out as it went in, a peek of
// up to a segment's worth comes back whole in at most two pieces, and a
// drained queue holds no chunk.
func TestSendQueueMatchesAFIFO(t *testing.T) {
	// Appends are cut from one pattern of bytes, made once: filling each
	// byte by byte took most of a minute under the race detector.
	pattern := make([]byte, 1<<20)
	for i := range pattern {
		pattern[i] = byte(i*7 + i>>8)
	}
	for _, limit := range []int{8 << 10, 300 << 10, 4 << 20} {
		rng := rand.New(rand.NewPCG(uint64(limit), 2))
		q := sendQueue{limit: limit}
		var model []byte
		crossed, drained := 0, 0
		for step := range 6000 {
			switch op := rng.IntN(3); {
			case op == 0 || op == 1: // append
				from := rng.IntN(len(pattern) / 2)
				p := pattern[from : from+rng.IntN(min(limit, 200<<10))]
				n := q.append(p)
				if want := min(len(p), limit-len(model)); n != want {
					t.Fatalf("limit %d step %d: append(%d) = %d, want %d", limit, step, len(p), n, want)
				}
				model = append(model, p[:n]...)
			case len(model) > 0: // peek a segment's worth, then acknowledge part
				i := rng.IntN(len(model))
				k := min(rng.IntN(64<<10)+1, len(model)-i)
				a, b := q.Peek(i, k)
				if len(b) > 0 {
					crossed++
				}
				if got := append(append([]byte{}, a...), b...); !bytes.Equal(got, model[i:i+k]) {
					t.Fatalf("limit %d step %d: Peek(%d, %d) gave %d bytes, not what was queued", limit, step, i, k, len(got))
				}
				d := rng.IntN(len(model) + 1)
				if rng.IntN(8) == 0 {
					d = len(model)
				}
				q.discard(d)
				model = model[d:]
				if len(model) == 0 {
					drained++
					if q.ch != nil {
						t.Fatalf("limit %d step %d: a drained queue holds its chunks", limit, step)
					}
				}
			}
			if q.Len() != len(model) || q.Free() != limit-len(model) {
				t.Fatalf("limit %d step %d: Len %d Free %d with %d queued", limit, step, q.Len(), q.Free(), len(model))
			}
		}
		if limit > minSendChunk && crossed == 0 {
			t.Fatalf("limit %d: no Peek ever crossed from one chunk into the next", limit)
		}
		if drained == 0 {
			t.Fatalf("limit %d: the queue never drained", limit)
		}
		q.reset()
	}
}

// countingReleaser counts its releases.
type countingReleaser struct{ n int }

func (r *countingReleaser) Release() { r.n++ }

// TestSendQueueShareHoldsTheChunk checks the hold ShareText gives: only
// for text the last Peek returned in one piece, and a chunk so held stays
// out of the pool, its bytes as they were, after the queue acknowledged
// and let go of it, until the hold is released.
func TestSendQueueShareHoldsTheChunk(t *testing.T) {
	q := sendQueue{limit: 4 << 20}
	text := bytes.Repeat([]byte("synack"), 100<<10) // 600 KiB: several chunks
	if n := q.append(text); n != len(text) {
		t.Fatalf("queued %d of %d", n, len(text))
	}
	first := len(q.ch.c[0].b) - int(q.ch.head) // the fill's first chunk, sized for small fills
	a, b := q.Peek(first+1000, 30<<10)
	if len(b) != 0 {
		t.Fatal("a 30 KiB peek inside the second chunk crossed a chunk")
	}
	if q.ShareText(a[1:]) == nil || q.ShareText(bytes.Clone(a)) != nil {
		t.Fatal("ShareText must give a hold on text inside the peeked chunk and none on other memory")
	}
	ref := q.ShareText(a)
	st := ref.(*storage)
	if got := st.refs.Load(); got != 3 { // the queue and two holds
		t.Fatalf("chunk held %d times, want 3", got)
	}
	st.Release() // the a[1:] hold
	want := bytes.Clone(a)
	q.discard(q.Len()) // all acknowledged: the queue lets go
	if q.ch != nil || st.refs.Load() != 1 {
		t.Fatalf("after the queue let go: chunks %v, holds %d, want none and 1", q.ch != nil, st.refs.Load())
	}
	// Fill and drain a few more times: the held chunk is not reused.
	for range 4 {
		q.append(bytes.Repeat([]byte{0xee}, 1<<20))
		q.discard(q.Len())
	}
	if !bytes.Equal(a, want) {
		t.Fatal("held text changed after its chunk was let go by the queue")
	}
	ref.Release()
	if st.refs.Load() != 0 {
		t.Fatalf("holds %d after the last release", st.refs.Load())
	}

	// Across a chunk boundary each piece gets a hold on its own chunk
	// (a gathering write holds both); a text that crosses is in no one
	// chunk and gets none.
	q = sendQueue{limit: 4 << 20}
	q.append(text)
	first = len(q.ch.c[0].b) - int(q.ch.head)
	a, b = q.Peek(first-100, 1000)
	if len(a) != 100 || len(b) != 900 {
		t.Fatalf("a peek across chunks gave %d+%d", len(a), len(b))
	}
	ra, rb := q.ShareText(a), q.ShareText(b)
	if ra != Releaser(q.ch.c[0]) || rb != Releaser(q.ch.c[1]) {
		t.Fatalf("holds on the two pieces of a peek across chunks: %v, %v; want the first chunk and the second", ra, rb)
	}
	ra.Release()
	rb.Release()
	q.reset()
}

// TestRecvQueueKeepSharedReleasesOnce checks text kept where a far end
// lent it: read out in order among copied bytes, each hold released once,
// when its text is read or the queue reset.
func TestRecvQueueKeepSharedReleasesOnce(t *testing.T) {
	var q recvQueue
	q.ring.limit = 1 << 20
	r1, r2, r3 := new(countingReleaser), new(countingReleaser), new(countingReleaser)
	q.Put([]byte("abc"))
	q.KeepShared([]byte("defgh"), r1)
	q.Put([]byte("ij"))
	q.KeepShared([]byte("klm"), r2)
	if q.Len() != 13 {
		t.Fatalf("Len %d, want 13", q.Len())
	}
	p := make([]byte, 9)
	if n := q.Read(p); n != 9 || string(p) != "abcdefghi" {
		t.Fatalf("Read %q", p[:n])
	}
	if r1.n != 1 || r2.n != 0 {
		t.Fatalf("releases %d %d after the first text was read, want 1 0", r1.n, r2.n)
	}
	q.KeepShared([]byte("nop"), r3)
	q.Reset()
	if r1.n != 1 || r2.n != 1 || r3.n != 1 || q.Len() != 0 {
		t.Fatalf("releases %d %d %d after Reset (Len %d), want 1 1 1", r1.n, r2.n, r3.n, q.Len())
	}
}

// TestSendQueueReserveMatchesAFIFO is TestSendQueueMatchesAFIFO with a
// Write in two halves among the appends, peeks and acknowledgements: room
// reserved for a random n, a random prefix of it filled (A, then B), and,
// before the commit, what the engine may do meanwhile: peek, acknowledge
// some or all of the queue, drain it, shrink the limit. The queue gains
// exactly the committed bytes, and only if commit says it did; no peek
// before the commit returns a byte of the room; a queue left empty holds
// no chunk; and every hold the room took is let go with it (the chunks'
// reference counts).
func TestSendQueueReserveMatchesAFIFO(t *testing.T) {
	pattern := make([]byte, 1<<20)
	for i := range pattern {
		pattern[i] = byte(i*7 + i>>8)
	}
	for _, limit := range []int{8 << 10, 300 << 10, 4 << 20} {
		rng := rand.New(rand.NewPCG(uint64(limit), 3))
		q := sendQueue{limit: limit}
		var model []byte
		var seen reserveCases
		for step := range 4000 {
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("limit %d step %d: %s", limit, step, fmt.Sprintf(format, args...))
			}
			switch op := rng.IntN(4); {
			case op == 0: // append
				from := rng.IntN(len(pattern) / 2)
				p := pattern[from : from+rng.IntN(min(limit, 200<<10))]
				n := q.append(p)
				if want := min(len(p), limit-len(model)); n != want {
					fail("append(%d) = %d, want %d", len(p), n, want)
				}
				model = append(model, p[:n]...)
			case op == 1 && len(model) > 0: // acknowledge part
				d := rng.IntN(len(model) + 1)
				if rng.IntN(8) == 0 {
					d = len(model)
				}
				q.discard(d)
				model = model[d:]
				if len(model) == 0 && q.ch != nil {
					fail("a drained queue holds its chunks")
				}
			case op >= 2: // reserve, fill, meanwhile, commit
				model = reserveStep(rng, &q, model, pattern, fail, &seen)
			}
			if q.Len() != len(model) || q.Free() != limit-len(model) {
				fail("Len %d Free %d with %d queued", q.Len(), q.Free(), len(model))
			}
		}
		if seen.withA == 0 || seen.withB == 0 || seen.drained == 0 || seen.shrunk == 0 || seen.given == 0 {
			t.Fatalf("limit %d: rooms with A %d, with B %d, drained meanwhile %d, limit shrunk meanwhile %d, given up %d: a case never came up",
				limit, seen.withA, seen.withB, seen.drained, seen.shrunk, seen.given)
		}
		if limit > minSendChunk && seen.crossed == 0 {
			t.Fatalf("limit %d: no committed room crossed from A into B", limit)
		}
		q.reset()
	}
}

// reserveCases counts the cases reserveStep met, so that a test can
// check each came up.
type reserveCases struct {
	withA, withB    int // rooms with an A (the last chunk's rest), with a B (a new chunk)
	drained, shrunk int // queues drained, limits shrunk, between reserve and commit
	given, crossed  int // rooms given up (k = 0), commits reaching from A into B
}

// reserveStep is one Write in two halves on q, against model, which it
// returns as it is after the commit.
func reserveStep(rng *rand.Rand, q *sendQueue, model, pattern []byte, fail func(string, ...any), seen *reserveCases) []byte {
	n := rng.IntN(min(q.limit, 200<<10)) + 1
	free := q.Free()
	r := q.reserve(n)
	if want := min(n, free); r.Len() != want {
		// The limits here keep n within a chunk after the first.
		fail("reserve(%d) with %d free gave %d bytes of room, want %d", n, free, r.Len(), want)
	}
	if r.Len() == 0 {
		if r.stA != nil || r.stB != nil || q.ch != nil && q.ch.reserved {
			fail("a reserve of no room holds storage or marks the queue reserved")
		}
		return model
	}
	stA, stB := r.stA, r.stB
	if stA != nil {
		seen.withA++
		if got := stA.refs.Load(); got != 2 {
			fail("A's chunk held %d times, want 2 (the queue and the room)", got)
		}
	}
	if stB != nil {
		seen.withB++
		if got := stB.refs.Load(); got != 1 {
			fail("B's chunk held %d times, want 1 (the room)", got)
		}
	}
	// The host fills a prefix of the room, A first.
	k := rng.IntN(r.Len() + 1)
	switch rng.IntN(8) {
	case 0:
		k = 0 // the room given up
	case 1, 2:
		k = r.Len() // all of it, as a Write that fits does
	}
	from := rng.IntN(len(pattern) / 2)
	if got := r.Fill(pattern[from : from+k]); got != k {
		fail("Fill of %d bytes took %d", k, got)
	}
	// Meanwhile, the engine: peeks never reach into the room;
	// acknowledgements may drain the queue; the limit may shrink.
	limit := q.limit
	for range rng.IntN(4) {
		switch rng.IntN(3) {
		case 0:
			if len(model) == 0 {
				break
			}
			i := max(len(model)-rng.IntN(64<<10)-1, 0) // near the end
			ask := rng.IntN(64<<10) + 1                // often past it, into the room
			a, b := q.Peek(i, ask)
			if got := append(append([]byte{}, a...), b...); len(got) > min(ask, len(model)-i) || !bytes.Equal(got, model[i:i+len(got)]) {
				fail("Peek(%d, %d) of %d queued bytes gave %d bytes, not only what was queued", i, ask, len(model), len(got))
			}
		case 1:
			if len(model) == 0 {
				break
			}
			d := rng.IntN(len(model) + 1)
			if rng.IntN(3) == 0 {
				d = len(model)
			}
			q.discard(d)
			model = model[d:]
			if len(model) == 0 {
				seen.drained++
				if q.ch == nil {
					fail("a queue drained during a reserve let go of its chunks")
				}
				if stA != nil && stA.refs.Load() != 2 {
					fail("a queue drained during a reserve let go of A's chunk")
				}
			}
		case 2:
			seen.shrunk++
			q.limit = rng.IntN(limit) + 1
		}
	}
	free = q.Free()
	ok, usedB := q.commit(&r, k)
	if wantOK := k > 0 && k <= free; ok != wantOK {
		fail("commit(%d) with %d free = %v, want %v", k, free, ok, wantOK)
	}
	if usedB != (ok && k > len(r.A)) {
		fail("commit(%d) of A %d B %d reports usedB %v", k, len(r.A), len(r.B), usedB)
	}
	if ok && len(r.A) > 0 && k > len(r.A) {
		seen.crossed++
	}
	if k == 0 {
		seen.given++
	}
	before := len(model)
	if ok {
		model = append(model, pattern[from:from+k]...)
	}
	r.release(usedB)
	q.limit = limit
	// The holds: the queue's, if it still has the chunk, and no other.
	holds := func(st *storage) int32 {
		if q.ch != nil && slices.Contains(q.ch.c, st) {
			return 1
		}
		return 0
	}
	if stA != nil && stA.refs.Load() != holds(stA) {
		fail("A's chunk held %d times after the commit, want %d", stA.refs.Load(), holds(stA))
	}
	if stB != nil && stB.refs.Load() != holds(stB) {
		fail("B's chunk held %d times after the commit (usedB %v), want %d", stB.refs.Load(), usedB, holds(stB))
	}
	if len(model) == 0 && q.ch != nil {
		fail("an empty queue after commit(%d) holds its chunks", k)
	}
	if q.ch != nil && q.ch.reserved {
		fail("the queue is still reserved after the commit")
	}
	// The new bytes, and those before them, as the model has them.
	for i := max(before-100, 0); i < len(model); i += 64 << 10 {
		want := min(64<<10, len(model)-i)
		a, b := q.Peek(i, want)
		if got := append(append([]byte{}, a...), b...); !bytes.Equal(got, model[i:i+want]) {
			fail("after commit(%d), Peek(%d, %d) gave %d bytes, not what was queued", k, i, want, len(got))
		}
	}
	return model
}
