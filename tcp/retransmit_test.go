package tcp

// Retransmission: the SYN and SYN,ACK back-off of RFC 9293 §3.8.1 with
// Linux's retry limits, and RFC 6298 (RTO computation, back-off, Karn's
// rule, the retransmission timer).

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// sec is one second, for readable instants.
const sec = time.Second

// TestSynSentTimeoutRetransmitsSYNWithBackoff: with InitialRTO 1 s and 6
// retries the SYN goes at 0, 1, 3, 7, 15, 31 and 63 s and connect fails
// with ETIMEDOUT at 127 s, as on Linux.
func TestSynSentTimeoutRetransmitsSYNWithBackoff(t *testing.T) {
	e := synSent(t)
	for _, when := range []time.Duration{1 * sec, 3 * sec, 7 * sec, 15 * sec, 31 * sec, 63 * sec} {
		e.deadline(at(when))
		e.c.HandleTimer(at(when - time.Nanosecond))
		e.expectNone()
		e.c.HandleTimer(at(when))
		e.expect(is(syn, x, 0), hasMSS(DefaultMSS))
		e.state(StateSynSent)
	}
	e.deadline(at(127 * sec))
	e.c.HandleTimer(at(127 * sec))
	e.expectNone()
	e.state(StateClosed)
	if !errors.Is(e.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("Err = %v, want ETIMEDOUT", e.c.Err())
	}
	st := e.env.Stats
	if st.RetransSegs.Load() != 6 || st.Timeouts.Load() != 7 || st.OutSegs.Load() != 1 || st.AttemptFails.Load() != 1 {
		t.Fatalf("RetransSegs %d Timeouts %d OutSegs %d AttemptFails %d; want 6 7 1 1",
			st.RetransSegs.Load(), st.Timeouts.Load(), st.OutSegs.Load(), st.AttemptFails.Load())
	}
}

// TestSynSentTimeoutUsesConfiguredRTOAndRetries: the back-off starts at
// InitialRTO and the number of retransmissions is SYNRetries.
func TestSynSentTimeoutUsesConfiguredRTOAndRetries(t *testing.T) {
	e := synSent(t, func(c *Config) { c.InitialRTO, c.SYNRetries = 3*sec, 2 })
	for _, when := range []time.Duration{3 * sec, 9 * sec} {
		if got := e.fire(); !got.Equal(at(when)) {
			t.Fatalf("timer at %v, want %v", fmtTime(got), fmtTime(at(when)))
		}
		e.expect(is(syn, x, 0))
	}
	e.deadline(at(21 * sec))
	e.fire()
	e.state(StateClosed)
	e.expectNone()
	if !errors.Is(e.c.Err(), ErrTimeout) {
		t.Fatalf("Err = %v, want ETIMEDOUT", e.c.Err())
	}
}

// TestSynReceivedTimeoutRetransmitsSYNACKThenFrees: the SYN,ACK backs off
// like the SYN; after SYNACKRetries the half-open connection is freed
// silently.
func TestSynReceivedTimeoutRetransmitsSYNACKThenFrees(t *testing.T) {
	e := synReceived(t)
	for _, when := range []time.Duration{1 * sec, 3 * sec, 7 * sec, 15 * sec, 31 * sec} {
		e.deadline(at(when))
		e.fire()
		e.expect(is(synack, y, x+1))
	}
	e.deadline(at(63 * sec))
	e.fire()
	e.expectNone()
	e.state(StateClosed)
	if e.l.HalfOpen() != 0 || e.c.Err() != nil {
		t.Fatalf("half-open %d err %v; want 0 and nil", e.l.HalfOpen(), e.c.Err())
	}
}

