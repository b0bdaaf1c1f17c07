//go:build linux

package tun_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/synack-net/synack/link/tun"
	"github.com/synack-net/synack/link/tun/tuntest"
	"github.com/synack-net/synack/wire"
)

// flowPort is the port the kernel's flows are sent to, on the stack's
// address; flows differ by their source port.
const flowPort = 9999

// arrival is one delivered datagram of a kernel flow.
type arrival struct {
	g   uint64 // the goroutine that delivered it: one per queue
	seq int    // the sequence number in its payload
}

// flowRecorder is a Dispatcher, safe for concurrent calls, that records
// for every UDP datagram to flowPort its source port, the goroutine that
// delivered it and the sequence number it carries ("seq N"), ignoring
// other packets (the kernel's IPv6 chatter, say).
type flowRecorder struct {
	mu    sync.Mutex
	flows map[uint16][]arrival
	n     int
	grew  chan struct{} // signalled at every recorded datagram
}

func newFlowRecorder() *flowRecorder {
	return &flowRecorder{flows: map[uint16][]arrival{}, grew: make(chan struct{}, 1)}
}

func (r *flowRecorder) DeliverPacket(pkt []byte) {
	p, err := wire.ParseIPv4(pkt)
	if err != nil || p.Protocol() != wire.ProtocolUDP || p.Dst() != stackAddr {
		return
	}
	u, err := wire.ParseUDP(p.Payload())
	if err != nil || u.DstPort() != flowPort {
		return
	}
	seq, err := strconv.Atoi(strings.TrimPrefix(string(u.Payload()), "seq "))
	if err != nil {
		return
	}
	g := goroutineID()
	r.mu.Lock()
	r.flows[u.SrcPort()] = append(r.flows[u.SrcPort()], arrival{g: g, seq: seq})
	r.n++
	r.mu.Unlock()
	select {
	case r.grew <- struct{}{}:
	default:
	}
}

// awaitCount waits until n datagrams have been recorded.
func (r *flowRecorder) awaitCount(t *testing.T, n int) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got := r.n
		r.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-r.grew:
		case <-deadline.C:
			t.Fatalf("%d datagrams delivered within %v, want %d", got, waitTimeout, n)
		}
	}
}

// goroutineID is the number of the calling goroutine, from its stack
// trace's first line ("goroutine 42 [running]:").
func goroutineID() uint64 {
	var b [64]byte
	s := b[:runtime.Stack(b[:], false)]
	s = bytes.TrimPrefix(s, []byte("goroutine "))
	id, _ := strconv.ParseUint(string(s[:bytes.IndexByte(s, ' ')]), 10, 64)
	return id
}

