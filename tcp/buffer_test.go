package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestByteQueueMatchesAFIFO drives a ring against a plain slice model with
// random appends, peeks, discards and reads, growing through several size
// classes and wrapping many times: every byte comes out as it went in.
func TestByteQueueMatchesAFIFO(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	q := byteQueue{limit: 100 << 10}
	var model []byte
	next := byte(0)
	wrapped := 0
	for step := range 20000 {
		switch op := rng.IntN(4); {
		case op == 0 || op == 1: // append
			p := make([]byte, rng.IntN(3000))
			for i := range p {
				p[i] = next
				next++
			}
			n := q.Append(p)
			if want := min(len(p), q.limit-len(model)); n != want {
				t.Fatalf("step %d: Append(%d) = %d, want %d", step, len(p), n, want)
			}
			model = append(model, p[:n]...)
		case op == 2 && len(model) > 0: // peek a segment's worth, then acknowledge part
			i := rng.IntN(len(model))
			k := rng.IntN(len(model) - i + 1)
			a, b := q.Peek(i, k)
			if len(b) > 0 {
				wrapped++
			}
			if got := append(append([]byte{}, a...), b...); !bytes.Equal(got, model[i:i+k]) {
				t.Fatalf("step %d: Peek(%d, %d) differs from what was queued", step, i, k)
			}
			d := rng.IntN(len(model) + 1)
			q.Discard(d)
			model = model[d:]
		default: // read
			p := make([]byte, rng.IntN(5000))
			n := q.Read(p)
			if want := min(len(p), len(model)); n != want || !bytes.Equal(p[:n], model[:n]) {
				t.Fatalf("step %d: Read gave %d bytes, want %d, same bytes %v", step, n, want, bytes.Equal(p[:n], model[:n]))
			}
			model = model[n:]
		}
		if q.Len() != len(model) || q.Free() != q.limit-len(model) {
			t.Fatalf("step %d: Len %d Free %d with %d queued", step, q.Len(), q.Free(), len(model))
		}
	}
	if wrapped == 0 {
		t.Fatal("no Peek ever crossed the end of the ring")
	}
}

// TestByteQueueStorage: no storage until the first byte; storage of any
// size is given back when the queue drains (an idle connection holds none);
// Put past the limit still keeps every byte.
func TestByteQueueStorage(t *testing.T) {
	q := byteQueue{limit: 1 << 20}
	if q.st != nil {
		t.Fatal("storage before any byte")
	}
	q.Put(make([]byte, 100))
	if q.st == nil || len(q.st.b) != minQueueStorage {
		t.Fatalf("first storage %v, want %d bytes", q.st, minQueueStorage)
	}
	q.Discard(100)
	if q.st != nil {
		t.Fatalf("a %d-byte storage kept by a drained queue", len(q.st.b))
	}
	q.Put(make([]byte, 200<<10))
	q.Discard(200 << 10)
	if q.st != nil {
		t.Fatalf("a %d-byte storage kept by a drained queue", len(q.st.b))
	}
	small := byteQueue{limit: 10}
	small.Put(bytes.Repeat([]byte{7}, 25))
	if got := make([]byte, 30); small.Read(got) != 25 || !bytes.Equal(got[:25], bytes.Repeat([]byte{7}, 25)) {
		t.Fatal("bytes Put past the limit were lost")
	}
}

// TestByteQueueRefillsAtLastSize: a queue that drained after holding
// 300 KiB takes storage for 300 KiB with its next first byte, so refilling
// never doubles its way up (and copies) again; once small fills have
// drained, the next storage is small again.
func TestByteQueueRefillsAtLastSize(t *testing.T) {
	q := byteQueue{limit: 4 << 20}
	for range 3 {
		q.Put(make([]byte, 100<<10))
	}
	q.Discard(q.Len())
	q.Put(make([]byte, 1))
	if got, _ := storageClass(300 << 10); len(q.st.b) != got {
		t.Fatalf("storage after a 300 KiB fill drained: %d bytes, want %d", len(q.st.b), got)
	}
	for range 8 { // each drain halves the remembered size
		q.Discard(1)
		q.Put(make([]byte, 1))
	}
	if len(q.st.b) != minQueueStorage {
		t.Fatalf("storage after 1-byte fills drained: %d bytes, want the smallest, %d", len(q.st.b), minQueueStorage)
	}
}

// TestByteQueueOutgrownTakesLimit: a queue that outgrows its first
// storage within a fill moves to storage for its whole limit, so the bytes
// of a fill are copied at most once however far it grows.
func TestByteQueueOutgrownTakesLimit(t *testing.T) {
	q := byteQueue{limit: 1 << 20}
	moves, st := 0, (*storage)(nil)
	for q.Free() > 0 {
		q.Append(make([]byte, 5000))
		if q.st != st {
			if st != nil {
				moves++
			}
			st = q.st
		}
	}
	if moves != 1 || len(q.st.b) != 1<<20 {
		t.Fatalf("a fill to the limit moved %d times, into %d bytes; want once, into the limit", moves, len(q.st.b))
	}
}

