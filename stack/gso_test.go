package stack

import (
	"bytes"
	"encoding/binary"

	"net/netip"
	"testing"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// gsoNet is a link that records what the stack writes and how; with max
// zero it offers no offload.
type gsoNet struct {
	max  int
	pkts [][]byte
	gsos []link.GSO // the description of each packet; zero for WritePacket
}

func (n *gsoNet) MTU() int               { return 1500 }
func (n *gsoNet) Attach(link.Dispatcher) {}
func (n *gsoNet) Close() error           { return nil }
func (n *gsoNet) GSOMaxSize() int        { return n.max }
func (n *gsoNet) WritePacket(p []byte) error {
	n.pkts, n.gsos = append(n.pkts, bytes.Clone(p)), append(n.gsos, link.GSO{})
	return nil
}
func (n *gsoNet) WriteGSO(p []byte, g link.GSO) error {
	n.pkts, n.gsos = append(n.pkts, bytes.Clone(p)), append(n.gsos, g)
	return nil
}

// cut does what the kernel does to a packet written with g: it cuts a
// large TCP segment into segments of g.Size payload bytes (each with the
// headers, its own IPv4 length, ID and checksum, sequence number, PSH and
// FIN on the last only) and completes every partial checksum.
func cut(t *testing.T, p []byte, g link.GSO) [][]byte {
	t.Helper()
	if !g.NeedsCsum {
		return [][]byte{p}
	}
	if g.Type == link.GSONone {
		q := bytes.Clone(p)
		complete(q, g)
		return [][]byte{q}
	}
	if g.Type != link.GSOTCPv4 {
		t.Fatalf("GSO type %v", g.Type)
	}
	hdr, size := int(g.HdrLen), int(g.Size)
	ip := wire.IPv4(p)
	th := wire.TCP(p[ip.HeaderLen():])
	var out [][]byte
	for k, off := 0, hdr; off < len(p); k, off = k+1, off+size {
		end := min(off+size, len(p))
		q := append(bytes.Clone(p[:hdr]), p[off:end]...)
		binary.BigEndian.PutUint16(q[2:], uint16(len(q)))
		binary.BigEndian.PutUint16(q[4:], ip.ID()+uint16(k))
		wire.IPv4(q).FillChecksum()
		tq := wire.TCP(q[ip.HeaderLen():])
		binary.BigEndian.PutUint32(tq[4:], uint32(th.SeqNum().Add(seqnum.Size(off-hdr))))
		if end < len(p) {
			tq[13] &^= byte(wire.FlagPSH | wire.FlagFIN)
		}
		tq.SetChecksum(wire.PseudoHeaderChecksum(wire.ProtocolTCP, ip.Src(), ip.Dst(), uint16(len(tq))))
		complete(q, g)
		out = append(out, q)
	}
	return out
}

// complete finishes a partial checksum as virtio describes it: the sum
// from CsumStart to the end, the field included, inverted into the field.
func complete(q []byte, g link.GSO) {
	at := int(g.CsumStart) + int(g.CsumOffset)
	init := binary.BigEndian.Uint16(q[at:])
	binary.BigEndian.PutUint16(q[at:], 0)
	binary.BigEndian.PutUint16(q[at:], ^wire.Checksum(q[g.CsumStart:], init))
}

var (
	gsoLocal  = netip.MustParseAddrPort("10.0.0.2:80")
	gsoRemote = netip.MustParseAddrPort("10.0.0.1:40000")
	gsoOther  = netip.MustParseAddrPort("10.0.0.1:40001")
)

// seg is one Send the test makes.
type seg struct {
	remote netip.AddrPort
	h      wire.TCPFields
	n      int // payload bytes
}

// data returns n bytes that differ with the sequence number.
func data(seq seqnum.Value, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(uint32(seq) + uint32(i)*7)
	}
	return b
}

// sendAll queues the segments on a stack over link n in one batch and
// flushes it.
func sendAll(t *testing.T, n *gsoNet, segs []seg) *Stack {
	t.Helper()
	s, err := New(n, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clock.NewVirtual(fzStart)})
	if err != nil {
		t.Fatal(err)
	}
	sh := s.shards[0] // one shard's batch, whichever the 4-tuples' shards
	sh.mu.Lock()
	for _, x := range segs {
		h := x.h
		h.SrcPort, h.DstPort = gsoLocal.Port(), x.remote.Port()
		if x.n < 0 {
			sh.icmpEcho(x.remote.Addr()) // a packet of another protocol
			continue
		}
		p := data(h.Seq, x.n)
		sh.sendTCP(nil, gsoLocal.Addr(), x.remote.Addr(), &h, p[:x.n/2], p[x.n/2:])
	}
	sh.unlockAndFlush()
	return s
}

