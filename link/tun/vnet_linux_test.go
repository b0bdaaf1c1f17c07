//go:build linux

package tun_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/tun"
	"golang.org/x/sys/unix"
)

// fakeTUN is a Device over one end of a SOCK_SEQPACKET pair; the test
// plays the kernel at the other end, peer.
type fakeTUN struct {
	dev   *tun.Device
	peer  int
	asked tun.Offloads
}

func newFakeTUN(t *testing.T, o tun.Offloads) *fakeTUN {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no SOCK_SEQPACKET socket pair to stand in for a TUN descriptor: %v", err)
	}
	ft := &fakeTUN{peer: fds[1]}
	unix.SetNonblock(fds[1], false)
	ft.dev = tun.NewFromFile(os.NewFile(uintptr(fds[0]), "fake"), 1500, o, &ft.asked)
	t.Cleanup(func() { ft.dev.Close(); unix.Close(fds[1]) })
	return ft
}

// send writes one message, virtio-net header and packet, as the kernel.
func (ft *fakeTUN) send(t *testing.T, msg []byte) {
	t.Helper()
	if _, err := unix.Write(ft.peer, msg); err != nil {
		t.Fatal(err)
	}
}

// recv reads one message the device wrote.
func (ft *fakeTUN) recv(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 70000)
	n, err := unix.Read(ft.peer, b)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

func hdr(flags, typ uint8, hdrLen, size, start, off uint16) []byte {
	b := make([]byte, 10)
	b[0], b[1] = flags, typ
	ne := binary.NativeEndian
	ne.PutUint16(b[2:], hdrLen)
	ne.PutUint16(b[4:], size)
	ne.PutUint16(b[6:], start)
	ne.PutUint16(b[8:], off)
	return b
}

type delivery struct {
	pkt []byte
	g   link.GSO
	gso bool // through DeliverGSO
}

// gsoSink takes offloaded packets (if accept) and passes every delivery on.
type gsoSink struct {
	accept bool
	ch     chan delivery
}

func (s *gsoSink) DeliverPacket(p []byte) { s.ch <- delivery{pkt: bytes.Clone(p)} }
func (s *gsoSink) AcceptsGSO() bool       { return s.accept }
func (s *gsoSink) DeliverGSO(p []byte, g link.GSO) {
	s.ch <- delivery{pkt: bytes.Clone(p), g: g, gso: true}
}

func (s *gsoSink) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-s.ch:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered in 10 s")
		return delivery{}
	}
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 3)
	}
	return b
}

const all = tun.OffloadCsum | tun.OffloadTSO4 | tun.OffloadUSO4

func TestVnetReadDeliversByHeaderAndDropsBad(t *testing.T) {
	ft := newFakeTUN(t, all)
	sink := &gsoSink{accept: true, ch: make(chan delivery, 16)}
	ft.dev.Attach(sink)
	if ft.asked != all {
		t.Fatalf("Attach asked the kernel for %v, want %v", ft.asked, all)
	}
	plain, large := payload(100), payload(3000)
	ft.send(t, append(hdr(0, 0, 0, 0, 0, 0), plain...))
	ft.send(t, append(hdr(1, 6, 0, 0, 0, 0), plain...))         // bad type
	ft.send(t, append(hdr(1, 1, 52, 1448, 20, 3000), large...)) // checksum field past the end
	ft.send(t, append(hdr(1, 1, 3001, 1448, 20, 16), large...)) // headers past the end
	ft.send(t, []byte{1, 1, 0})                                 // no room for a header
	ft.send(t, append(hdr(1, 1, 52, 1448, 20, 16), large...))
	if d := sink.next(t); d.gso || !bytes.Equal(d.pkt, plain) {
		t.Fatalf("first delivery: %+v, want the plain packet through DeliverPacket", d)
	}
	d := sink.next(t)
	want := link.GSO{Type: link.GSOTCPv4, NeedsCsum: true, HdrLen: 52, Size: 1448, CsumStart: 20, CsumOffset: 16}
	if !d.gso || d.g != want || !bytes.Equal(d.pkt, large) {
		t.Fatalf("second delivery: gso %v, %+v, %d bytes; want %+v and the 3000 bytes", d.gso, d.g, len(d.pkt), want)
	}
	// A last plain packet: once it is delivered, the reader has counted
	// everything before it.
	ft.send(t, append(hdr(0, 0, 0, 0, 0, 0), plain...))
	sink.next(t)
	st := ft.dev.Stats()
	if st.InBadGSOType != 1 || st.InBadCsum != 1 || st.InBadHdrLen != 2 {
		t.Fatalf("bad headers counted %d type, %d checksum, %d length; want 1, 1, 2", st.InBadGSOType, st.InBadCsum, st.InBadHdrLen)
	}
	if st.InPackets < 2 || st.InGSOPackets != 1 || st.InLongest != 3000 {
		t.Fatalf("InPackets %d, InGSOPackets %d, InLongest %d; want 2 or 3, 1, 3000", st.InPackets, st.InGSOPackets, st.InLongest)
	}

	// A Dispatcher that takes no offloaded packets: the kernel is asked
	// for none, and one still arriving is dropped.
	plainSink := &gsoSink{ch: make(chan delivery, 16)}
	ft.dev.Attach(plainSink)
	if ft.asked != 0 {
		t.Fatalf("Attach of a plain Dispatcher asked for %v, want none", ft.asked)
	}
	ft.send(t, append(hdr(1, 1, 52, 1448, 20, 16), large...))
	ft.send(t, append(hdr(1, 0, 0, 0, 20, 16), plain...)) // partial checksum: not asked either
	ft.send(t, append(hdr(0, 0, 0, 0, 0, 0), plain...))
	if d := plainSink.next(t); d.gso || !bytes.Equal(d.pkt, plain) {
		t.Fatalf("after re-Attach: %+v, want only the plain packet", d)
	}
	st = ft.dev.Stats()
	if st.InBadGSOType != 2 || st.InBadCsum != 2 {
		t.Fatalf("offloaded packets for a plain Dispatcher: %d type, %d checksum refusals; want 2, 2", st.InBadGSOType, st.InBadCsum)
	}
}

