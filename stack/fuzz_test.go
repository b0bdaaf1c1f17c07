package stack

// FuzzStack drives the whole inbound path of a stack, from the link's
// DeliverPacket through IPv4, demux, listener and engine to the socket,
// with packets made from the fuzz input, and checks after every step what
// the stack holds and what it wrote to the link. It lives in package stack
// (not the root package) because the stack is where the inbound path
// starts and ends: the harness calls DeliverPacket itself, on one
// goroutine with a virtual clock, so an input replays the same way (but
// for the stack's random ISNs and keys, which numbers relative to what the
// stack sent hide) and runs in microseconds; and an in-package test sees every connection of
// the table (half-open, TIME-WAIT, not yet accepted) and every listener,
// which the root package's API does not show. Engine state is read only
// through tcp's exported accessors.
//
// The input is a header, which sets the options of the one established
// connection (made by a real handshake through the listener), then a list
// of records, each one step: a TCP segment the harness builds (valid IPv4
// and TCP headers and checksums, to the established connection's 4-tuple,
// another client's tuple to the listener, or a closed port; sequence and
// acknowledgment numbers absolute or relative to what the stack last sent
// on that tuple, so RCV.NXT and SND.MAX; options MSS, window scale,
// SACK-permitted, timestamps and SACK blocks), raw bytes as an IPv4 packet,
// an ICMP error, the virtual clock moving on (timers run), or an
// application call (read, write, close, abort, accept). See fuzzStep.
//
// Payloads follow fixed patterns, so that contents can be checked: the
// peer's byte at sequence number s is peerByte(s), and the application
// writes appByte(i) at stream offset i. Whatever the segments' overlaps,
// what the application reads and what the stack sends must match.

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

const (
	fzMTU        = 600
	fzPort       = 80 // the listener
	fzClosedPort = 81 // nobody listens
	fzBacklog    = 2
	fzMaxSteps   = 256
	// fzMaxConns is the stack's MaxConnections: small enough that the
	// listener's clients reach it, by SYN or by SYN cookie ACK.
	fzMaxConns = 6
)

var (
	fzAddr  = netip.MustParseAddr("10.0.0.2")
	fzPeers = [4]netip.Addr{
		netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.3"),
		netip.MustParseAddr("10.0.0.4"), netip.MustParseAddr("10.0.0.5"),
	}
	fzEstablished = netip.AddrPortFrom(fzPeers[0], 40000) // the established connection's peer
	fzStart       = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// fzConfig keeps buffers and timers small, so that the fuzzer reaches
// full buffers, zero windows, full queues and every timer's expiry.
func fzConfig() tcp.Config {
	return tcp.Config{
		MSS:               200,
		SendBufferSize:    3000,
		ReceiveBufferSize: 2000,
		SYNRetries:        2, SYNACKRetries: 2, Retries: 3,
		MSL:             time.Second,
		FinWait2Timeout: 3 * time.Second,
		MaxRTO:          4 * time.Second,
		MaxSYNBacklog:   4,
	}
}

// peerByte is the byte the peer sends at sequence number s.
func peerByte(s seqnum.Value) byte { return byte(uint32(s)*7 + uint32(s)>>11) }

// appByte is the byte the application writes at stream offset i.
func appByte(i uint64) byte { return byte(i*13 + i>>9) }

// fzInput hands out the fuzz bytes; past the end it reads zeros.
type fzInput []byte

func (b *fzInput) byte() byte {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return v
}

func (b *fzInput) u16() uint16 { return uint16(b.byte())<<8 | uint16(b.byte()) }
func (b *fzInput) u32() uint32 { return uint32(b.u16())<<16 | uint32(b.u16()) }

func (b *fzInput) bytes(n int) []byte {
	n = min(n, len(*b))
	v := (*b)[:n]
	*b = (*b)[n:]
	return v
}

// peerView is what the stack last told the peer of one 4-tuple: the
// harness reads it off the packets the stack writes, as a real peer
// would, so it works whether or not a connection exists (SYN cookies).
type peerView struct {
	seen    bool
	rcvNxt  seqnum.Value // the ACK of the stack's latest segment: its RCV.NXT
	sndMax  seqnum.Value // the end of the highest segment it sent
	tsVal   uint32       // its latest TSval, for TSecr
	synSeen bool         // it sent a SYN on the tuple
}

// connFacts is what the checks of sent segments need of a connection.
type connFacts struct {
	mss int
	iss seqnum.Value
}

// appConn is a connection the application holds.
type appConn struct {
	c       *TCPConn
	read    uint64 // stream offset of the next byte to read
	written uint64 // stream offset of the next byte to write
	closed  bool
}

type fuzzHarness struct {
	t       *testing.T
	s       *Stack
	clk     *clock.Virtual
	ln      *TCPListener
	cfg     tcp.Config // with defaults
	app     []*appConn
	views   map[connKey]*peerView
	known   map[connKey]connFacts // each tuple's connection, as last seen
	tainted bool                  // raw bytes reached the stack: received contents are not checked
	buf     []byte
}

// fuzzLink is the stack's link: what the stack writes is checked at once,
// and nothing is delivered but what the harness hands DeliverPacket.
type fuzzLink struct{ h *fuzzHarness }

var _ link.Endpoint = (*fuzzLink)(nil)

func (l *fuzzLink) MTU() int               { return fzMTU }
func (l *fuzzLink) Attach(link.Dispatcher) {}
func (l *fuzzLink) Close() error           { return nil }

func (l *fuzzLink) WritePacket(p []byte) error {
	if len(p) > fzMTU {
		l.h.t.Fatalf("stack wrote a %d-byte packet on a %d-byte MTU", len(p), fzMTU)
	}
	l.h.sent(p)
	return nil
}

func newFuzzHarness(t *testing.T) *fuzzHarness {
	h := &fuzzHarness{t: t, clk: clock.NewVirtual(fzStart), views: map[connKey]*peerView{}, known: map[connKey]connFacts{}, buf: make([]byte, 4096)}
	s, err := New(&fuzzLink{h}, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: h.clk, TCP: fzConfig(), Host: "fuzz",
		MaxConnections: fzMaxConns})
	if err != nil {
		t.Fatal(err)
	}
	h.s, h.cfg = s, s.TCPConfig()
	if h.ln, err = s.ListenTCP(netip.AddrPortFrom(netip.Addr{}, fzPort), fzBacklog); err != nil {
		t.Fatal(err)
	}
	return h
}

