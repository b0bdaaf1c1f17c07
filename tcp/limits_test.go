package tcp

import (
	"testing"

	"github.com/synack-net/synack/wire"
)

// TestSynSentRecvSYNACKWithMSS1SendsSegmentsOf48: a peer announcing MSS 1
// gets 48-byte segments (Linux tcp_min_snd_mss), not 200 one-byte ones.
func TestSynSentRecvSYNACKWithMSS1SendsSegmentsOf48(t *testing.T) {
	e := synSent(t, func(c *Config) { c.MSS = 1460 })
	e.c.HandleSegment(at(rtt), in(synack, y, x+1, wnd(60000), mssOpt(1)))
	e.expect(is(ack, x+1, y+1))
	if e.env.Stats.MinMSSRaised.Load() != 1 {
		t.Fatal("MinMSSRaised not counted")
	}
	e.write(at(rtt), bytesN(200))
	segs := e.take()
	if len(segs) != 5 {
		t.Fatalf("sent %d segments for 200 bytes at MSS 48: %v", len(segs), segs)
	}
	for i, s := range segs {
		want := 48
		if i == 4 {
			want = 200 - 4*48
		}
		if len(s.Payload) != want {
			t.Fatalf("segment %d: %v, want %d bytes", i, s, want)
		}
	}
}

// TestSynSentRecvSYNACKWithMSS1AndTimestamps: with timestamps the floor
// is on the MSS before options, as Linux's: 48 less 12 bytes of them.
func TestSynSentRecvSYNACKWithMSS1AndTimestamps(t *testing.T) {
	e := synSent(t, func(c *Config) { c.MSS = 1460 })
	e.c.HandleSegment(at(rtt), in(synack, y, x+1, wnd(60000), mssOpt(1),
		withOpts(func(o *wire.TCPOptions) { o.HasTimestamps, o.TSVal, o.TSEcr = true, 1, e.c.tsVal(base) })))
	e.expect(is(ack, x+1, y+1))
	if e.c.MSS() != 36 {
		t.Fatalf("MSS = %d, want 36 (48 less the timestamps)", e.c.MSS())
	}
}

// TestSynSentRecvSYNACKWithMSS0Uses536: an MSS option of 0 is ignored, as
// Linux ignores it, and the default of RFC 9293 §3.7.1 holds.
func TestSynSentRecvSYNACKWithMSS0Uses536(t *testing.T) {
	e := synSent(t, func(c *Config) { c.MSS = 1460 })
	e.c.HandleSegment(at(rtt), in(synack, y, x+1, wnd(60000), mssOpt(0)))
	if e.c.MSS() != 536 {
		t.Fatalf("MSS = %d, want 536", e.c.MSS())
	}
}
