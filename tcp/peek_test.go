package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestRecvQueuePeekMatchesRead: with copies and kept views queued in
// random order, Peek of any size gives the bytes the next Read gives, and
// takes nothing.
func TestRecvQueuePeekMatchesRead(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var q recvQueue
	q.ring.limit = 1 << 20
	l := newLender(t)
	l.reading(0, 1<<62) // Peek gives nothing back; Read checks its own
	var model []byte
	next, read := byte(0), 0
	text := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = next
			next++
		}
		return p
	}
	for step := range 5000 {
		switch op := rng.IntN(4); {
		case op == 0 && len(model) < 500<<10:
			p := text(rng.IntN(2000))
			q.Put(p)
			model = append(model, p...)
		case op == 1 && len(model) < 500<<10:
			p := text(1 + rng.IntN(5000))
			data, buf := l.lend(p, 0, len(p), read+len(model)+len(p))
			q.Keep(data, buf, l.recycle)
			model = append(model, p...)
		case op == 2:
			p := make([]byte, rng.IntN(12000))
			before := q.Len()
			n := q.Peek(p)
			if want := min(len(p), len(model)); n != want || !bytes.Equal(p[:n], model[:n]) {
				t.Fatalf("step %d: Peek gave %d bytes, want %d, same bytes %v", step, n, want, bytes.Equal(p[:n], model[:n]))
			}
			if q.Len() != before {
				t.Fatalf("step %d: Peek took bytes: Len %d -> %d", step, before, q.Len())
			}
		default:
			p := make([]byte, rng.IntN(12000))
			n := q.Read(p)
			if !bytes.Equal(p[:n], model[:n]) {
				t.Fatalf("step %d: Read after Peek differs", step)
			}
			model = model[n:]
			read += n
		}
	}
}
