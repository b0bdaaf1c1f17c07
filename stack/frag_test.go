package stack

import (
	"bytes"
	"errors"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/ipfrag"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/wire"
)

var (
	fragPeer  = netip.MustParseAddr("10.0.0.1")
	fragLocal = netip.MustParseAddr("10.0.0.2")
	fragStart = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
)

// captureLink keeps a copy of every packet the stack writes.
type captureLink struct {
	mu   sync.Mutex
	pkts [][]byte
}

func (l *captureLink) MTU() int               { return 1500 }
func (l *captureLink) Attach(link.Dispatcher) {}
func (l *captureLink) Close() error           { return nil }
func (l *captureLink) WritePacket(p []byte) error {
	l.mu.Lock()
	l.pkts = append(l.pkts, bytes.Clone(p))
	l.mu.Unlock()
	return nil
}

// take returns the packets written since the last call.
func (l *captureLink) take() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pkts
	l.pkts = nil
	return p
}

func newFragStack(t *testing.T) (*Stack, *captureLink, *clock.Virtual) {
	t.Helper()
	clk := clock.NewVirtual(fragStart)
	l := &captureLink{}
	s, err := New(l, Config{Addr: netip.PrefixFrom(fragLocal, 24), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, l, clk
}

// udpDatagram is a checksummed UDP datagram from the peer's port 5000 to port.
func udpDatagram(port uint16, payload []byte) []byte {
	d := make([]byte, wire.UDPHeaderLen+len(payload))
	copy(d[wire.UDPHeaderLen:], payload)
	(&wire.UDPFields{SrcPort: 5000, DstPort: port, Length: uint16(len(d))}).Encode(d)
	wire.UDP(d).FillChecksum(fragPeer, fragLocal)
	return d
}

// fragmentsOf cuts the IP payload data of protocol proto into fragments
// of each bytes from the peer to the stack, with ID id.
func fragmentsOf(proto uint8, id uint16, data []byte, each int) [][]byte {
	var fs [][]byte
	for off := 0; off < len(data); off += each {
		end := min(off+each, len(data))
		f := wire.IPv4Fields{TotalLength: uint16(20 + end - off), ID: id, FragmentOffset: uint16(off),
			TTL: 64, Protocol: proto, Src: fragPeer, Dst: fragLocal}
		if end < len(data) {
			f.Flags = wire.IPv4FlagMoreFragments
		}
		p := make([]byte, 20+end-off)
		f.Encode(p)
		copy(p[20:], data[off:end])
		fs = append(fs, p)
	}
	return fs
}

func payloadOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	return b
}

// TestFragmentsReassembledForUDPSocket: the fragments of a 4,000-byte
// datagram, out of order, reach the socket as one datagram.
func TestFragmentsReassembledForUDPSocket(t *testing.T) {
	s, _, _ := newFragStack(t)
	sk, err := s.ListenUDP(netip.AddrPortFrom(netip.Addr{}, 7))
	if err != nil {
		t.Fatal(err)
	}
	msg := payloadOf(4000)
	fs := fragmentsOf(wire.ProtocolUDP, 77, udpDatagram(7, msg), 1480)
	for _, i := range []int{2, 0, 1} {
		s.DeliverPacket(fs[i])
	}
	buf := make([]byte, 5000)
	n, full, src, err := sk.ReadFrom(buf)
	if err != nil || n != 4000 || full != 4000 || !bytes.Equal(buf[:n], msg) || src != netip.AddrPortFrom(fragPeer, 5000) {
		t.Fatalf("ReadFrom: %d (%d) bytes from %v, %v; want the 4,000 bytes sent", n, full, src, err)
	}
	st := s.Stats()
	if st.ReasmReqds.Load() != 3 || st.ReasmOKs.Load() != 1 || st.ReasmFails.Load() != 0 || st.InDelivers.Load() != 1 {
		t.Errorf("ReasmReqds %d ReasmOKs %d ReasmFails %d InDelivers %d; want 3, 1, 0, 1",
			st.ReasmReqds.Load(), st.ReasmOKs.Load(), st.ReasmFails.Load(), st.InDelivers.Load())
	}
}

// TestFragmentedSYNAnswered: a SYN cut into 8-byte fragments reaches its
// listener as if it had come whole.
func TestFragmentedSYNAnswered(t *testing.T) {
	s, l, _ := newFragStack(t)
	if _, err := s.ListenTCP(netip.AddrPortFrom(netip.Addr{}, 80), 8); err != nil {
		t.Fatal(err)
	}
	seg := make([]byte, 20)
	(&wire.TCPFields{SrcPort: 40000, DstPort: 80, Seq: 1000, Flags: wire.FlagSYN, Window: 1000}).Encode(seg)
	wire.TCP(seg).FillChecksum(fragPeer, fragLocal)
	for _, f := range fragmentsOf(wire.ProtocolTCP, 9, seg, 8) {
		s.DeliverPacket(f)
	}
	got := l.take()
	if len(got) != 1 {
		t.Fatalf("%d packets in answer to a fragmented SYN, want a SYN,ACK", len(got))
	}
	tcpSeg, err := wire.ParseTCP(wire.IPv4(got[0]).Payload())
	if err != nil || tcpSeg.Flags() != wire.FlagSYN|wire.FlagACK || tcpSeg.AckNum() != 1001 {
		t.Fatalf("answer: %v %v", err, tcpSeg.Flags())
	}
}

// TestReassemblyTimeoutSendsTimeExceeded: a datagram missing a fragment is
// dropped 30 s of virtual time after its first fragment came, answered
// with an ICMP time exceeded (code 1) quoting fragment 0 only when it
// came (RFC 1122 §3.3.2).
func TestReassemblyTimeoutSendsTimeExceeded(t *testing.T) {
	s, l, clk := newFragStack(t)
	a := fragmentsOf(wire.ProtocolUDP, 1, udpDatagram(7, payloadOf(4000)), 1480)
	b := fragmentsOf(wire.ProtocolUDP, 2, udpDatagram(7, payloadOf(4000)), 1480)
	s.DeliverPacket(a[0])
	s.DeliverPacket(a[2])
	clk.Advance(time.Second)
	s.DeliverPacket(b[1]) // fragment 0 of b never comes
	clk.Advance(29*time.Second - 1)
	if got := l.take(); len(got) != 0 || s.Stats().ReasmTimeout.Load() != 0 {
		t.Fatalf("before 30 s: %d packets sent, %d timed out", len(got), s.Stats().ReasmTimeout.Load())
	}
	clk.Advance(1)
	got := l.take()
	if len(got) != 1 {
		t.Fatalf("at 30 s: %d packets sent, want one ICMP time exceeded", len(got))
	}
	ip := wire.IPv4(got[0])
	m, err := wire.ParseICMPv4(ip.Payload())
	if err != nil || !m.IsChecksumValid() || ip.Dst() != fragPeer || ip.Protocol() != wire.ProtocolICMPv4 {
		t.Fatalf("not an ICMP message to the peer: %v % x", err, got[0])
	}
	if m.Type() != wire.ICMPv4TimeExceeded || m.Code() != 1 {
		t.Errorf("ICMP type %d code %d, want time exceeded (11), fragment reassembly (1)", m.Type(), m.Code())
	}
	if !bytes.Equal(m.Payload(), a[0][:28]) {
		t.Errorf("quotes % x, want fragment 0's header and 8 bytes % x", m.Payload(), a[0][:28])
	}
	clk.Advance(time.Second)
	if got := l.take(); len(got) != 0 {
		t.Errorf("b's timeout sent %d packets; no fragment 0, no ICMP", len(got))
	}
	st := s.Stats()
	if st.ReasmTimeout.Load() != 2 || st.ReasmFails.Load() != 2 || st.ICMPOutTimeExcds.Load() != 1 || st.ReasmOKs.Load() != 0 {
		t.Errorf("ReasmTimeout %d ReasmFails %d ICMPOutTimeExcds %d ReasmOKs %d; want 2, 2, 1, 0",
			st.ReasmTimeout.Load(), st.ReasmFails.Load(), st.ICMPOutTimeExcds.Load(), st.ReasmOKs.Load())
	}
}

// TestReassemblyBadInputCounted: overlapping, duplicate, oversize, badly
// cut and offloaded fragments are each dropped and counted by reason, and
// nothing reaches the socket.
func TestReassemblyBadInputCounted(t *testing.T) {
	s, _, _ := newFragStack(t)
	sk, err := s.ListenUDP(netip.AddrPortFrom(netip.Addr{}, 7))
	if err != nil {
		t.Fatal(err)
	}
	d := udpDatagram(7, payloadOf(3000))
	fs := fragmentsOf(wire.ProtocolUDP, 5, d, 1480)
	over := fragmentsOf(wire.ProtocolUDP, 5, d[1000:], 1480)[0] // offset 0 but bytes from 1,000
	st := s.Stats()
	steps := []struct {
		name string
		do   func()
		ctr  func() uint64
	}{
		{"duplicate", func() { s.DeliverPacket(fs[0]); s.DeliverPacket(fs[0]) }, st.ReasmDuplicates.Load},
		{"overlap", func() { s.DeliverPacket(over) }, st.ReasmOverlaps.Load},
		{"bad length", func() {
			f := fragmentsOf(wire.ProtocolUDP, 6, d, 1001)[0] // MF with 1,001 bytes
			s.DeliverPacket(f)
		}, st.ReasmBadFragments.Load},
		{"oversize", func() {
			f := fragmentsOf(wire.ProtocolUDP, 7, make([]byte, 65528+8), 65528)[1] // offset 65,528
			wire.IPv4(f)[6] |= 0x20                                                // MF too
			wire.IPv4(f).FillChecksum()
			s.DeliverPacket(f)
		}, st.ReasmOversize.Load},
		{"offloaded", func() {
			s.DeliverGSO(fs[1], link.GSO{NeedsCsum: true, CsumStart: 20, CsumOffset: 6})
		}, st.GSOInErrors.Load},
	}
	for _, step := range steps {
		before := step.ctr()
		step.do()
		if step.ctr() != before+1 {
			t.Errorf("%s: counter %d, want %d", step.name, step.ctr(), before+1)
		}
	}
	if st.ReasmFails.Load() != 3 || st.ReasmOKs.Load() != 0 {
		t.Errorf("ReasmFails %d ReasmOKs %d; want 3 (overlap, bad length, oversize), 0", st.ReasmFails.Load(), st.ReasmOKs.Load())
	}
	if n, _ := sk.Pending(); n != 0 {
		t.Errorf("%d datagrams reached the socket", n)
	}
}

// TestReassemblyFloodBounded: first fragments of 4,000 datagrams that
// never complete keep the stack's reassembly within its 4 MiB and 1,024
// datagrams; the oldest are evicted and counted.
func TestReassemblyFloodBounded(t *testing.T) {
	s, _, _ := newFragStack(t)
	d := udpDatagram(7, payloadOf(3000))
	for id := range 4000 {
		s.DeliverPacket(fragmentsOf(wire.ProtocolUDP, uint16(id), d, 1480)[0])
		if id%500 == 0 || id == 3999 {
			s.frag.mu.Lock()
			b, n := s.frag.r.Bytes(), s.frag.r.Len()
			s.frag.mu.Unlock()
			if b > ipfrag.DefaultMaxBytes || n > ipfrag.DefaultMaxDatagrams {
				t.Fatalf("after %d datagrams: %d bytes, %d datagrams held", id+1, b, n)
			}
		}
	}
	st := s.Stats()
	if ev := st.ReasmOverLimit.Load(); ev < 4000-ipfrag.DefaultMaxDatagrams || st.ReasmFails.Load() != ev {
		t.Errorf("ReasmOverLimit %d ReasmFails %d; want at least %d evicted, all failures", ev, st.ReasmFails.Load(), 4000-ipfrag.DefaultMaxDatagrams)
	}
}

// TestUDPWriteFragments: a datagram over the MTU leaves in fragments of
// one ID, offsets in 8-byte units, MF on all but the last and no DF,
// which reassemble to the datagram with a valid checksum; one that fits
// leaves whole with DF; DF asked makes the large one EMSGSIZE, and so
// does a payload over 65,507 bytes.
func TestUDPWriteFragments(t *testing.T) {
	s, l, _ := newFragStack(t)
	sk, err := s.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(fragPeer, 9))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sk.WriteTo(payloadOf(1472), netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	if got := l.take(); len(got) != 1 || wire.IPv4(got[0]).Flags() != wire.IPv4FlagDontFragment {
		t.Fatalf("a datagram that fits: %d packets, want one with DF", len(got))
	}
	for _, size := range []int{1473, 4000, 65507} {
		msg := payloadOf(size)
		if n, err := sk.WriteTo(msg, netip.AddrPort{}); err != nil || n != size {
			t.Fatalf("WriteTo(%d bytes) = %d, %v", size, n, err)
		}
		got := l.take()
		if want := (size + 8 + 1479) / 1480; len(got) != want {
			t.Fatalf("%d bytes: %d fragments, want %d", size, len(got), want)
		}
		r := ipfrag.New(ipfrag.Config{})
		var whole wire.IPv4
		for i, p := range got {
			ip, err := wire.ParseIPv4(p)
			if err != nil || !ip.IsChecksumValid() || len(p) > 1500 || ip.ID() != wire.IPv4(got[0]).ID() {
				t.Fatalf("fragment %d: %v, %d bytes, ID %d", i, err, len(p), ip.ID())
			}
			wantFlags := wire.IPv4FlagMoreFragments
			if i == len(got)-1 {
				wantFlags = 0
			}
			if ip.Flags() != wantFlags || int(ip.FragmentOffset()) != i*1480 {
				t.Fatalf("fragment %d: flags %#x offset %d, want %#x, %d", i, ip.Flags(), ip.FragmentOffset(), wantFlags, i*1480)
			}
			w, res, _ := r.Add(fragStart, ip)
			if res == ipfrag.Done {
				whole = w
			}
		}
		if whole == nil {
			t.Fatalf("%d bytes: fragments do not reassemble", size)
		}
		u, err := wire.ParseUDP(whole.Payload())
		if err != nil || !u.IsChecksumValid(fragLocal, fragPeer) || u.Checksum() == 0 || !bytes.Equal(u.Payload(), msg) || u.DstPort() != 9 {
			t.Fatalf("%d bytes: reassembled datagram: %v, checksum valid %v", size, err, err == nil && u.IsChecksumValid(fragLocal, fragPeer))
		}
	}
	st := s.Stats()
	if st.FragOKs.Load() != 3 || st.FragCreates.Load() != 2+3+45 || st.FragFails.Load() != 0 {
		t.Errorf("FragOKs %d FragCreates %d FragFails %d; want 3, 50, 0", st.FragOKs.Load(), st.FragCreates.Load(), st.FragFails.Load())
	}
	if _, err := sk.WriteTo(payloadOf(65508), netip.AddrPort{}); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("65,508 bytes: %v, want EMSGSIZE", err)
	}
	sk.SetDontFragment(true)
	if _, err := sk.WriteTo(payloadOf(1473), netip.AddrPort{}); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("1,473 bytes with DF asked: %v, want EMSGSIZE", err)
	}
	if _, err := sk.WriteTo(payloadOf(1472), netip.AddrPort{}); err != nil {
		t.Errorf("1,472 bytes with DF asked: %v", err)
	}
	if got := l.take(); len(got) != 1 || st.FragFails.Load() != 1 {
		t.Errorf("with DF asked: %d packets sent, FragFails %d; want 1, 1", len(got), st.FragFails.Load())
	}
}

