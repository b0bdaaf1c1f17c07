package stack

import (
	"bytes"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/udp"
	"github.com/synack-net/synack/wire"
)

// FuzzUDP drives the UDP input path of a stack: datagrams built from the
// input (any ports, lengths that agree with the packet or not, a right,
// zero or wrong checksum, any payload), raw IP payloads, ICMP errors
// quoting UDP headers, reads, writes and virtual time, into a stack with
// an unconnected socket on port 7 (a 3,000-byte queue) and one connected
// to 10.0.0.1:53. After every step: no panic; each socket's queue within
// its byte budget and MaxDatagrams; what is queued equals InDatagrams less
// what was read; every datagram read is one the input sent with a right
// or zero checksum and agreeing lengths, from that source, in order; the
// connected socket holds only its peer's; every packet the stack writes
// is valid IPv4 with a valid UDP or ICMP checksum, and ICMP errors never
// exceed the rate limit's burst plus its refill.
func FuzzUDP(f *testing.F) {
	f.Add([]byte{0, 0, 7, 5, 'h', 'e', 'l', 'l', 'o', 3, 0})
	f.Add([]byte{0, 1, 9, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte{2, 0, 0, 53, 4, 1, 2, 3, 4, 3, 1, 5, 0, 4})
	f.Add(bytes.Repeat([]byte{0, 0, 7, 255}, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newUDPFuzz(t)
		in := fzInput(data)
		for steps := 0; len(in) > 0 && steps < 400; steps++ {
			h.step(&in)
			h.check()
		}
	})
}

var (
	fzUDPPeer = netip.MustParseAddr("10.0.0.1")
	fzUDPAddr = netip.MustParseAddr("10.0.0.2")
)

type udpFuzz struct {
	t        *testing.T
	s        *Stack
	clk      *clock.Virtual
	ln, conn *UDPSocket
	// want holds, per socket, the datagrams it should hold, in order.
	want           map[*UDPSocket][]fzDatagram
	icmpOut        int
	buf            []byte
	sentDatagrams  int
	wroteDatagrams int
}

type fzDatagram struct {
	src     netip.AddrPort
	payload []byte
}

type udpFuzzLink struct{ h *udpFuzz }

func (l udpFuzzLink) MTU() int               { return 1500 }
func (l udpFuzzLink) Attach(link.Dispatcher) {}
func (l udpFuzzLink) Close() error           { return nil }
func (l udpFuzzLink) WritePacket(p []byte) error {
	l.h.sent(p)
	return nil
}

func newUDPFuzz(t *testing.T) *udpFuzz {
	h := &udpFuzz{t: t, clk: clock.NewVirtual(fzStart), want: map[*UDPSocket][]fzDatagram{}, buf: make([]byte, 2048)}
	s, err := New(udpFuzzLink{h}, Config{Addr: netip.PrefixFrom(fzUDPAddr, 24), Clock: h.clk})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	if h.ln, err = s.ListenUDP(netip.AddrPortFrom(netip.Addr{}, 7)); err != nil {
		t.Fatal(err)
	}
	h.ln.SetReadBuffer(3000)
	if h.conn, err = s.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(fzUDPPeer, 53)); err != nil {
		t.Fatal(err)
	}
	return h
}

// sent checks a packet the stack wrote.
func (h *udpFuzz) sent(p []byte) {
	t := h.t
	ip, err := wire.ParseIPv4(p)
	if err != nil || !ip.IsChecksumValid() || ip.Src() != fzUDPAddr {
		t.Fatalf("stack wrote a bad IPv4 packet (%v): % x", err, p)
	}
	switch ip.Protocol() {
	case wire.ProtocolUDP:
		u, err := wire.ParseUDP(ip.Payload())
		if err != nil || len(u) != len(ip.Payload()) || u.Checksum() == 0 || !u.IsChecksumValid(ip.Src(), ip.Dst()) {
			t.Fatalf("stack wrote a bad UDP datagram (%v): % x", err, p)
		}
		h.wroteDatagrams++
	case wire.ProtocolICMPv4:
		m, err := wire.ParseICMPv4(ip.Payload())
		if err != nil || !m.IsChecksumValid() || len(p) > 576 {
			t.Fatalf("stack wrote a bad ICMP message (%v): % x", err, p)
		}
		if m.Type() == wire.ICMPv4DestUnreachable {
			h.icmpOut++
		}
	default:
		t.Fatalf("stack wrote protocol %d", ip.Protocol())
	}
}

func (h *udpFuzz) deliver(payload []byte, proto uint8) {
	p := make([]byte, wire.IPv4MinHeaderLen+len(payload))
	(&wire.IPv4Fields{TotalLength: uint16(len(p)), TTL: 64, Protocol: proto, Src: fzUDPPeer, Dst: fzUDPAddr}).Encode(p)
	copy(p[wire.IPv4MinHeaderLen:], payload)
	h.s.DeliverPacket(p)
}

