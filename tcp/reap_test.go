package tcp

// Reaping connections to dead peers (zero-window probe limit, user
// timeout) and the sequence numbers of RSTs and of a TIME-WAIT takeover.

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// zeroWindowStall is established with 100 bytes written into a window the
// peer closed at 1 s: nothing is in flight, the persist timer is armed.
func zeroWindowStall(t *testing.T, opts ...cfgOpt) *end {
	t.Helper()
	e := established(t, opts...)
	e.now = at(sec)
	e.c.HandleSegment(e.now, in(ack, y+1, x+1, wnd(0)))
	e.write(e.now, bytesN(100))
	e.expectNone()
	return e
}

// timedOut asserts the connection ended with ETIMEDOUT, counted once.
func (e *end) timedOut() {
	e.t.Helper()
	e.state(StateClosed)
	if !errors.Is(e.c.Err(), syscall.ETIMEDOUT) {
		e.t.Fatalf("Err = %v, want ETIMEDOUT", e.c.Err())
	}
	if n := e.env.Stats.AbortOnTimeout.Load(); n != 1 {
		e.t.Fatalf("AbortOnTimeout = %d, want 1", n)
	}
}

// TestEstablishedZeroWindowSilentPeerTimesOut: a peer that closed its
// window and then went silent is probed Retries times (15, Linux
// tcp_retries2) with backoff; at the next expiry the connection ends
// with ETIMEDOUT and sends nothing (Linux tcp_probe_timer, tcp_write_err).
func TestEstablishedZeroWindowSilentPeerTimesOut(t *testing.T) {
	e := zeroWindowStall(t)
	for i := range DefaultRetries {
		e.fire()
		e.expect(is(ack, x, y+1), hasLen(0))
		e.state(StateEstablished)
		if i == DefaultRetries-1 && e.c.Deadline().Sub(e.now) < 100*sec {
			t.Fatalf("last probe interval %v, want the backoff near MaxRTO", e.c.Deadline().Sub(e.now))
		}
		e.now = e.c.Deadline()
	}
	e.fire()
	e.expectNone()
	e.timedOut()
	st := e.env.Stats
	if st.WinProbes.Load() != DefaultRetries || st.WinProbeAborts.Load() != 1 {
		t.Fatalf("WinProbes %d WinProbeAborts %d, want %d 1", st.WinProbes.Load(), st.WinProbeAborts.Load(), DefaultRetries)
	}
	e.deadline(time.Time{})
}

// TestEstablishedZeroWindowAnsweredPeerNeverTimesOut: a peer that answers
// every probe, even with window 0, is alive: probing goes on for as long
// as it answers (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17), here 200 probes
// over hours with a limit of 3. An answer resets the count: two
// unanswered probes, an answer, then it takes three more to give up.
func TestEstablishedZeroWindowAnsweredPeerNeverTimesOut(t *testing.T) {
	e := zeroWindowStall(t, func(c *Config) { c.Retries = 3 })
	var when time.Time
	for range 200 {
		when = e.fire()
		e.expect(is(ack, x, y+1), hasLen(0))
		e.c.HandleSegment(when.Add(rtt), in(ack, y+1, x+1, wnd(0)))
		e.expectNone()
		e.state(StateEstablished)
	}
	if when.Sub(base) < 5*time.Hour {
		t.Fatalf("200 probes took only %v", when.Sub(base))
	}
	for range 2 {
		e.fire()
		e.expect(is(ack, x, y+1))
	}
	e.c.HandleSegment(e.c.Deadline().Add(-rtt), in(ack, y+1, x+1, wnd(0)))
	for range 3 {
		e.fire()
		e.expect(is(ack, x, y+1))
		e.state(StateEstablished)
	}
	e.fire()
	e.expectNone()
	e.timedOut()
}

// TestEstablishedZeroWindowOutOfWindowSegmentIsNoAnswer: only an
// acceptable ACK counts as an answer; a segment that fails the sequence
// check (a blind attacker's) does not keep the connection alive.
func TestEstablishedZeroWindowOutOfWindowSegmentIsNoAnswer(t *testing.T) {
	e := zeroWindowStall(t, func(c *Config) { c.Retries = 2 })
	for range 2 {
		when := e.fire()
		e.expect(is(ack, x, y+1))
		e.c.HandleSegment(when.Add(rtt), in(ack, y+1+1<<30, x+1, wnd(0)))
		e.take() // the ACK that answers it
	}
	e.fire()
	e.expectNone()
	e.timedOut()
}

