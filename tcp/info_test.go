package tcp

import "testing"

// TestEstablishedInfoShowsTimers: Info shows the timers armed, as `ss -o`
// does: the retransmission timer with its backoff once data is in flight
// and after it expires, the last segment received, the congestion control
// and, after a loss, ssthresh; in TIME-WAIT, its end.
func TestEstablishedInfoShowsTimers(t *testing.T) {
	e := established(t)
	in := e.c.Info()
	if !in.RetransmitAt.IsZero() || in.RetransmitTimer != "" || !in.PersistAt.IsZero() || !in.CloseAt.IsZero() {
		t.Fatalf("idle connection shows timers: %+v", in)
	}
	if !in.LastReceived.Equal(at(rtt)) {
		t.Errorf("LastReceived = %v, want the SYN,ACK's %v", fmtTime(in.LastReceived), fmtTime(at(rtt)))
	}
	e.write(e.now, bytesN(100))
	e.take()
	in = e.c.Info()
	if in.RetransmitAt.IsZero() || in.RetransmitTimer != "retransmit" || in.Backoff != 0 {
		t.Fatalf("with data in flight: RetransmitAt %v, %q, backoff %d; want armed, retransmit, 0",
			fmtTime(in.RetransmitAt), in.RetransmitTimer, in.Backoff)
	}
	if !in.RetransmitAt.Equal(e.c.Deadline()) {
		t.Errorf("RetransmitAt %v, but the connection's deadline is %v", fmtTime(in.RetransmitAt), fmtTime(e.c.Deadline()))
	}
	if in.CongestionControl != "cubic" || in.Ssthresh != 0 {
		t.Errorf("congestion control %q, ssthresh %d; want cubic and none yet", in.CongestionControl, in.Ssthresh)
	}
	first := in.RetransmitAt
	e.fire()
	e.take()
	in = e.c.Info()
	if in.Backoff != 1 || !in.RetransmitAt.After(first) {
		t.Errorf("after a timeout: backoff %d, RetransmitAt %v; want 1 and later than %v",
			in.Backoff, fmtTime(in.RetransmitAt), fmtTime(first))
	}
	if in.Ssthresh == 0 {
		t.Error("after a timeout, ssthresh is still unset")
	}

	tw := timeWait(t)
	if in := tw.c.Info(); in.CloseAt.IsZero() || !in.CloseAt.Equal(tw.c.Deadline()) {
		t.Errorf("TIME-WAIT: CloseAt %v, deadline %v", fmtTime(in.CloseAt), fmtTime(tw.c.Deadline()))
	}
}