// kernelFlows makes n UDP sockets in ns, each connected to the stack's
// flowPort from a port of its own: n flows from the kernel.
func kernelFlows(t *testing.T, ns *tuntest.NS, n int) []*net.UDPConn {
	t.Helper()
	conns := make([]*net.UDPConn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	ns.Do(t, func() error {
		for range n {
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(stackAddr, flowPort)))
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	return conns
}

// TestQueuesSpreadKernelFlows: a device with two queues has two readers;
// 64 UDP flows from the kernel, sent one round of a datagram per flow at
// a time (so that no queue's ring overflows), are all delivered, each
// flow by one reader in the order sent, and both queues deliver some
// (the chance that the kernel's hash puts all 64 flows on one queue is
// 2^-63).
func TestQueuesSpreadKernelFlows(t *testing.T) { bothPaths(t, testQueuesSpreadKernelFlows) }

func testQueuesSpreadKernelFlows(t *testing.T, plain bool) {
	const flows, rounds = 64, 20
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "", tun.Config{HostAddr: hostPrefix, NoOffload: plain, Queues: 2})
	if dev.Queues() != 2 {
		t.Fatalf("Queues() = %d, want 2", dev.Queues())
	}
	if out := ns.Run(t, "ls", "/sys/class/net/"+dev.Name()+"/queues"); !strings.Contains(out, "tx-1") {
		t.Errorf("the kernel lists no second queue of %s:\n%s", dev.Name(), out)
	}
	r := newFlowRecorder()
	dev.Attach(r)
	conns := kernelFlows(t, ns, flows)
	for seq := range rounds {
		for _, c := range conns {
			if _, err := fmt.Fprintf(c, "seq %d", seq); err != nil {
				t.Fatal(err)
			}
		}
		r.awaitCount(t, (seq+1)*flows)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.flows) != flows {
		t.Fatalf("%d flows delivered, want %d", len(r.flows), flows)
	}
	readers := map[uint64]int{}
	for port, as := range r.flows {
		if len(as) != rounds {
			t.Errorf("flow from port %d: %d datagrams delivered, want %d", port, len(as), rounds)
		}
		for i, a := range as {
			if a.g != as[0].g {
				t.Errorf("flow from port %d delivered by goroutines %d and %d: it changed queues", port, as[0].g, a.g)
				break
			}
			if a.seq != i {
				t.Errorf("flow from port %d: datagram %d carries seq %d: out of order", port, i, a.seq)
				break
			}
		}
		readers[as[0].g]++
	}
	if len(readers) != 2 {
		t.Errorf("flows delivered by %d goroutines (%v), want 2, one per queue", len(readers), readers)
	}
	s := dev.Stats()
	t.Logf("flows per reader %v, per queue delivered %v", readers, s.QueueDelivered[:2])
	if s.QueueDelivered[0] == 0 || s.QueueDelivered[1] == 0 {
		t.Errorf("QueueDelivered = %v: want both queues used", s.QueueDelivered[:2])
	}
	if s.QueueDelivered[0]+s.QueueDelivered[1] != s.InPackets || s.InPackets < flows*rounds {
		t.Errorf("QueueDelivered %v, InPackets %d: want them to add up, at least %d", s.QueueDelivered[:2], s.InPackets, flows*rounds)
	}
}

// udpPacket builds an IPv4 UDP datagram from src to dst.
func udpPacket(src, dst netip.AddrPort, payload []byte) []byte {
	n := wire.IPv4MinHeaderLen + wire.UDPHeaderLen + len(payload)
	b := make([]byte, n)
	ip := wire.IPv4Fields{
		TotalLength: uint16(n), ID: 1, Flags: wire.IPv4FlagDontFragment, TTL: 64,
		Protocol: wire.ProtocolUDP, Src: src.Addr(), Dst: dst.Addr(),
	}
	ip.Encode(b)
	u := wire.UDP(b[wire.IPv4MinHeaderLen:])
	f := wire.UDPFields{SrcPort: src.Port(), DstPort: dst.Port(), Length: uint16(wire.UDPHeaderLen + len(payload))}
	f.Encode(u)
	copy(u.Payload(), payload)
	u.FillChecksum(src.Addr(), dst.Addr())
	return b
}

// TestQueuesWritesReachKernel: on a device with two queues, 64 datagrams
// of 64 flows, written from several goroutines, all reach a kernel
// socket, and both descriptors carried some.
func TestQueuesWritesReachKernel(t *testing.T) { bothPaths(t, testQueuesWritesReachKernel) }

func testQueuesWritesReachKernel(t *testing.T, plain bool) {
	const flows, writers = 64, 4
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "", tun.Config{HostAddr: hostPrefix, NoOffload: plain, Queues: 2})
	dev.Attach(make(collector, 1))
	var sock *net.UDPConn
	ns.Do(t, func() error {
		var err error
		sock, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(hostAddr, 7777)))
		return err
	})
	t.Cleanup(func() { sock.Close() })

	var wg sync.WaitGroup
	errc := make(chan error, flows)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < flows; i += writers {
				src := netip.AddrPortFrom(stackAddr, uint16(40000+i))
				pkt := udpPacket(src, netip.AddrPortFrom(hostAddr, 7777), []byte(strconv.Itoa(i)))
				if err := dev.WritePacket(pkt); err != nil {
					errc <- err
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("WritePacket: %v", err)
	}

	got := map[string]bool{}
	buf := make([]byte, 100)
	sock.SetReadDeadline(time.Now().Add(waitTimeout))
	for len(got) < flows {
		n, from, err := sock.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("the kernel's socket received %d datagrams of %d: %v", len(got), flows, err)
		}
		if want := strconv.Itoa(int(from.Port()) - 40000); string(buf[:n]) != want || from.Addr() != stackAddr {
			t.Fatalf("datagram %q from %v, want %q from %v", buf[:n], from, want, stackAddr)
		}
		got[string(buf[:n])] = true
	}
	s := dev.Stats()
	t.Logf("per queue written %v", s.QueueWritten[:2])
	if s.QueueWritten[0] == 0 || s.QueueWritten[1] == 0 || s.QueueWritten[0]+s.QueueWritten[1] != flows || s.OutPackets != flows {
		t.Errorf("QueueWritten = %v, OutPackets %d: want both descriptors used, %d in all", s.QueueWritten[:2], s.OutPackets, flows)
	}
}

