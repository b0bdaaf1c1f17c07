package synack_test

// Reaping connections to dead peers on a virtual clock: the zero-window
// probe limit, TCP_USER_TIMEOUT, and the ISS of a TIME-WAIT takeover.

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// zeroWindowStall connects a client to a server that never reads and
// has the client write until the server's window is zero and the
// client's first zero-window probe has been answered. It returns the
// pair, the client, the server's gate and the writer's result.
func zeroWindowStall(t *testing.T) (*pair, *synack.TCPConn, *gate, chan error) {
	t.Helper()
	pc, _, sg := gates(true)
	pc.tcp = tcp.Config{SendBufferSize: 16 << 10, ReceiveBufferSize: 16 << 10}
	p := newPair(t, pc)
	c, s := p.connect(t, p.listen(t, 80, 1))
	t.Cleanup(func() { c.Close(); s.Close() })
	wrote := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Write(buf); err != nil {
				wrote <- err
				return
			}
		}
	}()
	st := p.client.Internals().TCPStats()
	p.runClock(t, 100, func() int64 { return int64(c.Info().SendQ) }, func() bool { return st.WinProbes.Load() >= 1 })
	p.settle(t) // the server's answer, window still 0, is in
	return p, c, sg, wrote
}

// TestZeroWindowSilentPeerTimesOut: the server stops reading, its window
// closes, then its host goes silent. The client probes Retries (15) more
// times with backoff, then gives up without a segment and its blocked
// Write fails with ETIMEDOUT (Linux tcp_probe_timer, tcp_write_err).
// Before, it probed forever.
func TestZeroWindowSilentPeerTimesOut(t *testing.T) {
	p, c, sg, wrote := zeroWindowStall(t)
	sg.SetDrop(everything)
	st := p.client.Internals().TCPStats()
	rsts := st.OutRsts.Load()
	start := p.clk.Now()
	err := runUntil(t, p, wrote)
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Write after the probes went unanswered: %v, want ETIMEDOUT", err)
	}
	if c.State() != tcp.StateClosed {
		t.Fatalf("client %v, want CLOSED", c.State())
	}
	if n := st.WinProbes.Load(); n != 1+tcp.DefaultRetries {
		t.Errorf("WinProbes = %d, want 1 answered + %d unanswered", n, tcp.DefaultRetries)
	}
	if st.WinProbeAborts.Load() != 1 || st.AbortOnTimeout.Load() != 1 || st.OutRsts.Load() != rsts {
		t.Errorf("WinProbeAborts %d AbortOnTimeout %d RSTs %d; want 1 1 0",
			st.WinProbeAborts.Load(), st.AbortOnTimeout.Load(), st.OutRsts.Load()-rsts)
	}
	t.Logf("gave up after %v", p.clk.Now().Sub(start))
}

// TestZeroWindowAnsweringPeerKept: a server that never reads but answers
// every probe with window 0 keeps the connection for 12 virtual hours
// (RFC 9293 §3.8.6.1: the sender must not close while probes are answered).
func TestZeroWindowAnsweringPeerKept(t *testing.T) {
	p, c, _, _ := zeroWindowStall(t)
	start := p.clk.Now()
	p.runClock(t, 1000, func() int64 { return 0 }, func() bool { return p.clk.Now().Sub(start) >= 12*time.Hour })
	st := p.client.Internals().TCPStats()
	if c.State() != tcp.StateEstablished || st.AbortOnTimeout.Load() != 0 {
		t.Fatalf("after 12 h: client %v, AbortOnTimeout %d; want ESTABLISHED, 0", c.State(), st.AbortOnTimeout.Load())
	}
	if n := st.WinProbes.Load(); n < 300 {
		t.Fatalf("WinProbes = %d in 12 h, want one every 2 min", n)
	}
}