// icmpEcho queues an echo request (the shard's mu held), a packet that is
// not TCP.
func (s *shard) icmpEcho(dst netip.Addr) {
	n := wire.IPv4MinHeaderLen + 8
	p := s.packet(n)
	s.ipv4Header(p, wire.ProtocolICMPv4, s.addr, dst, n)
	p[wire.IPv4MinHeaderLen] = 8
}

// run sends segs through an offloading link and a plain one and checks
// that the offloading one, once cut, sent exactly the plain one's packets
// in as many writes as want says.
func run(t *testing.T, segs []seg, wantWrites int) *gsoNet {
	t.Helper()
	plain, off := &gsoNet{}, &gsoNet{max: link.MaxGSOSize}
	sendAll(t, plain, segs)
	sendAll(t, off, segs)
	sameOnceCut(t, off, plain)
	if len(off.pkts) != wantWrites {
		t.Fatalf("offload made %d writes, want %d (GSO %v)", len(off.pkts), wantWrites, off.gsos)
	}
	for _, g := range plain.gsos {
		if g != (link.GSO{}) {
			t.Fatalf("plain link got an offload write: %+v", g)
		}
	}
	return off
}

// sameOnceCut checks that what the offloading link off got, cut as the
// kernel cuts it, is exactly what the plain link got.
func sameOnceCut(t *testing.T, off, plain *gsoNet) {
	t.Helper()
	var cutPkts [][]byte
	for i, p := range off.pkts {
		cutPkts = append(cutPkts, cut(t, p, off.gsos[i])...)
	}
	if len(cutPkts) != len(plain.pkts) {
		t.Fatalf("offload sent %d packets once cut, plain %d", len(cutPkts), len(plain.pkts))
	}
	for i := range cutPkts {
		if !bytes.Equal(cutPkts[i], plain.pkts[i]) {
			t.Fatalf("packet %d differs once cut:\n got % x\nwant % x", i, cutPkts[i], plain.pkts[i])
		}
	}
}

func ack(seq, ackN uint32, flags wire.TCPFlags) wire.TCPFields {
	return wire.TCPFields{Seq: seqnum.Value(seq), Ack: seqnum.Value(ackN), Flags: flags, Window: 1000,
		Options: wire.TCPOptions{HasTimestamps: true, TSVal: 7, TSEcr: 9}}
}

const a = wire.FlagACK

func TestGSOMergesContiguousRun(t *testing.T) {
	segs := []seg{
		{gsoRemote, ack(1000, 5, a), 1448},
		{gsoRemote, ack(2448, 5, a), 1448},
		{gsoRemote, ack(3896, 5, a), 1448},
		{gsoRemote, ack(5344, 5, a|wire.FlagPSH), 100},
	}
	off := run(t, segs, 1)
	g := off.gsos[0]
	want := link.GSO{Type: link.GSOTCPv4, NeedsCsum: true, HdrLen: 20 + 32, Size: 1448, CsumStart: 20, CsumOffset: 16}
	if g != want {
		t.Fatalf("GSO %+v, want %+v", g, want)
	}
	if n := len(off.pkts[0]); n != 52+3*1448+100 {
		t.Fatalf("large segment of %d bytes", n)
	}
}

func TestGSOMergesUpToMax(t *testing.T) {
	var segs []seg
	for i := range 100 { // 100 × 1448 bytes: three writes of at most 64 KB
		segs = append(segs, seg{gsoRemote, ack(uint32(1000+1448*i), 5, a), 1448})
	}
	off := run(t, segs, 3)
	for i, p := range off.pkts {
		if len(p) > link.MaxGSOSize {
			t.Fatalf("write %d is %d bytes", i, len(p))
		}
	}
}

func TestGSOMergesFINOnLast(t *testing.T) {
	run(t, []seg{
		{gsoRemote, ack(1000, 5, a), 1000},
		{gsoRemote, ack(2000, 5, a|wire.FlagFIN|wire.FlagPSH), 10},
	}, 1)
}

func TestGSOLoneSegmentPartialChecksum(t *testing.T) {
	off := run(t, []seg{{gsoRemote, ack(1000, 5, a), 1000}}, 1)
	if g := off.gsos[0]; g.Type != link.GSONone || !g.NeedsCsum {
		t.Fatalf("lone segment written as %+v, want a partial checksum and no GSO", g)
	}
}

