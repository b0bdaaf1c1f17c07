package tcp

import (
	"bytes"
	"math/rand/v2"
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
				n := q.appendHeld(p, nil)
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
				q.discard(d, nil)
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
		q.reset(nil)
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
	if n := q.appendHeld(text, nil); n != len(text) {
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
	q.discard(q.Len(), nil) // all acknowledged: the queue lets go
	if q.ch != nil || st.refs.Load() != 1 {
		t.Fatalf("after the queue let go: chunks %v, holds %d, want none and 1", q.ch != nil, st.refs.Load())
	}
	// Fill and drain a few more times: the held chunk is not reused.
	for range 4 {
		q.appendHeld(bytes.Repeat([]byte{0xee}, 1<<20), nil)
		q.discard(q.Len(), nil)
	}
	if !bytes.Equal(a, want) {
		t.Fatal("held text changed after its chunk was let go by the queue")
	}
	ref.Release()
	if st.refs.Load() != 0 {
		t.Fatalf("holds %d after the last release", st.refs.Load())
	}

	// Across a chunk boundary only the first piece may be shared (the
	// engine then sends it alone: Env.ShareMin), not the second.
	q = sendQueue{limit: 4 << 20}
	q.appendHeld(text, nil)
	first = len(q.ch.c[0].b) - int(q.ch.head)
	a, b = q.Peek(first-100, 1000)
	if len(a) != 100 || len(b) != 900 || q.ShareText(b) != nil {
		t.Fatalf("a peek across chunks (%d+%d) must give no hold on its second piece", len(a), len(b))
	}
	if r := q.ShareText(a); r == nil {
		t.Fatal("no hold on the first piece of a peek across chunks")
	} else {
		r.Release()
	}
	q.reset(nil)
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
