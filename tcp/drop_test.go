package tcp

import (
	"net/netip"
	"testing"

	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// traced attaches a Recorder to e's Env and returns it.
func traced(e *end) *trace.Recorder {
	rec := new(trace.Recorder)
	e.env.Trace = rec
	return rec
}

// lastOf returns the last event of kind k, failing the test when none.
func lastOf(t *testing.T, rec *trace.Recorder, k trace.Kind) trace.Event {
	t.Helper()
	ev := rec.Events()
	for i := len(ev) - 1; i >= 0; i-- {
		if ev[i].Kind == k {
			return ev[i]
		}
	}
	t.Fatalf("no %v event in %d events", k, len(ev))
	return trace.Event{}
}

// TestEstablishedRecvOutOfWindowTracesDrop: the segment failing the
// sequence check is traced as a drop, with its own header and the
// counter's name, right after its receipt.
func TestEstablishedRecvOutOfWindowTracesDrop(t *testing.T) {
	e := established(t)
	rec := traced(e)
	seg := in(pshack, y+1+1<<30, x+1, data([]byte("old")))
	e.c.HandleSegment(at(2*rtt), seg)
	ev := rec.Events()
	if len(ev) < 2 || ev[0].Kind != trace.KindSegmentReceived {
		t.Fatalf("events %v; want the receipt first", ev)
	}
	d := ev[1]
	if d.Kind != trace.KindDrop || d.Cause != "DropOutOfWindow" || d.Seq != seg.Seq || d.Len != 3 || d.Flags != pshack || d.State != "ESTABLISHED" {
		t.Fatalf("second event %v; want the segment dropped as DropOutOfWindow", d.String())
	}
	if e.env.Stats.DropOutOfWindow.Load() != 1 {
		t.Fatal("the drop was traced but not counted")
	}
}

// TestSynSentRecvRSTWithoutACKTracesDrop: a RST failing SYN-SENT's check
// (no acceptable ACK) is dropped and traced so.
func TestSynSentRecvRSTWithoutACKTracesDrop(t *testing.T) {
	e := synSent(t)
	rec := traced(e)
	e.c.HandleSegment(at(rtt), in(rst, y, 0))
	e.state(StateSynSent)
	if d := lastOf(t, rec, trace.KindDrop); d.Cause != "DropBadFlags" || d.Flags != rst {
		t.Fatalf("drop %v; want the RST as DropBadFlags", d.String())
	}
}

// TestListenerFullAcceptQueueTracesDrop: a SYN that finds the accept
// queue full is traced as ListenOverflows, addressed to the listener.
func TestListenerFullAcceptQueueTracesDrop(t *testing.T) {
	s, _, _ := fullQueue(t)
	rec := traced(s)
	other := netip.MustParseAddrPort("10.0.0.1:50000")
	if act := s.l.ClassifyFrom(serverAddr, other, in(syn, 9000, 0)); act != ListenDrop {
		t.Fatalf("Classify = %v; want ListenDrop", act)
	}
	d := lastOf(t, rec, trace.KindDrop)
	if d.Cause != "ListenOverflows" || d.Local != serverAddr || d.Remote != other || d.Seq != 9000 || d.State != "LISTEN" {
		t.Fatalf("drop %v; want the SYN from %v as ListenOverflows", d.String(), other)
	}
}

// TestRetransmissionsTraceTheirCause: a segment sent again says why: the
// timer or fast recovery.
func TestRetransmissionsTraceTheirCause(t *testing.T) {
	e := synSent(t)
	rec := traced(e)
	e.c.HandleTimer(at(sec))
	if s := lastOf(t, rec, trace.KindSegmentSent); s.Flags != syn || s.Cause != "retransmit timeout" {
		t.Errorf("SYN sent again: %v; want cause retransmit timeout", s.String())
	}

	e = established(t)
	sendSegments(t, e, 5)
	rec = traced(e)
	now := e.now.Add(rtt)
	for range 3 {
		e.c.HandleSegment(now, in(ack, y+1, x+1))
	}
	s := lastOf(t, rec, trace.KindSegmentSent)
	if s.Seq != x+1 || s.Cause != "retransmit recovery" {
		t.Errorf("fast retransmit: %v; want seq=%d, cause retransmit recovery", s.String(), x+1)
	}
	for _, ev := range rec.Events() {
		if ev.Kind == trace.KindSegmentSent && ev.Seq != x+1 && ev.Cause != "" {
			t.Errorf("new data traced as a retransmission: %v", ev.String())
		}
	}
}

// discard is a Sender that sends nothing.
type discard struct{}

func (discard) Send(*Conn, *wire.TCPFields, []byte, []byte)      {}
func (discard) SendBare(netip.Addr, netip.Addr, *wire.TCPFields) {}

// TestDropUntracedAllocatesNothing: with no trace, counting a drop (and
// its traced twin's nil check) allocates nothing.
func TestDropUntracedAllocatesNothing(t *testing.T) {
	e := established(t)
	e.env.Out = discard{}
	seg := in(pshack, y+1+1<<30, x+1, data([]byte("old")))
	now := at(2 * rtt)
	n := testing.AllocsPerRun(100, func() { e.c.HandleSegment(now, seg) })
	if n != 0 {
		t.Fatalf("%v allocations per dropped segment", n)
	}
	if e.env.Stats.DropOutOfWindow.Load() < 100 {
		t.Fatalf("DropOutOfWindow = %d; the segments were not dropped", e.env.Stats.DropOutOfWindow.Load())
	}
}