// TestUserTimeoutEndsStalledConnection: with SetUserTimeout(30 s), data
// the silent peer never acknowledges ends the connection 30 s after it
// was sent, long before 15 retransmissions would (RFC 5482, Linux
// TCP_USER_TIMEOUT); a blocked Read returns ETIMEDOUT.
func TestUserTimeoutEndsStalledConnection(t *testing.T) {
	pc, _, sg := gates(true)
	p := newPair(t, pc)
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer s.Close()
	defer c.Close()
	if err := c.SetUserTimeout(-time.Second); err == nil {
		t.Fatal("a negative user timeout was accepted")
	}
	if err := c.SetUserTimeout(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	sg.SetDrop(everything)
	start := p.clk.Now()
	if _, err := c.Write([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		got <- err
	}()
	err := runUntil(t, p, got)
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Read: %v, want ETIMEDOUT", err)
	}
	if d := p.clk.Now().Sub(start); d != 30*time.Second {
		t.Fatalf("ended after %v, want 30s", d)
	}
	st := p.client.Internals().TCPStats()
	if n := st.Timeouts.Load(); n >= tcp.DefaultRetries {
		t.Fatalf("%d retransmission timeouts: the user timeout should end it before the retry count", n)
	}
	if st.AbortOnTimeout.Load() != 1 {
		t.Fatalf("AbortOnTimeout = %d, want 1", st.AbortOnTimeout.Load())
	}
}

// TestTimeWaitTakeoverISSAboveOldSndMax: the server closes first and sits
// in TIME-WAIT; the client dials again from the same port a second later.
// The server's new connection starts at the old SND.MAX + 65535 + 2
// (Linux), not from the ISN clock, and carries data.
func TestTimeWaitTakeoverISSAboveOldSndMax(t *testing.T) {
	rec := new(trace.Recorder)
	p := newPair(t, pairConfig{virtual: true, trace: rec})
	l := p.listen(t, 80, 1)
	c, s := p.connect(t, l)
	laddr := c.LocalAddr().(*net.TCPAddr).AddrPort()
	go s.Write(bytesOf(3000))
	if _, err := io.ReadFull(c, make([]byte, 3000)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client Read: %v, want EOF", err)
	}
	c.Close()
	p.settle(t)
	if st := states(p.server); len(st) != 1 || st[0] != tcp.StateTimeWait {
		t.Fatalf("server %v, want TIME-WAIT", st)
	}
	var oldMax seqnum.Value
	for _, e := range rec.Events() {
		if e.Host == "server" && e.Kind == trace.KindSegmentSent && e.Flags.Has(wire.FlagFIN) {
			oldMax = e.Seq.Add(1)
		}
	}
	rec.Reset()
	p.clk.Advance(time.Second)
	acc := make(chan *synack.TCPConn, 1)
	go func() {
		s, _ := l.AcceptTCP()
		acc <- s
	}()
	c2, err := p.client.DialTCPFrom(context.Background(), laddr, serverAP(80))
	if err != nil {
		t.Fatalf("redial from %v: %v", laddr, err)
	}
	defer c2.Close()
	s2 := <-acc
	defer s2.Close()
	var iss seqnum.Value
	found := false
	for _, e := range rec.Events() {
		if e.Host == "server" && e.Kind == trace.KindSegmentSent && e.Flags.Has(wire.FlagSYN|wire.FlagACK) {
			iss, found = e.Seq, true
		}
	}
	if want := oldMax.Add(65535 + 2); !found || iss != want {
		t.Fatalf("new ISS %d (found %v), want old SND.MAX %d + 65537 = %d", iss, found, oldMax, want)
	}
	go c2.Write([]byte("again"))
	b := make([]byte, 5)
	if _, err := io.ReadFull(s2, b); err != nil || string(b) != "again" {
		t.Fatalf("server read %q, %v", b, err)
	}
}

// runUntil runs the pair's clock until the application's call reports
// its result on ch, and returns it.
func runUntil(t *testing.T, p *pair, ch chan error) error {
	t.Helper()
	var err error
	ended := false
	p.runClock(t, 100, func() int64 { return 0 }, func() bool {
		if !ended {
			select {
			case err = <-ch:
				ended = true
			default:
			}
		}
		return ended
	})
	return err
}

// bytesOf returns n recognisable bytes.
func bytesOf(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}
