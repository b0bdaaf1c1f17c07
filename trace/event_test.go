package trace

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
)

func TestKindString(t *testing.T) {
	for _, tc := range []struct {
		k    Kind
		want string
	}{
		{KindSegmentSent, "sent"},
		{KindSegmentReceived, "received"},
		{KindStateChange, "state"},
		{KindTimer, "timer"},
		{KindDrop, "drop"},
		{0, "kind(0)"},
		{42, "kind(42)"},
	} {
		if got := tc.k.String(); got != tc.want {
			t.Errorf("Kind(%d).String() = %q, want %q", tc.k, got, tc.want)
		}
	}
}

func TestKindIsSegment(t *testing.T) {
	want := map[Kind]bool{KindSegmentSent: true, KindSegmentReceived: true, KindDrop: true}
	for k := Kind(0); k < 8; k++ {
		if got := k.IsSegment(); got != want[k] {
			t.Errorf("%v.IsSegment() = %v, want %v", k, got, want[k])
		}
	}
}

// stringCases is one event of each kind and the line it prints as.
var stringCases = []struct {
	e    Event
	want string
}{
	{
		Event{Kind: KindSegmentSent, Host: "client", Local: clientAddr, Remote: serverAddr,
			Flags: syn, Seq: 1234, Window: 65535, State: "SYN-SENT"},
		"client 10.0.0.1:49152>10.0.0.2:80 sent SYN seq=1234 ack=0 win=65535 len=0 state=SYN-SENT",
	},
	{
		Event{Kind: KindSegmentReceived, Host: "server", Local: serverAddr, Remote: clientAddr,
			Flags: pshack, Seq: 1001, Ack: 5001, Window: 512, Len: 78, State: "ESTABLISHED"},
		"server 10.0.0.2:80<10.0.0.1:49152 received PSH,ACK seq=1001 ack=5001 win=512 len=78 state=ESTABLISHED",
	},
	{
		Event{Kind: KindStateChange, Host: "client", Local: clientAddr, Remote: serverAddr,
			From: "SYN-SENT", State: "ESTABLISHED", Cause: "rcv SYN,ACK"},
		`client 10.0.0.1:49152>10.0.0.2:80 state SYN-SENT->ESTABLISHED cause="rcv SYN,ACK"`,
	},
	{
		Event{Kind: KindTimer, Host: "client", Local: clientAddr, Remote: serverAddr,
			Cause: "retransmit", State: "SYN-SENT"},
		"client 10.0.0.1:49152>10.0.0.2:80 timer cause=retransmit state=SYN-SENT",
	},
	{
		Event{Kind: KindDrop, Local: serverAddr, Remote: clientAddr,
			Flags: rst, Seq: 7, Cause: "bad checksum"},
		`10.0.0.2:80<10.0.0.1:49152 drop RST seq=7 ack=0 win=0 len=0 cause="bad checksum"`,
	},
	{
		Event{Kind: 9, Host: "x", Local: clientAddr},
		"x 10.0.0.1:49152>* kind(9)",
	},
}

func TestEventString(t *testing.T) {
	for _, tc := range stringCases {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("String() =\n  %s\nwant\n  %s", got, tc.want)
		}
		if got := string(tc.e.AppendTo([]byte("> "))); got != "> "+tc.want {
			t.Errorf("AppendTo = %q, want %q", got, "> "+tc.want)
		}
	}
}

func TestEventStringAllocatesOnlyTheString(t *testing.T) {
	for _, tc := range stringCases[:5] {
		e := tc.e
		if n := testing.AllocsPerRun(100, func() { _ = e.String() }); n > 1 {
			t.Errorf("%v: String allocates %v times, want 1", e.Kind, n)
		}
		buf := make([]byte, 0, 256)
		if n := testing.AllocsPerRun(100, func() { buf = e.AppendTo(buf[:0]) }); n != 0 {
			t.Errorf("%v: AppendTo into a large enough buffer allocates %v times", e.Kind, n)
		}
	}
}

