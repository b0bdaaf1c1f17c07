//go:build linux && !race

package tun_test

import (
	"testing"

	"github.com/synack-net/synack/link"
	"golang.org/x/sys/unix"
)

// TestVnetSteadyStateAllocatesNothing: writing with a virtio-net header
// (WriteGSO and WritePacket) and reading with one (DeliverGSO) allocate
// nothing per packet.
func TestVnetSteadyStateAllocatesNothing(t *testing.T) {
	ft := newFakeTUN(t, all)
	done := make(chan struct{})
	go func() { // the kernel's side: drain what the device writes
		defer close(done)
		b := make([]byte, 70000)
		for {
			if n, err := unix.Read(ft.peer, b); err != nil || n == 0 {
				return
			}
		}
	}()
	large := payload(60000)
	g := link.GSO{Type: link.GSOTCPv4, NeedsCsum: true, HdrLen: 52, Size: 1448, CsumStart: 20, CsumOffset: 16}
	if n := testing.AllocsPerRun(1000, func() { _ = ft.dev.WriteGSO(large, g) }); n != 0 {
		t.Errorf("WriteGSO allocates %v times per packet", n)
	}
	small := payload(100)
	if n := testing.AllocsPerRun(1000, func() { _ = ft.dev.WritePacket(small) }); n != 0 {
		t.Errorf("WritePacket allocates %v times per packet", n)
	}
	unix.Shutdown(ft.peer, unix.SHUT_RDWR)
	<-done
}

// signalSink signals each delivery, keeping nothing.
type signalSink chan struct{}

func (s signalSink) DeliverPacket([]byte)        { s <- struct{}{} }
func (s signalSink) AcceptsGSO() bool            { return true }
func (s signalSink) DeliverGSO([]byte, link.GSO) { s <- struct{}{} }

func TestVnetReadAllocatesNothing(t *testing.T) {
	ft := newFakeTUN(t, all)
	sink := make(signalSink)
	ft.dev.Attach(sink)
	msg := append(hdr(1, 1, 52, 1448, 20, 16), payload(30000)...)
	read := func() {
		if _, err := unix.Write(ft.peer, msg); err != nil {
			t.Fatal(err)
		}
		<-sink
	}
	read()
	if n := testing.AllocsPerRun(500, read); n != 0 {
		t.Errorf("reading and delivering a large segment allocates %v times", n)
	}
}
