package tcp

// Socket options in the engine (sockopt.go, view.go): CloseRead, buffer
// sizes fixed by the user, and ReadView.

import (
	"fmt"
	"io"
	"testing"
	"time"
)

// TestEstablishedCloseReadDiscardsAndACKs: after CloseRead, unread text
// is gone, Read gives io.EOF, and text arriving is acknowledged with the
// window still open and not queued, nor held out of order.
func TestEstablishedCloseReadDiscardsAndACKs(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(pshack, y+1, x+1, data([]byte("hello"))))
	e.expect(is(ack, x+1, y+6), hasWnd(65530))
	if err := e.c.CloseRead(at(time.Second)); err != nil {
		t.Fatal(err)
	}
	if ev := e.c.TakeEvents(); ev&EventReadable == 0 || !e.c.Readable() {
		t.Fatalf("events %b, readable %v: blocked readers must wake", ev, e.c.Readable())
	}
	if n, err := e.c.Read(at(time.Second), make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read = %d, %v, want 0, io.EOF", n, err)
	}
	e.c.HandleSegment(at(2*time.Second), in(pshack, y+6, x+1, data([]byte("world"))))
	e.expect(is(ack, x+1, y+11), hasWnd(65535))
	e.c.HandleSegment(at(2*time.Second), in(ack, y+20, x+1, data([]byte("later"))))
	e.expect(is(ack, x+1, y+11))
	if q, h := e.c.RecvQueue(), e.c.heldBytes(); q != 0 || h != 0 {
		t.Fatalf("%d bytes queued, %d held after CloseRead", q, h)
	}
	if n := e.env.Stats.ReadShutDiscards.Load(); n != 1 {
		t.Fatalf("ReadShutDiscards %d, want 1", n)
	}
	e.state(StateEstablished)
	e.write(at(3*time.Second), []byte("out"))
	e.expect(is(pshack, x+1, y+11), hasData([]byte("out")))
}

// TestFinWait1CloseReadDataResets: shut both ways, text from the peer is
// answered with a RST (Linux TCPAbortOnData).
func TestFinWait1CloseReadDataResets(t *testing.T) {
	e := established(t)
	if err := e.c.CloseRead(e.now); err != nil {
		t.Fatal(err)
	}
	if err := e.c.CloseWrite(e.now); err != nil {
		t.Fatal(err)
	}
	e.expect(is(finack, x+1, y+1))
	e.c.HandleSegment(at(time.Second), in(pshack, y+1, x+2, data([]byte("late"))))
	e.expect(hasFlags(rst))
	e.state(StateClosed)
	if n := e.env.Stats.AbortOnData.Load(); n != 1 {
		t.Fatalf("AbortOnData %d, want 1", n)
	}
}

// TestClosedCloseReadNotConnected: CloseRead on a connection never opened.
func TestClosedCloseReadNotConnected(t *testing.T) {
	e := newClient(t)
	if err := e.c.CloseRead(base); err != ErrNotConnected {
		t.Fatalf("CloseRead = %v, want ErrNotConnected", err)
	}
}

// TestEstablishedSetReceiveBufferSizeWindowFollows: a smaller buffer
// lowers the window as text fills it, the advertised edge never moving
// back; a larger one is announced at once; the size is clamped and no
// longer autotuned.
func TestEstablishedSetReceiveBufferSizeWindowFollows(t *testing.T) {
	e := established(t, func(c *Config) { c.ReceiveBufferSize, c.MaxReceiveBufferSize = 4000, 1<<20 })
	e.c.SetReceiveBufferSize(e.now, 20000)
	e.expect(is(ack, x+1, y+1), hasWnd(20000)) // a window update at once
	e.c.SetReceiveBufferSize(e.now, 5000)
	e.expectNone() // smaller: nothing to announce
	if got := e.c.ReceiveBufferSize(); got != 5000 {
		t.Fatalf("ReceiveBufferSize %d, want 5000", got)
	}
	e.c.HandleSegment(at(time.Second), in(ack, y+1, x+1, data(bytesN(1000))))
	e.expect(is(ack, x+1, y+1001), hasWnd(19000)) // the edge offered stays
	e.c.HandleSegment(at(time.Second), in(ack, y+1001, x+1, data(bytesN(19000))))
	e.expect(is(ack, x+1, y+20001), hasWnd(0)) // then 5000 bytes is all it takes
	e.c.SetReceiveBufferSize(at(time.Second), 1)
	if got := e.c.ReceiveBufferSize(); got != MinUserBufferSize {
		t.Fatalf("ReceiveBufferSize %d, want the minimum %d", got, MinUserBufferSize)
	}
	e.c.SetReceiveBufferSize(at(time.Second), 1<<30)
	if got := e.c.ReceiveBufferSize(); got != e.c.rcvLimit() {
		t.Fatalf("ReceiveBufferSize %d, want the cap %d", got, e.c.rcvLimit())
	}
	e.take()
	e.c.SetReceiveBufferSize(at(time.Second), 8000)
	e.c.autotune(at(time.Hour), 1<<20)
	if got := e.c.ReceiveBufferSize(); got != 8000 {
		t.Fatalf("ReceiveBufferSize %d after autotune, want 8000", got)
	}
}

