package tcp

import (
	"testing"

	"github.com/synack-net/synack/seqnum"
)

// delayedACKs turns delayed ACKs on, as they are by default (the
// fixtures answer every segment at once): runs only gather what waits.
func delayedACKs(c *Config) { c.DelayedACK = DefaultDelayedACK }

// runOf hands the end n segments of size bytes from seq on as one run,
// checking that each may go on and that nothing is sent meanwhile, and
// returns the sequence number after them.
func runOf(e *end, seq seqnum.Value, n, size int) seqnum.Value {
	e.t.Helper()
	for i := range n {
		if !e.c.HandleSegmentInRun(e.now, in(ack, seq, x+1, data(bytesN(size)))) {
			e.t.Fatalf("segment %d of the run was answered at once", i)
		}
		seq = seq.Add(seqnum.Size(size))
	}
	e.expectNone()
	return seq
}

// TestRunAcksItsTextOnce: the in-order text of a run is acknowledged once,
// when the run ends, where one by one every second full-sized segment is
// (RFC 1122 §4.2.3.2), and the reader sees all of it.
func TestRunAcksItsTextOnce(t *testing.T) {
	e := established(t, delayedACKs)
	seq := runOf(e, y+1, 10, 1000)
	e.c.EndRun(e.now)
	e.expect(is(ack, x+1, seq))
	if got := e.c.RecvQueue(); got != 10*1000 {
		t.Fatalf("%d bytes queued for the reader after the run, want 10000", got)
	}

	// The same ten one by one: five ACKs.
	for range 10 {
		e.c.HandleSegment(e.now, in(ack, seq, x+1, data(bytesN(1000))))
		seq = seq.Add(1000)
	}
	if segs := e.take(); len(segs) < 5 {
		t.Fatalf("ten segments one by one drew %d ACKs, want one every second segment at least: %v", len(segs), segs)
	}
}

// TestRunAcksEvery64KiB: a run holds back at most maxRunAck bytes of
// acknowledgement: the segment that would take the text owed past it is
// acknowledged at once, and the run ends there.
func TestRunAcksEvery64KiB(t *testing.T) {
	e := establishedFull(t, delayedACKs) // window scaling: a window wider than 64 KiB
	size := e.env.Config.MSS             // full-sized segments, as the peer may send
	seq := y + 1
	n := 0
	stamp := ts(peerClock(e.now), e.c.tsVal(e.now))
	for e.c.HandleSegmentInRun(e.now, in(ack, seq, x+1, data(bytesN(size)), stamp)) {
		seq = seq.Add(seqnum.Size(size))
		if n++; n > maxRunAck/size {
			t.Fatalf("a run held back the ACK of %d bytes", n*size)
		}
	}
	seq = seq.Add(seqnum.Size(size))
	e.expect(is(ack, x+1, seq))
	if owed := int(seq - (y + 1)); owed > maxRunAck || owed+size <= maxRunAck {
		t.Fatalf("the run was acknowledged after %d bytes, want the last segment that fits in %d", owed, maxRunAck)
	}
	e.c.EndRun(e.now)
	e.expectNone() // nothing more was owed
}

// TestRunAnswersDisorderAtOnce: a segment out of order, and the one that
// fills the hole, are acknowledged at once within a run (RFC 5681 §4.2),
// as the peer's loss detection needs; the run ends at each.
func TestRunAnswersDisorderAtOnce(t *testing.T) {
	e := established(t, delayedACKs)
	seq := runOf(e, y+1, 2, 1000)
	// A hole of one segment, then the segment after it.
	if e.c.HandleSegmentInRun(e.now, in(ack, seq.Add(1000), x+1, data(bytesN(1000)))) {
		t.Fatal("a segment out of order was held back")
	}
	e.expect(is(ack, x+1, seq)) // a duplicate ACK, covering the run before it
	e.c.EndRun(e.now)
	e.expectNone()
	// The hole filled: everything is acknowledged at once.
	if e.c.HandleSegmentInRun(e.now, in(ack, seq, x+1, data(bytesN(1000)))) {
		t.Fatal("the segment that filled the hole was held back")
	}
	e.expect(is(ack, x+1, seq.Add(2000)))
}

// TestRunTakesOnlyText: an ACK without text, a FIN, and a segment for a
// connection not ESTABLISHED are answered as HandleSegment answers them,
// and end the run.
func TestRunTakesOnlyText(t *testing.T) {
	e := established(t, delayedACKs)
	seq := runOf(e, y+1, 2, 1000)
	if e.c.HandleSegmentInRun(e.now, in(ack, seq, x+1)) {
		t.Fatal("an ACK without text was held back")
	}
	e.expect(is(ack, x+1, seq)) // what the run owed went with it
	seq = runOf(e, seq, 1, 1000)
	// A duplicate of the segment before: answered at once, as every
	// duplicate is, with what the run owed.
	if e.c.HandleSegmentInRun(e.now, in(ack, seq.Sub(1000), x+1, data(bytesN(1000)))) {
		t.Fatal("a duplicate segment was held back")
	}
	e.expect(is(ack, x+1, seq))
	if e.c.HandleSegmentInRun(e.now, in(finack, seq, x+1)) {
		t.Fatal("a FIN was held back")
	}
	e.expect(is(ack, x+1, seq.Add(1)))
	e.state(StateCloseWait)
	if e.c.HandleSegmentInRun(e.now, in(ack, seq.Add(1), x+1, data(bytesN(10)))) {
		t.Fatal("a segment for a connection in CLOSE-WAIT was held back")
	}
}

// TestRunAnswersEachWithoutDelayedACKs: a connection whose delayed ACKs
// are off (Config.DelayedACK < 0) asked for an ACK per segment, and gets
// it within a run too.
func TestRunAnswersEachWithoutDelayedACKs(t *testing.T) {
	e := established(t) // the fixtures' Config: DelayedACK -1
	seq := y + 1
	for range 3 {
		if e.c.HandleSegmentInRun(e.now, in(ack, seq, x+1, data(bytesN(1000)))) {
			t.Fatal("a segment was held back with delayed ACKs off")
		}
		seq = seq.Add(1000)
		e.expect(is(ack, x+1, seq))
	}
}