// view is the peer's view of the tuple from remote to local.
func (h *fuzzHarness) view(local, remote netip.AddrPort) *peerView {
	k := keyOf(local, remote)
	v := h.views[k]
	if v == nil {
		v = &peerView{}
		h.views[k] = v
	}
	return v
}

// sent checks one packet the stack wrote and learns from it.
func (h *fuzzHarness) sent(p []byte) {
	t := h.t
	ip, err := wire.ParseIPv4(p)
	if err != nil || !ip.IsChecksumValid() || ip.Src() != fzAddr {
		t.Fatalf("stack wrote a bad IPv4 packet (%v): % x", err, p)
	}
	if ip.Protocol() != wire.ProtocolTCP {
		return
	}
	seg, err := wire.ParseTCP(ip.Payload())
	if err != nil || !seg.IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Fatalf("stack wrote a bad TCP segment (%v): % x", err, p)
	}
	var o wire.TCPOptions
	if err := wire.ParseTCPOptions(seg.Options(), &o); err != nil {
		t.Fatalf("stack wrote bad TCP options: %v", err)
	}
	local, remote := netip.AddrPortFrom(ip.Src(), seg.SrcPort()), netip.AddrPortFrom(ip.Dst(), seg.DstPort())
	k := keyOf(local, remote)
	n := len(seg.Payload())
	if fzTrace {
		t.Logf("sent %v>%v %v seq=%d ack=%d win=%d len=%d %+v", local, remote, seg.Flags(), seg.SeqNum(), seg.AckNum(), seg.Window(), n, o)
	}
	if n > 0 {
		// The link is written with the stack's lock released: were it
		// held, TryLock would fail on this one goroutine.
		if !h.s.tryLockAll() {
			t.Fatalf("stack wrote to the link with a shard's lock held")
		}
		kc, ok := h.known[k]
		if c := h.s.shardOf(k).conns[k]; c != nil {
			kc, ok = connFacts{c.conn.MSS(), c.conn.ISS()}, true
			h.known[k] = kc
		}
		h.s.unlockAll()
		if !ok || n > kc.mss {
			t.Fatalf("stack sent %d bytes of text to %v, above the connection's MSS %d (known %v)", n, remote, kc.mss, ok)
		}
		// The connection's ISS, not its SYN,ACK's: a SYN cookie also
		// takes an ACK a little off (its low bits hold the MSS index, as
		// Linux's do), and the connection then starts from that.
		off := uint64(kc.iss.Add(1).Size(seg.SeqNum()))
		for i, b := range seg.Payload() {
			if b != appByte(off+uint64(i)) {
				t.Fatalf("stack sent byte %#x at stream offset %d to %v, the application wrote %#x", b, off+uint64(i), remote, appByte(off+uint64(i)))
			}
		}
	}
	v := h.view(local, remote)
	f := seg.Flags()
	if f.Has(wire.FlagSYN) {
		v.synSeen = true
	}
	if f.Has(wire.FlagRST) {
		return
	}
	end := seg.SeqNum().Add(seqnum.Size(n))
	if f.Has(wire.FlagSYN) {
		end = end.Add(1)
	}
	if f.Has(wire.FlagFIN) {
		end = end.Add(1)
	}
	if !v.seen || v.sndMax.LessThan(end) || f.Has(wire.FlagSYN) {
		v.sndMax = end
	}
	if f.Has(wire.FlagACK) {
		v.rcvNxt = seg.AckNum()
	}
	if o.HasTimestamps {
		v.tsVal = o.TSVal
	}
	v.seen = true
}

