//go:build linux

package tun_test

import (
	"bytes"
	"errors"
	"net/netip"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/tun"
	"github.com/synack-net/synack/link/tun/tuntest"
	"github.com/synack-net/synack/wire"
)

// waitTimeout bounds every wait on the kernel: generous, as CI machines
// are slow, but a lost packet fails the test instead of hanging it.
const waitTimeout = 10 * time.Second

var (
	hostPrefix = netip.MustParsePrefix("10.7.0.1/24")
	hostAddr   = hostPrefix.Addr()
	stackAddr  = netip.MustParseAddr("10.7.0.2")
)

// collector is a Dispatcher that sends a copy of every packet on a
// buffered channel, dropping what does not fit rather than blocking the
// reader.
type collector chan []byte

func (c collector) DeliverPacket(pkt []byte) {
	select {
	case c <- bytes.Clone(pkt):
	default:
	}
}

// await returns the first delivered IPv4 packet for which match is true,
// skipping others (the kernel may send IPv6 router solicitations, say).
func (c collector) await(t *testing.T, what string, match func(wire.IPv4) bool) wire.IPv4 {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		select {
		case b := <-c:
			p, err := wire.ParseIPv4(b)
			if err == nil && match(p) {
				return p
			}
		case <-deadline.C:
			t.Fatalf("no %s delivered within %v", what, waitTimeout)
			return nil
		}
	}
}

// icmpOf returns the ICMP message in p, or nil if p carries none.
func icmpOf(p wire.IPv4) wire.ICMPv4 {
	if p.Protocol() != wire.ProtocolICMPv4 {
		return nil
	}
	m, err := wire.ParseICMPv4(p.Payload())
	if err != nil {
		return nil
	}
	return m
}

// echoRequest builds an IPv4 ICMP echo request from src to dst.
func echoRequest(src, dst netip.Addr, ident, seq uint16, payload []byte) []byte {
	n := wire.IPv4MinHeaderLen + wire.ICMPv4HeaderLen + len(payload)
	b := make([]byte, n)
	ip := wire.IPv4Fields{
		TotalLength: uint16(n), ID: 1, Flags: wire.IPv4FlagDontFragment, TTL: 64,
		Protocol: wire.ProtocolICMPv4, Src: src, Dst: dst,
	}
	ip.Encode(b)
	icmp := wire.ICMPv4Fields{Type: wire.ICMPv4EchoRequest, Rest: uint32(ident)<<16 | uint32(seq)}
	m := wire.ICMPv4(b[wire.IPv4MinHeaderLen:])
	icmp.Encode(m)
	copy(m.Payload(), payload)
	m.FillChecksum()
	return b
}

// await waits for ch to be closed.
func await(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("%s did not happen within %v", what, waitTimeout)
	}
}

func TestOpenConfiguresHostSide(t *testing.T) {
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "", tun.Config{MTU: 1400, HostAddr: hostPrefix})
	if dev.Name() == "" {
		t.Fatal("Name() is empty")
	}
	if dev.MTU() != 1400 {
		t.Errorf("MTU() = %d, want 1400", dev.MTU())
	}
	out := ns.Run(t, "ip", "addr", "show", "dev", dev.Name())
	for _, want := range []string{"inet 10.7.0.1/24 ", "mtu 1400", "UP"} {
		if !strings.Contains(out, want) {
			t.Errorf("ip addr show lacks %q:\n%s", want, out)
		}
	}
	// The kernel routes the prefix through the device.
	route := ns.Run(t, "ip", "route", "get", stackAddr.String())
	if !strings.Contains(route, "dev "+dev.Name()) {
		t.Errorf("ip route get %v does not go through %s:\n%s", stackAddr, dev.Name(), route)
	}
}

func TestOpenDefaultMTUNoAddress(t *testing.T) {
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "synack%d", tun.Config{})
	if !regexp.MustCompile(`^synack[0-9]+$`).MatchString(dev.Name()) {
		t.Errorf("Name() = %q, want synack<N>", dev.Name())
	}
	if dev.MTU() != tun.DefaultMTU {
		t.Errorf("MTU() = %d, want %d", dev.MTU(), tun.DefaultMTU)
	}
	out := ns.Run(t, "ip", "addr", "show", "dev", dev.Name())
	if !strings.Contains(out, "mtu 1500") || !strings.Contains(out, "UP") {
		t.Errorf("ip addr show: want mtu 1500 and UP:\n%s", out)
	}
	if strings.Contains(out, "inet ") {
		t.Errorf("ip addr show: want no IPv4 address:\n%s", out)
	}
}

