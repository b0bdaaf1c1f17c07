package tcp

// ESTABLISHED: sending and receiving text, the sequence and acknowledgment
// checks of RFC 9293 §3.10.7.4, and SEND/RECEIVE (§3.10.2, §3.10.3).

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"
)

// TestEstablishedRecvDataACKs: in-order text is queued for the user and
// acknowledged at once, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, with the
// window shrunk by what is unread.
func TestEstablishedRecvDataACKs(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(pshack, y+1, x+1, data([]byte("hello"))))
	e.expect(is(ack, x+1, y+6), hasWnd(65530))
	if ev := e.c.TakeEvents(); ev&EventReadable == 0 {
		t.Fatalf("events = %b, want EventReadable", ev)
	}
	if e.c.RecvQueue() != 5 || !e.c.Readable() {
		t.Fatalf("recv queue %d readable %v", e.c.RecvQueue(), e.c.Readable())
	}
	buf := make([]byte, 3)
	n, err := e.c.Read(at(time.Second), buf)
	if n != 3 || err != nil || string(buf) != "hel" {
		t.Fatalf("Read = %d %q %v", n, buf[:n], err)
	}
	n, _ = e.c.Read(at(time.Second), buf)
	if string(buf[:n]) != "lo" {
		t.Fatalf("second Read = %q, want lo", buf[:n])
	}
	if _, err := e.c.Read(at(time.Second), buf); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Read of nothing = %v, want ErrWouldBlock", err)
	}
}

// TestEstablishedRecvOutOfOrderHeldAndReassembled: text beyond RCV.NXT is
// not delivered yet but held (§3.10.7.4 seventh); an immediate duplicate
// ACK for RCV.NXT tells the peer what is missing (RFC 5681 §4.2); when the
// hole fills, everything is delivered in order with one cumulative ACK.
func TestEstablishedRecvOutOfOrderHeldAndReassembled(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(ack, y+11, x+1, data([]byte("0123456789"))))
	e.expect(is(ack, x+1, y+1))
	e.c.HandleSegment(at(time.Second), in(ack, y+21, x+1, data([]byte("abcde"))))
	e.expect(is(ack, x+1, y+1))
	if e.c.RecvQueue() != 0 || e.env.Stats.OutOfOrderQueued.Load() != 2 {
		t.Fatalf("recv queue %d OutOfOrderQueued %d", e.c.RecvQueue(), e.env.Stats.OutOfOrderQueued.Load())
	}
	e.c.HandleSegment(at(2*time.Second), in(ack, y+1, x+1, data([]byte("ABCDEFGHIJ"))))
	e.expect(is(ack, x+1, y+26))
	buf := make([]byte, 64)
	n, _ := e.c.Read(at(2*time.Second), buf)
	if got := string(buf[:n]); got != "ABCDEFGHIJ0123456789abcde" {
		t.Fatalf("Read = %q", got)
	}
}

// TestEstablishedRecvOutOfOrderFINHeld: a FIN that arrives before the data
// in front of it is held with it and takes effect when the hole fills.
func TestEstablishedRecvOutOfOrderFINHeld(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(finack, y+6, x+1, data([]byte("world"))))
	e.expect(is(ack, x+1, y+1))
	e.state(StateEstablished)
	e.c.HandleSegment(at(time.Second), in(ack, y+1, x+1, data([]byte("hello"))))
	e.expect(is(ack, x+1, y+12)) // 10 bytes and the FIN
	e.state(StateCloseWait)
	buf := make([]byte, 64)
	n, _ := e.c.Read(at(time.Second), buf)
	if string(buf[:n]) != "helloworld" {
		t.Fatalf("Read = %q", buf[:n])
	}
	if _, err := e.c.Read(at(time.Second), buf); !errors.Is(err, io.EOF) {
		t.Fatalf("Read after the FIN = %v, want EOF", err)
	}
}

