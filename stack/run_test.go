package stack

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"testing"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// runPeer is a scripted peer's connection to the stack's listener.
type runPeer struct {
	remote   netip.AddrPort
	seq, srv seqnum.Value // the peer's next sequence number, and the stack's
	c        *TCPConn
}

// openRunPeer completes a handshake from remote and accepts it.
func openRunPeer(n *wireNet, ln *TCPListener, local, remote netip.AddrPort, iss seqnum.Value) *runPeer {
	n.t.Helper()
	sa := n.synACK(local, remote, iss)
	p := &runPeer{remote: remote, seq: iss.Add(1), srv: sa.SeqNum().Add(1)}
	n.send(local, remote, wire.TCPFields{Seq: p.seq, Ack: p.srv, Flags: wire.FlagACK, Window: 65535})
	c, err := ln.Accept(context.Background())
	if err != nil {
		n.t.Fatal(err)
	}
	p.c = c
	return p
}

// text is the peer's next segment, k bytes of its stream.
func (p *runPeer) text(local netip.AddrPort, k int) []byte {
	pkt := tcpPacket(local, p.remote, &wire.TCPFields{Seq: p.seq, Ack: p.srv, Flags: wire.FlagACK, Window: 65535}, peerText(p.seq, k))
	p.seq = p.seq.Add(seqnum.Size(k))
	return pkt
}

// echoRequest is an ICMP echo request from src to dst.
func echoRequest(src, dst netip.Addr) []byte {
	p := make([]byte, wire.IPv4MinHeaderLen+wire.ICMPv4HeaderLen)
	(&wire.IPv4Fields{TotalLength: uint16(len(p)), ID: 2, TTL: 64, Protocol: wire.ProtocolICMPv4, Src: src, Dst: dst}).Encode(p)
	m := wire.ICMPv4(p[wire.IPv4MinHeaderLen:])
	(&wire.ICMPv4Fields{Type: wire.ICMPv4EchoRequest, Rest: 0x00010001}).Encode(m)
	m.FillChecksum()
	return p
}

// written describes what the stack wrote, in order: "ack PORT SEQ" for
// each TCP segment (its destination port and acknowledgement number) and
// "icmp TYPE" for each ICMP message.
func written(t *testing.T, pkts [][]byte) []string {
	t.Helper()
	var out []string
	for _, p := range pkts {
		ip, err := wire.ParseIPv4(p)
		if err != nil {
			t.Fatalf("the stack wrote a bad packet: %v", err)
		}
		switch ip.Protocol() {
		case wire.ProtocolTCP:
			s, err := wire.ParseTCP(ip.Payload())
			if err != nil {
				t.Fatalf("the stack wrote a bad segment: %v", err)
			}
			out = append(out, "ack "+itoa(int(s.DstPort()))+" "+itoa(int(s.AckNum())))
		case wire.ProtocolICMPv4:
			out = append(out, "icmp "+itoa(int(ip.Payload()[0])))
		}
	}
	return out
}

func itoa(v int) string { return strconv.Itoa(v) }

