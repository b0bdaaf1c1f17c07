package synack_test

// Every counted drop shows in the connection's trace as a KindDrop event
// whose Cause names the counter (issue 17 item 3): a bad checksum, a SYN
// that finds the accept queue full, an out-of-window segment and a RST
// that fails the sequence check, provoked by hand on a raw peer whose
// stack keeps per-connection rings.

import (
	"net/netip"
	"testing"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// newTracedRawPeer is newRawPeer with its stack reporting to sink.
func newTracedRawPeer(t *testing.T, sink trace.Sink) *rawPeer {
	t.Helper()
	r := &rawPeer{}
	r.a, r.b = pipe.New(mtu)
	r.a.Attach(r)
	var err error
	r.st, err = synack.New(r.b, synack.Config{Addr: serverAddr, Host: "server", Trace: sink,
		TCP: tcp.Config{DelayedACK: -1, ReceiveBufferSize: 65535}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.st.Close()
		r.a.Close()
		r.b.Close()
	})
	return r
}

// handshakeFrom opens a connection from the peer's port to port 80 by
// hand and returns the server's ISS.
func handshakeFrom(t *testing.T, r *rawPeer, port uint16) seqnum.Value {
	t.Helper()
	got := r.send(t, tcpPacket(wire.TCPFields{SrcPort: port, DstPort: 80, Seq: 1000, Flags: wire.FlagSYN, Window: 65535}, nil))
	if len(got) != 1 {
		t.Fatalf("%d answers to the SYN from port %d", len(got), port)
	}
	ip, _ := wire.ParseIPv4(got[0])
	sa, err := wire.ParseTCP(ip.Payload())
	if err != nil || sa.Flags() != wire.FlagSYN|wire.FlagACK {
		t.Fatalf("answer to the SYN is not a SYN,ACK: %v", err)
	}
	iss := sa.SeqNum()
	r.send(t, tcpPacket(wire.TCPFields{SrcPort: port, DstPort: 80, Seq: 1001, Ack: iss.Add(1), Flags: wire.FlagACK, Window: 65535}, nil))
	return iss
}

// findDrop returns the drop event with the given cause in the trace of
// local<-remote, failing the test when there is none.
func findDrop(t *testing.T, rings *trace.Rings, local, remote netip.AddrPort, cause string) trace.Event {
	t.Helper()
	tr, ok := rings.Trace(local, remote)
	if !ok {
		t.Fatalf("no trace of %v<-%v", local, remote)
	}
	for _, e := range tr.Events {
		if e.Kind == trace.KindDrop && e.Cause == cause {
			return e
		}
	}
	t.Fatalf("no drop %q in the trace of %v<-%v:\n%v", cause, local, remote, tr.Events)
	return trace.Event{}
}

func TestTraceDropBadChecksum(t *testing.T) {
	rings := trace.NewRings(0, 0, 0, nil)
	r := newTracedRawPeer(t, rings)
	r.st.Internals().ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 8)
	pkt := synTo(80)
	pkt[len(pkt)-4] ^= 0xff // the TCP checksum's high byte (20-byte header, no text)
	if got := r.send(t, pkt); len(got) != 0 {
		t.Fatalf("a SYN with a bad checksum was answered")
	}
	e := findDrop(t, rings, netip.AddrPortFrom(serverAddr.Addr(), 80), netip.AddrPortFrom(peerAddr, 40000), "TCPInErrs")
	if e.Flags != wire.FlagSYN || e.Seq != 1000 {
		t.Errorf("drop %v; want the SYN seq=1000", e.String())
	}
	if n := r.st.Internals().Stats().TCPInErrs.Load(); n != 1 {
		t.Errorf("TCPInErrs = %d; want 1", n)
	}
}

func TestTraceDropAcceptQueueFull(t *testing.T) {
	rings := trace.NewRings(0, 0, 0, nil)
	r := newTracedRawPeer(t, rings)
	r.st.Internals().ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 1)
	handshakeFrom(t, r, 40001) // fills the accept queue
	got := r.send(t, tcpPacket(wire.TCPFields{SrcPort: 40002, DstPort: 80, Seq: 7000, Flags: wire.FlagSYN, Window: 65535}, nil))
	if len(got) != 0 {
		t.Fatal("a SYN to a full accept queue was answered")
	}
	e := findDrop(t, rings, netip.AddrPortFrom(serverAddr.Addr(), 80), netip.AddrPortFrom(peerAddr, 40002), "ListenOverflows")
	if e.Flags != wire.FlagSYN || e.Seq != 7000 || e.State != "LISTEN" {
		t.Errorf("drop %v; want the SYN seq=7000 in LISTEN", e.String())
	}
}

func TestTraceDropOutOfWindowAndBadRST(t *testing.T) {
	rings := trace.NewRings(0, 0, 0, nil)
	r := newTracedRawPeer(t, rings)
	r.st.Internals().ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 8)
	iss := handshakeFrom(t, r, 40001)
	local, remote := netip.AddrPortFrom(serverAddr.Addr(), 80), netip.AddrPortFrom(peerAddr, 40001)
	// Text far beyond the window: dropped, answered with an ACK.
	far := wire.TCPFields{SrcPort: 40001, DstPort: 80, Seq: 1001 + 1<<30, Ack: iss.Add(1), Flags: wire.FlagACK | wire.FlagPSH, Window: 65535}
	r.send(t, tcpPacket(far, []byte("forged")))
	e := findDrop(t, rings, local, remote, "DropOutOfWindow")
	if e.Seq != far.Seq || e.Len != 6 || e.State != "ESTABLISHED" {
		t.Errorf("drop %v; want seq=%d len=6 in ESTABLISHED", e.String(), far.Seq)
	}
	// A RST outside the window fails the check (RFC 5961 §3.2) and is dropped.
	bad := wire.TCPFields{SrcPort: 40001, DstPort: 80, Seq: 1001 + 1<<31, Flags: wire.FlagRST, Window: 0}
	r.send(t, tcpPacket(bad, nil))
	tr, _ := rings.Trace(local, remote)
	last := tr.Events[len(tr.Events)-1]
	if last.Kind != trace.KindDrop || last.Flags != wire.FlagRST || last.Seq != bad.Seq || last.Cause != "DropOutOfWindow" {
		t.Errorf("last event %v; want the RST dropped as DropOutOfWindow", last.String())
	}
	if len(tr.Events) < 2 || tr.Events[len(tr.Events)-2].Kind != trace.KindSegmentReceived {
		t.Errorf("the RST's drop does not follow its receipt")
	}
	// Tracing rings show the connection's own events and no other's.
	for _, e := range tr.Events {
		if e.Local != local || e.Remote != remote {
			t.Errorf("event of another connection in the ring: %v", e.String())
		}
	}
}
