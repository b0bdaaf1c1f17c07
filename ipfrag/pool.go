package ipfrag

import "math/bits"

// Buffer sizes: powers of two from minClass to 64 KiB, which holds any
// fragment and any datagram.
const (
	minClassShift = 8 // 256 bytes
	maxClassShift = 16
	nClasses      = maxClassShift - minClassShift + 1
	// maxSpare bounds the bytes of free buffers kept for reuse.
	maxSpare = 256 << 10
)

// pool keeps free buffers by size class for reuse, at most maxSpare
// bytes of them.
type pool struct {
	free  [nClasses][][]byte
	spare int
}

// classOf is the class of a buffer of at least n bytes (n <= 64 KiB).
func classOf(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// classSize is the capacity of the buffer that holds n bytes.
func classSize(n int) int { return 1 << (classOf(n) + minClassShift) }

// get returns a buffer of length n (at most 64 KiB).
func (p *pool) get(n int) []byte {
	c := classOf(n)
	if k := len(p.free[c]); k > 0 {
		b := p.free[c][k-1]
		p.free[c] = p.free[c][:k-1]
		p.spare -= cap(b)
		return b[:n]
	}
	return make([]byte, n, 1<<(c+minClassShift))
}

// put keeps b for reuse, if there is room; b must come from get.
func (p *pool) put(b []byte) {
	c := classOf(cap(b))
	if b == nil || cap(b) != 1<<(c+minClassShift) || p.spare+cap(b) > maxSpare {
		return
	}
	p.free[c] = append(p.free[c], b[:0])
	p.spare += cap(b)
}
