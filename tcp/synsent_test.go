package tcp

// SYN-SENT: RFC 9293 §3.10.7.3, and the user calls in that state.

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// TestSynSentRecvUnacceptableACKSendsRST: SEG.ACK =< ISS or SEG.ACK >
// SND.NXT is answered with <SEQ=SEG.ACK><CTL=RST>, the segment dropped.
func TestSynSentRecvUnacceptableACKSendsRST(t *testing.T) {
	cases := []struct {
		name  string
		flags wire.TCPFlags
		ack   seqnum.Value
	}{
		{"SYN,ACK ack=ISS", synack, x},
		{"SYN,ACK ack=ISS+2", synack, x + 2},
		{"SYN,ACK ack far before", synack, x - 1000},
		{"ACK ack=ISS", ack, x},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := synSent(t)
			e.c.HandleSegment(at(rtt), in(tc.flags, y, tc.ack))
			e.expect(is(rst, tc.ack, 0), hasLen(0))
			e.state(StateSynSent)
			if e.env.Stats.DropBadACK.Load() != 1 || e.env.Stats.OutRsts.Load() != 1 {
				t.Fatalf("DropBadACK %d OutRsts %d, want 1 and 1", e.env.Stats.DropBadACK.Load(), e.env.Stats.OutRsts.Load())
			}
		})
	}
}

// TestSynSentRecvRSTACKRefuses: a RST whose ACK acknowledges the SYN means
// nothing listens there: CLOSED with "connection refused" (RFC 9293
// §3.10.7.3 second).
func TestSynSentRecvRSTACKRefuses(t *testing.T) {
	e := synSent(t)
	e.c.HandleSegment(at(rtt), in(rstack, 0, x+1))
	e.expectNone()
	e.state(StateClosed)
	if err := e.c.Err(); !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, ErrConnectionRefused) {
		t.Fatalf("Err = %v, want ECONNREFUSED", err)
	}
	if ev := e.c.TakeEvents(); ev&EventClosed == 0 {
		t.Fatalf("events = %b, want EventClosed", ev)
	}
	if _, err := e.c.Read(at(rtt), make([]byte, 1)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Read = %v, want ECONNREFUSED", err)
	}
	if _, err := e.c.Write(at(rtt), []byte("x")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Write = %v, want ECONNREFUSED", err)
	}
	e.deadline(time.Time{})
	if e.env.Stats.AttemptFails.Load() != 1 {
		t.Errorf("AttemptFails = %d, want 1", e.env.Stats.AttemptFails.Load())
	}
}

// TestSynSentRecvRSTWithoutACKIgnored: a RST without an ACK cannot be
// tied to our SYN: it is dropped (RFC 9293 §3.10.7.3 second, RFC 5961 §3).
func TestSynSentRecvRSTWithoutACKIgnored(t *testing.T) {
	for _, seq := range []seqnum.Value{0, y, x + 1} {
		e := synSent(t)
		e.c.HandleSegment(at(rtt), in(rst, seq, 0))
		e.expectNone()
		e.state(StateSynSent)
	}
}

// TestSynSentRecvRSTBadACKIgnored: a RST with an unacceptable ACK is
// dropped and, being a RST, never answered.
func TestSynSentRecvRSTBadACKIgnored(t *testing.T) {
	e := synSent(t)
	e.c.HandleSegment(at(rtt), in(rstack, 0, x+5))
	e.expectNone()
	e.state(StateSynSent)
}

// TestSynSentRecvACKWithoutSYNDropped: an acceptable ACK with neither SYN
// nor RST is dropped (RFC 9293 §3.10.7.3 fifth).
func TestSynSentRecvACKWithoutSYNDropped(t *testing.T) {
	e := synSent(t)
	e.c.HandleSegment(at(rtt), in(ack, y, x+1))
	e.expectNone()
	e.state(StateSynSent)
}

// TestSynSentRecvSYNACKLearnsPeer: the SYN,ACK sets IRS, RCV.NXT, SND.WND
// and the MSS, the smaller of the two announced.
func TestSynSentRecvSYNACKLearnsPeer(t *testing.T) {
	e := synSent(t, func(c *Config) { c.MSS = 1460 })
	e.c.HandleSegment(at(rtt), in(synack, y, x+1, wnd(4000), mssOpt(1200)))
	e.expect(is(ack, x+1, y+1))
	c := e.c
	if c.IRS() != y || c.RcvNxt() != y+1 || c.SndUna() != x+1 || c.SndWnd() != 4000 || c.MSS() != 1200 {
		t.Fatalf("irs %d rcv.nxt %d snd.una %d snd.wnd %d mss %d", c.IRS(), c.RcvNxt(), c.SndUna(), c.SndWnd(), c.MSS())
	}
}

