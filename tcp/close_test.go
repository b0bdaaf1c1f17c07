package tcp

// Closing: the four-way close of SPEC.md, half-close, simultaneous close
// (RFC 9293 Figures 12 and 13) and the states on the way (§3.6, §3.10.4).

import (
	"errors"
	"io"
	"testing"
	"time"
)

// establishedPair is a client and a server that completed the handshake
// of TestClosedConnectHandshakeEstablishesBoth, the server accepted.
func establishedPair(t *testing.T, opts ...cfgOpt) *pair {
	t.Helper()
	p := handshakePair(t, opts...)
	_ = p.client.c.Connect(base, x)
	p.flow(at(rtt/2), p.client, is(syn, x, 0))
	p.flow(at(rtt), p.server, is(synack, y, x+1))
	p.flow(at(3*rtt/2), p.client, is(ack, x+1, y+1))
	if p.server.l.Accept() != p.server.c {
		t.Fatal("the server connection is not in the accept queue")
	}
	p.client.c.TakeEvents()
	p.server.c.TakeEvents()
	return p
}

// TestEstablishedCloseFourWayCloses is the four-way close of SPEC.md,
// RFC 9293 Figure 12, between two engines:
//
//	client FIN-WAIT-1 --> <SEQ=u><ACK=v><CTL=FIN,ACK>   --> CLOSE-WAIT
//	client FIN-WAIT-2 <-- <SEQ=v><ACK=u+1><CTL=ACK>     <-- CLOSE-WAIT
//	client TIME-WAIT  <-- <SEQ=w><ACK=u+1><CTL=FIN,ACK> <-- LAST-ACK
//	client TIME-WAIT  --> <SEQ=u+1><ACK=w+1><CTL=ACK>   --> CLOSED
func TestEstablishedCloseFourWayCloses(t *testing.T) {
	p := establishedPair(t)
	u, w := x+1, y+1
	p.client.c.Close(at(time.Second))
	p.client.state(StateFinWait1)
	p.replay([]exchange{
		{"client", time.Second + 50*time.Millisecond, is(finack, u, w), StateFinWait1, StateCloseWait},
		{"server", time.Second + 100*time.Millisecond, is(ack, w, u+1), StateFinWait2, StateCloseWait},
	})
	if _, err := p.server.c.Read(at(2*time.Second), make([]byte, 1)); err != io.EOF {
		t.Fatalf("server Read = %v, want io.EOF", err)
	}
	p.server.c.Close(at(2 * time.Second))
	p.server.state(StateLastAck)
	p.replay([]exchange{
		{"server", 2*time.Second + 50*time.Millisecond, is(finack, w, u+1), StateTimeWait, StateLastAck},
		{"client", 2*time.Second + 100*time.Millisecond, is(ack, u+1, w+1), StateTimeWait, StateClosed},
	})
	if p.server.c.Err() != nil {
		t.Fatalf("server Err = %v, want nil", p.server.c.Err())
	}
	if ev := p.server.c.TakeEvents(); ev&EventClosed == 0 {
		t.Fatal("LAST-ACK -> CLOSED must raise EventClosed")
	}
	sanity(t, p.client.c, timeWait(t))
	p.client.deadline(at(2*time.Second + 50*time.Millisecond + 2*DefaultMSL))
}

// TestFinWait1RecvACKOfFINFinWait2: the ACK of our FIN moves FIN-WAIT-1 to
// FIN-WAIT-2; an ACK of data only does not.
func TestFinWait1RecvACKOfFINFinWait2(t *testing.T) {
	e := established(t)
	e.write(at(time.Second), []byte("data"))
	e.expect(is(pshack, x+1, y+1))
	e.c.Close(at(time.Second))
	e.expect(is(finack, x+5, y+1))
	e.state(StateFinWait1)
	e.c.HandleSegment(at(time.Second+rtt), in(ack, y+1, x+5))
	e.state(StateFinWait1)
	e.c.HandleSegment(at(time.Second+rtt), in(ack, y+1, x+6))
	e.state(StateFinWait2)
	e.expectNone()
	e.deadline(at(time.Second + rtt + DefaultFinWait2Timeout))
}

// TestFinWait1RecvFINACKTimeWait: a FIN that also acknowledges ours takes
// FIN-WAIT-1 straight to TIME-WAIT (§3.10.7.4 eighth).
func TestFinWait1RecvFINACKTimeWait(t *testing.T) {
	e := finWait1(t)
	e.now = e.now.Add(rtt)
	e.c.HandleSegment(e.now, in(finack, y+1, x+2))
	e.expect(is(ack, x+2, y+2))
	e.state(StateTimeWait)
	sanity(t, e.c, timeWait(t))
	e.deadline(e.now.Add(2 * DefaultMSL))
}

