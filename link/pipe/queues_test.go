package pipe

import (
	"encoding/binary"
	"sync"
	"testing"
)

// flowPacket is a packet of flow f (its bytes 12 to 23, where the pipe
// steers by) carrying sequence number seq at byte 0.
func flowPacket(f, seq int) []byte {
	p := make([]byte, 64)
	binary.BigEndian.PutUint32(p, uint32(seq))
	binary.BigEndian.PutUint32(p[12:], 0x0a000001)
	binary.BigEndian.PutUint32(p[16:], 0x0a000002)
	binary.BigEndian.PutUint16(p[20:], uint16(40000+f))
	binary.BigEndian.PutUint16(p[22:], 80)
	return p
}

// flowOf reads the flow back from a packet of flowPacket.
func flowOf(p []byte) int { return int(binary.BigEndian.Uint16(p[20:])) - 40000 }

// byFlow records each flow's sequence numbers in the order delivered.
type byFlow struct {
	mu   sync.Mutex
	seqs map[int][]int
	done chan struct{}
	want int
	n    int
}

func (b *byFlow) DeliverPacket(p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seqs[flowOf(p)] = append(b.seqs[flowOf(p)], int(binary.BigEndian.Uint32(p)))
	if b.n++; b.n == b.want {
		close(b.done)
	}
}

// TestPipeQueuesKeepEachFlowInOrder: with several queues, every packet is
// delivered, each flow's in the order written, and the flows are spread
// over more than one queue.
func TestPipeQueuesKeepEachFlowInOrder(t *testing.T) {
	const flows, per = 16, 300
	// Depth for every packet in any one queue, however the flows land:
	// the test is of order, not of drops.
	a, b := NewWithOptions(1500, Options{Queues: 4, QueueDepth: 4 * flows * per})
	defer a.Close()
	defer b.Close()
	rec := &byFlow{seqs: map[int][]int{}, done: make(chan struct{}), want: flows * per}
	b.Attach(rec)
	a.Attach(&collector{})
	used := map[*inQueue]bool{}
	for f := range flows {
		used[b.steer(flowPacket(f, 0))] = true
	}
	if len(used) < 2 {
		t.Fatalf("%d flows steered to %d queue(s) of 4", flows, len(used))
	}
	var wg sync.WaitGroup
	for w := range 4 { // four writers, four flows each, interleaved
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range per {
				for f := w; f < flows; f += 4 {
					if err := a.WritePacket(flowPacket(f, seq)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	recv(t, rec.done, "every packet")
	for f := range flows {
		got := rec.seqs[f]
		if len(got) != per {
			t.Fatalf("flow %d: %d packets delivered, want %d", f, len(got), per)
		}
		for i, seq := range got {
			if seq != i {
				t.Fatalf("flow %d: packet %d delivered in place %d", seq, f, i)
			}
		}
	}
	// (Delivered grows after each DeliverPacket returns, so it may still
	// lag by the last packet here; every packet was seen above.)
	if sent, st := a.Stats().Sent, b.Stats(); sent != flows*per || st.Dropped != 0 {
		t.Fatalf("sent %d, receiver's stats %+v", sent, st)
	}
}

// TestPipeQueuesDeliverInParallel: a Dispatcher blocked on one flow's
// packet does not hold up a flow steered to another queue, as it would
// with one queue.
func TestPipeQueuesDeliverInParallel(t *testing.T) {
	a, b := NewWithOptions(1500, Options{Queues: 2})
	defer a.Close()
	defer b.Close()
	other := 1
	for b.steer(flowPacket(other, 0)) == b.steer(flowPacket(0, 0)) {
		other++
	}
	blocked, otherSeen := make(chan struct{}), make(chan struct{})
	b.Attach(dispatchFunc(func(p []byte) {
		switch flowOf(p) {
		case 0:
			close(blocked)
			recv(t, otherSeen, "the other queue's packet while this one is blocked")
		case other:
			close(otherSeen)
		}
	}))
	a.WritePacket(flowPacket(0, 0))
	recv(t, blocked, "flow 0's packet")
	a.WritePacket(flowPacket(other, 0))
	recv(t, otherSeen, "the other flow's packet")
}

// TestPipeQueuesShareTheDepth: the queue depth is shared out, so one
// flow finds its queue full at depth divided by the queues.
func TestPipeQueuesShareTheDepth(t *testing.T) {
	a, b := NewWithOptions(1500, Options{Queues: 4, QueueDepth: 64})
	defer a.Close()
	defer b.Close()
	g := newGate()
	b.Attach(g)
	a.WritePacket(flowPacket(0, 0))
	recv(t, g.entered, "the first delivery")
	for i := range 40 {
		a.WritePacket(flowPacket(0, i+1))
	}
	// 16 per queue of 4 (64 in all), the one being delivered among them.
	if st := b.Stats(); st.DroppedQueueFull != 40-15 {
		t.Fatalf("%d dropped at a full queue, want %d", st.DroppedQueueFull, 40-15)
	}
	close(g.release)
}

// dispatchFunc is a Dispatcher made of a function.
type dispatchFunc func([]byte)

func (f dispatchFunc) DeliverPacket(p []byte) { f(p) }