func TestOpenAttachesToPersistentDeviceWithAddress(t *testing.T) {
	ns := tuntest.Namespace(t)
	ns.Run(t, "ip", "tuntap", "add", "dev", "synp0", "mode", "tun")
	t.Cleanup(func() { _ = ns.Command("ip", "link", "del", "synp0").Run() })
	ns.Run(t, "ip", "addr", "add", "10.7.0.1/24", "dev", "synp0")

	dev := ns.OpenTUN(t, "synp0", tun.Config{MTU: 1280, HostAddr: hostPrefix})
	if dev.Name() != "synp0" {
		t.Errorf("Name() = %q, want synp0", dev.Name())
	}
	out := ns.Run(t, "ip", "addr", "show", "dev", "synp0")
	if n := strings.Count(out, "inet 10.7.0.1/24 "); n != 1 {
		t.Errorf("address listed %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "mtu 1280") || !strings.Contains(out, "UP") {
		t.Errorf("ip addr show: want mtu 1280 and UP:\n%s", out)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	// Persistent: closing our descriptor leaves the device.
	ns.Run(t, "ip", "link", "show", "dev", "synp0")
}

// kernelPing makes the kernel in ns send an ICMP echo request to dst: with
// ping when it is installed, else through a raw ICMP socket opened inside
// the namespace (the kernel still writes the IP header and routes it).
func kernelPing(t *testing.T, ns *tuntest.NS, dst netip.Addr) {
	t.Helper()
	if _, err := exec.LookPath("ping"); err == nil {
		cmd := ns.Command("ping", "-c", "1", "-W", "2", dst.String())
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting ping: %v", err)
		}
		// No reply comes, so ping fails after -W 2: its status is moot.
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return
	}
	t.Log("ping not installed: sending the echo request from a raw socket in the namespace")
	ns.Do(t, func() error {
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if err != nil {
			return err
		}
		defer unix.Close(s)
		msg := echoRequest(hostAddr, dst, 0x5a5a, 1, []byte("synack"))[wire.IPv4MinHeaderLen:]
		return unix.Sendto(s, msg, 0, &unix.SockaddrInet4{Addr: dst.As4()})
	})
}

func TestKernelEchoRequestDelivered(t *testing.T) { bothPaths(t, testKernelEchoRequestDelivered) }

func testKernelEchoRequestDelivered(t *testing.T, plain bool) {
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "", tun.Config{HostAddr: hostPrefix, NoOffload: plain})
	c := make(collector, 64)
	dev.Attach(c)

	kernelPing(t, ns, stackAddr)
	p := c.await(t, "ICMP echo request to "+stackAddr.String(), func(p wire.IPv4) bool {
		m := icmpOf(p)
		return m != nil && p.Dst() == stackAddr && m.Type() == wire.ICMPv4EchoRequest
	})
	if p.Src() != hostAddr {
		t.Errorf("src = %v, want %v", p.Src(), hostAddr)
	}
	if !p.IsChecksumValid() || !icmpOf(p).IsChecksumValid() {
		t.Error("bad checksum in the kernel's echo request")
	}
	// The count grows once DeliverPacket has returned, which may be just
	// after the collector passed the packet on.
	deadline := time.Now().Add(10 * time.Second)
	for s := dev.Stats(); s.InPackets == 0 || s.InOctets < uint64(len(p)); s = dev.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("Stats() = %+v: the delivered packet is not counted", s)
		}
		runtime.Gosched()
	}
}

func TestWritePacketGetsKernelEchoReply(t *testing.T) {
	bothPaths(t, testWritePacketGetsKernelEchoReply)
}

func testWritePacketGetsKernelEchoReply(t *testing.T, plain bool) {
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "", tun.Config{HostAddr: hostPrefix, NoOffload: plain})
	c := make(collector, 64)
	dev.Attach(c)

	payload := []byte("synack tun echo")
	req := echoRequest(stackAddr, hostAddr, 0x1234, 7, payload)
	if err := dev.WritePacket(req); err != nil {
		t.Fatalf("WritePacket: %v", err)
	}
	p := c.await(t, "ICMP echo reply", func(p wire.IPv4) bool {
		m := icmpOf(p)
		return m != nil && m.Type() == wire.ICMPv4EchoReply
	})
	m := icmpOf(p)
	if p.Src() != hostAddr || p.Dst() != stackAddr {
		t.Errorf("reply %v -> %v, want %v -> %v", p.Src(), p.Dst(), hostAddr, stackAddr)
	}
	if m.Ident() != 0x1234 || m.Seq() != 7 || !bytes.Equal(m.Payload(), payload) {
		t.Errorf("reply ident %#x seq %d payload %q, want 0x1234 7 %q", m.Ident(), m.Seq(), m.Payload(), payload)
	}
	if !p.IsChecksumValid() || !m.IsChecksumValid() {
		t.Error("bad checksum in the kernel's echo reply")
	}
	s := dev.Stats()
	if s.OutPackets != 1 || s.OutOctets != uint64(len(req)) {
		t.Errorf("Stats() out = %d packets %d octets, want 1 and %d", s.OutPackets, s.OutOctets, len(req))
	}
}