func TestVnetWriteGSO(t *testing.T) {
	ft := newFakeTUN(t, all)
	if got := ft.dev.GSOMaxSize(); got != link.MaxGSOSize {
		t.Fatalf("GSOMaxSize = %d", got)
	}
	large := payload(40000)
	g := link.GSO{Type: link.GSOTCPv4, NeedsCsum: true, HdrLen: 52, Size: 1448, CsumStart: 20, CsumOffset: 16}
	if err := ft.dev.WriteGSO(large, g); err != nil {
		t.Fatal(err)
	}
	if got, want := ft.recv(t), append(hdr(1, 1, 52, 1448, 20, 16), large...); !bytes.Equal(got, want) {
		t.Fatalf("WriteGSO wrote %d bytes, header % x; want %d, % x", len(got), got[:10], len(want), want[:10])
	}
	small := payload(200)
	if err := ft.dev.WritePacket(small); err != nil {
		t.Fatal(err)
	}
	if got, want := ft.recv(t), append(hdr(0, 0, 0, 0, 0, 0), small...); !bytes.Equal(got, want) {
		t.Fatalf("WritePacket wrote header % x, want zeros", got[:10])
	}
	for _, tc := range []struct {
		n int
		g link.GSO
	}{{70000, g}, {1501, link.GSO{NeedsCsum: true, CsumStart: 20, CsumOffset: 16}}} {
		if err := ft.dev.WriteGSO(payload(tc.n), tc.g); !errors.Is(err, link.ErrTooBig) {
			t.Errorf("WriteGSO of %d bytes as %v: %v, want ErrTooBig", tc.n, tc.g.Type, err)
		}
	}
	st := ft.dev.Stats()
	if st.OutPackets != 2 || st.OutGSOPackets != 1 || st.OutLongest != 40000 || st.OutDiscards != 2 {
		t.Fatalf("out counters %+v", st)
	}
	ft.dev.Close()
	if err := ft.dev.WriteGSO(small, g); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("WriteGSO after Close: %v", err)
	}
}

// TestVnetWriteGSOGather checks that a packet given in pieces leaves as
// one message, header first and the pieces in order, and that too many
// pieces or too many bytes are refused and counted.
func TestVnetWriteGSOGather(t *testing.T) {
	ft := newFakeTUN(t, all)
	large := payload(40000)
	g := link.GSO{Type: link.GSOTCPv4, NeedsCsum: true, HdrLen: 52, Size: 1448, CsumStart: 20, CsumOffset: 16}
	parts := [][]byte{large[:52], large[52:30000], large[30000:]}
	if err := ft.dev.WriteGSOGather(parts, g); err != nil {
		t.Fatal(err)
	}
	if got, want := ft.recv(t), append(hdr(1, 1, 52, 1448, 20, 16), large...); !bytes.Equal(got, want) {
		t.Fatalf("WriteGSOGather wrote %d bytes, header % x; want %d, % x", len(got), got[:10], len(want), want[:10])
	}
	if err := ft.dev.WriteGSOGather([][]byte{large[:52], large[52:100]}, link.GSO{NeedsCsum: true, CsumStart: 20, CsumOffset: 16}); err != nil {
		t.Fatal(err)
	}
	if got := ft.recv(t); len(got) != 10+100 || !bytes.Equal(got[10:], large[:100]) {
		t.Fatalf("a lone segment in two pieces came out as %d bytes", len(got))
	}
	big := payload(70000)
	for _, bad := range [][][]byte{
		{large[:52], large[52:100], large[100:200], large[200:300]}, // four pieces
		{big[:52], big[52:]}, // past link.MaxGSOSize
	} {
		if err := ft.dev.WriteGSOGather(bad, g); !errors.Is(err, link.ErrTooBig) {
			t.Errorf("WriteGSOGather of %d pieces: %v, want ErrTooBig", len(bad), err)
		}
	}
	st := ft.dev.Stats()
	if st.OutPackets != 2 || st.OutGSOPackets != 1 || st.OutLongest != 40000 || st.OutDiscards != 2 {
		t.Fatalf("out counters %+v", st)
	}
	if n := testing.AllocsPerRun(100, func() {
		_ = ft.dev.WriteGSOGather(parts, g)
		ft.recv(t)
	}); n > 1 { // recv's buffer is the one allocation
		t.Errorf("WriteGSOGather allocates %v times per packet", n-1)
	}
}