// TestSynSentRecvSYNACKTakesRTTSample: the handshake gives the first RTT
// sample R: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4*RTTVAR) floored
// at MinRTO (RFC 6298 §2.2, §2.4).
func TestSynSentRecvSYNACKTakesRTTSample(t *testing.T) {
	e := established(t)
	if e.c.SRTT() != 100*time.Millisecond || e.c.rttvar != 50*time.Millisecond || e.c.RTO() != 300*time.Millisecond {
		t.Fatalf("SRTT %v RTTVAR %v RTO %v; want 100ms 50ms 300ms", e.c.SRTT(), e.c.rttvar, e.c.RTO())
	}
}

// TestEstablishedRecvACKUpdatesRTOPerRFC6298: each later sample R' gives
// RTTVAR = 3/4 RTTVAR + 1/4 |SRTT-R'|, SRTT = 7/8 SRTT + 1/8 R' (§2.3).
func TestEstablishedRecvACKUpdatesRTOPerRFC6298(t *testing.T) {
	e := established(t)
	steps := []struct {
		sent, acked          time.Duration
		srtt, rttvar, rtoWas time.Duration
	}{
		{1 * sec, 1*sec + 200*time.Millisecond, 112500 * time.Microsecond, 62500 * time.Microsecond, 362500 * time.Microsecond},
		{2 * sec, 2*sec + 50*time.Millisecond, 104687500, 62500 * time.Microsecond, 354687500},
	}
	una := x + 1
	for i, st := range steps {
		e.write(at(st.sent), bytesN(10))
		e.expect(is(pshack, una, y+1))
		una += 10
		e.c.HandleSegment(at(st.acked), in(ack, y+1, una))
		if e.c.SRTT() != st.srtt || e.c.rttvar != st.rttvar || e.c.RTO() != st.rtoWas {
			t.Fatalf("sample %d: SRTT %v RTTVAR %v RTO %v; want %v %v %v", i+1,
				e.c.SRTT(), e.c.rttvar, e.c.RTO(), st.srtt, st.rttvar, st.rtoWas)
		}
	}
}

// TestEstablishedRTOBoundedByMinAndMax: RTO never goes below MinRTO (RFC
// 6298 §2.4 says 1 s; the default is Linux's 200 ms) and the clock
// granularity G = 1 ms is the least variance term.
func TestEstablishedRTOBoundedByMinAndMax(t *testing.T) {
	fast := func(min time.Duration) *end {
		e := synSent(t, func(c *Config) { c.MinRTO = min })
		e.c.HandleSegment(at(time.Millisecond), in(synack, y, x+1))
		return e
	}
	if got := fast(0).c.RTO(); got != DefaultMinRTO {
		t.Errorf("RTO after a 1ms sample = %v, want the 200ms floor", got)
	}
	if got := fast(sec).c.RTO(); got != sec {
		t.Errorf("RTO with MinRTO 1s = %v, want 1s", got)
	}
	if got := fast(time.Nanosecond).c.RTO(); got != 3*time.Millisecond {
		t.Errorf("RTO with no floor = %v, want 1ms + 4*0.5ms", got)
	}
}

// TestEstablishedZeroRTTSampleIsASample: a sample of 0 (a clock that did
// not tick) is still the first measurement; the next one is folded in with
// alpha and beta rather than taken as a new first sample.
func TestEstablishedZeroRTTSampleIsASample(t *testing.T) {
	e := synSent(t, func(c *Config) { c.MinRTO = time.Nanosecond })
	e.c.HandleSegment(base, in(synack, y, x+1))
	e.take()
	if e.c.SRTT() != 0 || e.c.RTO() != time.Millisecond {
		t.Fatalf("after R=0: SRTT %v RTO %v; want 0 and G=1ms", e.c.SRTT(), e.c.RTO())
	}
	e.write(at(sec), bytesN(10))
	e.c.HandleSegment(at(sec+100*time.Millisecond), in(ack, y+1, x+11))
	if e.c.SRTT() != 12500*time.Microsecond || e.c.rttvar != 25*time.Millisecond {
		t.Fatalf("after R=100ms: SRTT %v RTTVAR %v; want 12.5ms 25ms", e.c.SRTT(), e.c.rttvar)
	}
}