// TestStorageClass: sizes round up to the next power of two or
// three-quarters of one, never by more than a third.
func TestStorageClass(t *testing.T) {
	for _, c := range []struct{ n, size, idx int }{
		{1, 4096, 0}, {4096, 4096, 0}, {4097, 6144, 1}, {6144, 6144, 1}, {6145, 8192, 2},
		{65535, 65536, 8}, {100 << 10, 128 << 10, 10}, {6 << 20, 6 << 20, 21}, {16 << 20, 16 << 20, 24},
		{16<<20 + 1, 16<<20 + 1, -1},
	} {
		size, idx := storageClass(c.n)
		if size != c.size || idx != c.idx {
			t.Errorf("storageClass(%d) = %d, %d; want %d, %d", c.n, size, idx, c.size, c.idx)
		}
		if size < c.n || size > c.n*4/3+4096 {
			t.Errorf("storageClass(%d) = %d: outside [n, 4n/3]", c.n, size)
		}
	}
}

// TestHeldStorageIsNotPooled checks that storage a send buffer lets go
// while a host holds text in it (ShareText: a gathering write not yet
// made, a far end not yet done reading) does not reach the pool, from
// which another connection would fill it, until the hold is released:
// when drained, when its first chunk is acknowledged with more queued,
// or reset. Text in the second chunk is held too.
func TestHeldStorageIsNotPooled(t *testing.T) {
	for _, how := range []string{"drained", "first chunk acknowledged", "reset"} {
		q := sendQueue{limit: 1 << 20}
		size := 3000 // one chunk, of the fill's first size (4 KiB)
		if how == "first chunk acknowledged" {
			size = 5000 // and another
		}
		q.append(make([]byte, size))
		a, b := q.Peek(0, size)
		st := q.ch.c[0]
		held := q.ShareText(a[1:10])
		if held != Releaser(st) {
			t.Fatalf("%s: ShareText of the first piece held %v, want its chunk", how, held)
		}
		if len(b) > 0 {
			if h := q.ShareText(b); h != Releaser(q.ch.c[1]) {
				t.Fatalf("%s: ShareText of the second piece held %v, want the second chunk", how, h)
			} else {
				defer h.Release()
			}
		}
		if q.ShareText(make([]byte, 10)) != nil {
			t.Fatalf("%s: ShareText held memory that is no chunk of the queue's", how)
		}
		switch how {
		case "drained":
			q.discard(size)
		case "first chunk acknowledged":
			q.discard(len(st.b))
		case "reset":
			q.reset()
		}
		if q.ch != nil && q.ch.c[0] == st {
			t.Fatalf("%s: the queue still has its storage", how)
		}
		if st.refs.Load() != 1 {
			t.Fatalf("%s while held: %d holders, want the one", how, st.refs.Load())
		}
		for range 1000 {
			if got := getStorage(len(st.b)); got == st {
				t.Fatalf("%s while held: the storage went back to the pool", how)
			}
		}
		held.Release()
		if st.refs.Load() != 0 {
			t.Fatalf("%s: %d holders after the release, want none", how, st.refs.Load())
		}
		q.reset()
	}
}

// TestBigStorageLastInFirstOut: large storage comes back most recently
// given back first (the one still in the caches), and the list keeps at
// most bigStorageLimit bytes, letting the oldest go.
func TestBigStorageLastInFirstOut(t *testing.T) {
	var l bigList
	a, b := &storage{b: make([]byte, minBigStorage)}, &storage{b: make([]byte, minBigStorage)}
	l.put(a)
	l.put(b)
	if got := l.get(minBigStorage); got != b {
		t.Fatal("get did not return the storage given back last")
	}
	if got := l.get(2 * minBigStorage); got != nil {
		t.Fatal("get returned storage of another size")
	}
	if got := l.get(minBigStorage); got != a || l.bytes != 0 || len(l.list) != 0 {
		t.Fatalf("second get: %v, %d bytes and %d kept after", got == a, l.bytes, len(l.list))
	}
	const size = 2 << 20
	var first *storage
	for i := range bigStorageLimit/size + 3 {
		st := &storage{b: make([]byte, size)}
		if i == 0 {
			first = st
		}
		l.put(st)
		if l.bytes > bigStorageLimit {
			t.Fatalf("%d bytes kept, over the limit %d", l.bytes, bigStorageLimit)
		}
	}
	for _, st := range l.list {
		if st == first {
			t.Fatal("the oldest storage was kept past the limit")
		}
	}
	if l.bytes != bigStorageLimit {
		t.Fatalf("%d bytes kept, want the limit %d", l.bytes, bigStorageLimit)
	}
}
