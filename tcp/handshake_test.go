package tcp

// Opening a connection: the three-way handshake of SPEC.md and RFC 9293
// §3.5 (Figure 6), simultaneous open (Figure 8), the old duplicate SYN
// (Figure 9), and the passive side's SYN-RECEIVED rules.

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// handshakePair is a client in CLOSED and a server listening, their ISSs
// x and y.
func handshakePair(t *testing.T, opts ...cfgOpt) *pair {
	return &pair{t: t, client: newClient(t, opts...), server: newServer(t, 16, opts...)}
}

// TestClosedConnectHandshakeEstablishesBoth drives a client Conn and a
// listener-made server Conn against each other, with SPEC.md's numbers:
//
//	client SYN-SENT    --> <SEQ=x><CTL=SYN>                 --> SYN-RECEIVED
//	client ESTABLISHED <-- <SEQ=y><ACK=x+1><CTL=SYN,ACK>    <-- SYN-RECEIVED
//	client ESTABLISHED --> <SEQ=x+1><ACK=y+1><CTL=ACK>      --> ESTABLISHED
func TestClosedConnectHandshakeEstablishesBoth(t *testing.T) {
	p := handshakePair(t)
	if err := p.client.c.Connect(base, x); err != nil {
		t.Fatal(err)
	}
	p.client.state(StateSynSent)
	p.replay([]exchange{
		{"client", 50 * time.Millisecond, is(syn, x, 0), StateSynSent, StateSynReceived},
		{"server", 100 * time.Millisecond, is(synack, y, x+1), StateEstablished, StateSynReceived},
		{"client", 150 * time.Millisecond, is(ack, x+1, y+1), StateEstablished, StateEstablished},
	})
	c, s := p.client.c, p.server.c
	if ev := c.TakeEvents(); ev&EventEstablished == 0 {
		t.Errorf("client events = %b, want EventEstablished", ev)
	}
	if ev := s.TakeEvents(); ev&EventEstablished == 0 {
		t.Errorf("server events = %b, want EventEstablished", ev)
	}
	if c.SndNxt() != x+1 || c.RcvNxt() != y+1 || s.SndNxt() != y+1 || s.RcvNxt() != x+1 {
		t.Errorf("client snd.nxt=%d rcv.nxt=%d, server snd.nxt=%d rcv.nxt=%d", c.SndNxt(), c.RcvNxt(), s.SndNxt(), s.RcvNxt())
	}
	l := p.server.l
	if l.HalfOpen() != 0 || l.Ready() != 1 {
		t.Fatalf("listener half-open %d ready %d, want 0 and 1", l.HalfOpen(), l.Ready())
	}
	if got := l.Accept(); got != s || got.Listener() != nil || l.Ready() != 0 {
		t.Fatalf("Accept = %p, want the server conn %p off the queue", got, s)
	}
	if p.client.env.Stats.ActiveOpens.Load() != 1 || p.server.env.Stats.PassiveOpens.Load() != 1 {
		t.Error("ActiveOpens and PassiveOpens must each count one open")
	}
	if p.client.env.Stats.CurrEstab.Load() != 1 || p.server.env.Stats.CurrEstab.Load() != 1 {
		t.Error("CurrEstab must be 1 on both sides")
	}
	sanity(t, c, established(t))
}

// TestClosedConnectHandshakeNegotiatesMSS: each side announces its MSS in
// its SYN and sends at most the smaller of the two (RFC 9293 §3.7.1).
func TestClosedConnectHandshakeNegotiatesMSS(t *testing.T) {
	p := &pair{t: t, client: newClient(t, func(c *Config) { c.MSS = 1460 }), server: newServer(t, 16, func(c *Config) { c.MSS = 1000 })}
	_ = p.client.c.Connect(base, x)
	p.flow(at(rtt/2), p.client, hasMSS(1460))
	p.flow(at(rtt), p.server, hasMSS(1000))
	p.flow(at(3*rtt/2), p.client, is(ack, x+1, y+1))
	// Both sides send timestamps, which take 12 bytes of each segment (RFC 6691).
	if p.client.c.MSS() != 988 || p.server.c.MSS() != 988 {
		t.Fatalf("MSS client %d server %d, want 1000-12 both", p.client.c.MSS(), p.server.c.MSS())
	}
	p.client.write(at(2*rtt), bytesN(2500))
	segs := p.client.take()
	if len(segs) != 3 || len(segs[0].Payload) != 988 || len(segs[1].Payload) != 988 || len(segs[2].Payload) != 524 {
		t.Fatalf("segments %v, want 988+988+524 bytes", segs)
	}
}

