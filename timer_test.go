package synack_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack/wire"
)

// TestEstablishedBlackholeTimesOut cuts the link under an established
// connection with data in flight: the client retransmits with exponential
// back-off (RFC 6298 §5.5) capped at MaxRTO, gives up after Retries
// retransmissions (Linux tcp_retries2), and its Read fails with ETIMEDOUT.
// With the defaults (RTO 200 ms after a zero RTT sample, 15 retries,
// MaxRTO 120 s) that is Linux's familiar 924.6 s, counted as Linux counts
// it from the first retransmission: before the first RTO a tail loss probe
// (RFC 8985 §7) resends the segment when the RTO would have fired, and the
// RTOs follow it, so the connection ends 200 ms later, after one
// retransmission more.
func TestEstablishedBlackholeTimesOut(t *testing.T) {
	pc, _, sg := gates(true)
	p := newPair(t, pc)
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	defer c.Close()
	cfg := p.client.Internals().TCPConfig()
	sg.SetDrop(everything)
	if _, err := c.Write([]byte("into the void")); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	start := p.clk.Now()
	steps := 0
	for {
		next, ok := p.clk.Next()
		if !ok {
			break
		}
		p.clk.AdvanceTo(next)
		steps++
		if steps > 100 {
			t.Fatal("still retransmitting after 100 timer steps")
		}
	}
	err := recvErr(t, errc, "Read")
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Read on a blackholed connection: %v, want ETIMEDOUT", err)
	}
	asOpError(t, err, "read")
	want := cfg.MinRTO // the loss probe
	for i, rto := 0, cfg.MinRTO; i <= cfg.Retries; i, rto = i+1, min(2*rto, cfg.MaxRTO) {
		want += rto
	}
	if d := p.clk.Now().Sub(start); d != want {
		t.Errorf("gave up after %v, want %v", d, want)
	}
	st := p.client.Internals().TCPStats()
	if n := st.RetransSegs.Load(); n != uint64(cfg.Retries+1) {
		t.Errorf("RetransSegs = %d, want %d (the probe and the RTOs)", n, cfg.Retries+1)
	}
	if n := st.TCPLossProbes.Load(); n != 1 {
		t.Errorf("TCPLossProbes = %d, want 1", n)
	}
	if n := st.Timeouts.Load(); n != uint64(cfg.Retries+1) {
		t.Errorf("Timeouts = %d, want %d", n, cfg.Retries+1)
	}
}

