//go:build !race

package fault_test

import (
	"testing"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/fault"
)

// nullEndpoint accepts every packet and keeps the Dispatcher it is given.
type nullEndpoint struct{ d link.Dispatcher }

func (e *nullEndpoint) MTU() int                 { return mtu }
func (e *nullEndpoint) Attach(d link.Dispatcher) { e.d = d }
func (e *nullEndpoint) WritePacket([]byte) error { return nil }
func (e *nullEndpoint) Close() error             { return nil }

type discard struct{}

func (discard) DeliverPacket([]byte) {}

func TestZeroConfigAllocatesNothing(t *testing.T) {
	inner := &nullEndpoint{}
	e := fault.New(inner, fault.Config{Clock: clock.NewVirtual(epoch)})
	defer e.Close()
	e.Attach(discard{})
	pkt := packet(1, 1000)
	if n := testing.AllocsPerRun(1000, func() { _ = e.WritePacket(pkt) }); n != 0 {
		t.Errorf("WritePacket allocates %v times per packet, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { inner.d.DeliverPacket(pkt) }); n != 0 {
		t.Errorf("DeliverPacket allocates %v times per packet, want 0", n)
	}
}

func TestHeldPacketsSteadyStateAllocatesNothing(t *testing.T) {
	clk := clock.NewVirtual(epoch)
	inner := &nullEndpoint{}
	d := fault.Direction{Loss: 0.1, Duplicate: 0.1, Corrupt: 0.1, Reorder: 0.1, Delay: time.Millisecond,
		Jitter: time.Millisecond, Rate: 100_000_000}
	e := fault.New(inner, fault.Config{Clock: clk, Out: d, In: d})
	defer e.Close()
	e.Attach(discard{})
	pkt := packet(1, 1000)
	step := func() {
		for range 10 {
			_ = e.WritePacket(pkt)
			inner.d.DeliverPacket(pkt)
		}
		clk.Advance(5 * time.Millisecond)
	}
	for range 100 {
		step() // warm the pool and grow the heaps
	}
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Errorf("a round of held packets allocates %v times, want 0", n)
	}
}