// TestSynSentRecvSYNSimultaneousOpenEstablishes is RFC 9293 Figure 8:
//
//	    TCP Peer A                                       TCP Peer B
//	1.  CLOSED                                           CLOSED
//	2.  SYN-SENT     --> <SEQ=100><CTL=SYN>              ...
//	3.  SYN-RECEIVED <-- <SEQ=300><CTL=SYN>              <-- SYN-SENT
//	4.               ... <SEQ=100><CTL=SYN>              --> SYN-RECEIVED
//	5.  SYN-RECEIVED --> <SEQ=100><ACK=301><CTL=SYN,ACK> ...
//	6.  ESTABLISHED  <-- <SEQ=300><ACK=101><CTL=SYN,ACK> <-- SYN-RECEIVED
//	7.               ... <SEQ=100><ACK=301><CTL=SYN,ACK> --> ESTABLISHED
func TestSynSentRecvSYNSimultaneousOpenEstablishes(t *testing.T) {
	a := newClient(t)
	b := newClient(t)
	b.local, b.remote = serverAddr, clientAddr
	b.c = NewConn(b.env, b.local, b.remote)
	p := &pair{t: t, client: a, server: b}

	_ = a.c.Connect(base, 100)
	_ = b.c.Connect(base, 300)
	synA := a.expect(is(syn, 100, 0)) // line 2, still in flight
	p.flow(at(10*time.Millisecond), b, is(syn, 300, 0))
	a.state(StateSynReceived) // line 3
	b.deliver(at(20*time.Millisecond), synA.segment())
	b.state(StateSynReceived) // line 4
	synackA := a.expect(is(synack, 100, 301))
	p.flow(at(30*time.Millisecond), b, is(synack, 300, 101))
	a.state(StateEstablished) // line 6
	b.deliver(at(40*time.Millisecond), synackA.segment())
	b.state(StateEstablished) // line 7
	a.expectNone()
	b.expectNone()

	// The connection carries data both ways.
	a.write(at(50*time.Millisecond), []byte("ping"))
	p.flow(at(60*time.Millisecond), a, is(pshack, 101, 301), hasData([]byte("ping")))
	p.flow(at(70*time.Millisecond), b, is(ack, 301, 105))
	if a.c.SndUna() != 105 || b.c.RecvQueue() != 4 {
		t.Fatalf("A snd.una=%d, B recv-q=%d; want 105 and 4", a.c.SndUna(), b.c.RecvQueue())
	}
}