func (h *udpFuzz) step(in *fzInput) {
	switch op := in.byte(); op % 6 {
	case 0, 1: // a built datagram
		ports := [...]uint16{7, 7, 53, 7777, 0, 65535, 4000, h.conn.local.Port()}
		sel := in.byte()
		dport := ports[sel&7]
		sport := ports[(sel>>3)&7]
		if sel&0x40 != 0 {
			sport = 53
		}
		payload := in.bytes(int(in.byte()) * 8)
		d := make([]byte, wire.UDPHeaderLen+len(payload))
		copy(d[wire.UDPHeaderLen:], payload)
		length := uint16(len(d))
		mode := in.byte()
		if mode&0x30 == 0x30 { // a length that disagrees
			length = in.u16()
		}
		(&wire.UDPFields{SrcPort: sport, DstPort: dport, Length: length}).Encode(d)
		good := length == uint16(len(d))
		switch mode & 3 {
		case 0, 1:
			wire.UDP(d).FillChecksum(fzUDPPeer, fzUDPAddr)
		case 2: // none
		case 3:
			wire.UDP(d).FillChecksum(fzUDPPeer, fzUDPAddr)
			d[6] ^= 1 | mode
			good = false
		}
		if good {
			src := netip.AddrPortFrom(fzUDPPeer, sport)
			var sk *UDPSocket
			switch {
			case dport == 7:
				sk = h.ln
			case dport == h.conn.local.Port() && src == h.conn.remote:
				sk = h.conn
			}
			if sk != nil {
				n, b := sk.q.Len(), sk.q.Bytes()
				if n < udp.MaxDatagrams && b+len(payload) <= fzBudget(sk) {
					h.want[sk] = append(h.want[sk], fzDatagram{src, bytes.Clone(payload)})
				}
			}
		}
		h.deliver(d, wire.ProtocolUDP)
	case 2: // raw bytes as a UDP payload
		h.deliver(in.bytes(int(in.byte())), wire.ProtocolUDP)
	case 3: // an ICMP error quoting a UDP header
		q := make([]byte, wire.IPv4MinHeaderLen+8)
		(&wire.IPv4Fields{TotalLength: uint16(in.u16()), TTL: 64, Protocol: wire.ProtocolUDP, Src: fzUDPAddr, Dst: fzUDPPeer}).Encode(q)
		(&wire.UDPFields{SrcPort: h.conn.local.Port() + uint16(in.byte()&1), DstPort: 53 + uint16(in.byte()&1), Length: 8}).Encode(q[20:])
		m := make([]byte, wire.ICMPv4HeaderLen+len(q)-int(in.byte()%10))
		(&wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: in.byte() % 5}).Encode(m)
		copy(m[wire.ICMPv4HeaderLen:], q)
		wire.ICMPv4(m).FillChecksum()
		h.deliver(m, wire.ProtocolICMPv4)
	case 4: // read from a socket
		sk := h.ln
		if in.byte()&1 != 0 {
			sk = h.conn
		}
		sk.rdl.set(time.Unix(1, 0)) // passed: never block
		n, full, src, err := sk.ReadFrom(h.buf[:int(in.byte())*8])
		if err != nil {
			return // the deadline, or an ICMP error reported
		}
		w := h.want[sk]
		if len(w) == 0 {
			h.t.Fatalf("read a datagram of %d bytes from %v that was not sent", full, src)
		}
		if src != w[0].src || full != len(w[0].payload) || !bytes.Equal(h.buf[:n], w[0].payload[:n]) {
			h.t.Fatalf("read %d of %d bytes from %v, want %d bytes from %v", n, full, src, len(w[0].payload), w[0].src)
		}
		h.want[sk] = w[1:]
	case 5: // time passes; a write
		h.clk.Advance(time.Duration(in.byte()) * time.Millisecond)
		if _, err := h.conn.WriteTo(in.bytes(int(in.byte())), netip.AddrPort{}); err != nil && h.conn.softErr != nil {
			h.t.Fatalf("write: %v", err)
		}
		h.sentDatagrams++
	}
}

func fzBudget(sk *UDPSocket) int { return sk.q.Size() }

func (h *udpFuzz) check() {
	t := h.t
	total := 0
	for _, sk := range []*UDPSocket{h.ln, h.conn} {
		n, b := sk.Pending()
		if n > udp.MaxDatagrams || b > fzBudget(sk) {
			t.Fatalf("queue of %v holds %d datagrams, %d bytes: over its bounds", sk.local, n, b)
		}
		if n != len(h.want[sk]) {
			t.Fatalf("queue of %v holds %d datagrams, want %d", sk.local, n, len(h.want[sk]))
		}
		total += n
	}
	elapsed := h.clk.Now().Sub(fzStart)
	if limit := icmpErrorBurst + int(elapsed.Seconds()*icmpErrorsPerSec) + 1; h.icmpOut > limit {
		t.Fatalf("%d ICMP errors in %v, over the rate limit's %d", h.icmpOut, elapsed, limit)
	}
	if os.Getenv("FUZZUDP_TRACE") != "" {
		t.Logf("queued %d, ICMP out %d, written %d", total, h.icmpOut, h.wroteDatagrams)
	}
}