// TestFinWait1RecvFINClosing: the peer's FIN crossing ours leads to
// CLOSING; the ACK of our FIN then to TIME-WAIT.
func TestFinWait1RecvFINClosing(t *testing.T) {
	e := closing(t)
	e.c.HandleSegment(e.now.Add(rtt), in(ack, y+2, x+2))
	e.expectNone()
	e.state(StateTimeWait)
	sanity(t, e.c, timeWait(t))
}

// TestClosingRecvRetransmittedFINReACKs: in CLOSING a duplicate of the
// peer's FIN is answered with an ACK and nothing changes.
func TestClosingRecvRetransmittedFINReACKs(t *testing.T) {
	e := closing(t)
	e.c.HandleSegment(e.now.Add(rtt), in(finack, y+1, x+1))
	e.expect(is(ack, x+2, y+2))
	e.state(StateClosing)
}

// TestEstablishedCloseSimultaneousBothTimeWait is RFC 9293 Figure 13,
// between two engines:
//
//	    TCP Peer A                                           TCP Peer B
//	1.  ESTABLISHED                                          ESTABLISHED
//	2.  (Close)                                              (Close)
//	    FIN-WAIT-1  --> <SEQ=100><ACK=300><CTL=FIN,ACK>  ... FIN-WAIT-1
//	                <-- <SEQ=300><ACK=100><CTL=FIN,ACK>  <--
//	                ... <SEQ=100><ACK=300><CTL=FIN,ACK>  -->
//	3.  CLOSING     --> <SEQ=101><ACK=301><CTL=ACK>      ... CLOSING
//	                <-- <SEQ=301><ACK=101><CTL=ACK>      <--
//	                ... <SEQ=101><ACK=301><CTL=ACK>      -->
//	4.  TIME-WAIT                                            TIME-WAIT
//	    (2 MSL)                                              (2 MSL)
//	    CLOSED                                               CLOSED
func TestEstablishedCloseSimultaneousBothTimeWait(t *testing.T) {
	p := establishedPair(t, func(c *Config) { c.MSL = 5 * time.Second })
	a, b := p.client, p.server
	a.c.Close(at(time.Second))
	b.c.Close(at(time.Second))
	finA := a.expect(is(finack, x+1, y+1))
	finB := b.expect(is(finack, y+1, x+1))
	a.state(StateFinWait1)
	b.state(StateFinWait1)
	a.deliver(at(time.Second+50*time.Millisecond), finB.segment())
	b.deliver(at(time.Second+50*time.Millisecond), finA.segment())
	a.state(StateClosing)
	b.state(StateClosing)
	ackA := a.expect(is(ack, x+2, y+2))
	ackB := b.expect(is(ack, y+2, x+2))
	a.deliver(at(time.Second+100*time.Millisecond), ackB.segment())
	b.deliver(at(time.Second+100*time.Millisecond), ackA.segment())
	a.state(StateTimeWait)
	b.state(StateTimeWait)
	a.expectNone()
	b.expectNone()
	end := at(time.Second + 100*time.Millisecond + 10*time.Second)
	a.deadline(end)
	b.deadline(end)
	a.fire()
	b.fire()
	a.state(StateClosed)
	b.state(StateClosed)
	if a.c.Err() != nil || b.c.Err() != nil {
		t.Fatalf("errors %v, %v after a clean close", a.c.Err(), b.c.Err())
	}
}

// TestCloseWaitWriteHalfCloseDelivers: after the client's FIN the server
// (CLOSE-WAIT) keeps sending and the client (FIN-WAIT-2) keeps receiving;
// each side reads the data, then io.EOF (SPEC.md half-close, RFC 9293 §3.6).
func TestCloseWaitWriteHalfCloseDelivers(t *testing.T) {
	p := establishedPair(t)
	c, s := p.client, p.server
	if err := c.c.CloseWrite(at(time.Second)); err != nil {
		t.Fatal(err)
	}
	p.flow(at(time.Second+50*time.Millisecond), c, is(finack, x+1, y+1))
	s.state(StateCloseWait)
	p.flow(at(time.Second+100*time.Millisecond), s, is(ack, y+1, x+2))
	c.state(StateFinWait2)
	c.deadline(time.Time{}) // CloseWrite only: no orphan timeout
	readAll(t, s.c, "")

	s.write(at(2*time.Second), []byte("response "))
	p.flow(at(2*time.Second+50*time.Millisecond), s, is(pshack, y+1, x+2), hasData([]byte("response ")))
	p.flow(at(2*time.Second+100*time.Millisecond), c, is(ack, x+2, y+10))
	s.write(at(3*time.Second), []byte("body"))
	p.flow(at(3*time.Second+50*time.Millisecond), s, is(pshack, y+10, x+2))
	p.flow(at(3*time.Second+100*time.Millisecond), c, is(ack, x+2, y+14))
	c.state(StateFinWait2)
	if _, err := c.c.Write(at(3*time.Second), []byte("no")); !errors.Is(err, ErrClosing) {
		t.Fatalf("client Write in FIN-WAIT-2 = %v, want ErrClosing", err)
	}

	s.c.Close(at(4 * time.Second))
	p.flow(at(4*time.Second+50*time.Millisecond), s, is(finack, y+14, x+2))
	c.state(StateTimeWait)
	p.flow(at(4*time.Second+100*time.Millisecond), c, is(ack, x+2, y+15))
	s.state(StateClosed)
	readAll(t, c.c, "response body")
}

