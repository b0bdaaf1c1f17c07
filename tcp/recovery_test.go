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

// newRenoAfterRecovery sends n segments, loses the first, repairs it by
// fast retransmit and ends the recovery with the full ACK, which moves
// SND.UNA from the lost segment to "recover" (n segments); then it writes
// 4 more segments, sends what the cut window allows, and the first of them
// is lost: three duplicate ACKs at "recover" arrive. It returns the
// connection, the first segment sent after the recovery, and where it starts.
func newRenoAfterRecovery(t *testing.T, n int) (*end, sentSeg, seqnum.Value) {
	t.Helper()
	e := established(t)
	mss := seqnum.Size(e.c.MSS())
	recover := (x + 1).Add(seqnum.Size(n) * mss)
	sendSegments(t, e, n)
	now := e.now.Add(rtt)
	for range 3 {
		e.c.HandleSegment(now, in(ack, y+1, x+1))
	}
	e.expect(hasSeq(x+1), hasLen(int(mss)))
	now = now.Add(rtt)
	e.c.HandleSegment(now, in(ack, y+1, recover)) // the full ACK: recovery ends at "recover"
	if e.c.inRecovery || e.c.recover != recover {
		t.Fatalf("inRecovery %v, recover %d; want false, %d", e.c.inRecovery, e.c.recover, recover)
	}
	e.now = now
	e.write(now, bytesN(4*int(mss))) // the window after the cut lets fewer go
	sent := e.take()
	if len(sent) == 0 {
		t.Fatal("nothing sent after the recovery")
	}
	for range 3 {
		e.c.HandleSegment(now.Add(rtt), in(ack, y+1, recover))
	}
	return e, sent[0], recover
}

// TestEstablishedNewRenoLossAtRecoverFastRetransmit: the ACK that ended
// the recovery advanced SND.UNA by 4 segments; the duplicates of the next
// loss do not cover more than "recover", but the window is above one
// segment and the last advance was at most 4*SMSS, so RFC 6582 §4.1's ACK
// heuristic takes them for a loss: fast retransmit at once, not the RTO.
func TestEstablishedNewRenoLossAtRecoverFastRetransmit(t *testing.T) {
	e, lost, at := newRenoAfterRecovery(t, 4)
	// The retransmission first; the inflated window may let new data follow.
	if got := e.take(); len(got) == 0 || got[0].Seq != at || string(got[0].Payload) != string(lost.Payload) {
		t.Fatalf("sent %v, want the lost segment at %d first", got, at)
	}
	if n := e.env.Stats.FastRetransmits.Load(); n != 2 {
		t.Fatalf("FastRetransmits = %d, want 2", n)
	}
}

// TestEstablishedNewRenoBigAdvanceNoFastRetransmit: the same, but the ACK
// that reached "recover" advanced SND.UNA by 6 segments: RFC 6582 §4.1
// takes the duplicates for the echo of a needless retransmission.
func TestEstablishedNewRenoBigAdvanceNoFastRetransmit(t *testing.T) {
	e, _, _ := newRenoAfterRecovery(t, 6)
	e.expectNone()
	if n := e.env.Stats.FastRetransmits.Load(); n != 1 {
		t.Fatalf("FastRetransmits = %d, want 1", n)
	}
}

// TestEstablishedSACKLossAtRecoveryPointStartsRecovery: with SACK, a
// recovery ends once the cumulative ACK reaches RecoveryPoint, and a new
// one may then start at once (RFC 6675 §5: greater than or equal): the
// first segment sent after the recovery is lost, the peer SACKs the rest,
// and it is resent without waiting for the RTO.
func TestEstablishedSACKLossAtRecoveryPointStartsRecovery(t *testing.T) {
	e := establishedFull(t)
	mss := seqnum.Size(e.c.MSS())
	start := func(i int) seqnum.Value { return (x + 1).Add(seqnum.Size(i) * mss) }
	e.write(at(sec), bytesN(10*int(mss)))
	if sent := e.take(); len(sent) != 10 {
		t.Fatalf("%d segments sent, want 10", len(sent))
	}
	now := at(sec + rtt)
	tsv := peerTS + 1
	ackWith := func(una int, blocks ...[2]seqnum.Value) *Segment {
		tsv++
		return in(ack, y+1, start(una), ts(tsv, 0), sackOf(blocks...))
	}
	for i := 2; i <= 4; i++ { // segment 0 lost: SACKs of 1..i
		e.c.HandleSegment(now, ackWith(0, [2]seqnum.Value{start(1), start(i)}))
	}
	if !e.c.inRecovery {
		t.Fatal("no recovery after three segments SACKed above a hole")
	}
	e.take()
	now = now.Add(rtt)
	e.c.HandleSegment(now, ackWith(10)) // the repair: everything up to RecoveryPoint
	if e.c.inRecovery || e.c.SndUna() != e.c.recover {
		t.Fatalf("inRecovery %v, SND.UNA %d, recover %d: want the recovery ended at RecoveryPoint",
			e.c.inRecovery, e.c.SndUna(), e.c.recover)
	}
	e.write(now, bytesN(6*int(mss)))
	sent := e.take()
	if len(sent) < 5 {
		t.Fatalf("%d segments sent after the recovery, want at least 5", len(sent))
	}
	now = now.Add(rtt)
	for i := 12; i <= 14; i++ { // segment 10 lost: SACKs of 11..i
		e.c.HandleSegment(now, ackWith(10, [2]seqnum.Value{start(11), start(i)}))
	}
	e.expect(hasSeq(start(10)), hasData(sent[0].Payload))
	if n := e.env.Stats.FastRetransmits.Load(); n != 2 {
		t.Fatalf("FastRetransmits = %d, want 2", n)
	}
}
