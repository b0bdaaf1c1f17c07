package tcp

import (
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// sendSegments writes n full segments from an established connection and
// returns them as sent.
func sendSegments(t *testing.T, e *end, n int) []sentSeg {
	t.Helper()
	mss := e.c.MSS()
	e.write(e.now, bytesN(n*mss))
	sent := e.take()
	if len(sent) != n {
		t.Fatalf("%d segments sent for %d MSS of data, want %d", len(sent), n, n)
	}
	return sent
}

// TestEstablishedThreeDupACKsFastRetransmit: the first of five segments is
// lost; the ACKs for the other four are duplicates of SND.UNA; the third
// duplicate resends the lost segment at once, long before the RTO (RFC 5681
// §3.2), and the ACK covering everything ends recovery.
func TestEstablishedThreeDupACKsFastRetransmit(t *testing.T) {
	e := established(t)
	sent := sendSegments(t, e, 5)
	mss := seqnum.Size(e.c.MSS())
	rto := e.c.Deadline()
	now := e.now.Add(rtt)
	for i := 1; i <= 2; i++ {
		e.c.HandleSegment(now, in(ack, y+1, x+1))
		e.expectNone()
	}
	e.c.HandleSegment(now, in(ack, y+1, x+1))
	e.expect(is(ack, x+1, y+1), hasData(sent[0].Payload))
	if e.env.Stats.FastRetransmits.Load() != 1 || e.env.Stats.Timeouts.Load() != 0 {
		t.Fatalf("FastRetransmits %d Timeouts %d", e.env.Stats.FastRetransmits.Load(), e.env.Stats.Timeouts.Load())
	}
	if !e.c.Deadline().Equal(rto) {
		t.Fatalf("the retransmission timer moved: %v, was %v", e.c.Deadline(), rto)
	}
	// The repair arrives: one ACK for all five segments.
	e.c.HandleSegment(now.Add(rtt), in(ack, y+1, (x+1).Add(5*mss)))
	if e.c.inRecovery || e.c.inflate != 0 {
		t.Fatal("still in recovery after the full ACK")
	}
	if e.c.SndUna() != (x + 1).Add(5*mss) {
		t.Fatalf("SND.UNA %d", e.c.SndUna())
	}
	e.deadline(time.Time{})
}

// TestEstablishedPartialACKResendsNextHole: two segments of one window are
// lost; after the fast retransmit of the first, the partial ACK resends the
// second at once (NewReno, RFC 6582 §3.2 step 5) without waiting for more
// duplicate ACKs or the RTO.
func TestEstablishedPartialACKResendsNextHole(t *testing.T) {
	e := established(t)
	sent := sendSegments(t, e, 6)
	mss := seqnum.Size(e.c.MSS())
	now := e.now.Add(rtt)
	for range 3 { // segments 1 and 3 lost: 2, 4, 5 arrive... and 6: 4 dup ACKs
		e.c.HandleSegment(now, in(ack, y+1, x+1))
	}
	e.expect(is(ack, x+1, y+1), hasData(sent[0].Payload))
	e.c.HandleSegment(now, in(ack, y+1, x+1)) // a fourth: inflation, maybe new data
	e.take()
	// The repair of segment 1 arrives: the peer acks up to the next hole.
	e.c.HandleSegment(now.Add(rtt), in(ack, y+1, (x+1).Add(2*mss)))
	e.expect(is(ack, (x+1).Add(2*mss), y+1), hasData(sent[2].Payload))
	if !e.c.inRecovery {
		t.Fatal("a partial ACK ended recovery")
	}
	e.c.HandleSegment(now.Add(2*rtt), in(ack, y+1, (x+1).Add(6*mss)))
	if e.c.inRecovery {
		t.Fatal("the full ACK did not end recovery")
	}
	if e.env.Stats.Timeouts.Load() != 0 || e.env.Stats.FastRetransmits.Load() != 1 {
		t.Fatalf("Timeouts %d FastRetransmits %d", e.env.Stats.Timeouts.Load(), e.env.Stats.FastRetransmits.Load())
	}
}

// TestEstablishedDupACKsAfterTimeoutNoFastRetransmit: duplicate ACKs for
// data sent before a retransmission timeout do not start a fast retransmit
// (RFC 6582 §3.2 step 2: they do not cover more than recover).
func TestEstablishedDupACKsAfterTimeoutNoFastRetransmit(t *testing.T) {
	e := established(t)
	sendSegments(t, e, 4)
	e.fire() // RTO: go back to SND.UNA
	e.take()
	now := e.c.Deadline()
	for range 3 {
		e.c.HandleSegment(now, in(ack, y+1, x+1))
	}
	if e.env.Stats.FastRetransmits.Load() != 0 {
		t.Fatal("fast retransmit inside the window of a timeout")
	}
}
