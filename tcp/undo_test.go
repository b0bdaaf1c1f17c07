package tcp

// Undo of spurious reductions (undo.go): D-SACK (RFC 2883 §5, RFC 3708),
// timestamps (Eifel, RFC 3522) and F-RTO (RFC 5682), with RFC 4015's
// response, on the fixture of rack_test.go.

import (
	"testing"
	"time"
)

// TestEstablishedRecoveryEveryResendDSACKedUndoes: segments 0 and 5 were
// only delayed; RACK found them lost and both were resent. When the peer
// reports both retransmissions as duplicates, nothing was lost: the
// window comes back (TCPDSACKUndo). One D-SACK of the two is not enough.
//
//	t0+rtt     <- ACK 0, SACK 1-3        recovery, cwnd 10 -> 5 MSS: -> segment 0
//	t0+rtt     <- ACK 0, SACK 1-4, 6-7   -> segment 5
//	t0+rtt+1ms <- ACK 10                 (the originals) recovery over
//	t0+2rtt    <- ACK 10, D-SACK 0       one resend needless: no undo
//	t0+2rtt    <- ACK 10, D-SACK 5       both: cwnd back to 10 MSS
func TestEstablishedRecoveryEveryResendDSACKedUndoes(t *testing.T) {
	f := newLossFlight(t, 10)
	mss := int(f.mss)
	now := f.t0.Add(rtt)
	f.ack(now, 0, [2]int{1, 4})
	f.expectSegs(0)
	f.ack(now, 0, [2]int{1, 5}, [2]int{6, 8})
	f.expectSegs(5)
	f.ack(now.Add(time.Millisecond), 10)
	st := f.env.Stats
	if f.c.inRecovery || f.c.cwnd() != 5*mss {
		t.Fatalf("in recovery %v, cwnd %d after the full ACK; want false, 5 MSS", f.c.inRecovery, f.c.cwnd())
	}
	now = now.Add(rtt)
	f.ack(now, 10, [2]int{0, 1})
	if stat(&st.TCPDSACKUndo) != 0 || f.c.cwnd() != 5*mss {
		t.Fatalf("undone (%d), cwnd %d after a D-SACK of one resend of two", stat(&st.TCPDSACKUndo), f.c.cwnd())
	}
	f.ack(now, 10, [2]int{5, 6})
	if stat(&st.TCPDSACKUndo) != 1 || f.c.cwnd() != 10*mss {
		t.Fatalf("D-SACK undos %d, cwnd %d; want 1, 10 MSS", stat(&st.TCPDSACKUndo), f.c.cwnd())
	}
	if stat(&st.TCPFullUndo) != 0 {
		t.Fatal("counted as a timestamp undo")
	}
}

// TestEstablishedRecoveryEchoOfOriginalUndoes: Eifel detection (RFC 3522
// §3.2). Segment 0 was only delayed; it was resent at t0+rtt. The ACK that
// covers it echoes the TSval it carried: if that is the original's (sent
// at t0), the original arrived first and the recovery was needless; the
// window comes back and the recovery ends (TCPFullUndo). If it is the
// retransmission's, the loss was real.
//
//	t0+rtt     <- ACK 0, SACK 1-3             cwnd 10 -> 5 MSS: -> segment 0
//	t0+rtt+5ms <- ACK 10, TSecr = TSval(t0)   undo: cwnd 10 MSS
//	   (or)    <- ACK 10, TSecr = TSval(t0+rtt)  no undo: cwnd 5 MSS
func TestEstablishedRecoveryEchoOfOriginalUndoes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		echo  func(f *lossFlight) uint32
		undos uint64
		cwnd  int // in MSS
	}{
		{"original", func(f *lossFlight) uint32 { return f.c.tsVal(f.t0) }, 1, 10},
		{"retransmission", func(f *lossFlight) uint32 { return f.c.tsVal(f.t0.Add(rtt)) }, 0, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newLossFlight(t, 10)
			now := f.t0.Add(rtt)
			f.ack(now, 0, [2]int{1, 4})
			f.expectSegs(0)
			if !f.c.inRecovery {
				t.Fatal("no recovery")
			}
			f.ackEcr(now.Add(5*time.Millisecond), 10, tc.echo(f))
			st := f.env.Stats
			if stat(&st.TCPFullUndo) != tc.undos || f.c.cwnd() != tc.cwnd*int(f.mss) || f.c.inRecovery {
				t.Fatalf("timestamp undos %d, cwnd %d, in recovery %v; want %d, %d MSS, false",
					stat(&st.TCPFullUndo), f.c.cwnd(), f.c.inRecovery, tc.undos, tc.cwnd)
			}
		})
	}
}

// rtoFlight is newLossFlight(10) with extra segments written beyond the
// window, taken through the probe (which sends segment 10) and then the
// RTO, which resends segment 0 with a window of one segment. It returns
// the time of the RTO.
func rtoFlight(t *testing.T, extra int) (*lossFlight, time.Time) {
	t.Helper()
	f := newLossFlight(t, 10)
	f.write(f.t0, bytesN(extra*int(f.mss)))
	f.expectNone()
	f.fire() // the probe: new data
	f.expectSegs(10)
	now := f.fire()
	f.expectSegs(0)
	if st := f.env.Stats; stat(&st.Timeouts) != 1 || stat(&st.TCPLossProbes) != 1 || f.c.cwnd() != int(f.mss) {
		t.Fatalf("timeouts %d, probes %d, cwnd %d; want 1, 1, one segment",
			stat(&st.Timeouts), stat(&st.TCPLossProbes), f.c.cwnd())
	}
	return f, now
}