// TestEstablishedRecvDuplicateSendsACK: an old duplicate fails the
// sequence check and is answered with an ACK (§3.10.7.4 first).
func TestEstablishedRecvDuplicateSendsACK(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(ack, y+1, x+1, data([]byte("hello"))))
	e.expect(is(ack, x+1, y+6))
	e.c.HandleSegment(at(2*time.Second), in(ack, y+1, x+1, data([]byte("hello"))))
	e.expect(is(ack, x+1, y+6))
	if e.c.RecvQueue() != 5 || e.env.Stats.DropOutOfWindow.Load() != 1 {
		t.Fatalf("recv queue %d DropOutOfWindow %d", e.c.RecvQueue(), e.env.Stats.DropOutOfWindow.Load())
	}
}

// TestEstablishedRecvOverlapKeepsNewPart: a segment that starts before
// RCV.NXT is trimmed to its new bytes.
func TestEstablishedRecvOverlapKeepsNewPart(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(ack, y+1, x+1, data([]byte("hello"))))
	e.expect(is(ack, x+1, y+6))
	e.c.HandleSegment(at(time.Second), in(ack, y+3, x+1, data([]byte("llo world"))))
	e.expect(is(ack, x+1, y+12))
	buf := make([]byte, 20)
	n, _ := e.c.Read(at(time.Second), buf)
	if string(buf[:n]) != "hello world" {
		t.Fatalf("Read = %q, want hello world", buf[:n])
	}
}

// TestEstablishedRecvBeyondWindowTrimmed: text past RCV.NXT+RCV.WND is
// not kept; the ACK advertises the window that is left, zero here.
func TestEstablishedRecvBeyondWindowTrimmed(t *testing.T) {
	e := established(t, func(c *Config) { c.ReceiveBufferSize = 10 })
	e.c.HandleSegment(at(time.Second), in(ack, y+1, x+1, data(bytesN(15))))
	e.expect(is(ack, x+1, y+11), hasWnd(0))
	if e.c.RecvQueue() != 10 {
		t.Fatalf("recv queue %d, want 10", e.c.RecvQueue())
	}
}

// TestEstablishedRecvNoACKDropped: "if the ACK bit is off, drop the
// segment and return" (§3.10.7.4 fifth).
func TestEstablishedRecvNoACKDropped(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(psh, y+1, 0, data([]byte("x"))))
	e.expectNone()
	if e.c.RecvQueue() != 0 || e.env.Stats.DropNoACK.Load() != 1 {
		t.Fatalf("recv queue %d DropNoACK %d", e.c.RecvQueue(), e.env.Stats.DropNoACK.Load())
	}
}

// TestEstablishedRecvACKOfUnsentSendsACK: "If the ACK acks something not
// yet sent (SEG.ACK > SND.NXT), then send an ACK, drop the segment".
func TestEstablishedRecvACKOfUnsentSendsACK(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(ack, y+1, x+100, data([]byte("text"))))
	e.expect(is(ack, x+1, y+1))
	sanity(t, e.c, established(t))
	if e.env.Stats.DropBadACK.Load() != 1 {
		t.Fatalf("DropBadACK = %d, want 1", e.env.Stats.DropBadACK.Load())
	}
}

// TestEstablishedWriteSendsMSSSegments: a write leaves in segments of at
// most the MSS, numbered from SND.NXT, PSH on the last (§3.9.1).
func TestEstablishedWriteSendsMSSSegments(t *testing.T) {
	e := established(t)
	e.write(at(time.Second), bytesN(1200))
	segs := e.take()
	if len(segs) != 3 {
		t.Fatalf("sent %v, want 3 segments", segs)
	}
	is(ack, x+1, y+1)(t, &segs[0])
	hasLen(536)(t, &segs[0])
	is(ack, x+537, y+1)(t, &segs[1])
	hasLen(536)(t, &segs[1])
	is(pshack, x+1073, y+1)(t, &segs[2])
	hasData(bytesN(1200)[1072:])(t, &segs[2])
	if e.c.SndNxt() != x+1201 || e.c.SndUna() != x+1 || e.c.SendQueue() != 1200 {
		t.Fatalf("snd.nxt %d snd.una %d send-q %d", e.c.SndNxt(), e.c.SndUna(), e.c.SendQueue())
	}
}