// TestFinWait2RecvDataDelivers: in FIN-WAIT-2 text is still accepted and
// acknowledged (§3.10.7.4 seventh).
func TestFinWait2RecvDataDelivers(t *testing.T) {
	e := established(t)
	_ = e.c.CloseWrite(e.now)
	e.expect(is(finack, x+1, y+1))
	e.c.HandleSegment(e.now.Add(rtt), in(ack, y+1, x+2))
	e.state(StateFinWait2)
	e.c.HandleSegment(e.now.Add(rtt), in(pshack, y+1, x+2, data([]byte("more"))))
	e.expect(is(ack, x+2, y+5))
	e.c.HandleSegment(e.now.Add(rtt), in(finack, y+5, x+2))
	e.expect(is(ack, x+2, y+6))
	e.state(StateTimeWait)
	readAll(t, e.c, "more")
}

// TestCloseWaitRecvRetransmittedFINReACKs: a duplicate FIN in CLOSE-WAIT
// is old: it gets an ACK and changes nothing.
func TestCloseWaitRecvRetransmittedFINReACKs(t *testing.T) {
	e := closeWait(t)
	e.c.HandleSegment(e.now.Add(time.Second), in(finack, y+1, x+1))
	e.expect(is(ack, x+1, y+2))
	sanity(t, e.c, closeWait(t))
}

// TestLastAckRecvACKOfFINCloses: the ACK of our FIN in LAST-ACK deletes
// the TCB: CLOSED, no error.
func TestLastAckRecvACKOfFINCloses(t *testing.T) {
	e := lastAck(t)
	e.c.HandleSegment(e.now.Add(rtt), in(ack, y+2, x+1))
	e.state(StateLastAck) // acknowledges nothing new
	e.c.HandleSegment(e.now.Add(rtt), in(ack, y+2, x+2))
	e.expectNone()
	e.state(StateClosed)
	if e.c.Err() != nil || e.env.Stats.CurrEstab.Load() != 0 {
		t.Fatalf("Err %v CurrEstab %d", e.c.Err(), e.env.Stats.CurrEstab.Load())
	}
	e.deadline(time.Time{})
}

// TestFinWait1TimeoutRetransmitsFIN: the FIN is covered by the
// retransmission timer like data (RFC 9293 §3.8.1).
func TestFinWait1TimeoutRetransmitsFIN(t *testing.T) {
	e := finWait1(t)
	rto := e.c.RTO()
	e.deadline(e.now.Add(rto))
	e.fire()
	e.expect(is(finack, x+1, y+1))
	e.deadline(e.now.Add(rto + 2*rto))
	e.state(StateFinWait1)
}

// TestLastAckTimeoutRetransmitsFIN: the same in LAST-ACK.
func TestLastAckTimeoutRetransmitsFIN(t *testing.T) {
	e := lastAck(t)
	e.fire()
	e.expect(is(finack, x+1, y+2))
	e.state(StateLastAck)
}

// TestFinWait2OrphanTimeoutSendsRST: after a full Close, FIN-WAIT-2 lasts
// FinWait2Timeout at most (Linux tcp_fin_timeout); then, as Linux's
// tcp_send_active_reset, a RST numbered after the FIN tells the peer.
func TestFinWait2OrphanTimeoutSendsRST(t *testing.T) {
	e := finWait2(t, func(c *Config) { c.FinWait2Timeout = 10 * time.Second })
	e.deadline(e.now.Add(10 * time.Second))
	e.c.HandleTimer(e.now.Add(10*time.Second - time.Nanosecond))
	e.state(StateFinWait2)
	e.expectNone()
	e.fire()
	e.state(StateClosed)
	e.expect(is(rst, x+2, 0))
	if n := e.env.Stats.FinWait2Timeouts.Load(); n != 1 {
		t.Fatalf("FinWait2Timeouts = %d, want 1", n)
	}
}

// TestCloseWaitCloseSendsQueuedDataThenFIN: data written before Close goes
// out before the FIN, which rides on the last segment; while a zero window
// holds the data back, the FIN waits too.
func TestCloseWaitCloseSendsQueuedDataThenFIN(t *testing.T) {
	e := closeWait(t)
	e.c.HandleSegment(e.now, in(ack, y+2, x+1, wnd(0)))
	e.write(e.now, []byte("queued"))
	e.expectNone() // zero window
	e.c.Close(e.now)
	e.state(StateLastAck)
	e.expectNone() // the FIN waits behind the data
	e.c.HandleSegment(e.now.Add(rtt), in(ack, y+2, x+1, wnd(100)))
	e.expect(is(finack|psh, x+1, y+2), hasData([]byte("queued")))
}