// TestEstablishedSpuriousTimeoutFRTOUndoes: F-RTO (RFC 5682 §4, as
// Linux's tcp_process_loss). The flight was only delayed. The first ACK
// after the timeout covers segment 1, sent before the timeout and never
// resent: the timeout was spurious (TCPSpuriousRTOs). The window comes
// back, and nothing more is resent.
//
//	t0          -> segments 0-9
//	t0+200ms    PTO -> segment 10
//	t0+450ms    RTO -> segment 0, cwnd 1 MSS
//	t0+460ms    <- ACK 2          spurious: cwnd 10 MSS, nothing resent
//	t0+461ms    <- ACK 11
func TestEstablishedSpuriousTimeoutFRTOUndoes(t *testing.T) {
	f, now := rtoFlight(t, 1)
	now = now.Add(10 * time.Millisecond)
	f.ack(now, 2)
	f.expectNone()
	st := f.env.Stats
	if stat(&st.TCPSpuriousRTOs) != 1 || stat(&st.TCPLossUndo) != 1 || f.c.cwnd() != 10*int(f.mss) || f.c.inLoss() {
		t.Fatalf("spurious RTOs %d, loss undos %d, cwnd %d, in loss %v; want 1, 1, 10 MSS, false",
			stat(&st.TCPSpuriousRTOs), stat(&st.TCPLossUndo), f.c.cwnd(), f.c.inLoss())
	}
	f.ack(now.Add(time.Millisecond), 11)
	f.expectNone()
	if stat(&st.RetransSegs) != 1 || f.c.SndUna() != f.c.SndNxt() {
		t.Fatalf("retransmissions %d, want only the RTO's", stat(&st.RetransSegs))
	}
}

// TestEstablishedTimeoutRealLossFRTONoUndo: F-RTO when the loss was real
// (RFC 5682 §4 steps 2b and 3a). The ACK after the timeout covers only
// the retransmission: new data goes instead of more resends, to see
// whether the flight was lost. The ACK that SACKs it without moving
// SND.UNA says it was: no undo, and the resends go on.
//
//	t0+450ms    RTO -> segment 0, cwnd 1 MSS
//	t0+550ms    <- ACK 1            step 2b, cwnd 2 MSS: -> segments 11, 12
//	t0+650ms    <- ACK 1, SACK 11   step 3a, the loss was real: -> segment 1
func TestEstablishedTimeoutRealLossFRTONoUndo(t *testing.T) {
	f, now := rtoFlight(t, 3)
	now = now.Add(rtt)
	f.ack(now, 1)
	f.expectSegs(11, 12)
	now = now.Add(rtt)
	f.ack(now, 1, [2]int{11, 12})
	got := f.take()
	if len(got) == 0 || got[0].Seq != f.seq(1) {
		t.Fatalf("sent %v, want segment 1 resent", got)
	}
	st := f.env.Stats
	if stat(&st.TCPSpuriousRTOs) != 0 || stat(&st.TCPLossUndo) != 0 || f.c.cwnd() > 3*int(f.mss) || !f.c.inLoss() {
		t.Fatalf("spurious RTOs %d, loss undos %d, cwnd %d, in loss %v; want 0, 0, slow start from one segment, true",
			stat(&st.TCPSpuriousRTOs), stat(&st.TCPLossUndo), f.c.cwnd(), f.c.inLoss())
	}
}

// TestEstablishedSpuriousTimeoutUndoKeepsJudgingResends: a segment whose
// every copy was lost before a timeout that F-RTO then finds spurious is
// unmarked by the undo like the rest; RACK must go on judging it by its
// last send time, and find it lost as soon as data sent after that copy
// is SACKed, not leave it to the next RTO.
//
//	t0+rtt    <- ACK 2, SACK 3-5, 7-9   -> segments 2, 6 (both lost again), 10, 11
//	t0+rtt+RTO   RTO                    -> segment 2, cwnd 1 MSS
//	+10ms     <- ACK 6, SACK 7-11       11 went once, before the RTO: spurious,
//	                                    undone; but 11 went after 6's copy:
//	                                    -> segment 6, no second RTO
func TestEstablishedSpuriousTimeoutUndoKeepsJudgingResends(t *testing.T) {
	f := newLossFlight(t, 10)
	f.write(f.t0, bytesN(10*int(f.mss)))
	now := f.t0.Add(rtt)
	f.ack(now, 2, [2]int{3, 6}, [2]int{7, 10})
	f.expectSegs(2, 6, 10, 11)
	now = f.fire()
	f.expectSegs(2)
	st := f.env.Stats
	if stat(&st.Timeouts) != 1 {
		t.Fatalf("timeouts %d, want the RTO", stat(&st.Timeouts))
	}
	now = now.Add(10 * time.Millisecond)
	f.ack(now, 6, [2]int{7, 12})
	if stat(&st.TCPSpuriousRTOs) != 1 {
		t.Fatalf("spurious RTOs %d, want the timeout undone", stat(&st.TCPSpuriousRTOs))
	}
	if got := f.take(); len(got) == 0 || got[0].Seq != f.seq(6) {
		t.Fatalf("sent %v, want segment 6 resent first", got)
	}
	if stat(&st.Timeouts) != 1 {
		t.Fatalf("timeouts %d, want no second RTO", stat(&st.Timeouts))
	}
}
