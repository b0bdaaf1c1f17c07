package tun

import (
	"encoding/binary"
	"errors"
	"os"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack/link"
)

// MaxQueues bounds Config.Queues. The kernel takes up to 256 queues per
// device; more than 16 would only add reader goroutines and 64 KiB
// buffers beyond what a machine's cores can use.
const MaxQueues = 16

// queue is one descriptor of a Device, bound to the same interface as the
// others, with the reader goroutine that serves it, its writer and its own
// counters, which Stats sums: two queues share no mutable state but the
// Device's, which has its own locks.
type queue struct {
	d *Device
	i int      // index in d.queues
	f *os.File // the non-blocking /dev/net/tun descriptor
	w vnetWriter

	inPackets, inOctets, inLongest, inDiscards  atomic.Uint64
	inGSO, inBadGSOType, inBadCsum, inBadHdrLen atomic.Uint64
	outPackets, outOctets, outLongest           atomic.Uint64
	outErrors, outGSO                           atomic.Uint64
}

// readLoop is q's reader goroutine: it reads one packet per read into its
// own buffer and hands it to the Dispatcher, until Close, a read error, or
// another queue's read error.
func (q *queue) readLoop() {
	d := q.d
	defer func() {
		if d.running.Add(-1) == 0 {
			close(d.done)
		}
	}()
	buf := make([]byte, vnetHdrLen+readBufSize)
	if !d.vnet {
		buf = buf[:readBufSize]
	}
	for {
		n, err := q.f.Read(buf)
		if err != nil {
			if d.closed.Load() || d.stopped.Load() || errors.Is(err, os.ErrClosed) {
				return // Close, or another queue ended the device: not an error
			}
			d.fail(readError(d.name, err))
			return
		}
		box := d.d.Load()
		if box == nil || d.closed.Load() {
			q.inDiscards.Add(1)
			continue
		}
		if !d.vnet {
			box.d.DeliverPacket(buf[:n])
			q.delivered(n)
			continue
		}
		q.deliverVnet(box, buf[:n])
	}
}

// deliverVnet checks the virtio-net header in front of the packet in b
// and delivers the packet as the header describes it, or drops it.
func (q *queue) deliverVnet(box *dispatcherBox, b []byte) {
	if len(b) < vnetHdrLen {
		q.inBadHdrLen.Add(1)
		return
	}
	pkt := b[vnetHdrLen:]
	g, why := decodeVnet(b, len(pkt), Offloads(q.d.inOffloads.Load()))
	switch why {
	case vnetBadGSOType:
		q.inBadGSOType.Add(1)
		return
	case vnetBadCsum:
		q.inBadCsum.Add(1)
		return
	case vnetBadHdrLen:
		q.inBadHdrLen.Add(1)
		return
	}
	if g == (link.GSO{}) {
		box.d.DeliverPacket(pkt)
	} else {
		if box.gso == nil {
			q.inBadGSOType.Add(1) // asked for while another Dispatcher was attached
			return
		}
		box.gso.DeliverGSO(pkt, g)
		q.inGSO.Add(1)
	}
	q.delivered(len(pkt))
}

// delivered counts a packet of n bytes delivered.
func (q *queue) delivered(n int) {
	q.inPackets.Add(1)
	q.inOctets.Add(uint64(n))
	if uint64(n) > q.inLongest.Load() {
		q.inLongest.Store(uint64(n)) // one reader per queue: no race to lose
	}
}

// fail records the error that ended a reader, ends the other readers and
// reports the error; a failure after the first (the device deleted wakes
// every queue with the same error) or after Close does nothing.
func (d *Device) fail(err error) {
	d.mu.Lock()
	if d.stopped.Load() || d.closed.Load() {
		d.mu.Unlock()
		return
	}
	d.stopped.Store(true)
	d.err = err
	d.inErrors.Add(1)
	d.mu.Unlock()
	// A read deadline in the past wakes a pending read with an error,
	// which the reader, seeing stopped, takes as its end; the
	// descriptors stay open for Close.
	for _, q := range d.queues {
		_ = q.f.SetReadDeadline(time.Unix(1, 0))
	}
	if d.onError != nil {
		d.onError(err)
	}
}

// wrote counts on q the outcome of writing n bytes of a packet.
func (q *queue) wrote(n int, err error) error {
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return link.ErrClosed
		}
		q.outErrors.Add(1)
		return writeError(q.d.name, err)
	}
	q.outPackets.Add(1)
	q.outOctets.Add(uint64(n))
	if l := q.outLongest.Load(); uint64(n) > l {
		q.outLongest.CompareAndSwap(l, uint64(n)) // a lost race leaves a near miss
	}
	return nil
}

// writeVnet writes pkt behind the header for g on q.
func (q *queue) writeVnet(pkt []byte, g link.GSO) error {
	n, err := q.w.write(pkt, g)
	if err == nil && g.Type != link.GSONone {
		q.outGSO.Add(1)
	}
	return q.wrote(n, err)
}

// flowKeyLen is the length of the bytes a write is steered by: bytes 12
// to 23 of the packet.
const flowKeyLen = 12

// flowKey returns bytes 12 to 23 of the packet made of parts, zeros for
// those past its end.
func flowKey(parts ...[]byte) (k [flowKeyLen]byte) {
	off := 0 // of the part in the packet
	for _, p := range parts {
		lo, hi := max(12-off, 0), min(12+flowKeyLen-off, len(p))
		if lo < hi {
			copy(k[off+lo-12:], p[lo:hi])
		}
		off += len(p)
		if off >= 12+flowKeyLen {
			break
		}
	}
	return k
}

// queueFor returns the queue a packet whose bytes 12 to 23 are k is
// written on: by a hash of those bytes, which the Device reads as nothing
// (where an IPv4 header without options has its addresses, and TCP and
// UDP their ports), so that one flow keeps to one descriptor.
func (d *Device) queueFor(k *[flowKeyLen]byte) *queue {
	n := uint64(len(d.queues))
	if n == 1 {
		return d.queues[0]
	}
	h := binary.LittleEndian.Uint64(k[0:8]) ^ uint64(binary.LittleEndian.Uint32(k[8:12]))<<29
	h *= 0x9e3779b97f4a7c15 // Fibonacci hashing: the high bits mix every input bit
	return d.queues[(h>>32)*n>>32]
}

// queueOf returns the queue pkt is written on (queueFor).
func (d *Device) queueOf(pkt []byte) *queue {
	if len(d.queues) == 1 {
		return d.queues[0]
	}
	k := flowKey(pkt)
	return d.queueFor(&k)
}