func TestRecorderKeepsCopies(t *testing.T) {
	var r Recorder
	e := stringCases[0].e
	r.Event(&e)
	e.Seq = 99 // the sink's caller may reuse its event
	got := r.Events()
	if len(got) != 1 || got[0].Seq != 1234 {
		t.Fatalf("Events() = %v, want the event as it was when recorded", got)
	}
	got[0].Seq = 77
	if r.Events()[0].Seq != 1234 {
		t.Errorf("Events() shares memory with the recorder")
	}
	if r.Len() != 1 {
		t.Errorf("Len() = %d, want 1", r.Len())
	}
	r.Reset()
	if r.Len() != 0 || len(r.Events()) != 0 {
		t.Errorf("after Reset: Len() = %d, Events() = %v", r.Len(), r.Events())
	}
	if len(got) != 1 || got[0].Seq != 77 {
		t.Errorf("Reset changed a slice returned earlier: %v", got)
	}
}

func TestRecorderConcurrentUse(t *testing.T) {
	const writers, each = 8, 500
	var r Recorder
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			local := netip.AddrPortFrom(clientAddr.Addr(), uint16(40000+w))
			for i := range each {
				e := Event{Kind: KindSegmentSent, Local: local, Remote: serverAddr, Seq: seqValue(i)}
				r.Event(&e)
				if i%100 == 0 {
					_ = r.Events() // readers run while writers write
					_ = r.Len()
				}
			}
		})
	}
	wg.Wait()
	events := r.Events()
	if len(events) != writers*each {
		t.Fatalf("recorded %d events, want %d", len(events), writers*each)
	}
	next := map[uint16]int{} // each writer's events keep their order
	for _, e := range events {
		p := e.Local.Port()
		if int(e.Seq) != next[p] {
			t.Fatalf("writer %d: event seq=%d recorded where seq=%d was due", p, e.Seq, next[p])
		}
		next[p]++
	}
}

func TestRecorderEventDoesNotAllocate(t *testing.T) {
	var r Recorder
	e := stringCases[1].e
	for range 200 {
		r.Event(&e)
	}
	r.Reset() // keeps the capacity
	if n := testing.AllocsPerRun(100, func() { r.Event(&e) }); n != 0 {
		t.Errorf("Recorder.Event allocates %v times with room to spare", n)
	}
}

func TestTeeHandsEveryEventToEachSink(t *testing.T) {
	var a, b Recorder
	var seen []Kind
	s := Tee(&a, nil, SinkFunc(func(e *Event) { seen = append(seen, e.Kind) }), &b)
	for _, tc := range stringCases {
		s.Event(&tc.e)
	}
	if a.Len() != len(stringCases) || b.Len() != len(stringCases) {
		t.Errorf("recorders got %d and %d events, want %d", a.Len(), b.Len(), len(stringCases))
	}
	want := []Kind{KindSegmentSent, KindSegmentReceived, KindStateChange, KindTimer, KindDrop, 9}
	if !slices.Equal(seen, want) {
		t.Errorf("SinkFunc saw %v, want %v", seen, want)
	}
}

func ExampleEvent_String() {
	e := Event{Kind: KindSegmentSent, Host: "client",
		Local:  netip.MustParseAddrPort("10.0.0.1:49152"),
		Remote: netip.MustParseAddrPort("10.0.0.2:80"),
		Flags:  syn, Seq: 1234, Window: 65535, State: "SYN-SENT"}
	fmt.Println(e.String())
	// Output: client 10.0.0.1:49152>10.0.0.2:80 sent SYN seq=1234 ack=0 win=65535 len=0 state=SYN-SENT
}

func BenchmarkRecorderEvent(b *testing.B) {
	var r Recorder
	e := stringCases[1].e
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%4096 == 0 {
			r.Reset()
		}
		r.Event(&e)
	}
}

func BenchmarkEventAppendTo(b *testing.B) {
	e := stringCases[1].e
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendTo(buf[:0])
	}
}