// TestSynSentRecvSYNACKWithoutMSSUses536: with no MSS option the peer is
// assumed to take 536 bytes (RFC 9293 §3.7.1).
func TestSynSentRecvSYNACKWithoutMSSUses536(t *testing.T) {
	e := established(t, func(c *Config) { c.MSS = 1460 })
	if e.c.MSS() != 536 {
		t.Fatalf("MSS = %d, want 536", e.c.MSS())
	}
}

// TestSynSentRecvSYNACKWithDataDelivers: text on the SYN,ACK is processed
// at step six (RFC 9293 §3.10.7.3 fourth): it fits the window our SYN
// offered, so it is kept and acknowledged.
func TestSynSentRecvSYNACKWithDataDelivers(t *testing.T) {
	e := synSent(t)
	e.c.HandleSegment(at(rtt), in(synack|psh, y, x+1, data([]byte("hello"))))
	e.expect(is(ack, x+1, y+6))
	e.state(StateEstablished)
	buf := make([]byte, 10)
	if n, err := e.c.Read(at(rtt), buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read = %q, %v; want hello", buf[:n], err)
	}
}

// TestSynSentRecvSYNACKWithFINCloseWait: a FIN on the SYN,ACK takes the
// connection straight on to CLOSE-WAIT.
func TestSynSentRecvSYNACKWithFINCloseWait(t *testing.T) {
	e := synSent(t)
	e.c.HandleSegment(at(rtt), in(synack|fin, y, x+1))
	e.expect(is(ack, x+1, y+2))
	e.state(StateCloseWait)
	if _, err := e.c.Read(at(rtt), make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read = %v, want io.EOF", err)
	}
}

// TestSynSentWriteSentOnceEstablished: data written during the handshake
// waits for it and then rides on the ACK of the SYN,ACK.
func TestSynSentWriteSentOnceEstablished(t *testing.T) {
	e := synSent(t)
	e.write(at(time.Millisecond), []byte("hello"))
	e.expectNone()
	e.c.HandleSegment(at(rtt), in(synack, y, x+1))
	e.expect(is(pshack, x+1, y+1), hasData([]byte("hello")))
	e.state(StateEstablished)
}

// TestSynSentCloseWriteSendsFINOnceEstablished: a CLOSE in SYN-SENT with a
// send queued waits for the handshake (RFC 9293 §3.10.4), then the FIN goes.
func TestSynSentCloseWriteSendsFINOnceEstablished(t *testing.T) {
	e := synSent(t)
	e.write(at(0), []byte("bye"))
	if err := e.c.CloseWrite(at(0)); err != nil {
		t.Fatal(err)
	}
	e.expectNone()
	e.c.HandleSegment(at(rtt), in(synack, y, x+1))
	e.expect(is(finack|psh, x+1, y+1), hasData([]byte("bye")))
	e.state(StateFinWait1)
}

// TestSynSentCloseDeletesTCB: CLOSE in SYN-SENT deletes the TCB without a
// segment (RFC 9293 §3.10.4).
func TestSynSentCloseDeletesTCB(t *testing.T) {
	e := synSent(t)
	e.c.Close(at(rtt))
	e.expectNone()
	e.state(StateClosed)
	e.deadline(time.Time{})
	if e.c.Err() != nil {
		t.Fatalf("Err = %v, want nil", e.c.Err())
	}
}

// TestClosedWriteReadFail: a connection never opened cannot be used.
func TestClosedWriteReadFail(t *testing.T) {
	e := newClient(t)
	if _, err := e.c.Write(base, []byte("x")); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Write = %v, want ENOTCONN", err)
	}
	if err := e.c.CloseWrite(base); !errors.Is(err, ErrNotConnected) {
		t.Errorf("CloseWrite = %v, want ENOTCONN", err)
	}
	e.c.HandleSegment(base, in(synack, y, x+1))
	e.expectNone()
	e.state(StateClosed)
}
