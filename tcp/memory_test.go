package tcp

import (
	"bytes"
	"testing"

	"github.com/synack-net/synack/seqnum"
)

// TestEstablishedStackMemoryOthersFullKeepsHeld: when the stack's receive
// memory is full of other connections' bytes, more than this connection
// holds out of order, pruning its held text would not make room for text
// arriving in order: that text is dropped (RcvQDrop) and the held text,
// already SACKed to the peer, is kept. Once the memory frees, the in-order
// text's retransmission fills the hole and the held text follows it.
func TestEstablishedStackMemoryOthersFullKeepsHeld(t *testing.T) {
	p := newOOOPeer(t, func(c *Config) { c.ReceiveBufferSize = 64 << 10 })
	p.e.env.Config.MaxStackReceiveMemory = 10000
	p.send(1000, 3000) // held, and SACKed
	p.e.take()
	// Other connections hold 9500: with this one's 2000 held, 1000 more
	// would be 2500 over the limit, which pruning all 2000 cannot make up.
	const others = 9500
	p.e.env.Memory.rcv.Add(others)
	p.e.c.HandleSegment(at(sec), in(pshack, y+1, x+1, data(p.stream[:1000]), ts(peerTS+1, 0)))
	st := p.e.env.Stats
	if st.RcvQDrop.Load() != 1 || st.OfoPruned.Load() != 0 || p.e.c.heldBytes() != 2000 || p.off() != 0 {
		t.Fatalf("RcvQDrop %d OfoPruned %d, held %d, RCV.NXT at %d: want 1, 0, 2000, 0",
			st.RcvQDrop.Load(), st.OfoPruned.Load(), p.e.c.heldBytes(), p.off())
	}
	p.e.expect(is(ack, x+1, y+1), hasSACK([2]seqnum.Value{y + 1001, y + 3001}))
	p.e.env.Memory.rcv.Add(-others)
	p.send(0, 1000)
	if p.off() != 3000 || p.e.c.ooo != nil {
		t.Fatalf("RCV.NXT at %d, held %v: the held text did not follow", p.off(), p.e.c.ooo)
	}
	p.readSome(-1)
	if !bytes.Equal(p.read, p.stream[:3000]) {
		t.Fatal("reader got the wrong bytes")
	}
}

// TestEstablishedRecvFINHeldTextBeyondDropped: a FIN arriving in order,
// without text, while text is held beyond it: nothing can follow a FIN, so
// the held text is dropped at once (counted in DropOutOfOrder) and its
// memory given back, not kept charged through CLOSE-WAIT until CLOSED.
func TestEstablishedRecvFINHeldTextBeyondDropped(t *testing.T) {
	p := newOOOPeer(t)
	p.send(100, 1100)
	p.e.take()
	if p.e.c.heldBytes() != 1000 || p.e.env.Memory.Receive() != 1000 {
		t.Fatalf("held %d, stack memory %d: want 1000 each", p.e.c.heldBytes(), p.e.env.Memory.Receive())
	}
	p.e.c.HandleSegment(at(sec), in(finack, y+1, x+1, ts(peerTS+1, 0)))
	p.e.expect(is(ack, x+1, y+2))
	p.e.state(StateCloseWait)
	if p.e.c.ooo != nil || p.e.c.heldBytes() != 0 || p.e.env.Memory.Receive() != 0 {
		t.Fatalf("held %d, stack memory %d after the FIN: want 0", p.e.c.heldBytes(), p.e.env.Memory.Receive())
	}
	if n := p.e.env.Stats.DropOutOfOrder.Load(); n != 1 {
		t.Fatalf("DropOutOfOrder = %d, want 1", n)
	}
}
