package tcp

// TIME-WAIT: 2*MSL (RFC 9293 §3.6, §3.10.7.4), the re-ACK of a
// retransmitted FIN, and a new SYN for the same 4-tuple.

import (
	"errors"
	"testing"
	"time"
)

// withMSL sets the maximum segment lifetime.
func withMSL(d time.Duration) cfgOpt { return func(c *Config) { c.MSL = d } }

// TestTimeWaitTimeoutClosesAt2MSL: TIME-WAIT lasts exactly 2*MSL, MSL from
// the config, then the connection is CLOSED without a segment or an error.
func TestTimeWaitTimeoutClosesAt2MSL(t *testing.T) {
	for _, msl := range []time.Duration{10 * time.Second, DefaultMSL} {
		e := timeWait(t, withMSL(msl))
		if e.env.Config.MSL != msl {
			t.Fatalf("MSL = %v, want %v", e.env.Config.MSL, msl)
		}
		end := e.now.Add(2 * msl)
		e.deadline(end)
		e.c.HandleTimer(end.Add(-time.Nanosecond))
		e.state(StateTimeWait)
		e.c.TakeEvents()
		e.c.HandleTimer(end)
		e.state(StateClosed)
		e.expectNone()
		if e.c.Err() != nil {
			t.Fatalf("Err = %v, want nil", e.c.Err())
		}
		if ev := e.c.TakeEvents(); ev&EventClosed == 0 {
			t.Fatalf("events = %b, want EventClosed", ev)
		}
		e.deadline(time.Time{})
	}
}

// TestTimeWaitRecvRetransmittedFINReACKsAndRestarts: "The only thing that
// can arrive in this state is a retransmission of the remote FIN.
// Acknowledge it, and restart the 2 MSL timeout" (§3.10.7.4 eighth).
func TestTimeWaitRecvRetransmittedFINReACKsAndRestarts(t *testing.T) {
	e := timeWait(t, withMSL(10*time.Second))
	first := e.now.Add(20 * time.Second)
	e.deadline(first)
	again := e.now.Add(5 * time.Second)
	e.c.HandleSegment(again, in(finack, y+1, x+2))
	e.expect(is(ack, x+2, y+2))
	e.state(StateTimeWait)
	e.deadline(again.Add(20 * time.Second))
	e.c.HandleTimer(first)
	e.state(StateTimeWait)
	e.fire()
	e.state(StateClosed)
}

// TestTimeWaitRecvRetransmittedFINWithDataReACKs: the peer's FIN may have
// carried data; its retransmission is recognised the same way.
func TestTimeWaitRecvRetransmittedFINWithDataReACKs(t *testing.T) {
	// Half-closed (CloseWrite), so the data is wanted: after a full Close
	// it would draw a RST (see TestFinWait2RecvDataAfterCloseResets).
	e := established(t)
	if err := e.c.CloseWrite(e.now); err != nil {
		t.Fatal(err)
	}
	e.expect(is(finack, x+1, y+1))
	e.c.HandleSegment(e.now, in(ack, y+1, x+2))
	e.state(StateFinWait2)
	e.c.HandleSegment(e.now, in(finack|psh, y+1, x+2, data([]byte("bye"))))
	e.expect(is(ack, x+2, y+5))
	e.state(StateTimeWait)
	e.c.HandleSegment(e.now.Add(time.Second), in(finack|psh, y+1, x+2, data([]byte("bye"))))
	e.expect(is(ack, x+2, y+5))
	e.deadline(e.now.Add(time.Second + 2*DefaultMSL))
}

// TestTimeWaitRecvOldSegmentACKs: an unacceptable segment is answered
// with an ACK and does not restart the timer.
func TestTimeWaitRecvOldSegmentACKs(t *testing.T) {
	e := timeWait(t)
	e.c.HandleSegment(e.now.Add(time.Second), in(pshack, y-100, x+2, data(bytesN(10))))
	e.expect(is(ack, x+2, y+2))
	e.deadline(e.now.Add(2 * DefaultMSL))
	sanity(t, e.c, timeWait(t))
}

// TestTimeWaitRecvSYNChallengeACK: a SYN handed to TIME-WAIT (the stack
// did not take it as a new incarnation) draws a challenge ACK.
func TestTimeWaitRecvSYNChallengeACK(t *testing.T) {
	e := timeWait(t)
	e.c.HandleSegment(e.now.Add(time.Second), in(syn, y+2, 0))
	e.expect(is(ack, x+2, y+2))
	e.state(StateTimeWait)
}

// TestTimeWaitAcceptsNewSYNAboveOldSequence: a SYN may reopen the 4-tuple
// only if its sequence number lies beyond the old incarnation's (RFC 9293
// §3.6.1 note, Linux tcp_timewait_state_process).
func TestTimeWaitAcceptsNewSYNAboveOldSequence(t *testing.T) {
	e := timeWait(t)
	cases := []struct {
		seg  *Segment
		want bool
	}{
		{in(syn, y+1000, 0), true},
		{in(syn, y+3, 0), true},
		{in(syn, y+2, 0), false},
		{in(syn, y, 0), false},
		{in(synack, y+1000, 0), false},
		{in(syn|rst, y+1000, 0), false},
	}
	for _, tc := range cases {
		if got := e.c.AcceptsNewSYN(tc.seg); got != tc.want {
			t.Errorf("AcceptsNewSYN(%v seq=%d) = %v, want %v", tc.seg.Flags, tc.seg.Seq, got, tc.want)
		}
	}
	if established(t).c.AcceptsNewSYN(in(syn, y+1000, 0)) {
		t.Error("only TIME-WAIT gives way to a new SYN")
	}
}

// TestTimeWaitWriteFails: nothing can be sent in TIME-WAIT, and closing
// again changes nothing.
func TestTimeWaitWriteFails(t *testing.T) {
	e := timeWait(t)
	if _, err := e.c.Write(e.now, []byte("x")); !errors.Is(err, ErrClosing) {
		t.Fatalf("Write = %v, want ErrClosing", err)
	}
	e.c.Close(e.now)
	e.state(StateTimeWait)
	e.expectNone()
	e.deadline(e.now.Add(2 * DefaultMSL))
}

// TestFinWait2RecvDataAfterCloseResets: "If new data is received after
// CLOSE is called, its TCP SHOULD send a RST to show that data was lost"
// (RFC 1122 §4.2.2.13); Linux does, and so the connection ends at once.
func TestFinWait2RecvDataAfterCloseResets(t *testing.T) {
	e := finWait2(t)
	e.c.HandleSegment(e.now, in(ack|psh, y+1, x+2, data([]byte("late"))))
	e.expect(is(rst, x+2, 0))
	e.state(StateClosed)
}
