package tcp

// Bad input to loss recovery (issue 13): a peer that reneges on what it
// SACKed, SACK blocks for data never sent, D-SACKs for data never sent
// twice, timestamps that go backwards. No false undo, no stall, and the
// per-segment records and the scoreboard never hold more than what is in
// flight. On the fixture of rack_test.go.

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// TestEstablishedRenegedSACKResentOnRTO: RFC 2018 §8. The peer SACKs
// segments 1-9, then takes it back: after the fast retransmit of segment
// 0 its cumulative ACK stops at segment 1 with no SACK block. Nothing
// marks segment 1 lost (the sender believes it delivered), so only the
// RTO can help, and it must resend it: the SACKed head of the queue
// shows the peer reneged (as Linux's tcp_timeout_mark_lost), and the
// scoreboard is forgotten at once, not one backed-off RTO later. The
// rest follows under slow start, with no other timeout.
//
//	t0+rtt     <- ACK 0, SACK 1-9    -> segment 0
//	t0+2rtt    <- ACK 1              (reneged: 1-9 are gone)
//	t0+2rtt+RTO   RTO                -> segment 1
//	           <- ACK 2 ...          the rest, resent under slow start
func TestEstablishedRenegedSACKResentOnRTO(t *testing.T) {
	f := newLossFlight(t, 10)
	now := f.t0.Add(rtt)
	f.ack(now, 0, [2]int{1, 10})
	f.expectSegs(0)
	now = now.Add(rtt)
	f.ack(now, 1)
	f.expectNone()
	f.fire()
	f.expectSegs(1)
	st := f.env.Stats
	if stat(&st.Timeouts) != 1 || f.c.sack.sacked != 0 {
		t.Fatalf("timeouts %d, SACKed %d after the RTO; want 1, the scoreboard forgotten", stat(&st.Timeouts), f.c.sack.sacked)
	}
	// The peer now acknowledges each segment it gets: the rest goes
	// under slow start with no further timeout.
	for steps := 0; f.c.SndUna() != f.seq(10) && steps < 20; steps++ {
		now = now.Add(rtt)
		f.ack(now, f.idx(f.c.SndNxt()))
		f.take()
	}
	if f.c.SndUna() != f.seq(10) || stat(&st.Timeouts) != 1 {
		t.Fatalf("SND.UNA at segment %d, timeouts %d; want everything acknowledged after one RTO",
			f.idx(f.c.SndUna()), stat(&st.Timeouts))
	}
}

// TestEstablishedSACKBeyondSentIgnored: RFC 2018 §8's blocks for data
// never sent (beyond SND.MAX), even three of them above a hole that RACK
// would take for three SACKed segments, are ignored and counted: nothing
// is SACKed, marked lost or resent.
//
//	t0+rtt <- ACK 0, SACK 12-13, 14-15, 16-17   (segments 10-17 never sent)
func TestEstablishedSACKBeyondSentIgnored(t *testing.T) {
	f := newLossFlight(t, 10)
	f.ack(f.t0.Add(rtt), 0, [2]int{12, 13}, [2]int{14, 15}, [2]int{16, 17})
	f.expectNone()
	st := f.env.Stats
	if stat(&st.BadSACKBlocks) != 3 || f.c.sack.sacked != 0 || f.c.loss.lostOut != 0 || f.c.inRecovery {
		t.Fatalf("bad blocks %d, SACKed %d, lost %d, recovery %v; want 3, 0, 0, false",
			stat(&st.BadSACKBlocks), f.c.sack.sacked, f.c.loss.lostOut, f.c.inRecovery)
	}
}

// TestEstablishedRecoveryDSACKNeverResentNoUndo: D-SACKs that report
// data sent once as received twice prove nothing about the one
// retransmission: no undo. A D-SACK of one segment sent once does not
// match the resent one; a D-SACK of the whole flight, ten segments
// received twice when one was ever resent, is impossible and ignored
// (Linux's tcp_dsack_seen: TCPDSACKIgnoredDubious), though it covers the
// resent segment.
//
//	t0+rtt     <- ACK 0, SACK 1-3      cwnd 10 -> 5 MSS: -> segment 0
//	t0+rtt+1ms <- ACK 10               recovery over
//	t0+2rtt    <- ACK 10, D-SACK 5     sent once: no undo
//	t0+2rtt    <- ACK 10, D-SACK 0-9   never sent twice: ignored, no undo
func TestEstablishedRecoveryDSACKNeverResentNoUndo(t *testing.T) {
	f := newLossFlight(t, 10)
	now := f.t0.Add(rtt)
	f.ack(now, 0, [2]int{1, 4})
	f.expectSegs(0)
	f.ack(now.Add(time.Millisecond), 10)
	now = now.Add(rtt)
	f.ack(now, 10, [2]int{5, 6})
	f.ack(now, 10, [2]int{0, 10})
	st := f.env.Stats
	if stat(&st.TCPDSACKUndo) != 0 || f.c.cwnd() != 5*int(f.mss) {
		t.Fatalf("D-SACK undos %d, cwnd %d; want no undo, 5 MSS", stat(&st.TCPDSACKUndo), f.c.cwnd())
	}
	if stat(&st.BadSACKBlocks) != 1 || stat(&st.DSACKsReceived) != 2 {
		t.Fatalf("bad blocks %d, D-SACKs %d; want the whole-flight D-SACK ignored and counted",
			stat(&st.BadSACKBlocks), stat(&st.DSACKsReceived))
	}
}