// TestEstablishedTimeoutBacksOffRTO: each expiry retransmits and doubles
// the RTO (RFC 6298 §5.5), up to MaxRTO.
func TestEstablishedTimeoutBacksOffRTO(t *testing.T) {
	e := established(t, func(c *Config) { c.MaxRTO = 1 * sec })
	e.write(at(sec), bytesN(100))
	e.expect(is(pshack, x+1, y+1))
	when := at(sec)
	for _, rto := range []time.Duration{300 * time.Millisecond, 600 * time.Millisecond, sec, sec} {
		when = when.Add(rto)
		e.deadline(when)
		e.fire()
		e.expect(is(pshack, x+1, y+1), hasLen(100))
	}
	if e.env.Stats.RetransSegs.Load() != 4 || e.env.Stats.Timeouts.Load() != 4 {
		t.Fatalf("RetransSegs %d Timeouts %d, want 4 and 4", e.env.Stats.RetransSegs.Load(), e.env.Stats.Timeouts.Load())
	}
}

// TestEstablishedTimeoutRetransmitsOldestUnacked: on expiry the earliest
// segment not acknowledged is sent again, and only it: the congestion
// window is one segment (RFC 6298 §5.4, RFC 5681 §3.1).
func TestEstablishedTimeoutRetransmitsOldestUnacked(t *testing.T) {
	e := established(t)
	e.write(at(sec), bytesN(3*536))
	if n := len(e.take()); n != 3 {
		t.Fatalf("sent %d segments, want 3", n)
	}
	e.c.HandleSegment(at(sec+100*time.Millisecond), in(ack, y+1, x+537))
	// The sample (100 ms) leaves SRTT at 100 ms, RTTVAR at 37.5 ms: RTO 250 ms.
	e.deadline(at(sec + 350*time.Millisecond))
	e.fire()
	e.expect(is(ack, x+537, y+1), hasData(bytesN(3 * 536)[536:1072]))
	e.deadline(at(sec + 850*time.Millisecond))
	e.c.HandleSegment(at(sec+400*time.Millisecond), in(ack, y+1, x+1073))
	e.expect(is(pshack, x+1073, y+1), hasLen(536)) // go-back-N resends the rest
}

// TestEstablishedRecvACKOfRetransmissionTakesNoSample is Karn's rule (RFC
// 6298 §3): the ACK of a retransmitted segment gives no RTT sample, and the
// backed-off RTO stays until a segment sent once is acknowledged (§5.7).
func TestEstablishedRecvACKOfRetransmissionTakesNoSample(t *testing.T) {
	e := established(t)
	e.write(at(sec), bytesN(10))
	e.take()
	e.fire() // at 1.3 sec
	e.take()
	e.c.HandleSegment(at(sec+350*time.Millisecond), in(ack, y+1, x+11))
	if e.c.SRTT() != 100*time.Millisecond || e.c.RTO() != 600*time.Millisecond {
		t.Fatalf("SRTT %v RTO %v; want the old 100ms and the backed-off 600ms", e.c.SRTT(), e.c.RTO())
	}
	e.deadline(time.Time{}) // §5.2: all acknowledged, timer off
	e.write(at(2*sec), bytesN(10))
	e.take()
	e.deadline(at(2*sec + 600*time.Millisecond))
	e.c.HandleSegment(at(2*sec+100*time.Millisecond), in(ack, y+1, x+21))
	if e.c.SRTT() != 100*time.Millisecond || e.c.RTO() != 250*time.Millisecond {
		t.Fatalf("SRTT %v RTO %v; want 100ms and 250ms from the fresh sample", e.c.SRTT(), e.c.RTO())
	}
}

