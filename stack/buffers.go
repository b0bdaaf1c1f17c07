package stack

// Output batches: the packets made under the stack's lock, written to the
// link in order after it is released. A batch keeps its packet buffers when
// it is written and emptied, and the stack keeps its batches (Stack.spare),
// so a steady flow reuses the same buffers and the hot path allocates
// nothing.

// packetCap is the capacity of a new packet buffer: a full segment at the
// usual MTU fits, and a larger one gets a buffer of its own size.
const packetCap = 2048

// keptBatchBytes bounds the buffer memory an emptied batch keeps. One ACK
// that opens a wide window can release over a thousand segments at once
// (seen: 1,400 at MTU 1500), and a batch that let those buffers go would
// allocate them again at the next such burst; past this bound it does. A
// stack has two or three batches, so it holds at most some megabytes for
// good: about what a network card's rings hold.
const keptBatchBytes = 4 << 20

type batch struct {
	pkts [][]byte // pkts[:len] are queued; pkts[len:cap] are spare buffers
}

// add queues a packet of n bytes and returns it for the caller to fill
// before the batch is written.
func (b *batch) add(n int) []byte {
	i := len(b.pkts)
	if i < cap(b.pkts) {
		if p := b.pkts[:i+1][i]; cap(p) >= n {
			b.pkts = b.pkts[:i+1]
			b.pkts[i] = p[:n]
			return b.pkts[i]
		}
	}
	p := make([]byte, n, max(n, packetCap))
	b.pkts = append(b.pkts, p)
	return p
}

// empty drops the queued packets, keeping their buffers as spares up to
// keptBatchBytes.
func (b *batch) empty() {
	all, kept := b.pkts[:cap(b.pkts)], 0
	for i, p := range all {
		if p == nil {
			break // buffers fill the slots in order: none beyond
		}
		if kept += cap(p); kept > keptBatchBytes {
			clear(all[i:])
			break
		}
	}
	b.pkts = b.pkts[:0]
}
