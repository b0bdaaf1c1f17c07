package stack

import (
	"slices"
	"sync"

	"github.com/synack-net/synack/link"
)

// Output batches: the packets made under a shard's lock, written to the
// link in order after it is released. A batch keeps its packet buffers when
// it is written and emptied, and each shard keeps its two batches
// (shard.spare), so a steady flow reuses the same buffers and the hot path
// allocates nothing. So a stack keeps at most 2 * batchKeep(shards) per
// shard plus storeLimit of packet buffers: with the default 64 shards, 8 MiB
// and 4 MiB. A link that takes buffers over (link.HandOff) provides them
// instead, and the batch keeps none.

// packetCap is the capacity of a new packet buffer: a full segment at the
// usual MTU fits, and a larger one gets a buffer of its own size.
const packetCap = 2048

// keptBatchBytes bounds the buffers an emptied batch keeps in its own
// slots: the usual flush, a few dozen segments, reuses them without a lock.
// The rest go to the stack's bufStore, which every batch draws on when its
// own run out: one ACK that opens a wide window can release over a
// thousand segments at once (seen: 1,400 at MTU 1500), and whichever batch
// takes that burst finds the buffers the last one used.
const keptBatchBytes = 256 << 10

// keptBatchTotal is what all of a stack's batches together keep at most,
// when it has enough shards that keptBatchBytes each would be more; and
// minKeptBatchBytes is what each keeps however many shards there are (16
// full segments at the usual MTU).
const (
	keptBatchTotal    = 8 << 20
	minKeptBatchBytes = 16 * packetCap
)

// batchKeep is what each batch of a stack with n shards keeps: a shard
// has two, so the stack's batches keep at most keptBatchTotal, or
// 2 * n * minKeptBatchBytes if that is more (thousands of shards, as
// Config.Shards may ask).
func batchKeep(n int) int {
	return min(keptBatchBytes, max(minKeptBatchBytes, keptBatchTotal/(2*max(n, 1))))
}

// storeLimit bounds the buffers a stack keeps beyond its batches' own: a
// window's worth of full segments, about what a network card's rings hold.
const storeLimit = 4 << 20

type batch struct {
	pkts  [][]byte  // pkts[:len] are queued; pkts[len:cap] are spare buffers
	store *bufStore // the stack's shared spares
	keep  int       // the bytes of buffers it keeps when emptied (batchKeep)

	// gso says the link takes large segments: meta[i] describes pkts[i]
	// (gso.go).
	gso  bool
	meta []outMeta

	// parts is the scratch space of a write whose text is gathered from
	// a send buffer (gather.go).
	parts [link.MaxGatherParts][]byte

	// handoff, when the link takes buffers over (link.HandOff), is where
	// packet buffers come from; they leave with the packets, so the batch
	// keeps none.
	handoff link.HandOff

	// share says the link takes text apart from the headers
	// (link.TextSharer): texts[i] and refs[i] are packet i's shared text
	// and the hold on it, nil when the text is in the packet (share.go).
	share bool
	texts [][]byte
	refs  []link.Releaser
}

// bufStore holds packet buffers shared by a stack's batches.
type bufStore struct {
	mu    sync.Mutex
	bufs  [][]byte
	bytes int
}

// get returns a kept buffer of capacity at least n, or nil.
func (s *bufStore) get(n int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := len(s.bufs); k > 0; k-- {
		p := s.bufs[k-1]
		s.bufs[k-1] = nil
		s.bufs = s.bufs[:k-1]
		s.bytes -= cap(p)
		if cap(p) >= n {
			return p
		}
	}
	return nil
}

// put keeps the buffers in ps up to storeLimit.
func (s *bufStore) put(ps [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		if s.bytes+cap(p) > storeLimit {
			return
		}
		s.bufs = append(s.bufs, p)
		s.bytes += cap(p)
	}
}

// getAtLeast returns a kept buffer of capacity at least n from among the
// last few kept, leaving the others, or nil.
func (s *bufStore) getAtLeast(n int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := len(s.bufs) - 1; k >= 0 && k >= len(s.bufs)-16; k-- {
		if p := s.bufs[k]; cap(p) >= n {
			last := len(s.bufs) - 1
			s.bufs[k] = s.bufs[last]
			s.bufs[last] = nil
			s.bufs = s.bufs[:last]
			s.bytes -= cap(p)
			return p
		}
	}
	return nil
}

// putOne keeps p if the store has room.
func (s *bufStore) putOne(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+cap(p) <= storeLimit {
		s.bufs = append(s.bufs, p)
		s.bytes += cap(p)
	}
}

// add queues a packet of n bytes and returns it for the caller to fill
// before the batch is written.
func (b *batch) add(n int) []byte {
	if b.gso {
		b.meta = append(b.meta, outMeta{})
	}
	if b.share {
		b.texts, b.refs = append(b.texts, nil), append(b.refs, nil)
	}
	if b.handoff != nil {
		p := b.handoff.NewBuffer(n)
		b.pkts = append(b.pkts, p)
		return p
	}
	i := len(b.pkts)
	if i < cap(b.pkts) {
		if p := b.pkts[:i+1][i]; cap(p) >= n {
			b.pkts = b.pkts[:i+1]
			b.pkts[i] = p[:n]
			return b.pkts[i]
		}
	}
	var p []byte
	if b.store != nil {
		p = b.store.get(n)
	}
	if p == nil {
		p = make([]byte, n, max(n, packetCap))
	}
	b.pkts = append(b.pkts, p[:n])
	return b.pkts[i]
}

// empty drops the queued packets, keeping their buffers as spares up to
// b.keep bytes and handing the rest to the store.
func (b *batch) empty() {
	for i := range b.meta { // gathered text: the send buffers' memory, held until now
		releaseHolds(&b.meta[i].holds)
	}
	clear(b.meta)
	if b.handoff != nil {
		clear(b.pkts) // written: the link's now
		b.pkts = b.pkts[:0]
		clear(b.texts) // and the holds on shared text with them
		clear(b.refs)
		b.texts, b.refs = b.texts[:0], b.refs[:0]
		return
	}
	all, kept := b.pkts[:cap(b.pkts)], 0
	for i, p := range all {
		if p == nil {
			break // buffers fill the slots in order: none beyond
		}
		if kept += cap(p); kept > b.keep {
			rest := all[i:]
			if end := slices.IndexFunc(rest, func(p []byte) bool { return p == nil }); end >= 0 {
				rest = rest[:end]
			}
			if b.store != nil {
				b.store.put(rest)
			}
			clear(rest)
			break
		}
	}
	b.pkts = b.pkts[:0]
	b.meta = b.meta[:0]
}