func TestWritePacketTooBigRefused(t *testing.T) {
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "", tun.Config{MTU: 1280})
	if err := dev.WritePacket(make([]byte, 1281)); !errors.Is(err, link.ErrTooBig) {
		t.Fatalf("WritePacket(1281 bytes) = %v, want ErrTooBig", err)
	}
	if s := dev.Stats(); s.OutDiscards != 1 || s.OutPackets != 0 {
		t.Errorf("Stats() = %+v, want 1 out discard and no packet", s)
	}
}

func TestWritePacketNotIPCountsError(t *testing.T) { bothPaths(t, testWritePacketNotIPCountsError) }

func testWritePacketNotIPCountsError(t *testing.T, plain bool) {
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "", tun.Config{NoOffload: plain})
	err := dev.WritePacket(make([]byte, 40)) // version 0: the kernel refuses it
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("WritePacket(zeros) = %v, want EINVAL", err)
	}
	if s := dev.Stats(); s.OutErrors != 1 {
		t.Errorf("Stats().OutErrors = %d, want 1", s.OutErrors)
	}
}

func TestCloseStopsReaderAndDeletesDevice(t *testing.T) {
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "sync0", tun.Config{HostAddr: hostPrefix})
	dev.Attach(make(collector, 1))

	if err := dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	await(t, tun.ReaderDone(dev), "the reader ending after Close")
	if err := dev.Err(); err != nil {
		t.Errorf("Err() after Close = %v, want nil", err)
	}
	if err := dev.WritePacket(echoRequest(stackAddr, hostAddr, 1, 1, nil)); !errors.Is(err, link.ErrClosed) {
		t.Errorf("WritePacket after Close = %v, want ErrClosed", err)
	}
	if err := dev.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	// Not persistent: the device went with the descriptor.
	if out, err := ns.Command("ip", "link", "show", "dev", "sync0").CombinedOutput(); err == nil {
		t.Errorf("sync0 still exists after Close:\n%s", out)
	}
}

func TestCloseWithoutAttach(t *testing.T) {
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "", tun.Config{})
	if err := dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	await(t, tun.ReaderDone(dev), "Close without a reader")
	dev.Attach(make(collector, 1)) // after Close: does nothing
	if err := dev.WritePacket([]byte{0x45}); !errors.Is(err, link.ErrClosed) {
		t.Errorf("WritePacket after Close = %v, want ErrClosed", err)
	}
}

func TestLinkDeletedEndsReader(t *testing.T) {
	ns := tuntest.Namespace(t)
	errc := make(chan error, 1)
	dev := ns.OpenTUN(t, "", tun.Config{
		HostAddr: hostPrefix,
		OnError:  func(err error) { errc <- err },
	})
	dev.Attach(make(collector, 1))

	ns.Run(t, "ip", "link", "del", dev.Name())
	var err error
	select {
	case err = <-errc:
	case <-time.After(waitTimeout):
		t.Fatalf("OnError not called within %v after ip link del", waitTimeout)
	}
	await(t, tun.ReaderDone(dev), "the reader ending")
	if got := dev.Err(); got != err {
		t.Errorf("Err() = %v, want the error passed to OnError, %v", got, err)
	}
	if !errors.Is(err, unix.EBADFD) || !strings.Contains(err.Error(), "gone") {
		t.Errorf("error = %v, want EBADFD and a message saying the device is gone", err)
	}
	if s := dev.Stats(); s.InErrors != 1 {
		t.Errorf("Stats().InErrors = %d, want 1", s.InErrors)
	}
	if err := dev.WritePacket(echoRequest(stackAddr, hostAddr, 1, 1, nil)); err == nil {
		t.Error("WritePacket to a deleted device succeeded")
	}
	if err := dev.Close(); err != nil {
		t.Errorf("Close after deletion = %v", err)
	}
}

