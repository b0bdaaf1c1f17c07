package tun

import (
	"bytes"
	"testing"
)

// TestFlowKeyAcrossParts: the bytes 12 to 23 a write is steered by are
// the same whether the packet comes whole or in parts cut anywhere, and
// zeros past the end of a short packet.
func TestFlowKeyAcrossParts(t *testing.T) {
	pkt := make([]byte, 60)
	for i := range pkt {
		pkt[i] = byte(i + 1)
	}
	want := flowKey(pkt)
	if !bytes.Equal(want[:], pkt[12:24]) {
		t.Fatalf("flowKey(pkt) = %v, want bytes 12..23 %v", want, pkt[12:24])
	}
	for a := 0; a <= len(pkt); a++ {
		for b := a; b <= len(pkt); b += 3 {
			if got := flowKey(pkt[:a], pkt[a:b], pkt[b:]); got != want {
				t.Fatalf("cut at %d and %d: key %v, want %v", a, b, got, want)
			}
		}
	}
	short := flowKey(pkt[:15], pkt[15:17])
	if want := [flowKeyLen]byte{13, 14, 15, 16, 17}; short != want {
		t.Errorf("flowKey of 17 bytes = %v, want %v", short, want)
	}
}

// TestQueueForSpreadsAndKeeps: a flow's packets keep one queue whatever
// their other bytes, and 64 flows spread over every queue of 2 and 4.
func TestQueueForSpreadsAndKeeps(t *testing.T) {
	for _, n := range []int{1, 2, 4, MaxQueues} {
		d := &Device{}
		for i := range n {
			d.queues = append(d.queues, &queue{d: d, i: i})
		}
		used := map[int]int{}
		for flow := range 64 {
			pkt := make([]byte, 40)
			copy(pkt[12:], []byte{10, 7, 0, 2, 10, 7, 0, 1, byte(flow >> 8), byte(flow), 0, 80})
			q := d.queueOf(pkt)
			for i := range 8 { // other bytes (length, sequence numbers) change
				pkt[2], pkt[30] = byte(i), byte(i*7)
				if d.queueOf(pkt) != q {
					t.Fatalf("%d queues: flow %d moved from queue %d", n, flow, q.i)
				}
			}
			used[q.i]++
		}
		if n <= 4 && len(used) != n {
			t.Errorf("%d queues: 64 flows used %d of them: %v", n, len(used), used)
		}
		// Stats has a count per queue the device has, and no more: what
		// the counters' reflection shows as QueueDelivered[i].
		if st := d.Stats(); len(st.QueueDelivered) != n || len(st.QueueWritten) != n {
			t.Errorf("%d queues: Stats has %d and %d per-queue counts", n, len(st.QueueDelivered), len(st.QueueWritten))
		}
	}
}
