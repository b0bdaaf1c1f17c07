package pipe

import (
	"bytes"
	"sync"
	"testing"

	"github.com/synack-net/synack/link"
)

// borrower is a link.Borrower that keeps the odd-numbered packets (the
// first four bytes of a numbered packet) and lets the even ones go.
type borrower struct {
	mu    sync.Mutex
	kept  [][]byte
	plain int // DeliverPacket calls
	all   int
}

func (d *borrower) DeliverPacket([]byte) {
	d.mu.Lock()
	d.plain++
	d.mu.Unlock()
}

func (d *borrower) DeliverBorrowed(p []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.all++
	if p[3]%2 == 1 {
		d.kept = append(d.kept, p)
		return true
	}
	return false
}

func (d *borrower) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.all
}

var _ link.Borrower = (*borrower)(nil)

// TestPipeLendsToABorrower: a Borrower gets every packet through
// DeliverBorrowed; the buffers it keeps are never handed out again while it
// holds them (their bytes stay as delivered through later traffic), the
// ones it lets go are reused, and a kept buffer given back with Recycle is
// the next one NewBuffer hands out.
func TestPipeLendsToABorrower(t *testing.T) {
	a, b := New(1500)
	defer a.Close()
	defer b.Close()
	d := &borrower{}
	b.Attach(d)
	const n = 200
	for i := range n {
		if i%2 == 0 {
			if err := a.WritePacket(numbered(i, 300)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		buf := a.NewBuffer(300)
		copy(buf, numbered(i, 300))
		if err := a.WriteOwned(buf); err != nil {
			t.Fatal(err)
		}
		if i%8 == 7 {
			waitFor(t, "delivery", func() bool { return d.count() == i+1 })
		}
	}
	waitFor(t, "every packet delivered", func() bool { return d.count() == n })
	if d.plain != 0 || len(d.kept) != n/2 {
		t.Fatalf("%d DeliverPacket calls, %d buffers kept; want 0 and %d", d.plain, len(d.kept), n/2)
	}
	seen := map[*byte]bool{}
	for k, p := range d.kept {
		if want := numbered(2*k+1, 300); !bytes.Equal(p, want) {
			t.Fatalf("kept packet %d was overwritten while kept", 2*k+1)
		}
		if seen[&p[0]] {
			t.Fatal("two kept packets share a buffer")
		}
		seen[&p[0]] = true
	}
	if free := b.freeCount(); free == 0 {
		t.Fatal("the buffers let go did not go back to the free list")
	}
	back := d.kept[0]
	b.Recycle(back)
	if next := a.NewBuffer(100); &next[0] != &back[0] {
		t.Fatal("NewBuffer did not hand out the recycled buffer")
	}
}