// TestEstablishedRecvACKFreesSendBuffer: SND.UNA < SEG.ACK =< SND.NXT
// advances SND.UNA and frees what was acknowledged; an ACK below SND.UNA
// is a duplicate and ignored.
func TestEstablishedRecvACKFreesSendBuffer(t *testing.T) {
	e := established(t)
	e.write(at(time.Second), bytesN(1000))
	e.take()
	e.c.TakeEvents()
	e.c.HandleSegment(at(time.Second+rtt), in(ack, y+1, x+537))
	e.expectNone()
	if e.c.SndUna() != x+537 || e.c.SendQueue() != 464 {
		t.Fatalf("snd.una %d send-q %d, want %d and 464", e.c.SndUna(), e.c.SendQueue(), x+537)
	}
	if e.c.TakeEvents()&EventWritable == 0 {
		t.Fatal("freeing send buffer must raise EventWritable")
	}
	e.c.HandleSegment(at(time.Second+rtt), in(ack, y+1, x+1))
	e.expectNone()
	if e.c.SndUna() != x+537 {
		t.Fatalf("an old ACK moved snd.una to %d", e.c.SndUna())
	}
}

// TestEstablishedRecvOlderSegmentKeepsWindow: the send window is taken
// only from segments newer than the last update, SND.WL1 < SEG.SEQ or
// (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK) (§3.10.7.4 fifth).
func TestEstablishedRecvOlderSegmentKeepsWindow(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(ack, y+1, x+1, wnd(1000), data([]byte("abc"))))
	e.take()
	if e.c.SndWnd() != 1000 {
		t.Fatalf("snd.wnd %d, want 1000", e.c.SndWnd())
	}
	e.c.HandleSegment(at(time.Second), in(ack, y+4, x+1, wnd(2000)))
	if e.c.SndWnd() != 2000 {
		t.Fatalf("snd.wnd %d, want 2000", e.c.SndWnd())
	}
	// A reordered retransmission of older text, partly new.
	e.c.HandleSegment(at(time.Second), in(ack, y+1, x+1, wnd(500), data([]byte("abcde"))))
	e.expect(is(ack, x+1, y+6))
	if e.c.SndWnd() != 2000 {
		t.Fatalf("an older segment set snd.wnd to %d", e.c.SndWnd())
	}
}

// TestEstablishedCloseWriteThenWriteFails: after CLOSE no more SEND:
// "connection closing" (§3.10.2).
func TestEstablishedCloseWriteThenWriteFails(t *testing.T) {
	e := established(t)
	if err := e.c.CloseWrite(at(time.Second)); err != nil {
		t.Fatal(err)
	}
	e.expect(is(finack, x+1, y+1))
	if _, err := e.c.Write(at(time.Second), []byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write = %v, want EPIPE", err)
	}
	if err := e.c.CloseWrite(at(time.Second)); !errors.Is(err, ErrClosing) {
		t.Fatalf("second CloseWrite = %v, want ErrClosing", err)
	}
}

// TestEstablishedWriteFullBufferWouldBlock: Write takes what fits the send
// buffer and then reports ErrWouldBlock.
func TestEstablishedWriteFullBufferWouldBlock(t *testing.T) {
	e := established(t, func(c *Config) { c.SendBufferSize = 1000 })
	if n, err := e.c.Write(at(time.Second), bytesN(1500)); n != 1000 || err != nil {
		t.Fatalf("Write = %d, %v; want 1000, nil", n, err)
	}
	if e.c.Writable() {
		t.Fatal("Writable with a full buffer")
	}
	if n, err := e.c.Write(at(time.Second), bytesN(1)); n != 0 || !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Write = %d, %v; want ErrWouldBlock", n, err)
	}
}

// TestEstablishedRecvFINOutOfOrderNotProcessed: a FIN beyond RCV.NXT waits
// for the text before it (§3.10.7.4 eighth applies at RCV.NXT only).
func TestEstablishedRecvFINOutOfOrderNotProcessed(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(finack, y+5, x+1))
	e.expect(is(ack, x+1, y+1))
	e.state(StateEstablished)
}

// TestEstablishedRecvDataAndFINCloseWait: text then FIN in one segment:
// the user reads the text, then io.EOF.
func TestEstablishedRecvDataAndFINCloseWait(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(finack|psh, y+1, x+1, data([]byte("last"))))
	e.expect(is(ack, x+1, y+6))
	e.state(StateCloseWait)
	readAll(t, e.c, "last")
}
