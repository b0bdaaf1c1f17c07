//go:build !race

package sniff_test

import (
	"io"
	"testing"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/sniff"
)

// nullEndpoint accepts every packet and keeps the Dispatcher it is given.
type nullEndpoint struct{ d link.Dispatcher }

func (e *nullEndpoint) MTU() int                     { return 1500 }
func (e *nullEndpoint) Attach(d link.Dispatcher)     { e.d = d }
func (e *nullEndpoint) WritePacket(pkt []byte) error { return nil }
func (e *nullEndpoint) Close() error                 { return nil }

func TestSniffSteadyStateAllocatesNothing(t *testing.T) {
	inner := &nullEndpoint{}
	s, err := sniff.New(inner, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Attach(dispatchFunc(func([]byte) {}))
	pkt := exchange[3].pkt
	if n := testing.AllocsPerRun(1000, func() { _ = s.WritePacket(pkt) }); n != 0 {
		t.Errorf("WritePacket allocates %v times per packet, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { inner.d.DeliverPacket(pkt) }); n != 0 {
		t.Errorf("DeliverPacket allocates %v times per packet, want 0", n)
	}
}