// TestEstablishedRecvACKRestartsTimer: an ACK of new data restarts the
// timer at now+RTO (§5.3); the ACK of everything stops it (§5.2).
func TestEstablishedRecvACKRestartsTimer(t *testing.T) {
	e := established(t)
	e.write(at(sec), bytesN(1000))
	e.take()
	e.deadline(at(sec + 300*time.Millisecond))
	e.write(at(sec+50*time.Millisecond), bytesN(10)) // more data does not restart it (§5.1)
	e.take()
	e.deadline(at(sec + 300*time.Millisecond))
	e.c.HandleSegment(at(sec+200*time.Millisecond), in(ack, y+1, x+537))
	e.deadline(at(sec + 200*time.Millisecond + 362500*time.Microsecond))
	e.c.HandleSegment(at(sec+250*time.Millisecond), in(ack, y+1, x+1011))
	e.deadline(time.Time{})
}

// TestEstablishedTimeoutRetriesExhaustedETIMEDOUT: after Retries
// retransmissions the next expiry ends the connection with ETIMEDOUT.
func TestEstablishedTimeoutRetriesExhaustedETIMEDOUT(t *testing.T) {
	e := established(t, func(c *Config) { c.Retries = 3 })
	e.write(at(sec), bytesN(100))
	e.take()
	for _, when := range []time.Duration{1300, 1900, 3100} {
		if got := e.fire(); !got.Equal(at(when * time.Millisecond)) {
			t.Fatalf("retransmission at %v, want base+%dms", fmtTime(got), when)
		}
		e.expect(is(pshack, x+1, y+1))
	}
	e.deadline(at(5500 * time.Millisecond))
	e.fire()
	e.expectNone()
	e.state(StateClosed)
	if !errors.Is(e.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("Err = %v, want ETIMEDOUT", e.c.Err())
	}
	if _, err := e.c.Write(at(6*sec), []byte("x")); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Write = %v, want ETIMEDOUT", err)
	}
}

// TestSynSentTimeoutThenSYNACKRTOFallsBackTo3s: Karn's rule leaves the
// handshake without a sample when the SYN was retransmitted; RFC 6298 §5.7
// then requires an RTO of 3 s once data transmission begins (Linux's
// TCP_TIMEOUT_FALLBACK).
func TestSynSentTimeoutThenSYNACKRTOFallsBackTo3s(t *testing.T) {
	e := synSent(t)
	e.fire() // the SYN again at 1 sec; RTO now 2 sec
	e.take()
	e.c.HandleSegment(at(sec+100*time.Millisecond), in(synack, y, x+1))
	e.expect(is(ack, x+1, y+1))
	if e.c.SRTT() != 0 || e.c.RTO() != 3*sec {
		t.Fatalf("SRTT %v RTO %v; want no sample and 3s", e.c.SRTT(), e.c.RTO())
	}
	e.write(at(2*sec), bytesN(10))
	e.deadline(at(5 * sec))
}

// TestSynReceivedTimeoutThenACKRTOFallsBackTo3s: the same on the passive
// side when the SYN,ACK was retransmitted.
func TestSynReceivedTimeoutThenACKRTOFallsBackTo3s(t *testing.T) {
	e := synReceived(t)
	e.fire()
	e.take()
	e.deliver(at(sec+100*time.Millisecond), in(ack, x+1, y+1))
	e.state(StateEstablished)
	if e.c.SRTT() != 0 || e.c.RTO() != 3*sec {
		t.Fatalf("SRTT %v RTO %v; want no sample and 3s", e.c.SRTT(), e.c.RTO())
	}
}

// TestSynReceivedRecvSYNACKSimultaneousOpenTakesRTTSample: in a
// simultaneous open the peer's SYN,ACK acknowledges our SYN, sent once: it
// is the RTT sample (RFC 6298 §3), not a later ACK timed from connect.
func TestSynReceivedRecvSYNACKSimultaneousOpenTakesRTTSample(t *testing.T) {
	e := synSent(t)
	e.c.HandleSegment(at(10*time.Millisecond), in(syn, y, 0))
	e.expect(is(synack, x, y+1))
	e.c.HandleSegment(at(30*time.Millisecond), in(synack, y, x+1))
	e.state(StateEstablished)
	if e.c.SRTT() != 30*time.Millisecond {
		t.Fatalf("SRTT = %v, want 30ms", e.c.SRTT())
	}
}