// TestBatchAnswersEachRunOnce: a batch of segments from two connections
// with an echo request among them is taken in order, each connection's
// consecutive segments as a run acknowledged once (tcp/run.go), the echo
// answered in its place; one by one, the same segments draw an ACK every
// second one. Each reader gets its stream intact.
func TestBatchAnswersEachRunOnce(t *testing.T) {
	n := newWireNet(t, Config{})
	local := netip.MustParseAddrPort("10.0.0.2:80")
	ln, err := n.s.ListenTCP(local, 8)
	if err != nil {
		t.Fatal(err)
	}
	a := openRunPeer(n, ln, local, netip.MustParseAddrPort("10.0.0.1:1000"), 100)
	b := openRunPeer(n, ln, local, netip.MustParseAddrPort("10.0.0.1:1001"), 9000)
	aStart, bStart := a.seq, b.seq

	var batch [][]byte
	for range 4 {
		batch = append(batch, a.text(local, 500))
	}
	aMid := a.seq
	for range 2 {
		batch = append(batch, b.text(local, 500))
	}
	batch = append(batch, echoRequest(netip.MustParseAddr("10.0.0.1"), local.Addr()))
	for range 2 {
		batch = append(batch, a.text(local, 500))
	}
	n.got = nil
	n.s.DeliverBatch(batch, false)
	got := written(t, n.got)
	want := []string{
		"ack 1000 " + itoa(int(aMid)),
		"ack 1001 " + itoa(int(b.seq)),
		"icmp 0",
		"ack 1000 " + itoa(int(a.seq)),
	}
	if len(got) != len(want) {
		t.Fatalf("the batch drew %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("the batch drew %v, want %v", got, want)
		}
	}

	// One by one, four more segments for a: an ACK every second one at least.
	n.got = nil
	for range 4 {
		n.s.DeliverPacket(a.text(local, 500))
	}
	if got := written(t, n.got); len(got) < 2 {
		t.Fatalf("four segments one by one drew %v, want two ACKs or more", got)
	}

	for _, c := range []struct {
		p     *runPeer
		start seqnum.Value
	}{{a, aStart}, {b, bStart}} {
		want := peerText(c.start, int(c.p.seq-c.start))
		buf := make([]byte, len(want))
		if _, err := io.ReadFull(c.p.c, buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, want) {
			t.Fatalf("the reader of %v got a stream that differs from what was sent", c.p.remote)
		}
	}
}

// lendingNet is a wireNet whose buffers are lent to the stack
// (link.BatchLender): it records the calls that give them back.
type lendingNet struct {
	wireNet
	mu    sync.Mutex
	calls [][]*byte // each RecycleAll or Recycle call's buffers
}

func (n *lendingNet) Recycle(p []byte) { n.RecycleAll([][]byte{p}) }

func (n *lendingNet) RecycleAll(pkts [][]byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var c []*byte
	for _, p := range pkts {
		c = append(c, &p[:1][0])
	}
	n.calls = append(n.calls, c)
}

// TestBatchKeepsLentSegments: a batch of lent buffers (DeliverBatch with
// lent) comes back with the buffers a connection kept set to nil; once
// the reader has read their text, they go back to the link, all the
// buffers a read drained in one call (link.BatchLender).
func TestBatchKeepsLentSegments(t *testing.T) {
	n := &lendingNet{wireNet: wireNet{t: t, clk: clock.NewVirtual(fzStart)}}
	s, err := New(n, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: n.clk})
	if err != nil {
		t.Fatal(err)
	}
	n.s = s
	t.Cleanup(func() { s.Close() })
	local := netip.MustParseAddrPort("10.0.0.2:80")
	ln, err := s.ListenTCP(local, 8)
	if err != nil {
		t.Fatal(err)
	}
	p := openRunPeer(&n.wireNet, ln, local, netip.MustParseAddrPort("10.0.0.1:1000"), 100)
	start := p.seq
	batch := make([][]byte, 4)
	lent := make([]*byte, 4)
	for i := range batch {
		batch[i] = p.text(local, 1000) // fills its buffer: kept (tcp.Conn.queueText)
		lent[i] = &batch[i][0]
	}
	s.DeliverBatch(batch, true)
	for i, b := range batch {
		if b != nil {
			t.Fatalf("segment %d of the batch was not kept (left in the batch)", i)
		}
	}
	want := peerText(start, 4000)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(p.c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the reader got a stream that differs from what was sent")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.calls) != 1 || len(n.calls[0]) != 4 {
		t.Fatalf("the buffers came back in %d calls (%v), want one call with all 4", len(n.calls), n.calls)
	}
	for i, b := range n.calls[0] {
		if b != lent[i] {
			t.Fatalf("buffer %d given back is not the one lent", i)
		}
	}
}