// TestEstablishedSetSendBufferSizeBoundsWrite: Write queues no more than
// the size set, and the buffer does not grow with the window.
func TestEstablishedSetSendBufferSizeBoundsWrite(t *testing.T) {
	e := established(t)
	e.c.SetSendBufferSize(e.now, 3000)
	n, err := e.c.Write(e.now, bytesN(10000))
	if n != 3000 || err != nil {
		t.Fatalf("Write = %d, %v, want 3000", n, err)
	}
	e.take()
	e.c.growSendBuffer()
	if got := e.c.SendBufferSize(); got != 3000 {
		t.Fatalf("SendBufferSize %d after growing, want 3000", got)
	}
}

// TestEstablishedReadViewTakesRing: ReadView hands over the ring's bytes
// and storage with no copy; the window reopens as after Read; then
// nothing is left.
func TestEstablishedReadViewTakesRing(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(time.Second), in(pshack, y+1, x+1, data([]byte("hello"))))
	e.take()
	v, ok, err := e.c.ReadView(at(time.Second))
	if !ok || err != nil || string(v.A)+string(v.B) != "hello" {
		t.Fatalf("ReadView = %q %q, %v, %v", v.A, v.B, ok, err)
	}
	if e.c.RecvQueue() != 0 || e.c.RcvWnd() != 65535 {
		t.Fatalf("after ReadView: queue %d, window %d", e.c.RecvQueue(), e.c.RcvWnd())
	}
	e.c.HandleSegment(at(time.Second), in(pshack, y+6, x+1, data([]byte("again"))))
	if string(v.A) != "hello" {
		t.Fatalf("the view changed to %q when more text arrived", v.A)
	}
	v.Release()
	if _, ok, err := e.c.ReadView(at(time.Second)); !ok || err != nil {
		t.Fatalf("second ReadView: %v, %v", ok, err)
	}
	if _, ok, err := e.c.ReadView(at(time.Second)); ok || err != ErrWouldBlock {
		t.Fatalf("ReadView of nothing: %v, %v, want ErrWouldBlock", ok, err)
	}
}

// TestMaxSegmentBeforeConnect: TCP_MAXSEG set before Connect is the MSS
// the SYN announces (under the configured one), and bounds the MSS settled
// with a peer announcing more; on an established connection it only
// lowers.
func TestMaxSegmentBeforeConnect(t *testing.T) {
	e := newClient(t)
	e.c.SetMaxSegment(500)
	if err := e.c.Connect(base, x); err != nil {
		t.Fatal(err)
	}
	e.expect(is(syn, x, 0), hasMSS(500))
	e.c.HandleSegment(at(rtt), in(synack, y, x+1, mssOpt(1460)))
	e.expect(is(ack, x+1, y+1))
	if m := e.c.MSS(); m != 500 {
		t.Fatalf("MSS after the handshake = %d, want 500 (TCP_MAXSEG, under the peer's 1460)", m)
	}
	e.c.SetMaxSegment(300)
	if m := e.c.MSS(); m != 300 {
		t.Fatalf("MSS lowered to %d, want 300", m)
	}
	e.c.SetMaxSegment(1000)
	if m := e.c.MSS(); m != 300 {
		t.Fatalf("MSS raised to %d: TCP_MAXSEG on a connection only lowers", m)
	}
	e.c.Write(at(rtt), make([]byte, 1000))
	var lens []int
	for _, sg := range e.take() {
		lens = append(lens, len(sg.Payload))
	}
	if fmt.Sprint(lens) != "[300 300 300 100]" {
		t.Fatalf("1,000 bytes sent as segments of %v, want [300 300 300 100]", lens)
	}
}