// TestGSODoesNotMerge lists runs that must stay apart, each with the
// number of writes it takes.
func TestGSODoesNotMerge(t *testing.T) {
	other := ack(2000, 5, a)
	other.Options.TSVal = 8
	win := ack(2000, 5, a)
	win.Window = 999
	sack := ack(2000, 5, a)
	sack.Options.NumSACKBlocks = 1
	sack.Options.SACKBlocks[0] = wire.SACKBlock{Left: 9000, Right: 9100}
	for _, tc := range []struct {
		name  string
		segs  []seg
		write int
	}{
		{"another port", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoOther, ack(2000, 5, a), 1000}}, 2},
		{"a gap in sequence", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, ack(2001, 5, a), 1000}}, 2},
		{"a resent segment", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, ack(1000, 5, a), 1000}}, 2},
		{"another ACK", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, ack(2000, 6, a), 1000}}, 2},
		{"another window", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, win, 1000}}, 2},
		{"another timestamp", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, other, 1000}}, 2},
		{"SACK blocks", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, sack, 1000}}, 2},
		{"PSH before", []seg{{gsoRemote, ack(1000, 5, a|wire.FlagPSH), 1000}, {gsoRemote, ack(2000, 5, a), 1000}}, 2},
		{"FIN before", []seg{{gsoRemote, ack(1000, 5, a|wire.FlagFIN), 1000}, {gsoRemote, ack(2001, 5, a), 1000}}, 2},
		{"SYN", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, ack(2000, 5, a|wire.FlagSYN), 1000}}, 2},
		{"RST", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, ack(2000, 5, a|wire.FlagRST), 0}}, 2},
		{"URG", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, ack(2000, 5, a|wire.FlagURG), 1000}}, 2},
		{"ECE", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, ack(2000, 5, a|wire.FlagECE), 1000}}, 2},
		{"a pure ACK", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, ack(2000, 5, a), 0}}, 2},
		{"a longer one after", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, ack(2000, 5, a), 1001}}, 2},
		{"after a short one", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, ack(2000, 5, a), 1000},
			{gsoRemote, ack(3000, 5, a), 500}, {gsoRemote, ack(3500, 5, a), 500}}, 2},
		{"another protocol between", []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, seg{}.h, -1},
			{gsoRemote, ack(2000, 5, a), 1000}}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc.segs, tc.write) })
	}
}

func TestGSOOffNoMerge(t *testing.T) {
	n := &gsoNet{max: 0} // offers the method, but no offload now
	sendAll(t, n, []seg{{gsoRemote, ack(1000, 5, a), 1000}, {gsoRemote, ack(2000, 5, a), 1000}})
	if len(n.pkts) != 2 || n.gsos[0] != (link.GSO{}) || n.gsos[1] != (link.GSO{}) {
		t.Fatalf("with GSOMaxSize 0: %d writes, %v", len(n.pkts), n.gsos)
	}
	if !wire.TCP(n.pkts[0][20:]).IsChecksumValid(gsoLocal.Addr(), gsoRemote.Addr()) {
		t.Fatal("plain segment without a full checksum")
	}
}

func TestGSOSteadyStateAllocs(t *testing.T) {
	n := &gsoNet{max: link.MaxGSOSize}
	s, err := New(n, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clock.NewVirtual(fzStart)})
	if err != nil {
		t.Fatal(err)
	}
	n.pkts = make([][]byte, 0, 1)
	payload := make([]byte, 1448)
	seq := seqnum.Value(1000)
	sh := s.shards[0]
	flush := func() {
		sh.mu.Lock()
		for range 60 {
			h := ack(uint32(seq), 5, a)
			h.SrcPort, h.DstPort = 80, 40000
			sh.sendTCP(nil, gsoLocal.Addr(), gsoRemote.Addr(), &h, payload, nil)
			seq = seq.Add(1448)
		}
		sh.unlockAndFlush()
	}
	sink := &countNet{}
	s.gso = sink
	flush()
	flush()
	if allocs := testing.AllocsPerRun(50, flush); allocs != 0 {
		t.Fatalf("%v allocations per flush of 60 merged segments", allocs)
	}
	if sink.gso == 0 {
		t.Fatal("no large segment written")
	}
}

// countNet counts offload writes without keeping them.
type countNet struct{ gso, plain int }

func (c *countNet) GSOMaxSize() int { return link.MaxGSOSize }
func (c *countNet) WriteGSO(p []byte, g link.GSO) error {
	if g.Type != link.GSONone {
		c.gso++
	} else {
		c.plain++
	}
	return nil
}
