package tcp

// Resets: RFC 9293 §3.5.2 and the RST rules of §3.10.7, with RFC 5961 §3
// (a RST must hit RCV.NXT exactly) and §4 (a SYN in a synchronized state
// draws a challenge ACK).

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// TestClosedRecvSegmentResetFor is §3.10.7.1: a segment that reaches no
// connection is answered with
//
//	If the ACK bit is off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
//	If the ACK bit is on:  <SEQ=SEG.ACK><CTL=RST>
func TestClosedRecvSegmentResetFor(t *testing.T) {
	cases := []struct {
		name string
		seg  *Segment
		want wire.TCPFields
	}{
		{"SYN", in(syn, 100, 0), wire.TCPFields{Seq: 0, Ack: 101, Flags: rstack}},
		{"SYN with data", in(syn, 100, 0, data(bytesN(10))), wire.TCPFields{Ack: 111, Flags: rstack}},
		{"data without ACK", in(psh, 100, 0, data(bytesN(10))), wire.TCPFields{Ack: 110, Flags: rstack}},
		{"FIN without ACK", in(fin, 100, 0, data(bytesN(3))), wire.TCPFields{Ack: 104, Flags: rstack}},
		{"bare no flags", in(0, 0xffffffff, 0), wire.TCPFields{Ack: 0xffffffff, Flags: rstack}},
		{"ACK", in(ack, 100, 777), wire.TCPFields{Seq: 777, Flags: rst}},
		{"SYN,ACK", in(synack, 100, 777), wire.TCPFields{Seq: 777, Flags: rst}},
		{"FIN,ACK with data", in(finack, 100, 777, data(bytesN(5))), wire.TCPFields{Seq: 777, Flags: rst}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ResetFor(tc.seg)
			if !ok || got != tc.want {
				t.Fatalf("ResetFor = %+v, %v; want %+v", got, ok, tc.want)
			}
		})
	}
}

// TestClosedRecvRSTNotAnswered: "An incoming segment containing a RST is
// discarded" (§3.10.7.1): a RST is never answered with a RST.
func TestClosedRecvRSTNotAnswered(t *testing.T) {
	for _, f := range []wire.TCPFlags{rst, rstack, rst | syn, rst | fin | ack} {
		if h, ok := ResetFor(in(f, 100, 200)); ok {
			t.Errorf("ResetFor(%v) = %+v, want no answer", f, h)
		}
	}
}

// TestListenRecvACKSendsRST: "any acknowledgment is bad if it arrives on a
// connection still in the LISTEN state": <SEQ=SEG.ACK><CTL=RST> (§3.10.7.2).
func TestListenRecvACKSendsRST(t *testing.T) {
	for _, f := range []wire.TCPFlags{ack, synack, finack, pshack} {
		s := newServer(t, 16)
		if a := s.l.Classify(in(f, x, 4242)); a != ListenReset {
			t.Fatalf("Classify(%v) = %v, want ListenReset", f, a)
		}
		s.deliver(base, in(f, x, 4242))
		s.expect(is(rst, 4242, 0))
		if s.l.HalfOpen() != 0 || s.c != nil {
			t.Fatalf("%v opened a connection", f)
		}
	}
}

// TestListenRecvRSTIgnored: "An incoming RST segment could not be valid
// since it could not have been sent in response to anything sent by this
// incarnation of the connection. An incoming RST should be ignored."
func TestListenRecvRSTIgnored(t *testing.T) {
	for _, f := range []wire.TCPFlags{rst, rstack, rst | syn} {
		s := newServer(t, 16)
		if a := s.l.Classify(in(f, x, 1)); a != ListenDrop {
			t.Fatalf("Classify(%v) = %v, want ListenDrop", f, a)
		}
		s.deliver(base, in(f, x, 1))
		s.expectNone()
	}
}