// deliver hands one packet to the stack, as the link does.
func (h *fuzzHarness) deliver(p []byte) {
	if fzTrace {
		if ip, err := wire.ParseIPv4(p); err == nil && ip.Protocol() == wire.ProtocolTCP {
			if seg, err := wire.ParseTCP(ip.Payload()); err == nil {
				h.t.Logf("deliver %v:%d>%v:%d %v seq=%d ack=%d win=%d len=%d", ip.Src(), seg.SrcPort(), ip.Dst(), seg.DstPort(),
					seg.Flags(), seg.SeqNum(), seg.AckNum(), seg.Window(), len(seg.Payload()))
			}
		}
	}
	h.s.DeliverPacket(p)
}

// tcpPacket builds a checksummed IPv4+TCP packet from remote to local.
func tcpPacket(local, remote netip.AddrPort, f *wire.TCPFields, payload []byte) []byte {
	f.SrcPort, f.DstPort = remote.Port(), local.Port()
	hl := f.Len()
	p := make([]byte, wire.IPv4MinHeaderLen+hl+len(payload))
	(&wire.IPv4Fields{TotalLength: uint16(len(p)), ID: 1, TTL: 64, Protocol: wire.ProtocolTCP, Src: remote.Addr(), Dst: local.Addr()}).Encode(p)
	t := wire.TCP(p[wire.IPv4MinHeaderLen:])
	f.Encode(t)
	copy(t[hl:], payload)
	t.FillChecksum(remote.Addr(), local.Addr())
	return p
}

// peerText is n bytes of the peer's stream from sequence number seq.
func peerText(seq seqnum.Value, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = peerByte(seq.Add(seqnum.Size(i)))
	}
	return b
}

// tsNow is the peer's timestamp clock: milliseconds since the start.
func (h *fuzzHarness) tsNow() uint32 { return uint32(h.clk.Now().Sub(fzStart)/time.Millisecond) + 1 }