// TestQueuesLinkDeletedEndsAllReaders: deleting a device with two queues
// ends both readers, with one error passed to OnError and counted.
func TestQueuesLinkDeletedEndsAllReaders(t *testing.T) {
	ns := tuntest.Namespace(t)
	errc := make(chan error, 4)
	dev := ns.OpenTUN(t, "", tun.Config{HostAddr: hostPrefix, Queues: 2, OnError: func(err error) { errc <- err }})
	dev.Attach(make(collector, 1))
	ns.Run(t, "ip", "link", "del", dev.Name())
	await(t, tun.ReaderDone(dev), "both readers ending")
	select {
	case err := <-errc:
		if !errors.Is(err, unix.EBADFD) || dev.Err() != err {
			t.Errorf("OnError got %v, Err() %v: want EBADFD, the same", err, dev.Err())
		}
	default:
		t.Fatal("OnError not called")
	}
	if len(errc) != 0 {
		t.Errorf("OnError called %d more times", len(errc))
	}
	if s := dev.Stats(); s.InErrors != 1 {
		t.Errorf("InErrors = %d, want 1", s.InErrors)
	}
	if err := dev.Close(); err != nil {
		t.Errorf("Close after deletion = %v", err)
	}
}

// TestQueuesCloseEndsAllReaders: Close ends both readers and deletes the
// device.
func TestQueuesCloseEndsAllReaders(t *testing.T) {
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "synq0", tun.Config{Queues: 2})
	dev.Attach(make(collector, 1))
	if err := dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	await(t, tun.ReaderDone(dev), "both readers ending after Close")
	if err := dev.Err(); err != nil {
		t.Errorf("Err() after Close = %v", err)
	}
	if out, err := ns.Command("ip", "link", "show", "dev", "synq0").CombinedOutput(); err == nil {
		t.Errorf("synq0 still exists after Close:\n%s", out)
	}
}

// TestQueuesBadConfig: a count of queues below zero or above MaxQueues is
// refused before any system call, saying the range.
func TestQueuesBadConfig(t *testing.T) {
	// The check comes before any system call; as root, in a namespace of
	// the test's own all the same, so that a broken check cannot leave a
	// device on the host.
	open := func(n int) error {
		dev, err := tun.Open("", tun.Config{Queues: n})
		if err == nil {
			dev.Close()
		}
		return err
	}
	if os.Geteuid() == 0 {
		ns := tuntest.Namespace(t)
		open = func(n int) error { return openInNS(t, ns, "", tun.Config{Queues: n}, nil) }
	}
	for _, n := range []int{-1, tun.MaxQueues + 1, 1000} {
		err := open(n)
		if err == nil {
			t.Fatalf("Open with %d queues succeeded", n)
		}
		if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), fmt.Sprintf("%d queues out of range 0..%d", n, tun.MaxQueues)) {
			t.Errorf("Open with %d queues = %v, want EINVAL and the range", n, err)
		}
	}
}