// TestListenRecvNoSYNDropped: without SYN, ACK or RST, or with SYN and
// FIN together, a segment to a listener is dropped and counted.
func TestListenRecvNoSYNDropped(t *testing.T) {
	for _, f := range []wire.TCPFlags{0, fin, psh, syn | fin} {
		s := newServer(t, 16)
		s.deliver(base, in(f, x, 0))
		s.expectNone()
		if s.env.Stats.DropBadFlags.Load() != 1 {
			t.Errorf("%v: DropBadFlags = %d, want 1", f, s.env.Stats.DropBadFlags.Load())
		}
	}
}

// TestEstablishedRecvRSTAtRcvNxtResets: a RST exactly at RCV.NXT resets
// the connection: CLOSED, "connection reset" for reads and writes
// (§3.10.7.4 second).
func TestEstablishedRecvRSTAtRcvNxtResets(t *testing.T) {
	for _, f := range []wire.TCPFlags{rst, rstack} {
		e := established(t)
		e.c.HandleSegment(at(time.Second), in(f, y+1, x+1))
		e.expectNone()
		e.state(StateClosed)
		if !errors.Is(e.c.Err(), syscall.ECONNRESET) {
			t.Fatalf("Err = %v, want ECONNRESET", e.c.Err())
		}
		if _, err := e.c.Read(at(time.Second), make([]byte, 4)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Read = %v, want ECONNRESET", err)
		}
		if _, err := e.c.Write(at(time.Second), []byte("x")); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Write = %v, want ECONNRESET", err)
		}
		if ev := e.c.TakeEvents(); ev&(EventClosed|EventReadable|EventWritable) != EventClosed|EventReadable|EventWritable {
			t.Errorf("events = %b, want closed, readable and writable", ev)
		}
		st := e.env.Stats
		if st.EstabResets.Load() != 1 || st.CurrEstab.Load() != 0 {
			t.Errorf("EstabResets %d CurrEstab %d, want 1 and 0", st.EstabResets.Load(), st.CurrEstab.Load())
		}
		e.deadline(time.Time{})
	}
}

// TestEstablishedRecvRSTFlushesReceiveQueue: on reset "all segment queues
// should be flushed": unread data is gone, Read reports the reset.
func TestEstablishedRecvRSTFlushesReceiveQueue(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(pshack, y+1, x+1, data([]byte("data"))))
	e.expect(is(ack, x+1, y+5))
	e.c.HandleSegment(at(time.Second), in(rst, y+5, 0))
	if n, err := e.c.Read(at(time.Second), make([]byte, 10)); n != 0 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read = %d, %v; want 0, ECONNRESET", n, err)
	}
}

// TestEstablishedRecvRSTInWindowSendsChallengeACK is RFC 5961 §3.2: a RST
// in the window but not at RCV.NXT draws <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
// and the connection stays.
func TestEstablishedRecvRSTInWindowSendsChallengeACK(t *testing.T) {
	for _, seq := range []seqnum.Value{y + 2, y + 1 + 1000, y + peerWnd} {
		e := established(t)
		e.c.HandleSegment(at(time.Second), in(rst, seq, 0))
		e.expect(is(ack, x+1, y+1))
		e.state(StateEstablished)
		if e.env.Stats.TCPChallengeACK.Load() != 1 {
			t.Fatalf("seq %d: TCPChallengeACK = %d, want 1", seq, e.env.Stats.TCPChallengeACK.Load())
		}
	}
}

// TestEstablishedRecvRSTOutOfWindowIgnored: a RST outside the window is
// silently dropped (RFC 5961 §3.2 rule 1; RFC 9293 §3.10.7.4 first).
func TestEstablishedRecvRSTOutOfWindowIgnored(t *testing.T) {
	for _, seq := range []seqnum.Value{y, y - 1000, y + 1 + 65535, y + 1<<31} {
		e := established(t)
		e.c.HandleSegment(at(time.Second), in(rst, seq, 0))
		e.expectNone()
		e.state(StateEstablished)
		if e.env.Stats.DropOutOfWindow.Load() != 1 {
			t.Fatalf("seq %d: DropOutOfWindow = %d, want 1", seq, e.env.Stats.DropOutOfWindow.Load())
		}
	}
}