// TestEstablishedUserTimeoutEndsStalledTransfer: with TCP_USER_TIMEOUT
// 10 s (RFC 5482), data unacknowledged since 1 s ends the connection at
// exactly 11 s, the last backed-off timer cut short to it, after 5 of the
// 15 retransmissions the count allows. No RST, as Linux's tcp_write_err.
func TestEstablishedUserTimeoutEndsStalledTransfer(t *testing.T) {
	e := established(t)
	e.c.SetUserTimeout(at(sec), 10*sec)
	if e.c.UserTimeout() != 10*sec {
		t.Fatalf("UserTimeout = %v", e.c.UserTimeout())
	}
	e.write(at(sec), bytesN(100))
	e.expect(hasLen(100))
	for range 5 {
		e.fire()
		e.expect(hasSeq(x+1), hasLen(100))
	}
	end := at(11 * sec)
	e.deadline(end)
	e.c.HandleTimer(end.Add(-time.Nanosecond))
	e.state(StateEstablished)
	e.c.HandleTimer(end)
	e.expectNone()
	e.timedOut()
}

// TestEstablishedUserTimeoutReplacesRetries: the user timeout takes the
// place of the retry count (RFC 5482 §2; Linux): with Retries 2 and a user
// timeout of 60 s the connection outlives its third retransmission.
func TestEstablishedUserTimeoutReplacesRetries(t *testing.T) {
	e := established(t, func(c *Config) { c.Retries = 2 })
	e.c.SetUserTimeout(at(sec), 60*sec)
	e.write(at(sec), bytesN(100))
	e.take()
	for range 5 {
		e.fire()
		e.expect(hasLen(100))
		e.state(StateEstablished)
	}
	for e.c.State() != StateClosed {
		e.fire()
		e.take()
	}
	if e.now = e.c.now; !e.now.Equal(at(61 * sec)) {
		t.Fatalf("ended at %v, want base+1m1s", fmtTime(e.now))
	}
	e.timedOut()
}

// TestEstablishedUserTimeoutEndsZeroWindowStall: the user timeout bounds a
// zero-window stall from its first probe even while the peer answers with
// window 0 (Linux since 2021, icsk_probes_tstamp); it ends without a
// segment, as Linux's tcp_write_err.
func TestEstablishedUserTimeoutEndsZeroWindowStall(t *testing.T) {
	e := zeroWindowStall(t)
	e.c.SetUserTimeout(e.now, 30*sec)
	first := e.fire()
	e.expect(is(ack, x, y+1))
	for e.c.Deadline().Before(first.Add(30 * sec)) {
		when := e.fire()
		e.expect(is(ack, x, y+1))
		e.c.HandleSegment(when.Add(rtt), in(ack, y+1, x+1, wnd(0)))
		e.state(StateEstablished)
	}
	e.deadline(first.Add(30 * sec))
	e.fire()
	e.expectNone()
	e.timedOut()
	if e.env.Stats.WinProbeAborts.Load() != 1 {
		t.Fatalf("WinProbeAborts = %d, want 1", e.env.Stats.WinProbeAborts.Load())
	}
}

// TestEstablishedUserTimeoutEndsKeepAlive: with a user timeout, keepalive
// gives up once a probe is out and nothing came from the peer for the user
// timeout, not after Count probes (Linux tcp_keepalive_timer).
func TestEstablishedUserTimeoutEndsKeepAlive(t *testing.T) {
	e := established(t)
	e.c.SetKeepAlive(e.now, KeepAlive{Enable: true, Idle: 10 * sec, Interval: 10 * sec})
	e.c.SetUserTimeout(e.now, 25*sec)
	for range 2 {
		e.fire()
		e.expect(is(ack, x, y+1))
	}
	end := e.fire()
	if want := e.now.Add(30 * sec); !end.Equal(want) {
		t.Fatalf("gave up at %v, want %v", fmtTime(end), fmtTime(want))
	}
	e.expect(is(rst, x+1, 0))
	e.timedOut()
}