// TestSynSentRecvOldDuplicateSYNACKResets is RFC 9293 Figure 9, with the
// client a Conn in SYN-SENT (ISS 100) and the server a listener:
//
//	    TCP Peer A                                           TCP Peer B
//	1.  CLOSED                                               LISTEN
//	2.  SYN-SENT    --> <SEQ=100><CTL=SYN>               ...
//	3.  (duplicate) ... <SEQ=90><CTL=SYN>               --> SYN-RECEIVED
//	4.  SYN-SENT    <-- <SEQ=300><ACK=91><CTL=SYN,ACK>  <-- SYN-RECEIVED
//	5.  SYN-SENT    --> <SEQ=91><CTL=RST>               --> LISTEN
//	6.              ... <SEQ=100><CTL=SYN>               --> SYN-RECEIVED
//	7.  ESTABLISHED <-- <SEQ=400><ACK=101><CTL=SYN,ACK>  <-- SYN-RECEIVED
//	8.  ESTABLISHED --> <SEQ=101><ACK=401><CTL=ACK>      --> ESTABLISHED
func TestSynSentRecvOldDuplicateSYNACKResets(t *testing.T) {
	p := handshakePair(t)
	p.server.iss = 300
	_ = p.client.c.Connect(base, 100)
	syn100 := p.client.expect(is(syn, 100, 0)) // line 2: delayed in the network
	p.server.deliver(at(10*time.Millisecond), in(syn, 90, 0))
	p.server.state(StateSynReceived) // line 3
	old := p.server.c
	p.flow(at(20*time.Millisecond), p.server, is(synack, 300, 91))
	p.client.state(StateSynSent) // line 4
	p.flow(at(30*time.Millisecond), p.client, is(rst, 91, 0))
	p.server.state(StateClosed) // line 5: the half-open connection is gone
	if p.server.l.HalfOpen() != 0 || old.Listener() != nil {
		t.Fatalf("half-open = %d after the RST, want 0", p.server.l.HalfOpen())
	}
	if ev := old.TakeEvents(); ev&EventClosed == 0 {
		t.Fatal("the freed half-open connection must raise EventClosed")
	}
	p.server.iss = 400
	p.server.deliver(at(40*time.Millisecond), syn100.segment())
	p.server.state(StateSynReceived) // line 6
	p.flow(at(50*time.Millisecond), p.server, is(synack, 400, 101))
	p.client.state(StateEstablished) // line 7
	p.flow(at(60*time.Millisecond), p.client, is(ack, 101, 401))
	p.server.state(StateEstablished) // line 8
	if p.server.l.Ready() != 1 || p.server.l.HalfOpen() != 0 {
		t.Fatalf("listener ready %d half-open %d, want 1 and 0", p.server.l.Ready(), p.server.l.HalfOpen())
	}
}

// TestSynReceivedOldDuplicateSYNNoConnectionResets is Figure 9 when the
// client has no connection at all: its stack answers the SYN,ACK with
// ResetFor, <SEQ=SEG.ACK><CTL=RST>, and the server frees the half-open
// connection.
func TestSynReceivedOldDuplicateSYNNoConnectionResets(t *testing.T) {
	s := newServer(t, 16)
	s.iss = 300
	s.deliver(at(0), in(syn, 90, 0))
	synack := s.expect(is(synack, 300, 91))
	h, ok := ResetFor(synack.segment())
	if !ok || h.Flags != rst || h.Seq != 91 {
		t.Fatalf("ResetFor(SYN,ACK) = %+v, %v; want <SEQ=91><CTL=RST>", h, ok)
	}
	s.deliver(at(10*time.Millisecond), &Segment{Seq: h.Seq, Ack: h.Ack, Flags: h.Flags})
	s.state(StateClosed)
	s.expectNone()
	if s.l.HalfOpen() != 0 || s.env.Stats.AttemptFails.Load() != 1 {
		t.Fatalf("half-open %d attempt fails %d, want 0 and 1", s.l.HalfOpen(), s.env.Stats.AttemptFails.Load())
	}
}

// TestSynReceivedRecvRetransmittedSYNResendsSYNACK: the peer's SYN again
// means our SYN,ACK was lost; it is sent again unchanged.
func TestSynReceivedRecvRetransmittedSYNResendsSYNACK(t *testing.T) {
	s := synReceived(t)
	s.deliver(at(time.Second), in(syn, x, 0))
	s.expect(is(synack, y, x+1), hasMSS(DefaultMSS))
	s.state(StateSynReceived)
	if s.l.HalfOpen() != 1 {
		t.Fatalf("half-open = %d, want 1 (still one connection)", s.l.HalfOpen())
	}
}

// TestSynReceivedRecvBadACKSendsRST: an ACK that does not acknowledge our
// SYN (SND.UNA < SEG.ACK =< SND.NXT fails) is answered with
// <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.4 fifth, SYN-RECEIVED).
func TestSynReceivedRecvBadACKSendsRST(t *testing.T) {
	for _, a := range []seqnum.Value{y, y + 2, 77} {
		s := synReceived(t)
		s.deliver(at(rtt), in(ack, x+1, a))
		s.expect(is(rst, a, 0), hasWnd(0))
		s.state(StateSynReceived)
		if s.env.Stats.DropBadACK.Load() != 1 {
			t.Errorf("ack=%d: DropBadACK = %d, want 1", a, s.env.Stats.DropBadACK.Load())
		}
	}
}