// discardLink drops what the stack writes.
type discardLink struct{}

func (discardLink) MTU() int                   { return 1500 }
func (discardLink) Attach(link.Dispatcher)     {}
func (discardLink) Close() error               { return nil }
func (discardLink) WritePacket(p []byte) error { return nil }

// TestFragmentedUDPAllocs: once warm, sending a 4,000-byte datagram in
// fragments, and taking one in and reading it, allocate nothing.
func TestFragmentedUDPAllocs(t *testing.T) {
	s, err := New(discardLink{}, Config{Addr: netip.PrefixFrom(fragLocal, 24), Clock: clock.NewVirtual(fragStart)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sk, err := s.ListenUDP(netip.AddrPortFrom(netip.Addr{}, 7))
	if err != nil {
		t.Fatal(err)
	}
	msg := payloadOf(4000)
	dst := netip.AddrPortFrom(fragPeer, 9)
	fs := fragmentsOf(wire.ProtocolUDP, 3, udpDatagram(7, msg), 1480)
	buf := make([]byte, 5000)
	round := func() {
		if _, err := sk.WriteTo(msg, dst); err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			s.DeliverPacket(f)
		}
		if n, _, _, err := sk.ReadFrom(buf); err != nil || n != 4000 {
			t.Fatalf("ReadFrom: %d, %v", n, err)
		}
	}
	round()
	if a := testing.AllocsPerRun(200, round); a > 0 {
		t.Errorf("%.1f allocations per fragmented datagram sent and received, want 0", a)
	}
	if s.Stats().FragOKs.Load() != 202 || s.Stats().ReasmOKs.Load() != 202 { // AllocsPerRun runs once more to warm up
		t.Errorf("FragOKs %d ReasmOKs %d, want 202", s.Stats().FragOKs.Load(), s.Stats().ReasmOKs.Load())
	}
}

// TestUDPFragmentsFollowPathMTU: a path MTU learned for a destination
// (RFC 1191) cuts that destination's datagrams smaller than the link
// would, and DF asked makes a datagram over it EMSGSIZE.
func TestUDPFragmentsFollowPathMTU(t *testing.T) {
	s, l, _ := newFragStack(t)
	sk, err := s.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(fragPeer, 9))
	if err != nil {
		t.Fatal(err)
	}
	if !s.lowerPathMTU(fragPeer, 1280) {
		t.Fatal("lowerPathMTU(1280) not taken")
	}
	if _, err := sk.WriteTo(payloadOf(1300), netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	got := l.take()
	if len(got) != 2 {
		t.Fatalf("1,300 bytes toward a 1,280-byte path: %d packets, want 2 fragments", len(got))
	}
	for i, p := range got {
		if len(p) > 1280 {
			t.Fatalf("fragment %d is %d bytes, over the path MTU 1280", i, len(p))
		}
	}
	if off := wire.IPv4(got[1]).FragmentOffset(); off != 1256 {
		t.Fatalf("second fragment at offset %d, want 1256 (1280 less the IPv4 header, in 8-byte units)", off)
	}
	sk.SetDontFragment(true)
	if _, err := sk.WriteTo(payloadOf(1253), netip.AddrPort{}); !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("1,253 bytes with DF toward a 1,280-byte path: %v, want EMSGSIZE", err)
	}
	if _, err := sk.WriteTo(payloadOf(1252), netip.AddrPort{}); err != nil {
		t.Fatalf("1,252 bytes with DF toward a 1,280-byte path: %v", err)
	}
}