// TestEstablishedRecvSYNSendsChallengeACK is RFC 5961 §4 as RFC 9293
// §3.10.7.4 fourth adopts it: a SYN in a synchronized state, in the window
// or not, draws an ACK and changes nothing.
func TestEstablishedRecvSYNSendsChallengeACK(t *testing.T) {
	for _, seq := range []seqnum.Value{y + 1, y + 100, y, y - 5000} {
		for _, f := range []wire.TCPFlags{syn, synack} {
			e := established(t)
			e.c.HandleSegment(at(time.Second), in(f, seq, x+1))
			e.expect(is(ack, x+1, y+1))
			e.state(StateEstablished)
			sanity(t, e.c, established(t))
		}
	}
}

// TestSynchronizedRecvRSTCloses: an exact RST in each synchronized state.
// FIN-WAIT-1, FIN-WAIT-2 and CLOSE-WAIT report "connection reset"; CLOSING,
// LAST-ACK and TIME-WAIT just close (§3.10.7.4 second).
func TestSynchronizedRecvRSTCloses(t *testing.T) {
	cases := []struct {
		name    string
		fixture func(*testing.T, ...cfgOpt) *end
		rcvNxt  seqnum.Value
		err     error
	}{
		{"FIN-WAIT-1", finWait1, y + 1, syscall.ECONNRESET},
		{"FIN-WAIT-2", finWait2, y + 1, syscall.ECONNRESET},
		{"CLOSE-WAIT", closeWait, y + 2, syscall.ECONNRESET},
		{"CLOSING", closing, y + 2, nil},
		{"LAST-ACK", lastAck, y + 2, nil},
		{"TIME-WAIT", timeWait, y + 2, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.fixture(t)
			e.c.HandleSegment(e.now.Add(time.Millisecond), in(rst, tc.rcvNxt, 0))
			e.expectNone()
			e.state(StateClosed)
			if !errors.Is(e.c.Err(), tc.err) || (tc.err == nil && e.c.Err() != nil) {
				t.Fatalf("Err = %v, want %v", e.c.Err(), tc.err)
			}
			e.deadline(time.Time{})
		})
	}
}

// TestEstablishedAbortSendsRST: ABORT sends <SEQ=SND.NXT><CTL=RST> and
// closes with "connection aborted" (RFC 9293 §3.10.5).
func TestEstablishedAbortSendsRST(t *testing.T) {
	e := established(t)
	e.write(at(time.Second), bytesN(100))
	e.take()
	e.c.Abort(at(time.Second))
	e.expect(is(rst, x+101, 0), hasWnd(0))
	e.state(StateClosed)
	if !errors.Is(e.c.Err(), syscall.ECONNABORTED) {
		t.Fatalf("Err = %v, want ECONNABORTED", e.c.Err())
	}
	if e.c.SendQueue() != 0 {
		t.Fatalf("send queue %d after abort, want 0", e.c.SendQueue())
	}
	e.deadline(time.Time{})
}

// TestSynSentAbortSendsNothing: ABORT before the peer knows us sends no RST.
func TestSynSentAbortSendsNothing(t *testing.T) {
	e := synSent(t)
	e.c.Abort(at(rtt))
	e.expectNone()
	e.state(StateClosed)
}

// TestEstablishedCloseWithUnreadDataSendsRST: closing with received data
// unread aborts, as Linux does (RFC 2525 §2.17).
func TestEstablishedCloseWithUnreadDataSendsRST(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(pshack, y+1, x+1, data([]byte("unread"))))
	e.expect(is(ack, x+1, y+7))
	e.c.Close(at(time.Second))
	e.expect(is(rst, x+1, 0))
	e.state(StateClosed)
}

// TestSynReceivedActiveRecvRSTRefuses: in SYN-RECEIVED reached by a
// simultaneous open (active OPEN), a RST means "connection refused"
// (§3.10.7.4 second).
func TestSynReceivedActiveRecvRSTRefuses(t *testing.T) {
	e := synSent(t)
	e.c.HandleSegment(at(10*time.Millisecond), in(syn, y, 0))
	e.expect(is(synack, x, y+1))
	e.c.HandleSegment(at(20*time.Millisecond), in(rst, y+1, 0))
	e.state(StateClosed)
	if !errors.Is(e.c.Err(), syscall.ECONNREFUSED) {
		t.Fatalf("Err = %v, want ECONNREFUSED", e.c.Err())
	}
}

