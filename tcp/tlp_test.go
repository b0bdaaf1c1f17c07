package tcp

// The Tail Loss Probe (RFC 8985 §7), on the fixture of rack_test.go.

import (
	"testing"
	"time"
)

// withMinRTO sets the floor of the RTO, so that a test can put the RTO
// beyond the probe timeout.
func withMinRTO(d time.Duration) cfgOpt { return func(c *Config) { c.MinRTO = d } }

// TestEstablishedSilenceProbesNewData: RFC 8985 §7.2-7.3. Ten segments
// fill the window and one more waits; no ACK comes. Two SRTTs after the
// flight (before the RTO) the probe goes, and it is the waiting new data:
//
//	t0        -> segments 0-9 (10 waits for the window)
//	t0+202ms  (PTO = 2 * SRTT + 2 ms) -> segment 10
func TestEstablishedSilenceProbesNewData(t *testing.T) {
	f := newLossFlight(t, 10)
	f.write(f.t0, bytesN(int(f.mss)))
	f.expectNone()
	f.deadline(f.t0.Add(2*rtt + ptoSlack))
	if f.c.loss.timer != timerProbe {
		t.Fatalf("timer %v, want the probe timeout", f.c.loss.timer)
	}
	when := f.fire()
	f.expectSegs(10)
	st := f.env.Stats
	if stat(&st.TCPLossProbes) != 1 || stat(&st.RetransSegs) != 0 || stat(&st.Timeouts) != 0 {
		t.Fatalf("probes %d, retransmissions %d, timeouts %d; want 1, 0, 0",
			stat(&st.TCPLossProbes), stat(&st.RetransSegs), stat(&st.Timeouts))
	}
	f.deadline(when.Add(f.c.RTO())) // one probe: the RTO comes next
}

// TestEstablishedSilenceOneSegmentProbesIt: RFC 8985 §7.2: with one
// segment in flight its ACK may be delayed, so the probe waits WCDelAckT
// (200 ms) more; with nothing new to send, the probe is that segment again.
//
//	t0        -> segment 0
//	t0+400ms  (PTO = 2 * SRTT + 200 ms) -> segment 0
func TestEstablishedSilenceOneSegmentProbesIt(t *testing.T) {
	f := newLossFlight(t, 1, withMinRTO(sec)) // the RTO after the probe
	f.deadline(f.t0.Add(2*rtt + 200*time.Millisecond))
	f.fire()
	f.expectSegs(0)
	st := f.env.Stats
	if stat(&st.TCPLossProbes) != 1 || stat(&st.RetransSegs) != 1 || stat(&st.Timeouts) != 0 {
		t.Fatalf("probes %d, retransmissions %d, timeouts %d; want 1, 1, 0",
			stat(&st.TCPLossProbes), stat(&st.RetransSegs), stat(&st.Timeouts))
	}
}

// TestEstablishedProbeDueAfterRTOProbesAtRTO: RFC 8985 §7.2: "If Now() +
// PTO > TCP_RTO_expire(), PTO = TCP_RTO_expire() - Now()" (Linux does
// the same): a lone segment's probe timeout (400 ms) is past the RTO
// (250 ms), so the probe goes when the RTO would have, instead of it.
//
//	t0        -> segment 0
//	t0+250ms  (RTO expiry, as PTO) -> segment 0, a probe: no timeout
func TestEstablishedProbeDueAfterRTOProbesAtRTO(t *testing.T) {
	f := newLossFlight(t, 1)
	rto := f.c.RTO()
	if rto >= 2*rtt+200*time.Millisecond {
		t.Fatalf("RTO %v, want it before the probe timeout", rto)
	}
	f.deadline(f.t0.Add(rto))
	f.fire()
	f.expectSegs(0)
	st := f.env.Stats
	if stat(&st.TCPLossProbes) != 1 || stat(&st.Timeouts) != 0 || f.c.RTO() != rto {
		t.Fatalf("probes %d, timeouts %d, RTO %v; want 1, 0, %v (not backed off)",
			stat(&st.TCPLossProbes), stat(&st.Timeouts), f.c.RTO(), rto)
	}
}

// TestEstablishedProbeACKShowsLossRecoveryRepairs: the last two segments
// of a flight are lost. The probe (the last segment again) draws an ACK
// that SACKs it, RACK marks the segment before it lost and fast recovery
// resends it: no RTO. The window is reduced once, by that recovery; an ACK
// past the probe later is no second loss.
//
//	t0+rtt        <- ACK 8                 (8 and 9 lost)
//	t0+rtt+202ms  PTO                      -> segment 9 (probe)
//	t0+2rtt+200ms <- ACK 8, SACK 9         -> segment 8 (RACK, recovery)
//	t0+3rtt+200ms <- ACK 10                recovery over
//	              -> new data; <- its ACK: no second reduction
func TestEstablishedProbeACKShowsLossRecoveryRepairs(t *testing.T) {
	f := newLossFlight(t, 10)
	now := f.t0.Add(rtt)
	f.ack(now, 8)
	f.expectNone()
	f.deadline(now.Add(2*rtt + ptoSlack)) // two segments in flight: no WCDelAckT
	now = f.fire()
	f.expectSegs(9)
	now = now.Add(rtt)
	f.ack(now, 8, [2]int{9, 10})
	f.expectSegs(8)
	st := f.env.Stats
	if stat(&st.TCPSackRecovery) != 1 || stat(&st.TCPLossProbes) != 1 {
		t.Fatalf("recoveries %d, probes %d; want 1, 1", stat(&st.TCPSackRecovery), stat(&st.TCPLossProbes))
	}
	now = now.Add(rtt)
	f.ack(now, 10)
	if f.c.inRecovery {
		t.Fatal("still in recovery")
	}
	cwnd := f.c.cwnd()
	f.now = now
	sent := f.send(4) // as many as the window lets go
	if len(sent) == 0 {
		t.Fatal("nothing sent after the recovery")
	}
	f.ack(now.Add(rtt), 10+len(sent))
	if stat(&st.TCPLossProbeRecovery) != 0 || f.c.cwnd() < cwnd || stat(&st.Timeouts) != 0 {
		t.Fatalf("probe recoveries %d, cwnd %d (was %d), timeouts %d: the recovery's reduction came twice",
			stat(&st.TCPLossProbeRecovery), f.c.cwnd(), cwnd, stat(&st.Timeouts))
	}
}

