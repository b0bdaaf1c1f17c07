package tcp

import (
	"bytes"
	"testing"
)

// TestPostReadTakesInOrderText: text arriving in order while a Read's
// buffer is posted goes straight into it; what does not fit is queued
// behind it, in order, and only that occupies the receive buffer.
func TestPostReadTakesInOrderText(t *testing.T) {
	e := established(t, func(c *Config) { c.ReceiveBufferSize = 1000 })
	buf := make([]byte, 300)
	if !e.c.PostRead(buf) {
		t.Fatal("PostRead refused an empty connection's buffer")
	}
	text := bytesN(500)
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, data(text)))
	e.take()
	if q := e.c.RecvQueue(); q != 200 {
		t.Fatalf("receive queue %d, want 200: the 300 the reader took are not queued", q)
	}
	if n := e.c.TakeRead(at(sec)); n != 300 || !bytes.Equal(buf, text[:300]) {
		t.Fatalf("TakeRead = %d (same bytes: %v), want the first 300 bytes", n, bytes.Equal(buf[:n], text[:n]))
	}
	rest := make([]byte, 500)
	if n, err := e.c.Read(at(sec), rest); n != 200 || err != nil || !bytes.Equal(rest[:n], text[300:]) {
		t.Fatalf("Read after TakeRead = %d, %v; want the last 200 bytes", n, err)
	}
	if got := e.env.Stats.DirectReadBytes.Load(); got != 300 {
		t.Fatalf("DirectReadBytes = %d, want 300", got)
	}
}

// TestPostReadRefused: a buffer is not posted while text is queued (it
// would overtake it), while another is posted, or when it is empty; and
// once taken the engine writes no more into it.
func TestPostReadRefused(t *testing.T) {
	e := established(t)
	if e.c.PostRead(nil) {
		t.Fatal("an empty buffer was posted")
	}
	first := make([]byte, 10)
	if !e.c.PostRead(first) || e.c.PostRead(make([]byte, 10)) {
		t.Fatal("a second buffer was posted over the first")
	}
	if n := e.c.TakeRead(at(sec)); n != 0 {
		t.Fatalf("TakeRead with nothing arrived = %d", n)
	}
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, data(bytesN(20))))
	e.take()
	if !bytes.Equal(first, make([]byte, 10)) {
		t.Fatal("the engine wrote into a buffer after TakeRead")
	}
	if e.c.PostRead(make([]byte, 10)) {
		t.Fatal("a buffer was posted with 20 bytes queued ahead of it")
	}
}

// TestPostReadOutOfOrderFill: held out-of-order text that a retransmission
// joins goes into the posted buffer in sequence order.
func TestPostReadOutOfOrderFill(t *testing.T) {
	e := established(t)
	text := bytesN(200)
	e.c.HandleSegment(at(sec), in(ack, y+101, x+1, data(text[100:])))
	e.take()
	buf := make([]byte, 150)
	if !e.c.PostRead(buf) {
		t.Fatal("PostRead refused with only out-of-order text held")
	}
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, data(text[:100])))
	e.take()
	if n := e.c.TakeRead(at(sec)); n != 150 || !bytes.Equal(buf, text[:150]) {
		t.Fatalf("TakeRead = %d, want the first 150 bytes in order", n)
	}
	rest := make([]byte, 100)
	if n, _ := e.c.Read(at(sec), rest); n != 50 || !bytes.Equal(rest[:n], text[150:]) {
		t.Fatalf("Read = %d, want the last 50 bytes", n)
	}
}