// TestSynchronizingCloseCountsAttemptFails: tcpAttemptFails counts every
// direct transition from SYN-SENT or SYN-RECEIVED to CLOSED (RFC 4022),
// whatever the cause: a user's Close or Abort too.
func TestSynchronizingCloseCountsAttemptFails(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T) *end
	}{
		{"SYN-SENT Close", func(t *testing.T) *end { e := synSent(t); e.c.Close(at(rtt)); return e }},
		{"SYN-SENT Abort", func(t *testing.T) *end { e := synSent(t); e.c.Abort(at(rtt)); return e }},
		{"SYN-RECEIVED Abort", func(t *testing.T) *end { e := synReceived(t); e.c.Abort(at(rtt)); return e }},
		{"SYN-SENT RST", func(t *testing.T) *end {
			e := synSent(t)
			e.c.HandleSegment(at(rtt), in(rstack, 0, x+1))
			return e
		}},
		{"SYN-RECEIVED RST", func(t *testing.T) *end {
			e := synReceived(t)
			e.deliver(at(rtt), in(rst, x+1, 0))
			return e
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.run(t)
			e.state(StateClosed)
			if got := e.env.Stats.AttemptFails.Load(); got != 1 {
				t.Fatalf("AttemptFails = %d, want 1", got)
			}
			if got := e.env.Stats.EstabResets.Load(); got != 0 {
				t.Fatalf("EstabResets = %d, want 0", got)
			}
		})
	}
}

// TestEstablishedFailCountsEstabResets: tcpEstabResets counts every direct
// transition from ESTABLISHED or CLOSE-WAIT to CLOSED (RFC 4022; Linux
// counts it in tcp_set_state): a reset, an abort, a retransmission timeout.
func TestEstablishedFailCountsEstabResets(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T) *end
	}{
		{"RST", func(t *testing.T) *end {
			e := established(t)
			e.c.HandleSegment(at(sec), in(rst, y+1, 0))
			return e
		}},
		{"Abort in CLOSE-WAIT", func(t *testing.T) *end { e := closeWait(t); e.c.Abort(at(sec)); return e }},
		{"timeout", func(t *testing.T) *end {
			e := established(t, func(c *Config) { c.Retries = 1 })
			e.write(at(sec), []byte("x"))
			e.fire()
			e.fire()
			return e
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.run(t)
			e.state(StateClosed)
			st := e.env.Stats
			if st.EstabResets.Load() != 1 || st.AttemptFails.Load() != 0 || st.CurrEstab.Load() != 0 {
				t.Fatalf("EstabResets %d AttemptFails %d CurrEstab %d, want 1 0 0",
					st.EstabResets.Load(), st.AttemptFails.Load(), st.CurrEstab.Load())
			}
		})
	}
}

// TestSynSentRecvRSTForNoSocketRefuses is SPEC.md's "port with no socket"
// experiment end to end: the SYN reaches no connection and no listener,
// the answer is <SEQ=0><ACK=x+1><CTL=RST,ACK>, and connect fails at once
// with "connection refused".
func TestSynSentRecvRSTForNoSocketRefuses(t *testing.T) {
	p := &pair{t: t, client: newClient(t), server: newServer(t, 1)}
	p.server.l = nil // nothing listens on the port
	_ = p.client.c.Connect(base, x)
	p.flow(at(rtt/2), p.client, is(syn, x, 0))
	p.flow(at(rtt), p.server, is(rstack, 0, x+1), hasWnd(0))
	p.client.state(StateClosed)
	p.client.expectNone()
	if !errors.Is(p.client.c.Err(), syscall.ECONNREFUSED) {
		t.Fatalf("Err = %v, want ECONNREFUSED", p.client.c.Err())
	}
}
