package synack_test

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestKeepAliveDeadPeerTimesOut: a peer that vanishes after the handshake
// (its link drops everything) is found dead by keepalive after 2 h idle and
// 9 unanswered probes 75 s apart; the blocked Read fails with ETIMEDOUT.
func TestKeepAliveDeadPeerTimesOut(t *testing.T) {
	pc, _, sg := gates(true)
	p := newPair(t, pc)
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	if err := c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true}); err != nil {
		t.Fatal(err)
	}
	sg.SetDrop(everything) // the server host goes silent
	start := p.clk.Now()
	got := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		got <- err
	}()
	var err error
	ended := false
	p.runClock(t, 100, func() int64 { return 0 }, func() bool {
		if !ended {
			select {
			case err = <-got:
				ended = true
			default:
			}
		}
		return ended
	})
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Read after keepalive gave up: %v, want ETIMEDOUT", err)
	}
	if d := p.clk.Now().Sub(start); d != 2*time.Hour+9*75*time.Second {
		t.Fatalf("keepalive gave up after %v, want 2h + 9*75s", d)
	}
}

// TestKeepAliveAnsweredKeepsConnection: an idle connection whose peer
// answers the probes stays up through 10 virtual hours and still carries data.
func TestKeepAliveAnsweredKeepsConnection(t *testing.T) {
	p := newPair(t, pairConfig{virtual: true})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	defer c.Close()
	if err := c.SetKeepAlive(true); err != nil {
		t.Fatal(err)
	}
	if err := c.SetKeepAlivePeriod(time.Hour); err != nil {
		t.Fatal(err)
	}
	start := p.clk.Now()
	p.runClock(t, 1000, func() int64 { return 0 }, func() bool { return p.clk.Now().Sub(start) >= 10*time.Hour })
	if n := p.client.Internals().TCPStats().Timeouts.Load(); n != 0 {
		t.Fatalf("%d retransmission timeouts on an idle connection", n)
	}
	go s.Write([]byte("still here"))
	buf := make([]byte, 10)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("after 10 h: %q, %v", buf, err)
	}
	if c.SetKeepAlivePeriod(-time.Second) == nil {
		t.Fatal("a negative keepalive period was accepted")
	}
}
