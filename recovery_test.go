package synack_test

import (
	"sync"
	"testing"
	"time"

	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
)

// TestReorderingSpuriousRetransmissionsBounded: a path that reorders 5%
// of the data (each held back 3 ms, more than the RTT) and loses nothing
// makes some fast retransmissions spurious, but never more than one per
// packet reordered; the receiver reports each duplicate it gets with a
// D-SACK (RFC 2883), so the sender learns of them; and every byte arrives.
func TestReorderingSpuriousRetransmissionsBounded(t *testing.T) {
	out := fault.Direction{Reorder: 0.05, ReorderDelay: 3 * time.Millisecond, Delay: time.Millisecond}
	in := fault.Direction{Delay: time.Millisecond}
	n := newLossyNet(t, 11, out, in, tcp.Config{})
	src := seeded(11, 4<<20)
	c, s := n.transfer(t, src, nil, nil)
	if s.read.Load() != int64(len(src)) || s.sum != sha256Of(src) {
		t.Fatalf("server read %d bytes, SHA-256 match %v", s.read.Load(), s.sum == sha256Of(src))
	}
	fo, _ := n.fa.Stats()
	retrans := c.conn.Info().TCP.Retransmits
	cs, ss := n.client.Internals().TCPStats(), n.server.Internals().TCPStats()
	t.Logf("%d packets reordered, %d retransmitted, %d D-SACKs sent, %d received", fo.Reordered, retrans,
		ss.DSACKsSent.Load(), cs.DSACKsReceived.Load())
	if fo.Reordered == 0 {
		t.Fatal("nothing was reordered")
	}
	if retrans > fo.Reordered {
		t.Fatalf("%d retransmissions for %d packets reordered and none lost: more than one each", retrans, fo.Reordered)
	}
	if retrans > 0 && (ss.DSACKsSent.Load() == 0 || cs.DSACKsReceived.Load() == 0) {
		t.Fatalf("%d spurious retransmissions but D-SACKs sent %d, received %d", retrans, ss.DSACKsSent.Load(), cs.DSACKsReceived.Load())
	}
}

// TestZeroWindowReaderStopsThenResumes: the server's application stops
// reading for ten minutes of protocol time. The client fills the server's
// window and stops; its persist timer probes the zero window at
// intervals that back off (RFC 9293 §3.8.6.1, RFC 6298 §5.5), up to the
// maximum RTO, and the connection survives them all. When the reader
// comes back the window opens and every byte arrives.
func TestZeroWindowReaderStopsThenResumes(t *testing.T) {
	var mu sync.Mutex
	var probes []time.Time
	sink := trace.SinkFunc(func(e *trace.Event) {
		if e.Kind == trace.KindTimer && e.Cause == "persist" && e.Host == "client" {
			mu.Lock()
			probes = append(probes, e.Time)
			mu.Unlock()
		}
	})
	d := fault.Direction{Delay: 5 * time.Millisecond}
	n := newLossyNetTraced(t, 3, d, d, tcp.Config{}, sink)
	cc, sc := n.connect(t)
	src := seeded(3, 2<<20)
	c := &side{conn: cc, src: src}
	c.run(n.clk)
	start := n.clk.Now()
	// The server's application does not read: only the client's writer runs.
	n.drive(t, func() bool { return n.clk.Now().Sub(start) >= 10*time.Minute }, func() bool {
		return c.writeDone.Load() || c.conn.Info().SendQ >= c.conn.Info().TCP.SndBuf
	})
	mu.Lock()
	got := append([]time.Time(nil), probes...)
	mu.Unlock()
	if len(got) < 5 {
		t.Fatalf("%d zero-window probes in ten minutes, want the persist timer at work", len(got))
	}
	var gaps []time.Duration
	for i := 1; i < len(got); i++ {
		gaps = append(gaps, got[i].Sub(got[i-1]))
	}
	t.Logf("%d probes, intervals %v", len(got), gaps)
	for i := 1; i < len(gaps); i++ {
		if gaps[i] < gaps[i-1] || (gaps[i] < tcp.DefaultMaxRTO && gaps[i] < 2*gaps[i-1]-time.Millisecond) {
			t.Fatalf("probe interval %v after %v: want it doubled, up to %v", gaps[i], gaps[i-1], tcp.DefaultMaxRTO)
		}
	}
	if st := cc.State(); st != tcp.StateEstablished {
		t.Fatalf("client %v after ten minutes of probes, want ESTABLISHED", st)
	}
	if sent := c.wrote.Load(); sent >= int64(len(src)) {
		t.Fatalf("the client wrote all %d bytes with no reader: the window never closed", sent)
	}
	// The reader comes back.
	s := &side{conn: sc}
	s.run(n.clk)
	n.drive(t, func() bool { return s.readOK.Load() && c.done() }, func() bool { return c.blocked() && s.blocked() })
	if s.read.Load() != int64(len(src)) || s.sum != sha256Of(src) {
		t.Fatalf("server read %d bytes after resuming, SHA-256 match %v; want %d", s.read.Load(), s.sum == sha256Of(src), len(src))
	}
}
