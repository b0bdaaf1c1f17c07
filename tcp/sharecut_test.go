package tcp

import (
	"net/netip"
	"testing"

	"github.com/synack-net/synack/wire"
)

// shareProbe is a Sender that does what the stack's does (stack/demux.go):
// it asks for a hold on every segment's text of at least min bytes that
// comes in one piece, and counts those it got and those it did not.
type shareProbe struct {
	*recorder
	min            int
	lent, refused  int
	refusedLengths []int
}

func (p *shareProbe) Send(c *Conn, h *wire.TCPFields, payload, more []byte) {
	if len(payload) >= p.min && len(more) == 0 {
		if ref := c.ShareText(payload); ref != nil {
			p.lent++
			ref.Release()
		} else {
			p.refused++
			p.refusedLengths = append(p.refusedLengths, len(payload))
		}
	}
	p.recorder.Send(c, h, payload, more)
}

func (p *shareProbe) SendBare(local, remote netip.Addr, h *wire.TCPFields) {
	p.recorder.SendBare(local, remote, h)
}

// TestShareMinCutSegmentIsLent: sendRange ends a segment with its
// send-buffer chunk (Env.ShareMin) "to be lent whole", so the segment it
// so cuts must be one the Sender can share: ShareText must give a hold on
// its text.
func TestShareMinCutSegmentIsLent(t *testing.T) {
	e := established(t)
	probe := &shareProbe{recorder: e.out, min: 300}
	e.env.Out = probe
	e.env.ShareMin = probe.min
	// The fill's first chunk is 4 KiB (minQueueStorage); the rest are
	// 256 KiB: with MSS 536 (the peer sent none) the eighth segment
	// crosses at 4096 and is cut to 344 bytes, more than ShareMin.
	e.write(e.now, bytesN(20000))
	e.take()
	if probe.lent == 0 {
		t.Fatal("no segment was lent at all")
	}
	if probe.refused != 0 {
		t.Fatalf("%d segments in one piece of at least ShareMin got no hold (lengths %v): the cut at a chunk boundary makes a segment that cannot be lent", probe.refused, probe.refusedLengths)
	}
}

// TestSendQueueSmallLimitMemory: a send buffer limited to 16 KiB (a user's
// SO_SNDBUF) should not take much more memory than its limit; the byte
// ring it replaced grew to the limit at most.
func TestSendQueueSmallLimitMemory(t *testing.T) {
	q := sendQueue{limit: 16 << 10}
	q.append(make([]byte, 10<<10))
	held := 0
	for _, st := range q.ch.c {
		held += len(st.b)
	}
	q.reset()
	if held > 2*q.limit {
		t.Fatalf("10 KiB queued under a 16 KiB limit hold %d KiB of chunks", held>>10)
	}
}

// TestSendQueueFirstChunkBound: stack/share.go and maxSendChunk's doc say
// a reader holding lent text pins at most maxSendChunk beyond it per end
// chunk; a fill's first chunk is sized by the last fill's high water,
// up to the limit.
func TestSendQueueFirstChunkBound(t *testing.T) {
	q := sendQueue{limit: 16 << 20}
	q.append(make([]byte, 16<<20))
	q.discard(q.Len())
	q.append(make([]byte, 64<<10)) // one segment's worth
	size := len(q.ch.c[0].b)
	q.reset()
	if size > maxSendChunk {
		t.Fatalf("a 64 KiB fill after a 16 MiB one sits in a %d MiB chunk: a reader lent one segment of it pins that much", size>>20)
	}
}