func TestOpenNameTooLong(t *testing.T) {
	// Refused before any system call: needs neither root nor TUN.
	name := strings.Repeat("x", unix.IFNAMSIZ)
	dev, err := tun.Open(name, tun.Config{})
	if err == nil {
		dev.Close()
		t.Fatal("Open with a 16-byte name succeeded")
	}
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "too long") {
		t.Errorf("Open(%q) = %v, want EINVAL and a message saying the name is too long", name, err)
	}
}

func TestOpenBadConfig(t *testing.T) {
	ns := tuntest.Namespace(t) // should the checks fail, no device lands on the host
	for _, cfg := range []tun.Config{
		{MTU: 67},
		{MTU: 65536},
		{HostAddr: netip.MustParsePrefix("fd00::1/64")},
	} {
		if err := openInNS(t, ns, "", cfg, nil); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Open(%+v) = %v, want EINVAL", cfg, err)
		}
	}
}

// openInNS runs tun.Open inside ns and returns its error; a device it
// opens anyway is closed.
func openInNS(t *testing.T, ns *tuntest.NS, name string, cfg tun.Config, before func() error) error {
	t.Helper()
	var openErr error
	ns.Do(t, func() error {
		if before != nil {
			if err := before(); err != nil {
				return err
			}
		}
		dev, err := tun.Open(name, cfg)
		if err == nil {
			dev.Close()
		}
		openErr = err
		return nil
	})
	return openErr
}

func TestOpenBusyDevice(t *testing.T) {
	ns := tuntest.Namespace(t)
	ns.OpenTUN(t, "synb0", tun.Config{})
	err := openInNS(t, ns, "synb0", tun.Config{}, nil)
	if !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "busy") {
		t.Errorf("second Open(synb0) = %v, want EBUSY and a message saying it is busy", err)
	}
}

func TestOpenNameOfOtherInterface(t *testing.T) {
	ns := tuntest.Namespace(t)
	err := openInNS(t, ns, "lo", tun.Config{}, nil)
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "not a TUN device") {
		t.Errorf("Open(lo) = %v, want EINVAL and a message about the name", err)
	}
}

func TestOpenWithoutCapNetAdmin(t *testing.T) {
	ns := tuntest.Namespace(t)
	// Drop CAP_NET_ADMIN from the thread's effective set; tuntest discards
	// the thread afterwards.
	dropNetAdmin := func() error {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		data[unix.CAP_NET_ADMIN/32].Effective &^= 1 << (unix.CAP_NET_ADMIN % 32)
		return unix.Capset(&hdr, &data[0])
	}
	err := openInNS(t, ns, "", tun.Config{}, dropNetAdmin)
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "needs CAP_NET_ADMIN (run as root)") {
		t.Errorf("Open without CAP_NET_ADMIN = %v, want EPERM and a message naming CAP_NET_ADMIN", err)
	}
}

// bothPaths runs test with the offloads on (virtio-net headers; the
// Dispatchers here take no offloaded packets, so the kernel is asked for
// none) and on the plain path (Config.NoOffload).
func bothPaths(t *testing.T, test func(t *testing.T, plain bool)) {
	t.Run("offload", func(t *testing.T) { test(t, false) })
	t.Run("plain", func(t *testing.T) { test(t, true) })
}

func TestOpenOffloads(t *testing.T) {
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "", tun.Config{})
	// Every kernel since 2.6.27 has checksum offload and TSO4 on TUN.
	if o := dev.Offloads(); o&(tun.OffloadCsum|tun.OffloadTSO4) != tun.OffloadCsum|tun.OffloadTSO4 {
		t.Errorf("Offloads() = %v, want csum and tso4 at least", o)
	}
	if got := dev.GSOMaxSize(); got != link.MaxGSOSize {
		t.Errorf("GSOMaxSize() = %d, want %d", got, link.MaxGSOSize)
	}
	plain := ns.OpenTUN(t, "", tun.Config{NoOffload: true})
	if o, n := plain.Offloads(), plain.GSOMaxSize(); o != 0 || n != 0 {
		t.Errorf("with NoOffload: Offloads() = %v, GSOMaxSize() = %d; want none, 0", o, n)
	}
	if err := plain.WriteGSO(make([]byte, 100), link.GSO{}); !errors.Is(err, link.ErrTooBig) {
		t.Errorf("WriteGSO with NoOffload = %v, want ErrTooBig", err)
	}
}
