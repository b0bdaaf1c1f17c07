package trace

import (
	"net/netip"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// fakeNow is a settable clock for Rings' lookups.
type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time { return f.t }

var ringStart = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func seg1(local, remote netip.AddrPort, at time.Time, k Kind, seq int) *Event {
	return &Event{Time: at, Kind: k, Local: local, Remote: remote, Flags: ack, Seq: 1000 + seqAt(seq), Ack: 5000, State: "ESTABLISHED"}
}

func seqAt(i int) seqV { return seqV(i) }

type seqV = seqnum.Value

func TestRingsKeepLastEventsOfOneConnection(t *testing.T) {
	clk := &fakeNow{ringStart}
	r := NewRings(4, time.Minute, 8, clk.now)
	open := &Event{Time: ringStart, Kind: KindStateChange, Local: clientAddr, Remote: serverAddr, From: "CLOSED", State: "SYN-SENT", Cause: "connect"}
	r.Event(open)
	r.Event(&Event{Time: ringStart, Kind: KindStateChange, Local: otherAddr, Remote: serverAddr, From: "CLOSED", State: "SYN-SENT", Cause: "connect"})
	for i := range 10 {
		r.Event(seg1(clientAddr, serverAddr, ringStart, KindSegmentSent, i))
		r.Event(seg1(otherAddr, serverAddr, ringStart, KindSegmentSent, 100+i))
	}
	tr, ok := r.Trace(clientAddr, serverAddr)
	if !ok {
		t.Fatal("no trace of the first connection")
	}
	if len(tr.Events) != 4 || tr.Overwritten != 7 {
		t.Fatalf("ring holds %d events, overwrote %d; want 4 and 7", len(tr.Events), tr.Overwritten)
	}
	for i, e := range tr.Events {
		if want := 1000 + seqAt(6+i); e.Seq != want || e.Local != clientAddr || e.Remote != serverAddr {
			t.Errorf("event %d: %v; want seq=%d of %v>%v", i, e.String(), want, clientAddr, serverAddr)
		}
	}
	if _, ok := r.Trace(serverAddr, clientAddr); ok {
		t.Error("a trace for the reversed 4-tuple, which sent nothing")
	}
}

func TestRingsClosedKeptUntilKeepTime(t *testing.T) {
	clk := &fakeNow{ringStart}
	r := NewRings(16, 60*time.Second, 8, clk.now)
	r.Event(&Event{Time: ringStart, Kind: KindStateChange, Local: clientAddr, Remote: serverAddr, From: "CLOSED", State: "SYN-SENT"})
	closeAt := ringStart.Add(5 * time.Second)
	r.Event(&Event{Time: closeAt, Kind: KindStateChange, Local: clientAddr, Remote: serverAddr, From: "TIME-WAIT", State: "CLOSED", Cause: "2MSL"})
	clk.t = closeAt.Add(59 * time.Second)
	tr, ok := r.Trace(clientAddr, serverAddr)
	if !ok || !tr.Closed.Equal(closeAt) || len(tr.Events) != 2 {
		t.Fatalf("59 s after the close: trace %v (closed %v, %d events); want kept, closed at %v", ok, tr.Closed, len(tr.Events), closeAt)
	}
	clk.t = closeAt.Add(60 * time.Second)
	if _, ok := r.Trace(clientAddr, serverAddr); ok {
		t.Fatal("60 s after the close the trace is still there")
	}
	if n := len(r.Conns()); n != 0 {
		t.Fatalf("%d rings left", n)
	}
}

func TestRingsBoundedOpenConnectionsFirst(t *testing.T) {
	clk := &fakeNow{ringStart}
	r := NewRings(4, time.Hour, 3, clk.now)
	// Two open connections, then a spray of drops for no connection.
	for _, a := range []netip.AddrPort{clientAddr, otherAddr} {
		r.Event(&Event{Time: ringStart, Kind: KindStateChange, Local: a, Remote: serverAddr, From: "CLOSED", State: "SYN-SENT"})
	}
	for i := range 100 {
		remote := netip.AddrPortFrom(serverAddr.Addr(), uint16(1000+i))
		r.Event(&Event{Time: ringStart, Kind: KindDrop, Local: clientAddr, Remote: remote, Flags: syn, Cause: "TCPInErrs"})
	}
	if n := len(r.Conns()); n != 3 {
		t.Fatalf("%d rings; want the bound, 3", n)
	}
	for _, a := range []netip.AddrPort{clientAddr, otherAddr} {
		if _, ok := r.Trace(a, serverAddr); !ok {
			t.Errorf("open connection %v lost its ring to the spray", a)
		}
	}
	last := netip.AddrPortFrom(serverAddr.Addr(), 1099)
	if _, ok := r.Trace(clientAddr, last); !ok {
		t.Error("the newest ring of no connection is not kept")
	}
	// A third open connection takes the closed ring's place; a fourth has none.
	r.Event(&Event{Time: ringStart, Kind: KindStateChange, Local: listenAddr, Remote: serverAddr, From: "CLOSED", State: "SYN-SENT"})
	r.Event(&Event{Time: ringStart, Kind: KindStateChange, Local: serverAddr, Remote: listenAddr, From: "CLOSED", State: "SYN-SENT"})
	if _, ok := r.Trace(listenAddr, serverAddr); !ok {
		t.Error("a new connection did not take a closed ring's place")
	}
	if r.Untraced() != 1 {
		t.Errorf("Untraced = %d; want 1", r.Untraced())
	}
}

func TestRingsRelativeNumbers(t *testing.T) {
	r := NewRings(0, 0, 0, nil)
	r.Event(&Event{Kind: KindSegmentSent, Local: clientAddr, Remote: serverAddr, Flags: syn, Seq: 1000})
	r.Event(&Event{Kind: KindSegmentReceived, Local: clientAddr, Remote: serverAddr, Flags: synack, Seq: 5000, Ack: 1001})
	r.Event(&Event{Kind: KindSegmentSent, Local: clientAddr, Remote: serverAddr, Flags: pshack, Seq: 1001, Ack: 5001, Len: 10})
	tr, _ := r.Trace(clientAddr, serverAddr)
	got := tr.Relative()
	want := [][2]seqV{{0, 0}, {0, 1}, {1, 1}}
	for i, e := range got {
		if e.Seq != want[i][0] || e.Ack != want[i][1] {
			t.Errorf("event %d: seq=%d ack=%d; want %d %d", i, e.Seq, e.Ack, want[i][0], want[i][1])
		}
	}
	if tr.Events[2].Seq != 1001 {
		t.Error("Relative changed the trace's own events")
	}
}

// TestRingsFullRingAllocatesNothing: once a connection's ring is full, an
// event overwrites the oldest without allocating.
func TestRingsFullRingAllocatesNothing(t *testing.T) {
	r := NewRings(8, time.Minute, 4, nil)
	r.Event(&Event{Time: ringStart, Kind: KindStateChange, Local: clientAddr, Remote: serverAddr, From: "CLOSED", State: "SYN-SENT"})
	e := seg1(clientAddr, serverAddr, ringStart, KindSegmentSent, 1)
	for range 8 {
		r.Event(e)
	}
	if n := testing.AllocsPerRun(100, func() { r.Event(e) }); n != 0 {
		t.Fatalf("%v allocations per event", n)
	}
}

func BenchmarkRingsEvent(b *testing.B) {
	r := NewRings(256, time.Minute, 1024, nil)
	e := seg1(clientAddr, serverAddr, ringStart, KindSegmentSent, 1)
	b.ReportAllocs()
	for b.Loop() {
		r.Event(e)
	}
}