// TestSynReceivedRecvRSTReturnsToListen: a RST at RCV.NXT in SYN-RECEIVED
// (passive OPEN) returns to LISTEN: the half-open connection is freed and
// the listener keeps listening (RFC 9293 §3.10.7.4 second).
func TestSynReceivedRecvRSTReturnsToListen(t *testing.T) {
	s := synReceived(t)
	s.deliver(at(rtt), in(rst, x+1, 0))
	s.expectNone()
	s.state(StateClosed)
	if s.l.HalfOpen() != 0 || s.c.Err() != nil {
		t.Fatalf("half-open %d err %v, want 0 and no error", s.l.HalfOpen(), s.c.Err())
	}
	s.deliver(at(2*rtt), in(syn, x+7, 0)) // the listener still answers
	s.expect(is(synack, y, x+8))
}

// TestSynReceivedRecvInWindowRSTSendsChallengeACK: RFC 5961 §3 applies in
// SYN-RECEIVED too: a RST not exactly at RCV.NXT draws an ACK.
func TestSynReceivedRecvInWindowRSTSendsChallengeACK(t *testing.T) {
	s := synReceived(t)
	s.deliver(at(rtt), in(rst, x+100, 0))
	s.expect(is(ack, y+1, x+1))
	s.state(StateSynReceived)
}

// TestSynReceivedRecvNewSYNReturnsToListen: a SYN in the window of a
// passive half-open connection returns it to LISTEN (RFC 9293 §3.10.7.4 fourth).
func TestSynReceivedRecvNewSYNReturnsToListen(t *testing.T) {
	s := synReceived(t)
	s.deliver(at(rtt), in(syn, x+10, 0))
	s.state(StateClosed)
	if s.l.HalfOpen() != 0 {
		t.Fatalf("half-open = %d, want 0", s.l.HalfOpen())
	}
}

// TestSynReceivedRecvACKWithDataDelivers: the final ACK may carry data; it
// is kept and acknowledged once ESTABLISHED.
func TestSynReceivedRecvACKWithDataDelivers(t *testing.T) {
	s := synReceived(t)
	s.deliver(at(rtt), in(pshack, x+1, y+1, data([]byte("GET /"))))
	s.state(StateEstablished)
	s.expect(is(ack, y+1, x+6))
	buf := make([]byte, 16)
	if n, err := s.c.Read(at(rtt), buf); err != nil || string(buf[:n]) != "GET /" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
}

// TestSynReceivedRecvUnacceptableSegmentSendsACK: a segment outside the
// window gets <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and changes nothing.
func TestSynReceivedRecvUnacceptableSegmentSendsACK(t *testing.T) {
	s := synReceived(t)
	s.deliver(at(rtt), in(ack, x+1+100000, y+1, data([]byte("late"))))
	s.expect(is(ack, y+1, x+1))
	s.state(StateSynReceived)
}

// TestSynReceivedCloseSendsFINAfterHandshake: a close in SYN-RECEIVED is
// queued until ESTABLISHED (RFC 9293 §3.10.4), then the FIN goes out.
func TestSynReceivedCloseSendsFINAfterHandshake(t *testing.T) {
	s := synReceived(t)
	if err := s.c.CloseWrite(at(0)); err != nil {
		t.Fatal(err)
	}
	s.expectNone()
	s.deliver(at(rtt), in(ack, x+1, y+1))
	s.state(StateFinWait1)
	s.expect(is(finack, y+1, x+1))
}

// peerAt returns a client end at another local address, for tests with
// more than one client.
func peerAt(t *testing.T, port uint16, iss seqnum.Value) *end {
	e := newClient(t)
	e.local = netip.AddrPortFrom(clientAddr.Addr(), port)
	e.iss = iss
	e.c = NewConn(e.env, e.local, e.remote)
	return e
}

// TestSynSentConnectTwiceFails: Connect on an open connection is refused.
func TestSynSentConnectTwiceFails(t *testing.T) {
	e := synSent(t)
	if err := e.c.Connect(base, x); !errors.Is(err, errAlreadyOpen) {
		t.Fatalf("second Connect = %v, want errAlreadyOpen", err)
	}
	e.expectNone()
}