// TestQueuesRefusedBySingleQueueDevice: a persistent device made without
// multi_queue refuses a second queue, and the error says so.
func TestQueuesRefusedBySingleQueueDevice(t *testing.T) {
	ns := tuntest.Namespace(t)
	ns.Run(t, "ip", "tuntap", "add", "dev", "synp1", "mode", "tun")
	t.Cleanup(func() { _ = ns.Command("ip", "link", "del", "synp1").Run() })
	err := openInNS(t, ns, "synp1", tun.Config{Queues: 2}, nil)
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "multi_queue") {
		t.Errorf("Open(synp1, 2 queues) = %v, want EINVAL and a message naming multi_queue", err)
	}
	// And a multi-queue one takes them; closing leaves it.
	ns.Run(t, "ip", "tuntap", "add", "dev", "synp2", "mode", "tun", "multi_queue")
	t.Cleanup(func() { _ = ns.Command("ip", "link", "del", "synp2").Run() })
	if err := openInNS(t, ns, "synp2", tun.Config{Queues: 4}, nil); err != nil {
		t.Errorf("Open(synp2, 4 queues) = %v", err)
	}
	ns.Run(t, "ip", "link", "show", "dev", "synp2")
}

// TestQueuesKernelFollowsWrites: once a datagram of a flow has been
// written on a queue, the kernel sends the flow's next datagrams to that
// queue (Linux's automatic steering, which the package doc counts on to
// keep a flow on one queue both ways): the flows written on one
// descriptor are all delivered by one reader, those written on the other
// by the other.
func TestQueuesKernelFollowsWrites(t *testing.T) {
	const flows = 32
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "", tun.Config{HostAddr: hostPrefix, Queues: 2})
	r := newFlowRecorder()
	dev.Attach(r)
	conns := kernelFlows(t, ns, flows)
	for _, c := range conns {
		if _, err := fmt.Fprint(c, "seq 0"); err != nil {
			t.Fatal(err)
		}
	}
	r.awaitCount(t, flows)
	wroteOn := map[uint16]int{} // the kernel's port: the queue written on
	for _, c := range conns {
		peer := c.LocalAddr().(*net.UDPAddr).AddrPort()
		before := dev.Stats().QueueWritten
		if err := dev.WritePacket(udpPacket(netip.AddrPortFrom(stackAddr, flowPort), peer, []byte("x"))); err != nil {
			t.Fatal(err)
		}
		after := dev.Stats().QueueWritten
		if after[1] > before[1] {
			wroteOn[peer.Port()] = 1
		} else {
			wroteOn[peer.Port()] = 0
		}
	}
	for _, c := range conns {
		if _, err := fmt.Fprint(c, "seq 1"); err != nil {
			t.Fatal(err)
		}
	}
	r.awaitCount(t, 2*flows)

	r.mu.Lock()
	defer r.mu.Unlock()
	reader := map[int]uint64{} // queue written on: the goroutine that then delivered
	for port, q := range wroteOn {
		as := r.flows[port]
		if len(as) != 2 {
			t.Fatalf("flow from port %d: %d datagrams, want 2", port, len(as))
		}
		if g, ok := reader[q]; ok && g != as[1].g {
			t.Errorf("flows written on queue %d delivered afterwards by goroutines %d and %d", q, g, as[1].g)
		}
		reader[q] = as[1].g
	}
	if len(reader) != 2 || reader[0] == reader[1] {
		t.Errorf("readers after the writes, by queue written on: %v; want two different", reader)
	}
}