// TestEstablishedZeroWindowPersistRecovers fills the server's receive
// buffer, then lets the server read while every segment to the client is
// lost, window updates included. When the link heals, only the client's
// persist timer (RFC 9293 §3.8.6.1) can learn that the window opened: its
// probe draws an ACK with the new window, and data flows again; the rest
// of the transfer needs no timer at all.
func TestEstablishedZeroWindowPersistRecovers(t *testing.T) {
	pc, cg, sg := gates(true)
	// A fixed buffer (no autotuning) of whole segments, so the window
	// closes exactly: a tail shorter than a segment would be held back by
	// sender SWS avoidance until its timer, which this test does not run.
	pc.tcp.ReceiveBufferSize = 40 * (mtu - 40 - 12) // 12: the timestamps option
	p := newPair(t, pc)
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	defer c.Close()
	const size = 300 << 10
	want, _, _ := sum(seededReader(4, size))
	go func() {
		io.Copy(c, seededReader(4, size))
		c.CloseWrite()
	}()
	rcvBuf := p.server.Internals().TCPConfig().ReceiveBufferSize
	recvQ := func() int {
		socks := p.server.Internals().Sockets()
		if len(socks) != 2 {
			t.Fatalf("server sockets %v", socks)
		}
		return socks[1].RecvQ
	}
	waitFor(t, "the server's receive buffer full", func() bool { return recvQ() == rcvBuf })
	p.settle(t)

	cg.SetDrop(everything) // the window updates will be lost
	buf := make([]byte, rcvBuf)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	p.settle(t)
	if n := cg.Dropped(); n == 0 {
		t.Fatal("no window update was sent after the read")
	}
	cg.SetDrop(nil)
	probes := 0
	sg.SetDrop(func(pkt []byte) bool {
		if seg := tcpOf(pkt); seg != nil && len(seg.Payload()) == 0 && seg.Flags() == wire.FlagACK {
			probes++ // a bare ACK from the sender while it has data to send
		}
		return false
	})
	if recvQ() != 0 {
		t.Fatal("data arrived with the window closed as far as the client knows")
	}
	// Run the timers in turn (a delayed ACK may come first) until the
	// client probes.
	for i := 0; probes == 0 && i < 3; i++ {
		next, ok := p.clk.Next()
		if !ok {
			t.Fatal("no timer armed: the client has no way to learn of the open window")
		}
		p.clk.AdvanceTo(next)
		p.settle(t)
	}
	sg.SetDrop(nil)
	if probes != 1 || recvQ() == 0 {
		t.Fatalf("after the persist timer: %d probes, %d bytes received; want 1 probe and data", probes, recvQ())
	}

	// The rest flows with window updates alone.
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The digest of the whole stream: what was read while cut off, then the rest.
		got, n, err := sum(io.MultiReader(bytes.NewReader(buf), s))
		done <- result{got, n, err}
	}()
	select {
	case r := <-done:
		if r.err != nil || r.n != size || r.sum != want {
			t.Fatalf("received %d bytes (%v), SHA-256 match %v; want %d bytes", r.n, r.err, r.sum == want, size)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("stalled: client %v server %v", p.client.Internals().Sockets(), p.server.Internals().Sockets())
	}
}

// TestSynReceivedSYNACKRetriesExhausted loses everything the client sends
// after its SYN, so the handshake never completes on the server: the
// SYN,ACK is retransmitted SYNACKRetries times with back-off, and the
// half-open connection is freed after InitialRTO * (2^(SYNACKRetries+1) - 1),
// 63 s with Linux's defaults, without a RST and without reaching Accept.
func TestSynReceivedSYNACKRetriesExhausted(t *testing.T) {
	pc, _, sg := gates(true)
	p := newPair(t, pc)
	l := p.listen(t, 80, 1)
	sg.SetDrop(func(pkt []byte) bool {
		seg := tcpOf(pkt)
		return seg == nil || seg.Flags() != wire.FlagSYN
	})
	c, err := p.client.DialTCP(context.Background(), serverAP(80))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p.settle(t)
	if l.HalfOpen() != 1 {
		t.Fatalf("SYN queue %d, want 1", l.HalfOpen())
	}
	cfg := p.server.Internals().TCPConfig()
	start := p.clk.Now()
	for steps := 0; l.HalfOpen() > 0; steps++ {
		if steps > cfg.SYNACKRetries+1 {
			t.Fatalf("half-open after %d timer steps", steps)
		}
		next, ok := p.clk.Next()
		if !ok {
			t.Fatal("no timer armed")
		}
		p.clk.AdvanceTo(next)
		p.settle(t)
	}
	var want time.Duration
	for i, rto := 0, cfg.InitialRTO; i <= cfg.SYNACKRetries; i, rto = i+1, 2*rto {
		want += rto
	}
	if d := p.clk.Now().Sub(start); d != want {
		t.Errorf("half-open connection freed after %v, want %v", d, want)
	}
	st := p.server.Internals().TCPStats()
	if st.RetransSegs.Load() != uint64(cfg.SYNACKRetries) || st.AttemptFails.Load() != 1 || st.OutRsts.Load() != 0 {
		t.Errorf("RetransSegs %d, AttemptFails %d, OutRsts %d; want %d, 1, 0",
			st.RetransSegs.Load(), st.AttemptFails.Load(), st.OutRsts.Load(), cfg.SYNACKRetries)
	}
	if socks := p.server.Internals().Sockets(); len(socks) != 1 || l.Ready() != 0 {
		t.Errorf("server sockets %v, accept queue %d; want only the listener", socks, l.Ready())
	}
}