// TestEstablishedEchoGoesBackAfterRecoveryNoUndo: Eifel (RFC 3522) judges
// the ACKs of a recovery. Once the recovery is over, an echo that goes
// back in time (older than the retransmission) on a later ACK is the
// peer's error, not proof that the recovery was needless: no undo.
//
//	t0+rtt     <- ACK 0, SACK 1-3                 cwnd 10 -> 5 MSS: -> segment 0
//	t0+2rtt    <- ACK 10, TSecr TSval(t0+rtt)     the resend arrived: over
//	           -> new data
//	t0+3rtt    <- ACK of it, TSecr TSval(t0)      back in time: no undo
func TestEstablishedEchoGoesBackAfterRecoveryNoUndo(t *testing.T) {
	f := newLossFlight(t, 10)
	now := f.t0.Add(rtt)
	f.ack(now, 0, [2]int{1, 4})
	f.expectSegs(0)
	f.ackEcr(now.Add(rtt), 10, f.c.tsVal(now))
	if f.c.inRecovery || f.c.cwnd() != 5*int(f.mss) {
		t.Fatalf("in recovery %v, cwnd %d; want over, 5 MSS", f.c.inRecovery, f.c.cwnd())
	}
	now = now.Add(rtt)
	f.now = now
	sent := f.send(3)
	if len(sent) == 0 {
		t.Fatal("no new data sent")
	}
	f.ackEcr(now.Add(rtt), 10+len(sent), f.c.tsVal(f.t0))
	st := f.env.Stats
	if stat(&st.TCPFullUndo) != 0 || stat(&st.TCPLossUndo) != 0 || f.c.cwnd() > 6*int(f.mss) {
		t.Fatalf("timestamp undos %d/%d, cwnd %d; want none, about 5 MSS",
			stat(&st.TCPFullUndo), stat(&st.TCPLossUndo), f.c.cwnd())
	}
}

// TestEstablishedRecoveryTSvalGoesBackDropped: an ACK whose TSval is
// older than one the peer sent before is an old duplicate (PAWS, RFC
// 7323 §5): dropped and counted, so its echo of the original cannot undo
// the recovery and its acknowledgment is not taken.
//
//	t0+rtt     <- ACK 0, SACK 1-3, TSval v      -> segment 0
//	t0+rtt+5ms <- ACK 10, TSval v-10, TSecr TSval(t0)   PAWS: dropped
func TestEstablishedRecoveryTSvalGoesBackDropped(t *testing.T) {
	f := newLossFlight(t, 10)
	now := f.t0.Add(rtt)
	f.ack(now, 0, [2]int{1, 4})
	f.expectSegs(0)
	f.c.HandleSegment(now.Add(5*time.Millisecond), in(ack, y+1, f.seq(10), ts(f.tsv-10, f.c.tsVal(f.t0))))
	f.take() // the answer to an invalid segment, rate limited
	st := f.env.Stats
	if stat(&st.DropPAWS) != 1 || stat(&st.TCPFullUndo) != 0 || f.c.SndUna() != f.seq(0) || !f.c.inRecovery {
		t.Fatalf("PAWS drops %d, undos %d, SND.UNA at %d, recovery %v; want 1, 0, 0, true",
			stat(&st.DropPAWS), stat(&st.TCPFullUndo), f.idx(f.c.SndUna()), f.c.inRecovery)
	}
}