// TestEstablishedProbeRepairsTailLossReducesOnce: RFC 8985 §7.4: the last
// segment alone was lost; the probe resent it and the ACK covers it. That
// the probe repaired a loss shows when an ACK goes past it: then, and
// once, the window is halved as a recovery would (Linux: CWR,
// TCPLossProbeRecovery), from the flight before that ACK.
//
//	t0+rtt        <- ACK 9                 (9 lost)
//	t0+rtt+400ms  PTO                      -> segment 9 (probe)
//	t0+2rtt+400ms <- ACK 10                the probe arrived
//	              -> segments 10-19
//	              <- ACK 20                past the probe: cwnd to half the
//	                                       flight of 10: 5 MSS
func TestEstablishedProbeRepairsTailLossReducesOnce(t *testing.T) {
	f := newLossFlight(t, 10, withMinRTO(sec))
	now := f.t0.Add(rtt)
	f.ack(now, 9)
	f.deadline(now.Add(2*rtt + 200*time.Millisecond))
	now = f.fire()
	f.expectSegs(9)
	now = now.Add(rtt)
	f.ack(now, 10)
	st := f.env.Stats
	if stat(&st.TCPLossProbeRecovery) != 0 {
		t.Fatal("the window was reduced before an ACK went past the probe")
	}
	f.now = now
	if sent := f.send(10); len(sent) != 10 {
		t.Fatalf("sent %d segments, want 10", len(sent))
	}
	f.ack(now.Add(rtt), 20)
	if want := 5 * int(f.mss); stat(&st.TCPLossProbeRecovery) != 1 || f.c.cwnd() != want {
		t.Fatalf("probe recoveries %d, cwnd %d; want 1, %d (half the flight of 10)", stat(&st.TCPLossProbeRecovery), f.c.cwnd(), want)
	}
	if stat(&st.Timeouts) != 0 || stat(&st.TCPSackRecovery) != 0 {
		t.Fatalf("timeouts %d, recoveries %d; want none", stat(&st.Timeouts), stat(&st.TCPSackRecovery))
	}
}

// TestEstablishedProbeDSACKedNoReduction: RFC 8985 §7.4: only the ACK of
// the last segment was lost; the probe resends it and the peer reports
// it received twice. Nothing was lost: the window stays.
//
//	t0+rtt        <- ACK 9                 (the ACK of 9 lost)
//	t0+rtt+400ms  PTO                      -> segment 9 (probe)
//	t0+2rtt+400ms <- ACK 10, D-SACK 9      both copies arrived: episode over
//	              -> segments 10-19; <- ACK 20: cwnd unchanged
func TestEstablishedProbeDSACKedNoReduction(t *testing.T) {
	f := newLossFlight(t, 10, withMinRTO(sec))
	now := f.t0.Add(rtt)
	f.ack(now, 9)
	now = f.fire()
	f.expectSegs(9)
	now = now.Add(rtt)
	f.ack(now, 10, [2]int{9, 10})
	if f.c.loss.tlp.out {
		t.Fatal("the probe episode is still open after its D-SACK")
	}
	cwnd := f.c.cwnd()
	f.now = now
	if sent := f.send(10); len(sent) != 10 {
		t.Fatalf("sent %d segments, want 10", len(sent))
	}
	f.ack(now.Add(rtt), 20)
	st := f.env.Stats
	if stat(&st.TCPLossProbeRecovery) != 0 || f.c.cwnd() < cwnd || stat(&st.TCPLossProbes) != 1 {
		t.Fatalf("probe recoveries %d, cwnd %d (was %d), probes %d; want 0, no reduction, 1",
			stat(&st.TCPLossProbeRecovery), f.c.cwnd(), cwnd, stat(&st.TCPLossProbes))
	}
}

// TestEstablishedRecoveryStartReplacesProbeTimer: a probe timeout armed
// by an ACK of new data is no use once a recovery begins (no probe goes
// in recovery, RFC 8985 §7.2): the slot becomes the RTO again, restarted
// by the fast retransmit (Linux tcp_xmit_retransmit_queue), rather than a
// probe timeout that fires for nothing and pushes the RTO back.
//
//	t0+rtt      <- ACK 1               PTO armed: t0+rtt+200ms
//	t0+rtt+10ms <- ACK 1, SACK 2-4     -> segment 1; the RTO is due in one RTO
func TestEstablishedRecoveryStartReplacesProbeTimer(t *testing.T) {
	f := newLossFlight(t, 10)
	now := f.t0.Add(rtt)
	f.ack(now, 1)
	if f.c.loss.timer != timerProbe {
		t.Fatalf("timer %v after an ACK of new data, want the probe timeout", f.c.loss.timer)
	}
	now = now.Add(10 * time.Millisecond)
	f.ack(now, 1, [2]int{2, 5})
	f.expectSegs(1)
	if f.c.loss.timer != timerRTO {
		t.Fatalf("timer %v in recovery, want the RTO", f.c.loss.timer)
	}
	f.deadline(now.Add(f.c.RTO()))
}