// handshake opens the established connection through the listener, with
// the options the input's header asks for, and accepts it.
func (h *fuzzHarness) handshake(in *fzInput) {
	t := h.t
	opt, mss, iss := in.byte(), in.byte(), seqnum.Value(uint32(in.byte())<<24|0xf000)
	local := netip.AddrPortFrom(fzAddr, fzPort)
	syn := wire.TCPFields{Seq: iss, Flags: wire.FlagSYN, Window: 65535}
	o := &syn.Options
	if opt&1 != 0 {
		o.HasMSS, o.MSS = true, uint16(mss)*8+1
	}
	if opt&2 != 0 {
		o.HasWindowScale, o.WindowScale = true, opt>>4
	}
	o.SACKPermitted = opt&4 != 0
	if opt&8 != 0 {
		o.HasTimestamps, o.TSVal = true, h.tsNow()
	}
	h.deliver(tcpPacket(local, fzEstablished, &syn, nil))
	v := h.view(local, fzEstablished)
	if !v.synSeen {
		t.Fatalf("no SYN,ACK for a valid SYN")
	}
	ack := wire.TCPFields{Seq: iss.Add(1), Ack: v.sndMax, Flags: wire.FlagACK, Window: 65535}
	if opt&8 != 0 {
		ack.Options.HasTimestamps, ack.Options.TSVal, ack.Options.TSEcr = true, h.tsNow(), v.tsVal
	}
	h.deliver(tcpPacket(local, fzEstablished, &ack, nil))
	if h.ln.Ready() != 1 {
		t.Fatalf("the handshake did not complete: %d ready", h.ln.Ready())
	}
	c, err := h.ln.Accept(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.app = append(h.app, &appConn{c: c})
	h.check(false)
}

// tuple picks the 4-tuple a built segment travels on: half the time the
// established connection's, else one of 16 other clients of the
// listener or one of two to the closed port.
func tuple(sel byte) (local, remote netip.AddrPort) {
	if sel&1 == 0 {
		return netip.AddrPortFrom(fzAddr, fzPort), fzEstablished
	}
	i := int(sel>>1) % 18
	port := uint16(fzPort)
	if i >= 16 {
		port = fzClosedPort
	}
	return netip.AddrPortFrom(fzAddr, port), netip.AddrPortFrom(fzPeers[i%4], uint16(40001+i/4))
}

// segment builds a segment from the input: see the package comment.
func (h *fuzzHarness) segment(in *fzInput) []byte {
	local, remote := tuple(in.byte())
	v := h.view(local, remote)
	f := wire.TCPFields{Flags: wire.TCPFlags(in.byte())}
	switch in.byte() % 4 {
	case 0:
		f.Seq = v.rcvNxt.Add(seqnum.Size(int8(in.byte())))
	case 1:
		f.Seq = v.rcvNxt.Add(seqnum.Size(int16(in.u16())))
	case 2:
		f.Seq = seqnum.Value(in.u32())
	default:
		f.Seq = v.rcvNxt.Add(seqnum.Size(in.u16())) // ahead: out of order
	}
	switch in.byte() % 4 {
	case 0:
		f.Ack = v.sndMax.Add(-seqnum.Size(in.byte())) // within what was sent
	case 1:
		f.Ack = v.sndMax.Add(seqnum.Size(int8(in.byte())))
	case 2:
		f.Ack = seqnum.Value(in.u32())
	default:
		f.Ack = v.sndMax.Add(seqnum.Size(int32(-1<<30) + int32(int8(in.byte())))) // far below SND.UNA (RFC 5961 §5)
	}
	switch w := in.byte(); w % 4 {
	case 0:
		f.Window = 0
	case 1:
		f.Window = uint16(w)
	default:
		f.Window = in.u16()
	}
	o := &f.Options
	opt := in.byte()
	if opt&1 != 0 {
		o.HasMSS, o.MSS = true, in.u16()
	}
	if opt&2 != 0 {
		o.HasWindowScale, o.WindowScale = true, in.byte()%16
	}
	o.SACKPermitted = opt&4 != 0
	if opt&8 != 0 {
		o.HasTimestamps, o.TSEcr = true, v.tsVal
		switch m := in.byte(); m % 4 {
		case 0:
			o.TSVal = h.tsNow()
		case 1:
			o.TSVal = h.tsNow() - uint32(in.byte())<<8 // old: PAWS
		case 2:
			o.TSVal = in.u32()
		default:
			o.TSVal, o.TSEcr = h.tsNow(), in.u32()
		}
	}
	if opt&16 != 0 {
		n := 1 + int(in.byte())%4
		if o.HasTimestamps {
			n = min(n, 3) // 40 bytes of options at most
		}
		o.NumSACKBlocks = n
		una := v.sndMax.Add(-seqnum.Size(in.u16()))
		for i := range n {
			left := una.Add(seqnum.Size(in.byte()) * 8)
			o.SACKBlocks[i] = wire.SACKBlock{Left: left, Right: left.Add(seqnum.Size(in.byte()) * 8)}
		}
	}
	n := int(in.byte())
	if n >= 128 {
		n = (n - 128) * 8
	}
	return tcpPacket(local, remote, &f, peerText(f.Seq, n))
}

// raw delivers input bytes: as they are, or wrapped in a valid IPv4 header
// from a client to the stack, with the TCP checksum filled if asked.
func (h *fuzzHarness) raw(in *fzInput) {
	m := in.byte()
	b := append([]byte(nil), in.bytes(int(in.byte())*3)...)
	h.tainted = true
	if m&4 == 0 {
		if m&1 != 0 && len(b) >= wire.IPv4MinHeaderLen {
			b[10], b[11] = 0, 0
			c := ^wire.Checksum(b[:wire.IPv4MinHeaderLen], 0)
			b[10], b[11] = byte(c>>8), byte(c)
		}
		h.deliver(b)
		return
	}
	_, remote := tuple(m >> 3)
	p := make([]byte, wire.IPv4MinHeaderLen+len(b))
	(&wire.IPv4Fields{TotalLength: uint16(len(p)), ID: 2, TTL: 64, Protocol: wire.ProtocolTCP, Src: remote.Addr(), Dst: fzAddr}).Encode(p)
	copy(p[wire.IPv4MinHeaderLen:], b)
	if m&2 != 0 && len(b) >= wire.TCPMinHeaderLen {
		wire.TCP(p[wire.IPv4MinHeaderLen:]).FillChecksum(remote.Addr(), fzAddr)
	}
	h.deliver(p)
}

// icmp delivers an ICMP error that quotes a segment the stack sent on a
// tuple. The code byte's low four bits are the code; bit 4 makes it a time
// exceeded; bits 5-6 pick the MTU a "fragmentation needed" reports (576,
// 0 for RFC 1191's plateaus, 100 to be clamped, 1280); bit 7 cuts the
// quote short (to 20 to 27 bytes, by the sequence byte).
func (h *fuzzHarness) icmp(in *fzInput) {
	local, remote := tuple(in.byte())
	c := in.byte()
	typ, code := wire.ICMPv4DestUnreachable, c%16
	if c&0x10 != 0 {
		typ, code = wire.ICMPv4TimeExceeded, code%2
	}
	mtu := [...]uint32{576, 0, 100, 1280}[c>>5&3]
	v := h.view(local, remote)
	q := make([]byte, wire.IPv4MinHeaderLen+8)
	(&wire.IPv4Fields{TotalLength: 40, ID: 3, TTL: 64, Protocol: wire.ProtocolTCP, Src: local.Addr(), Dst: remote.Addr()}).Encode(q)
	tq := q[wire.IPv4MinHeaderLen:]
	tq[0], tq[1], tq[2], tq[3] = byte(local.Port()>>8), byte(local.Port()), byte(remote.Port()>>8), byte(remote.Port())
	back := in.byte()
	s := uint32(v.sndMax.Add(-seqnum.Size(back)))
	tq[4], tq[5], tq[6], tq[7] = byte(s>>24), byte(s>>16), byte(s>>8), byte(s)
	if c&0x80 != 0 {
		q = q[:wire.IPv4MinHeaderLen+int(back%8)]
	}
	m := make([]byte, wire.ICMPv4HeaderLen+len(q))
	(&wire.ICMPv4Fields{Type: typ, Code: code, Rest: mtu}).Encode(m)
	copy(m[wire.ICMPv4HeaderLen:], q)
	wire.ICMPv4(m).FillChecksum()
	p := make([]byte, wire.IPv4MinHeaderLen+len(m))
	(&wire.IPv4Fields{TotalLength: uint16(len(p)), ID: 4, TTL: 64, Protocol: wire.ProtocolICMPv4, Src: remote.Addr(), Dst: fzAddr}).Encode(p)
	copy(p[wire.IPv4MinHeaderLen:], m)
	h.deliver(p)
}

// advance moves the virtual clock: timers that fall due run.
func (h *fuzzHarness) advance(in *fzInput) {
	steps := [...]time.Duration{time.Millisecond, 10 * time.Millisecond, 40 * time.Millisecond, 200 * time.Millisecond,
		time.Second, 3 * time.Second, 10 * time.Second, time.Minute}
	b := in.byte()
	h.clk.Advance(steps[b%8] * time.Duration(1+b>>3))
}

// engine runs an application call on c's engine under the stack's lock,
// as the socket does, but never blocks.
func (h *fuzzHarness) engine(c *TCPConn, call func(now time.Time)) {
	s := c.s
	s.mu.Lock()
	if c.conn == nil {
		s.mu.Unlock() // ended in TIME-WAIT and let go: no engine to call
		return
	}
	l := c.lockListener()
	call(s.clk.Now())
	s.afterLocked(c)
	unlockListener(l)
	s.unlockAndFlush()
}

// appCall is an application call on one of the connections it holds.
func (h *fuzzHarness) appCall(in *fzInput, op byte) {
	t := h.t
	sel, arg := in.byte(), in.byte()
	if op == 3 && arg%8 == 7 {
		if h.ln.Ready() > 0 {
			c, err := h.ln.Accept(context.Background())
			if err != nil {
				t.Fatalf("Accept with %d ready: %v", h.ln.Ready(), err)
			}
			h.app = append(h.app, &appConn{c: c})
		}
		return
	}
	a := h.app[int(sel)%len(h.app)]
	if a.closed {
		return
	}
	switch op {
	case 1: // read
		n := 0
		var irs seqnum.Value
		h.engine(a.c, func(now time.Time) { irs = a.c.conn.IRS().Add(1); n, _ = a.c.conn.Read(now, h.buf[:int(arg)*16]) })
		if !h.tainted {
			for i, b := range h.buf[:n] {
				if want := peerByte(irs.Add(seqnum.Size(a.read + uint64(i)))); b != want {
					t.Fatalf("application read %#x at stream offset %d, the peer sent %#x", b, a.read+uint64(i), want)
				}
			}
		}
		a.read += uint64(n)
	case 2: // write
		p := h.buf[:int(arg)*16]
		for i := range p {
			p[i] = appByte(a.written + uint64(i))
		}
		n := 0
		h.engine(a.c, func(now time.Time) { n, _ = a.c.conn.Write(now, p) })
		a.written += uint64(n)
	case 3:
		switch arg % 8 {
		case 0, 1:
			_ = a.c.CloseWrite()
		case 2, 3, 4:
			a.closed = true
			_ = a.c.Close()
		case 5:
			a.closed = true
			_ = a.c.Abort()
		case 6:
			h.engine(a.c, func(now time.Time) { a.c.conn.SetNoDelay(now, arg&8 != 0) })
		}
	}
}

// fuzzStep plays one record of the input.
func (h *fuzzHarness) fuzzStep(in *fzInput) (advanced bool) {
	switch op := in.byte(); op % 16 {
	case 8:
		h.advance(in)
		return true
	case 9:
		if d, ok := h.clk.Next(); ok {
			h.clk.AdvanceTo(d) // straight to the next timer
		}
		return true
	case 10:
		h.appCall(in, 1)
	case 11:
		h.appCall(in, 2)
	case 12:
		h.appCall(in, 3)
	case 13:
		h.raw(in)
	case 14:
		h.icmp(in)
	default:
		h.deliver(h.segment(in))
	}
	return false
}

// check asserts the invariants of every connection and listener of the
// stack; after the clock moved, no timer may be left in the past.
func (h *fuzzHarness) check(advanced bool) {
	t, s := h.t, h.s
	if !s.tryLockAll() {
		t.Fatal("a shard's lock is held between calls")
	}
	defer s.unlockAll()
	now := s.clk.Now()
	conns := s.connsLocked()
	if len(conns) > fzMaxConns || int(s.nconns.Load()) != len(conns) {
		t.Fatalf("the stack holds %d connections (counted %d), above MaxConnections %d", len(conns), s.nconns.Load(), fzMaxConns)
	}
	halfOpen := map[*TCPListener]int{}
	for k, c := range conns {
		cc := c.conn
		st := cc.State()
		where := fmt.Sprintf("%v-%v %v", cc.Local, cc.Remote, st)
		if st == tcp.StateClosed {
			t.Fatalf("%s: a CLOSED connection is still in the table", where)
		}
		if k != keyOf(cc.Local, cc.Remote) {
			t.Fatalf("%s: filed under another 4-tuple", where)
		}
		una, nxt, sndMax := cc.SndUna(), cc.SndNxt(), cc.SndMax()
		if !una.LessThanEq(nxt) || !nxt.LessThanEq(sndMax) {
			t.Fatalf("%s: want SND.UNA %d <= SND.NXT %d <= SND.MAX %d", where, una, nxt, sndMax)
		}
		in := cc.Info()
		if in.RcvBuf > h.cfg.MaxReceiveBufferSize || in.SndBuf > h.cfg.MaxSendBufferSize {
			t.Fatalf("%s: buffer limits %d/%d above the caps %d/%d", where, in.RcvBuf, in.SndBuf, h.cfg.MaxReceiveBufferSize, h.cfg.MaxSendBufferSize)
		}
		// The window is advertised in units of 2^Rcv.Wind.Shift, rounded up
		// so its edge never moves left (RFC 7323 §2.4): less than a unit over.
		if in.RcvWnd > in.RcvBuf+(1<<in.RcvShift-1) {
			t.Fatalf("%s: RCV.WND %d above the receive buffer %d", where, in.RcvWnd, in.RcvBuf)
		}
		if q, ooo := cc.RecvQueue(), cc.OutOfOrderBytes(); q+ooo > in.RcvBuf {
			t.Fatalf("%s: %d bytes queued for the reader and %d held out of order, above the receive buffer %d", where, q, ooo, in.RcvBuf)
		}
		if q := cc.SendQueue(); q > in.SndBuf {
			t.Fatalf("%s: %d bytes in the send queue, above the send buffer %d", where, q, in.SndBuf)
		}
		if st != tcp.StateSynSent {
			// The peer's MSS is taken as at least MinSendMSS (tcp/limits.go)
			// and ours caps it; timestamps then take their 12 bytes off every
			// segment (tcp/input.go learnPeer, RFC 6691).
			lo := min(h.cfg.MinSendMSS, h.cfg.MSS)
			if in.Timestamps {
				lo -= fzTimestampsLen
			}
			if cc.MSS() < lo || cc.MSS() > h.cfg.MSS {
				t.Fatalf("%s: MSS %d outside %d..%d (timestamps %v)", where, cc.MSS(), lo, h.cfg.MSS, in.Timestamps)
			}
		}
		if n, m := cc.SACKRanges(), cc.SACKRangeCap(); n > m {
			t.Fatalf("%s: %d SACK scoreboard ranges, above the cap %d", where, n, m)
		}
		if n, m := cc.HeldRanges(), cc.HeldRangeCap(); n > m {
			t.Fatalf("%s: %d ranges held out of order, above the cap %d", where, n, m)
		}
		h.known[k] = connFacts{cc.MSS(), cc.ISS()}
		d := cc.Deadline()
		if !d.Equal(s.timeOf(c.deadline)) || (c.heapIdx >= 0) == d.IsZero() {
			t.Fatalf("%s: timer at %v, but the stack's heap has %v (index %d)", where, d, s.timeOf(c.deadline), c.heapIdx)
		}
		if advanced && !d.IsZero() && !d.After(now) {
			t.Fatalf("%s: timer at %v left due after the clock reached %v", where, d, now)
		}
		if st == tcp.StateSynReceived && c.listener != nil && cc.Listener() != nil {
			halfOpen[c.listener]++
		}
	}
	h.checkTimeWait(advanced)
	h.checkMemory(conns)
	for _, sh := range s.shards {
		if len(sh.timers) > 0 && (sh.armedAt.IsZero() || sh.armedAt.After(s.timeOf(sh.timers[0].deadline))) {
			t.Fatalf("earliest connection timer at %v, but the clock timer is armed for %v", s.timeOf(sh.timers[0].deadline), sh.armedAt)
		}
	}
	for _, l := range s.allListeners() {
		if l.l.Ready() > l.l.Backlog() {
			t.Fatalf("listener %d: %d in the accept queue, above the backlog %d", l.port, l.l.Ready(), l.l.Backlog())
		}
		if l.l.HalfOpen() > h.cfg.MaxSYNBacklog {
			t.Fatalf("listener %d: %d half-open, above the SYN backlog %d", l.port, l.l.HalfOpen(), h.cfg.MaxSYNBacklog)
		}
		if halfOpen[l] != l.l.HalfOpen() {
			t.Fatalf("listener %d counts %d half-open, the table holds %d", l.port, l.l.HalfOpen(), halfOpen[l])
		}
	}
}

// checkTimeWait asserts the TIME-WAIT table's invariants (timewait.go):
// within MaxTimeWait, each record filed under its key, in the heap at its
// index, never alongside a connection of the same 4-tuple, and none left
// due after the clock moved; the clock timer armed for the earliest.
func (h *fuzzHarness) checkTimeWait(advanced bool) {
	t, s := h.t, h.s
	if n := s.ntw.Load(); n > int64(s.maxTW) {
		t.Fatalf("%d TIME-WAIT records, cap %d", n, s.maxTW)
	}
	now := s.clk.Now()
	total := 0
	for _, sh := range s.shards {
		if len(sh.tws) != len(sh.twHeap) {
			t.Fatalf("%d TIME-WAIT records in a shard, %d in its heap", len(sh.tws), len(sh.twHeap))
		}
		total += len(sh.tws)
		for k, e := range sh.tws {
			if e.key != k || e.idx < 0 || int(e.idx) >= len(sh.twHeap) || sh.twHeap[e.idx] != e {
				t.Fatalf("TIME-WAIT record %v filed wrongly (index %d)", k, e.idx)
			}
			if s.shardOf(k) != sh {
				t.Fatalf("TIME-WAIT record %v in another shard than its 4-tuple's", k)
			}
			if sh.conns[k] != nil {
				t.Fatalf("TIME-WAIT record %v alongside a connection of the same 4-tuple", k)
			}
			if advanced && !e.rec.Deadline().After(now) {
				t.Fatalf("TIME-WAIT record %v due at %v, left after the clock reached %v", k, e.rec.Deadline(), now)
			}
		}
		if len(sh.twHeap) > 0 && (sh.armedAt.IsZero() || sh.armedAt.After(sh.twHeap[0].rec.Deadline())) {
			t.Fatalf("earliest TIME-WAIT deadline %v, but the clock timer is armed for %v", sh.twHeap[0].rec.Deadline(), sh.armedAt)
		}
	}
	if int64(total) != s.ntw.Load() {
		t.Fatalf("%d TIME-WAIT records in the shards, counted %d", total, s.ntw.Load())
	}
}

// fzTimestampsLen is what the timestamps option takes of every segment:
// 10 bytes and two NOPs to align it.
const fzTimestampsLen = 12

// checkMemory asserts, between calls (every engine call has returned and
// charged what it changed: tcp/memory.go), that the stack's buffer memory
// is exactly what its connections hold: received bytes queued for the
// reader or held out of order, and bytes in send queues. Connections the
// application holds count even once they left the table (CLOSED with
// unread text); one neither in the table nor held by the application
// must hold nothing, and so any difference is a charge leaked or missed.
func (h *fuzzHarness) checkMemory(conns map[connKey]*TCPConn) {
	var rcv, snd int64
	seen := map[*tcp.Conn]bool{}
	add := func(cc *tcp.Conn) {
		if seen[cc] {
			return
		}
		seen[cc] = true
		rcv += int64(cc.RecvQueue() + cc.OutOfOrderBytes())
		snd += int64(cc.SendQueue())
	}
	for _, c := range conns {
		add(c.conn)
	}
	for _, a := range h.app {
		if a.c.conn != nil {
			add(a.c.conn)
		}
	}
	m := h.s.TCPMemory()
	if m.Receive() != rcv || m.Send() != snd {
		h.t.Fatalf("stack memory charged %d received, %d to send; the connections hold %d and %d", m.Receive(), m.Send(), rcv, snd)
	}
}

// fzTrace (FUZZSTACK_TRACE=1) logs every packet delivered and sent and the
// socket table after every step, to see what a seed or a crasher does.
var fzTrace = os.Getenv("FUZZSTACK_TRACE") == "1"

func (h *fuzzHarness) logTable(step int) {
	for _, r := range h.s.Sockets() {
		h.t.Logf("step %d: %v %v %v rq=%d sq=%d %v", step, r.Local, r.Remote, r.State, r.RecvQ, r.SendQ, r.TCP)
	}
}

func fuzzStack(t *testing.T, data []byte) {
	h := newFuzzHarness(t)
	in := fzInput(data)
	h.handshake(&in)
	for step := 0; len(in) > 0 && step < fzMaxSteps; step++ {
		h.check(h.fuzzStep(&in))
		if fzTrace {
			h.logTable(step)
		}
	}
	// Time runs out: every connection ends or waits on a timer.
	h.clk.Advance(10 * time.Minute)
	h.check(true)
	h.s.Close()
}

// FuzzStack: any packets into a stack with a listener and an established
// connection; see the comment at the top of this file. Its seed corpus is
// testdata/fuzz/FuzzStack, written by TestFuzzStackCorpus.
func FuzzStack(f *testing.F) {
	f.Fuzz(fuzzStack)
}