// checkLossState asserts the bounds and books of the loss state: the
// per-segment records cover exactly SND.UNA to SND.MAX, the scoreboard
// holds nothing outside it, the resent-order queue is no longer than the
// most records there were (*most, updated; plus one) and empty with
// nothing in flight, the undo list is capped, and lostOut, retransOut,
// segsSACKed and everOut equal what the records' flags say.
func checkLossState(t *testing.T, c *Conn, most *int, when string) {
	t.Helper()
	l := c.loss
	if l == nil {
		return
	}
	q := &l.q
	inFlight := c.sndUna.Size(c.sndMax)
	if q.start != c.sndUna || (q.len() == 0) != (inFlight == 0) ||
		(q.len() > 0 && q.at(q.len()-1).end != c.sndMax) {
		t.Fatalf("%s: records [%d, %d) in %d segments, flight [%d, %d)", when, q.start, q.at(max(q.len()-1, 0)).end, q.len(), c.sndUna, c.sndMax)
	}
	var lost, retrans seqnum.Size
	var sacked, ever int
	for i := 0; i < q.len(); i++ {
		s := q.at(i)
		if !q.left(i).LessThan(s.end) {
			t.Fatalf("%s: record %d is [%d, %d)", when, i, q.left(i), s.end)
		}
		n := c.unsacked(i)
		if s.has(segLost) {
			lost += n
		}
		if s.has(segRetrans) {
			retrans += n
		}
		if s.has(segSACKed) {
			sacked++
		}
		if s.has(segEver) {
			ever++
		}
	}
	if lost != l.lostOut || retrans != l.retransOut || sacked != l.segsSACKed || ever != l.everOut {
		t.Fatalf("%s: lost %d/%d, resent %d/%d, SACKed segments %d/%d, ever resent %d/%d (counted/from the flags)",
			when, l.lostOut, lost, l.retransOut, retrans, l.segsSACKed, sacked, l.everOut, ever)
	}
	*most = max(*most, q.len())
	if l.rtxq.len() > *most+1 || (q.len() == 0 && l.rtxq.len() > 0) || len(l.undo.resent) > maxUndoRanges {
		t.Fatalf("%s: %d resent-order records for %d segments (at most %d), %d undo ranges",
			when, l.rtxq.len(), q.len(), *most, len(l.undo.resent))
	}
	var total seqnum.Size
	for _, r := range c.sack.ranges() {
		if r.left.LessThan(c.sndUna) || c.sndMax.LessThan(r.right) {
			t.Fatalf("%s: scoreboard holds [%d, %d), outside the flight [%d, %d)", when, r.left, r.right, c.sndUna, c.sndMax)
		}
		total += r.left.Size(r.right)
	}
	// (The pipe may exceed the flight: a segment resent but not deemed
	// lost, as a probe, is in the network twice.)
	if total != c.sack.sacked || c.sack.sacked+l.lostOut > inFlight || l.retransOut > inFlight {
		t.Fatalf("%s: SACKed %d (ranges %d), lost %d, resent %d, flight %d",
			when, c.sack.sacked, total, l.lostOut, l.retransOut, inFlight)
	}
}

// TestEstablishedHostilePeerBoundedNoStall: a seeded, hostile receiver
// drops a fifth of the segments, SACKs what it holds, and now and then
// adds a block beyond what was sent, D-SACKs data sent once, echoes an
// old timestamp, or reneges (forgets all it held beyond its cumulative
// ACK). After every segment and every timer the loss state is checked
// (checkLossState); and 200 segments get through, with some timeouts
// but no stall.
func TestEstablishedHostilePeerBoundedNoStall(t *testing.T) {
	const total = 200
	f := newLossFlight(t, 0)
	f.write(f.t0, bytesN(total*int(f.mss)))
	rng := rand.New(rand.NewPCG(13, 8985))
	have := map[int]bool{} // segments the peer holds beyond its cumulative ACK
	una := 0               // the peer's RCV.NXT, in segments
	most := 0              // the most segments in flight
	now := f.t0
	deliver := func(segs []sentSeg) {
		for _, s := range segs {
			if rng.IntN(5) == 0 {
				continue // lost
			}
			i := f.idx(s.Seq)
			if i >= una {
				have[i] = true
			}
			for have[una] {
				delete(have, una)
				una++
			}
			var spans [][2]int
			switch rng.IntN(20) {
			case 0:
				spans = append(spans, [2]int{total + 5, total + 6}) // never sent
			case 1:
				if una > 0 {
					d := rng.IntN(una)
					spans = append(spans, [2]int{d, d + 1}) // a D-SACK, maybe of data sent once
				}
			case 2:
				clear(have) // reneging
			}
			for j := una; j < total && len(spans) < 3; j++ {
				if have[j] {
					k := j
					for have[k] {
						k++
					}
					spans = append(spans, [2]int{j, k})
					j = k
				}
			}
			ecr := f.c.tsVal(now)
			if rng.IntN(10) == 0 {
				ecr = f.c.tsVal(f.t0) // back in time
			}
			f.ackEcr(now, una, ecr, spans...)
			checkLossState(t, f.c, &most, "after an ACK")
		}
	}
	for step := 0; f.c.SndUna() != f.seq(total) && step < 2000; step++ {
		segs := f.take()
		checkLossState(t, f.c, &most, "after sending")
		if len(segs) == 0 {
			now = f.fire()
			checkLossState(t, f.c, &most, "after a timer")
			continue
		}
		now = now.Add(rtt)
		deliver(segs)
	}
	st := f.env.Stats
	t.Logf("timeouts %d, retransmissions %d, probes %d, recoveries %d, bad SACK blocks %d, D-SACK undos %d, timestamp undos %d",
		stat(&st.Timeouts), stat(&st.RetransSegs), stat(&st.TCPLossProbes), stat(&st.TCPSackRecovery),
		stat(&st.BadSACKBlocks), stat(&st.TCPDSACKUndo), stat(&st.TCPFullUndo)+stat(&st.TCPLossUndo))
	if f.c.SndUna() != f.seq(total) {
		t.Fatalf("stalled at segment %d of %d", f.idx(f.c.SndUna()), total)
	}
	if stat(&st.BadSACKBlocks) == 0 {
		t.Fatal("no bad block was sent: the test does not test it")
	}
}
