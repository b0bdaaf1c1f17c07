package stack

import "sync"

// Packet buffers and output batches are pooled: the hot path allocates
// nothing in steady state.

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func getBuf(n int) []byte {
	bp := bufPool.Get().(*[]byte)
	b := *bp
	if cap(b) < n {
		b = make([]byte, n)
	}
	return b[:n]
}

func putBuf(b []byte) {
	if cap(b) > 128<<10 {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
}

var batchPool = sync.Pool{New: func() any { return make([][]byte, 0, 16) }}

func takeBatch() [][]byte { return batchPool.Get().([][]byte)[:0] }

func putBatch(q [][]byte) { batchPool.Put(q[:0]) } //nolint:staticcheck // slice header boxing is cheap next to a packet