// TestSynSentTwoTimeoutsThenSYNACKRTOIs3s: the RTO is re-initialized to
// 3 s, not left at the backed-off 4 s (RFC 6298 §5.7).
func TestSynSentTwoTimeoutsThenSYNACKRTOIs3s(t *testing.T) {
	e := synSent(t)
	e.fire()
	e.fire()
	e.take()
	e.c.HandleSegment(at(3*sec+100*time.Millisecond), in(synack, y, x+1))
	if e.c.RTO() != 3*sec {
		t.Fatalf("RTO = %v, want 3s", e.c.RTO())
	}
}

// TestEstablishedTimeoutBareACKNumberedFromSNDMAX: a timeout rewinds SND.NXT
// to SND.UNA, but the ACK sent for the peer's data is numbered SND.MAX. The
// peer may hold everything sent; an ACK numbered below its RCV.NXT would be
// unacceptable there and dropped with its acknowledgment, and two ends that
// both timed out would drop each other's ACKs until retries ran out (seen
// in the 20% loss matrix, both directions at once).
func TestEstablishedTimeoutBareACKNumberedFromSNDMAX(t *testing.T) {
	e := established(t)
	sendSegments(t, e, 3) // x+1 .. x+1+3*536
	d := e.fire()
	e.expect(is(ack, x+1, y+1), hasLen(536)) // one segment: cwnd is 1 after a timeout
	e.c.HandleSegment(d.Add(time.Millisecond), in(pshack, y+1, x+1, data([]byte("hello"))))
	e.expect(is(ack, x+1+3*536, y+6), hasLen(0))
}

// TestEstablishedBareACKNumberedAtWindowCappedByShrink: when the peer
// shrank its window below SND.MAX, the bare ACK after a timeout is numbered
// at the window's right edge (Linux's tcp_acceptable_seq), not beyond it.
func TestEstablishedBareACKNumberedAtWindowCappedByShrink(t *testing.T) {
	e := established(t)
	sendSegments(t, e, 3)
	e.c.HandleSegment(at(rtt+10*time.Millisecond), in(ack, y+1, x+537, wnd(0))) // right edge x+537 < SND.MAX
	e.take()
	e.fire() // nothing fits a zero window
	e.take()
	e.c.HandleSegment(e.c.Deadline().Add(-time.Millisecond), in(pshack, y+1, x+537, wnd(0), data([]byte("hi"))))
	e.expect(is(ack, x+537, y+3), hasLen(0))
}

// TestEstablishedRecvBareACKAtRightEdgeAccepted: a bare ACK numbered exactly
// RCV.NXT+RCV.WND is accepted and its acknowledgment used, as on Linux: a
// peer that filled our window numbers its ACKs from there while the first
// of that data is missing. A RST there still does not reset (RFC 5961 §3.2).
func TestEstablishedRecvBareACKAtRightEdgeAccepted(t *testing.T) {
	e := established(t)
	e.write(at(sec), bytesN(100))
	e.take()
	edge := e.c.rcvNxt.Add(e.c.rcvWnd())
	e.c.HandleSegment(at(sec+rtt), in(ack, edge, x+101))
	if e.c.sndUna != x+101 {
		t.Fatalf("SND.UNA %d after an ACK at the right edge, want %d", e.c.sndUna, x+101)
	}
	e.expectNone()
	if n := e.env.Stats.DropOutOfWindow.Load(); n != 0 {
		t.Fatalf("DropOutOfWindow %d, want 0", n)
	}
	e.c.HandleSegment(at(sec+rtt), in(ack, edge.Add(1), x+101))
	e.expect(is(ack, x+101, y+1)) // one past the edge: unacceptable, answered
	e.c.HandleSegment(at(sec+rtt), in(rst, edge, 0))
	e.state(StateEstablished)
}
