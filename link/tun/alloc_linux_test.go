//go:build linux && !race

package tun_test

import (
	"os"
	"sync"
	"testing"

	"github.com/synack-net/synack/link/tun"

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

// TestQueuesAllocateNothing: with two queues (fake descriptors), writes
// of flows steered to either descriptor and reads on either allocate
// nothing per packet.
func TestQueuesAllocateNothing(t *testing.T) {
	var files []*os.File
	var peers []int
	for range 2 {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Skipf("no SOCK_SEQPACKET socket pair to stand in for a TUN descriptor: %v", err)
		}
		unix.SetNonblock(fds[1], false)
		files, peers = append(files, os.NewFile(uintptr(fds[0]), "fake")), append(peers, fds[1])
	}
	var asked tun.Offloads
	dev := tun.NewFromFiles(files, 1500, all, &asked)
	t.Cleanup(func() {
		dev.Close()
		for _, p := range peers {
			unix.Close(p)
		}
	})
	var drained sync.WaitGroup
	written := make([]int, len(peers))
	for i, p := range peers { // the kernel's side: drain what the device writes
		drained.Go(func() {
			b := make([]byte, 70000)
			for {
				if n, err := unix.Read(p, b); err != nil || n == 0 {
					return
				}
				written[i]++
			}
		})
	}
	pkts := make([][]byte, 16)
	for i := range pkts {
		pkts[i] = payload(100)
		pkts[i][20], pkts[i][21] = byte(i), byte(i*3) // flows differ in bytes 12..23
	}
	k := 0
	if n := testing.AllocsPerRun(1000, func() { _ = dev.WritePacket(pkts[k%len(pkts)]); k++ }); n != 0 {
		t.Errorf("WritePacket on two queues allocates %v times per packet", n)
	}
	sink := make(signalSink)
	dev.Attach(sink)
	msg := append(hdr(1, 1, 52, 1448, 20, 16), payload(30000)...)
	read := func() {
		if _, err := unix.Write(peers[k%2], msg); err != nil {
			t.Fatal(err)
		}
		k++
		<-sink
	}
	read()
	if n := testing.AllocsPerRun(500, read); n != 0 {
		t.Errorf("reading and delivering on two queues allocates %v times", n)
	}
	for _, p := range peers {
		unix.Shutdown(p, unix.SHUT_RDWR)
	}
	drained.Wait()
	if s := dev.Stats(); written[0] == 0 || written[1] == 0 || s.QueueDelivered[0] == 0 || s.QueueDelivered[1] == 0 {
		t.Errorf("written per descriptor %v, delivered per queue %v: want both used", written, s.QueueDelivered[:2])
	}
}
