package stack

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/ipfrag"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/wire"
)

// FuzzFragments drives a stack's reassembly through DeliverPacket:
// fragments cut from four well-formed UDP datagrams to port 7 (sizes
// 100 to 9,000 bytes, at any offset and length, with MF or not, their
// bytes true or flipped), fragments of other protocols, fragments
// offloaded (DeliverGSO), reads of the socket and virtual time. After
// every step: no panic; the reassembler within its bytes and datagrams;
// every packet the stack writes is valid IPv4 of at most the MTU, and an
// ICMP one a valid message of at most 576 bytes, a time exceeded quoting
// a first fragment of one of ours; every datagram read is one of the
// four, whole and byte for byte.
func FuzzFragments(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0x05, 0xc8, 1, 0, 0, 0x05, 0xc8, 0x05, 0xc8, 0, 4})
	f.Add([]byte{1, 1, 0, 0, 0x03, 0xe8, 1, 1, 0x03, 0xe8, 0x03, 0xe8, 0, 5, 40, 4})
	f.Add([]byte{0, 2, 0, 0, 0x00, 0x10, 1, 0, 2, 0, 0x08, 0x00, 0x10, 1, 5, 200, 5, 10})
	f.Add([]byte{2, 3, 0, 0, 0x02, 0x00, 1, 0, 3, 0, 0x01, 0x02, 0x00, 0})
	f.Add([]byte{3, 2, 183, 255, 5, 3, 3, 90, 1, 4, 255, 4, 255, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newFragFuzz(t)
		in := fzInput(data)
		for steps := 0; len(in) > 0 && steps < 300; steps++ {
			h.step(&in)
			h.check()
		}
	})
}

type fragFuzz struct {
	t     *testing.T
	s     *Stack
	clk   *clock.Virtual
	sk    *UDPSocket
	whole [4][]byte // the UDP datagrams fragments are cut from
	buf   []byte
}

type fragFuzzLink struct{ h *fragFuzz }

func (l fragFuzzLink) MTU() int               { return 1500 }
func (l fragFuzzLink) Attach(link.Dispatcher) {}
func (l fragFuzzLink) Close() error           { return nil }
func (l fragFuzzLink) WritePacket(p []byte) error {
	l.h.sent(p)
	return nil
}

func newFragFuzz(t *testing.T) *fragFuzz {
	h := &fragFuzz{t: t, clk: clock.NewVirtual(fragStart), buf: make([]byte, 10000)}
	s, err := New(fragFuzzLink{h}, Config{Addr: netip.PrefixFrom(fragLocal, 24), Clock: h.clk})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	if h.sk, err = s.ListenUDP(netip.AddrPortFrom(netip.Addr{}, 7)); err != nil {
		t.Fatal(err)
	}
	for i, n := range [4]int{100, 1500, 4000, 9000} {
		p := payloadOf(n)
		p[0] = byte(i)
		h.whole[i] = udpDatagram(7, p)
	}
	return h
}

func (h *fragFuzz) sent(p []byte) {
	t := h.t
	ip, err := wire.ParseIPv4(p)
	if err != nil || !ip.IsChecksumValid() || ip.Src() != fragLocal || len(p) > 1500 {
		t.Fatalf("stack wrote a bad IPv4 packet (%v): % x", err, p)
	}
	if ip.Protocol() != wire.ProtocolICMPv4 {
		return
	}
	m, err := wire.ParseICMPv4(ip.Payload())
	if err != nil || !m.IsChecksumValid() || len(p) > 576 {
		t.Fatalf("stack wrote a bad ICMP message (%v): % x", err, p)
	}
	if m.Type() == wire.ICMPv4TimeExceeded {
		q, err := wire.ParseIPv4Prefix(m.Payload())
		if err != nil || m.Code() != 1 || q.FragmentOffset() != 0 || len(q.Payload()) != 8 || ip.Dst() != fragPeer {
			t.Fatalf("time exceeded quoting no first fragment of ours (%v): % x", err, p)
		}
	}
}

// step runs one input step.
func (h *fragFuzz) step(in *fzInput) {
	switch op := in.byte(); op % 6 {
	case 0, 1, 2: // a fragment of one of the datagrams
		sel := in.byte()
		d := h.whole[sel&3]
		id := uint16(sel>>2) & 7
		off := int(in.u16()&0x1fff) * 8
		n := int(in.u16()) % 3000
		flags := in.byte()
		b := make([]byte, n)
		if off < len(d) {
			copy(b, d[off:])
		}
		if flags&2 != 0 {
			for i := range b {
				b[i] ^= 0xa5
			}
		}
		proto := wire.ProtocolUDP
		if flags&4 != 0 {
			proto = [...]uint8{wire.ProtocolTCP, wire.ProtocolICMPv4, 253, wire.ProtocolUDP}[flags>>3&3]
		}
		p := make([]byte, 20+n)
		fl := wire.IPv4Fields{TotalLength: uint16(20 + n), ID: id, FragmentOffset: uint16(off), TTL: 64,
			Protocol: proto, Src: fragPeer, Dst: fragLocal}
		if flags&1 != 0 {
			fl.Flags = wire.IPv4FlagMoreFragments
		}
		fl.Encode(p)
		copy(p[20:], b)
		if flags&0x20 != 0 {
			h.s.DeliverGSO(p, link.GSO{NeedsCsum: true, CsumStart: 20, CsumOffset: 6})
		} else {
			h.s.DeliverPacket(p)
		}
	case 3: // a whole datagram cut in order, maybe missing one fragment
		sel := in.byte()
		d := h.whole[sel&3]
		each := 8 * (1 + int(in.byte()))
		skip := int(in.byte())
		for i, f := range fragmentsOf(wire.ProtocolUDP, uint16(sel>>2)&7, d, each) {
			if i != skip {
				h.s.DeliverPacket(f)
			}
		}
	case 4: // time
		h.clk.Advance(time.Duration(in.byte()) * 500 * time.Millisecond)
	case 5: // read what is queued
		for {
			if n, _ := h.sk.Pending(); n == 0 {
				break
			}
			n, full, src, err := h.sk.ReadFrom(h.buf)
			if err != nil || src != netip.AddrPortFrom(fragPeer, 5000) || n != full {
				h.t.Fatalf("read %d (%d) bytes from %v: %v", n, full, src, err)
			}
			if !h.isOurs(h.buf[:n]) {
				h.t.Fatalf("read a datagram of %d bytes that was never sent", n)
			}
		}
	}
}

// isOurs reports whether payload is the payload of one of the datagrams.
func (h *fragFuzz) isOurs(payload []byte) bool {
	for _, d := range h.whole {
		if bytes.Equal(d[wire.UDPHeaderLen:], payload) {
			return true
		}
	}
	return false
}

func (h *fragFuzz) check() {
	f := &h.s.frag
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r == nil {
		return
	}
	if f.r.Bytes() > ipfrag.DefaultMaxBytes || f.r.Len() > ipfrag.DefaultMaxDatagrams {
		h.t.Fatalf("reassembly holds %d bytes, %d datagrams", f.r.Bytes(), f.r.Len())
	}
	if d := f.r.Deadline(); !d.IsZero() && !d.After(h.clk.Now()) {
		h.t.Fatalf("a datagram past its deadline %v is still held at %v", d, h.clk.Now())
	}
}