// rewound is established with 3000 bytes sent and one retransmission
// timeout: SND.NXT went back to SND.UNA and moved one segment on, while
// SND.MAX stays at x+3001.
func rewound(t *testing.T) *end {
	t.Helper()
	e := established(t)
	e.write(at(sec), bytesN(3000))
	e.take()
	e.fire()
	e.expect(hasSeq(x + 1))
	if e.c.SndNxt() == e.c.sndMax || e.c.sndMax != x+3001 {
		t.Fatalf("SND.NXT %d SND.MAX %d: not rewound", e.c.SndNxt(), e.c.sndMax)
	}
	return e
}

// TestEstablishedAbortAfterRTOSendsRSTAtSndMax: a RST after a
// retransmission timeout carries SND.MAX, not the rewound SND.NXT, which
// is below the peer's RCV.NXT (Linux tcp_send_active_reset).
func TestEstablishedAbortAfterRTOSendsRSTAtSndMax(t *testing.T) {
	e := rewound(t)
	e.c.Abort(e.now)
	e.expect(is(rst, x+3001, 0))
}

// TestEstablishedCloseUnreadAfterRTOSendsRSTAtSndMax: the same for the
// RST of a close with unread data.
func TestEstablishedCloseUnreadAfterRTOSendsRSTAtSndMax(t *testing.T) {
	e := rewound(t)
	e.c.HandleSegment(e.now, in(pshack, y+1, x+1, data([]byte("unread"))))
	e.take()
	e.c.Close(e.now)
	e.expect(is(rst, x+3001, 0))
	if e.env.Stats.AbortOnClose.Load() != 1 {
		t.Fatalf("AbortOnClose = %d, want 1", e.env.Stats.AbortOnClose.Load())
	}
}

// TestFinWait1RecvDataAfterCloseAndRTOSendsRSTAtSndMax: data after a full
// close, with SND.NXT rewound, is answered by a RST at SND.MAX.
func TestFinWait1RecvDataAfterCloseAndRTOSendsRSTAtSndMax(t *testing.T) {
	e := rewound(t)
	e.c.Close(e.now)
	e.take()
	e.state(StateFinWait1) // the FIN waits behind the data being resent
	e.c.HandleSegment(e.now, in(pshack, y+1, x+1, data([]byte("late"))))
	e.expect(is(rst, x+3001, 0))
	e.state(StateClosed)
}

// TestFinWaitCloseWithUnreadDataSendsRST: after shutdown(WR) the peer's
// data waits unread; the user's Close then aborts with a RST (RFC 2525
// §2.17, Linux tcp_close: TCPAbortOnClose) instead of waiting for the
// FIN-WAIT-2 timeout: in FIN-WAIT-2, and before the FIN is acknowledged,
// in FIN-WAIT-1.
func TestFinWaitCloseWithUnreadDataSendsRST(t *testing.T) {
	for _, tc := range []struct {
		state State
		ack   seqnum.Value // what the peer's data segment acknowledges
	}{{StateFinWait2, x + 2}, {StateFinWait1, x + 1}} {
		t.Run(tc.state.String(), func(t *testing.T) {
			e := established(t)
			if err := e.c.CloseWrite(e.now); err != nil {
				t.Fatal(err)
			}
			e.expect(is(finack, x+1, y+1))
			e.c.HandleSegment(e.now.Add(rtt), in(pshack, y+1, tc.ack, data([]byte("unread"))))
			e.expect(is(ack, x+2, y+7))
			e.state(tc.state)
			e.c.Close(e.now.Add(rtt))
			e.expect(is(rst, x+2, 0))
			e.state(StateClosed)
			if e.env.Stats.AbortOnClose.Load() != 1 {
				t.Fatalf("AbortOnClose = %d, want 1", e.env.Stats.AbortOnClose.Load())
			}
		})
	}
}

// TestFinWait2CloseAllReadWaitsForFIN: with nothing unread, Close in
// FIN-WAIT-2 only arms the orphan timeout, as before.
func TestFinWait2CloseAllReadWaitsForFIN(t *testing.T) {
	e := established(t)
	_ = e.c.CloseWrite(e.now)
	e.take()
	e.c.HandleSegment(e.now.Add(rtt), in(ack, y+1, x+2))
	e.c.Close(e.now.Add(rtt))
	e.expectNone()
	e.state(StateFinWait2)
	e.deadline(e.now.Add(rtt + DefaultFinWait2Timeout))
}

