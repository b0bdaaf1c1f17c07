package tcp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// The engine's micro-benchmarks use only its exported API, as a stack
// does, with a Sender that keeps nothing: they time the engine alone.

// discard is a Sender that counts segments and keeps none.
type discard struct{ n int }

func (d *discard) Send(*tcp.Conn, *wire.TCPFields, []byte, []byte)  { d.n++ }
func (d *discard) SendBare(netip.Addr, netip.Addr, *wire.TCPFields) { d.n++ }

const benchMSS = 1460

var (
	benchLocal  = netip.MustParseAddrPort("10.0.0.1:49152")
	benchRemote = netip.MustParseAddrPort("10.0.0.2:80")
	benchStart  = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
)

// benchEstablished returns a client connection the peer has answered:
// ESTABLISHED, its ISS 1000 and the peer's 5000, MSS 1460 both ways.
func benchEstablished(b *testing.B) (*tcp.Conn, *discard) {
	b.Helper()
	out := &discard{}
	env := &tcp.Env{Config: tcp.Config{MSS: benchMSS}.WithDefaults(), Out: out}
	c := tcp.NewConn(env, benchLocal, benchRemote)
	if err := c.Connect(benchStart, 1000); err != nil {
		b.Fatal(err)
	}
	c.HandleSegment(benchStart.Add(time.Millisecond), &tcp.Segment{
		Seq: 5000, Ack: 1001, Flags: wire.FlagSYN | wire.FlagACK, Window: 65535,
		Options: wire.TCPOptions{HasMSS: true, MSS: benchMSS},
	})
	if c.State() != tcp.StateEstablished {
		b.Fatalf("state %v after the SYN,ACK, want ESTABLISHED", c.State())
	}
	c.TakeEvents()
	return c, out
}

// BenchmarkSegmentArrival is the engine's segment-arrival path (RFC 9293
// §3.10.7.4) in ESTABLISHED, one full-sized segment per iteration:
//
//   - data: an in-order data segment arrives, the engine acknowledges it
//     and the user reads it (the receiver of a bulk transfer);
//   - ack: the user writes a segment's worth, the engine sends it and its
//     ACK arrives (the sender of a bulk transfer).
func BenchmarkSegmentArrival(b *testing.B) {
	payload := make([]byte, benchMSS)
	b.Run("data", func(b *testing.B) {
		c, out := benchEstablished(b)
		buf := make([]byte, benchMSS)
		seg := tcp.Segment{Seq: 5001, Ack: 1001, Flags: wire.FlagACK | wire.FlagPSH, Window: 65535, Payload: payload}
		now := benchStart.Add(time.Second)
		b.ReportAllocs()
		b.SetBytes(benchMSS)
		for b.Loop() {
			now = now.Add(time.Microsecond)
			c.HandleSegment(now, &seg)
			if n, err := c.Read(now, buf); n != benchMSS || err != nil {
				b.Fatalf("Read = %d, %v", n, err)
			}
			c.TakeEvents()
			seg.Seq = seg.Seq.Add(benchMSS)
		}
		if out.n == 0 {
			b.Fatal("no ACK sent")
		}
	})
	b.Run("ack", func(b *testing.B) {
		c, out := benchEstablished(b)
		ack := tcp.Segment{Seq: 5001, Ack: 1001, Flags: wire.FlagACK, Window: 65535}
		now := benchStart.Add(time.Second)
		b.ReportAllocs()
		b.SetBytes(benchMSS)
		for b.Loop() {
			now = now.Add(time.Microsecond)
			sent := out.n
			if n, err := c.Write(now, payload); n != benchMSS || err != nil {
				b.Fatalf("Write = %d, %v", n, err)
			}
			if out.n != sent+1 {
				b.Fatalf("Write sent %d segments, want 1", out.n-sent)
			}
			ack.Ack = ack.Ack.Add(seqnum.Size(benchMSS))
			c.HandleSegment(now, &ack)
			c.TakeEvents()
		}
		if c.SendQueue() != 0 {
			b.Fatalf("%d bytes left unacknowledged", c.SendQueue())
		}
	})
}