// TestTimeWaitNextISSAboveOldSndMax: the ISS of a connection that takes
// the 4-tuple over from TIME-WAIT is the old SND.MAX + 65535 + 2 (Linux
// tcp_timewait_state_process), whatever the ISN clock would say.
func TestTimeWaitNextISSAboveOldSndMax(t *testing.T) {
	e := timeWait(t)
	if got, want := e.c.NextISS(), x+2+65537; got != want {
		t.Fatalf("NextISS = %d, want %d (SND.MAX %d + 65537)", got, want, e.c.sndMax)
	}
	e.c.sndMax = seqnum.Value(0).Sub(65537)
	if e.c.NextISS() != 1 {
		t.Fatalf("NextISS = %d at the wrap, want 1, never 0", e.c.NextISS())
	}
}

// timeWaitTS is establishedFull closed down to TIME-WAIT with the peer's
// last TSval peerTS+20 as TS.Recent.
func timeWaitTS(t *testing.T) *end {
	t.Helper()
	e := establishedFull(t)
	e.c.Close(e.now)
	e.expect(is(finack, x+1, y+1))
	e.c.HandleSegment(e.now, in(ack, y+1, x+2, ts(peerTS+10, e.c.tsVal(e.now))))
	e.c.HandleSegment(e.now, in(finack, y+1, x+2, ts(peerTS+20, e.c.tsVal(e.now))))
	e.expect(is(ack, x+2, y+2))
	e.state(StateTimeWait)
	if e.c.tsRecent != peerTS+20 {
		t.Fatalf("TS.Recent = %d, want %d", e.c.tsRecent, peerTS+20)
	}
	return e
}

// TestTimeWaitAcceptsNewSYNByTimestamp: with timestamps, RFC 6191 §2
// decides: a newer TSval reopens even below RCV.NXT; an older one never
// does, even above it; an equal one falls back to the sequence number. A
// SYN without timestamps is judged by its sequence number alone.
func TestTimeWaitAcceptsNewSYNByTimestamp(t *testing.T) {
	e := timeWaitTS(t)
	cases := []struct {
		name string
		seg  *Segment
		want bool
	}{
		{"newer TSval, seq below RCV.NXT", in(syn, y-5000, 0, ts(peerTS+21, 0)), true},
		{"newer TSval, seq above", in(syn, y+1000, 0, ts(peerTS+5000, 0)), true},
		{"older TSval, seq above", in(syn, y+1000, 0, ts(peerTS+19, 0)), false},
		{"older TSval, seq below", in(syn, y-5000, 0, ts(peerTS, 0)), false},
		{"equal TSval, seq above", in(syn, y+3, 0, ts(peerTS+20, 0)), true},
		{"equal TSval, seq at RCV.NXT", in(syn, y+2, 0, ts(peerTS+20, 0)), false},
		{"no timestamps, seq above", in(syn, y+3, 0), true},
		{"no timestamps, seq below", in(syn, y-5000, 0), false},
		{"newer TSval, SYN,ACK", in(synack, y-5000, 0, ts(peerTS+21, 0)), false},
	}
	for _, tc := range cases {
		if got := e.c.AcceptsNewSYN(tc.seg); got != tc.want {
			t.Errorf("%s: AcceptsNewSYN = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSynSentUserTimeoutEndsConnect: a user timeout set before Connect
// bounds it, as Linux's TCP_USER_TIMEOUT bounds connect: with 5 s the SYN
// goes at 0, 1 and 3 s and connect fails at exactly 5 s (not 127 s).
func TestSynSentUserTimeoutEndsConnect(t *testing.T) {
	e := newClient(t)
	e.c.SetUserTimeout(base, 5*sec)
	if err := e.c.Connect(base, x); err != nil {
		t.Fatal(err)
	}
	e.expect(is(syn, x, 0))
	for _, when := range []time.Duration{sec, 3 * sec} {
		e.deadline(at(when))
		e.fire()
		e.expect(is(syn, x, 0))
	}
	e.deadline(at(5 * sec))
	e.fire()
	e.expectNone()
	e.timedOut()
}
