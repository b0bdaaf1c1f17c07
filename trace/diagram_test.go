package trace

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/synack-net/synack/seqnum"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// checkGolden compares got with testdata/name.golden, or rewrites the file
// under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("diagram differs from %s (go test -update accepts it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// draw returns the diagram of the client-server connection in events.
func draw(t *testing.T, events []Event, opts DiagramOptions) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := DiagramWith(&b, events, clientAddr, serverAddr, opts); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// countArrows returns how many lines of a diagram carry a segment.
func countArrows(d []byte) (right, left int) {
	for line := range strings.Lines(string(d)) {
		switch {
		case strings.Contains(line, "|----"):
			right++
		case strings.Contains(line, "|<---"), strings.Contains(line, "|  X-"):
			left++
		}
	}
	return right, left
}

// countKind returns how many events of kind k host emitted.
func countKind(events []Event, host string, k Kind) int {
	n := 0
	for _, e := range events {
		if e.Host == host && e.Kind == k {
			n++
		}
	}
	return n
}

func TestDiagramFullConnection(t *testing.T) {
	events := fullConnection()
	got := draw(t, events, DiagramOptions{})
	checkGolden(t, "full_connection", got)

	right, left := countArrows(got)
	if want := countKind(events, "client", KindSegmentSent); right != want {
		t.Errorf("%d arrows to the right, want one per segment the client sent (%d)", right, want)
	}
	if want := countKind(events, "server", KindSegmentSent); left != want {
		t.Errorf("%d arrows to the left, want one per segment the server sent (%d)", left, want)
	}
	lines := strings.Split(string(got), "\n")
	if !strings.HasPrefix(lines[0], "client 10.0.0.1:49152 ") || !strings.HasSuffix(lines[0], " server 10.0.0.2:80") {
		t.Errorf("title line %q does not name both ends", lines[0])
	}
	if !strings.HasPrefix(lines[1], "CLOSED ") || !strings.HasSuffix(lines[1], "|  LISTEN") {
		t.Errorf("first row %q does not show the states both sides start in", lines[1])
	}
	for i, l := range lines {
		if len(l) > 100 {
			t.Errorf("line %d is %d columns wide: %q", i+1, len(l), l)
		}
	}
	var plain bytes.Buffer
	if err := Diagram(&plain, events, clientAddr, serverAddr); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain.Bytes(), got) {
		t.Errorf("Diagram and DiagramWith with zero options differ")
	}
}

func TestDiagramFullConnectionRelative(t *testing.T) {
	got := draw(t, fullConnection(), DiagramOptions{Relative: true, Timers: true})
	checkGolden(t, "full_connection_relative", got)
	for _, want := range []string{"SYN seq=0 win", "SYN,ACK seq=0 ack=1 ", "FIN,ACK seq=79 ack=1025 ", "(timer 2MSL)"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("relative diagram lacks %q", want)
		}
	}
}

func TestDiagramSimultaneousClose(t *testing.T) {
	got := draw(t, simultaneousClose(), DiagramOptions{})
	checkGolden(t, "simultaneous_close", got)
	var left, right int
	for line := range strings.Lines(string(got)) {
		if strings.HasPrefix(line, "CLOSING ") {
			left++
		}
		if strings.HasSuffix(line, "|  CLOSING\n") {
			right++
		}
	}
	if left != 1 || right != 1 || bytes.Count(got, []byte("CLOSING")) != 2 {
		t.Errorf("CLOSING shown %d times on the left and %d on the right, want once on each side", left, right)
	}
}

// TestDiagramMarksLostAndDroppedSegments: a segment lost in flight and one
// that arrived and was discarded look different: the lost one's arrow ends
// in an X short of the receiver's timeline; the dropped one's reaches it,
// with a normal head, and the next row gives the drop's reason by that
// timeline. The legend names both marks.
func TestDiagramMarksLostAndDroppedSegments(t *testing.T) {
	events := lossyConnection()
	got := draw(t, events, DiagramOptions{Relative: true, Timers: true})
	checkGolden(t, "lossy", got)
	lines := strings.Split(string(got), "\n")
	var lost, dropped int = -1, -1
	for i, l := range lines {
		switch {
		case strings.Contains(l, "X") && strings.Contains(l, "|"): // an arrow, not the legend
			if lost >= 0 || !strings.Contains(l, "PSH,ACK seq=1 ack=1 len=100 ---X  |") {
				t.Errorf("line %d %q: want the client's first data segment only ending in X", i, l)
			}
			lost = i
		case strings.Contains(l, "PSH,ACK seq=1 ack=101 len=10"):
			dropped = i
		}
	}
	if lost < 0 || dropped < 0 || dropped+1 >= len(lines) {
		t.Fatalf("no lost (%d) or dropped (%d) segment drawn:\n%s", lost, dropped, got)
	}
	if d := lines[dropped]; !strings.Contains(d, "|<--- PSH,ACK") || strings.Contains(d, "X") {
		t.Errorf("dropped segment drawn %q, want an arrow reaching the client's timeline", d)
	}
	if n := lines[dropped+1]; !strings.HasPrefix(strings.TrimSpace(n), "|  (drop: bad checksum)") {
		t.Errorf("row under the dropped segment %q, want its reason by the client's timeline", n)
	}
	if lines[lost] == strings.Replace(lines[dropped], "<---", "----", 1) {
		t.Error("lost and dropped arrows drawn alike")
	}
	if !strings.Contains(string(got), lostLegend+"; "+droppedLegend+"\n") {
		t.Errorf("no legend of both marks:\n%s", got)
	}
}

func TestDiagramOfOneSideOnly(t *testing.T) {
	events := only(lossyConnection(), "client")
	got := draw(t, events, DiagramOptions{Relative: true})
	checkGolden(t, "client_only", got)
	right, left := countArrows(got)
	if right != 4 || left != 4 {
		t.Errorf("%d arrows right, %d left; want the client's 4 and the 4 it received or dropped", right, left)
	}
	if bytes.Contains(got, []byte("X  |")) {
		t.Errorf("a segment is marked lost although the server reported nothing:\n%s", got)
	}
}

func TestDiagramIgnoresOtherConnections(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []Event
	}{
		{"full", fullConnection()},
		{"simultaneous", simultaneousClose()},
		{"lossy", lossyConnection()},
	} {
		clean := draw(t, tc.events, DiagramOptions{Timers: true})
		noisy := draw(t, withNoise(tc.events), DiagramOptions{Timers: true})
		if !bytes.Equal(clean, noisy) {
			t.Errorf("%s: other connections changed the diagram:\n%s\nwant\n%s", tc.name, noisy, clean)
		}
	}
	// The other client's own diagram is the same picture, its seq shifted.
	var b bytes.Buffer
	if err := DiagramWith(&b, withNoise(fullConnection()), otherAddr, serverAddr, DiagramOptions{Relative: true}); err != nil {
		t.Fatal(err)
	}
	got := strings.SplitN(b.String(), "\n", 2)
	want := strings.SplitN(string(draw(t, fullConnection(), DiagramOptions{Relative: true})), "\n", 2)
	if !strings.HasPrefix(got[0], "client2 10.0.0.1:49153 ") || got[1] != want[1] {
		t.Errorf("the second connection's diagram:\n%s\nwant the first one's rows:\n%s", b.String(), want[1])
	}
}

func TestDiagramSwappedSides(t *testing.T) {
	var b bytes.Buffer
	if err := Diagram(&b, fullConnection(), serverAddr, clientAddr); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.HasPrefix(lines[0], "server 10.0.0.2:80 ") || !strings.HasPrefix(lines[1], "LISTEN ") ||
		!strings.Contains(lines[2], "SYN-RECEIVED  |<--- SYN seq=1000") {
		t.Errorf("with the server on the left:\n%s", b.String())
	}
}

func TestDiagramWithoutEvents(t *testing.T) {
	var b bytes.Buffer
	if err := Diagram(&b, nil, clientAddr, serverAddr); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n"); len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "10.0.0.1:49152 ") {
		t.Errorf("empty diagram:\n%s", b.String())
	}
}

func TestDiagramReportsWriteErrors(t *testing.T) {
	errBroken := errors.New("broken")
	if err := Diagram(failWriter{errBroken}, fullConnection(), clientAddr, serverAddr); !errors.Is(err, errBroken) {
		t.Errorf("Diagram to a failing writer = %v, want %v", err, errBroken)
	}
}

func TestFilterKeepsOneConnection(t *testing.T) {
	events := fullConnection()
	got := Filter(withNoise(events), serverAddr, clientAddr)
	// the listener's event is not part of the connection
	if len(got) != len(events)-1 {
		t.Fatalf("Filter kept %d events, want %d", len(got), len(events)-1)
	}
	for i, e := range got {
		if e != events[i+1] {
			t.Errorf("event %d = %v, want %v", i, &e, &events[i+1])
		}
	}
}

func TestConnectionsListsEachOnce(t *testing.T) {
	got := Connections(withNoise(fullConnection()))
	want := [][2]netip.AddrPort{ // the listeners' events name no connection
		{clientAddr, netip.MustParseAddrPort("10.0.0.3:80")},
		{clientAddr, serverAddr},
		{otherAddr, serverAddr},
	}
	if len(got) != len(want) {
		t.Fatalf("Connections = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("connection %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestDiagramOfALongTransfer(t *testing.T) {
	tp := newTape()
	c, s := newPeers()
	tp.handshake(c, s)
	const segments = 20000
	for i := range segments {
		d := seg{ack, seqnum.Value(1001 + 1000*i), 5001, 1000}
		tp.sent(c, d)
		if i%100 != 7 { // one in a hundred is lost
			tp.rcvd(s, d)
		}
		tp.exchange(s, c, seg{ack, 5001, seqnum.Value(1001 + 1000*(i+1)), 0})
	}
	got := draw(t, tp.events, DiagramOptions{Relative: true})
	if n := bytes.Count(got, []byte("\n")); n != 2+3+2*segments+1 {
		t.Errorf("%d lines, want %d (with the legend)", n, 2+3+2*segments+1)
	}
	if n := bytes.Count(got, []byte("-X  |")); n != segments/100 {
		t.Errorf("%d segments marked lost, want %d", n, segments/100)
	}
}

func FuzzDiagram(f *testing.F) {
	for _, events := range [][]Event{fullConnection(), simultaneousClose(), lossyConnection(), withNoise(fullConnection())} {
		var b bytes.Buffer
		if err := WriteJSON(&b, events); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		events, _ := ReadJSON(bytes.NewReader(data))
		pairs := append(Connections(events), [2]netip.AddrPort{clientAddr, serverAddr}, [2]netip.AddrPort{})
		for _, p := range pairs {
			for _, opts := range []DiagramOptions{{}, {Relative: true, Timers: true}} {
				var b bytes.Buffer
				if err := DiagramWith(&b, events, p[0], p[1], opts); err != nil {
					t.Fatal(err)
				}
				if !utf8.Valid(b.Bytes()) && utf8.Valid(data) {
					t.Errorf("diagram of valid UTF-8 input is not UTF-8")
				}
			}
		}
		for i := range events {
			_ = events[i].String()
		}
	})
}

// TestDiagramWhenStatesComeBeforeReceipts draws a stack that reports a state
// change before the segment that caused it: every change still shows, once,
// on its own row or on the row of the segment its side sends next.
func TestDiagramWhenStatesComeBeforeReceipts(t *testing.T) {
	events := fullConnection()
	swapped := 0
	for i := 0; i+1 < len(events); i++ {
		e, next := events[i], events[i+1]
		if e.Kind == KindSegmentReceived && next.Kind == KindStateChange && next.Host == e.Host {
			e.State = next.State
			events[i], events[i+1] = next, e
			swapped++
			i++
		}
	}
	if swapped != 7 {
		t.Fatalf("swapped %d receipts, want 7", swapped)
	}
	got := draw(t, events, DiagramOptions{})
	checkGolden(t, "states_first", got)
	for _, state := range []string{"SYN-SENT", "SYN-RECEIVED", "CLOSE-WAIT", "FIN-WAIT-1", "FIN-WAIT-2", "LAST-ACK", "TIME-WAIT"} {
		if n := bytes.Count(got, []byte(state)); n != 1 {
			t.Errorf("%s shown %d times, want once", state, n)
		}
	}
	right, left := countArrows(got)
	if right != 6 || left != 5 {
		t.Errorf("%d arrows right and %d left, want 6 and 5", right, left)
	}
}

// TestDiagramDrawsSegmentsTheSenderNeverSent checks that a segment one side
// received but the other never reported sending (an old duplicate SYN, a
// copy the network made) is drawn where it arrived, and that with Relative
// its number below the sender's ISN is written negative.
func TestDiagramDrawsSegmentsTheSenderNeverSent(t *testing.T) {
	tp := newTape()
	c, s := newPeers()
	tp.to(c, "SYN-SENT", "connect")
	tp.sent(c, seg{syn, 1000, 0, 0})
	// An old duplicate SYN, 100 below the client's ISN, arrives first.
	tp.rcvd(s, seg{syn, 900, 0, 0})
	tp.to(s, "SYN-RECEIVED", "rcv SYN")
	tp.sent(s, seg{synack, 5000, 901, 0})
	tp.rcvd(c, seg{synack, 5000, 901, 0})
	got := draw(t, tp.events, DiagramOptions{Relative: true})
	right, left := countArrows(got)
	if right != 2 || left != 1 {
		t.Fatalf("%d arrows right, %d left; want the client's SYN, the old SYN and the SYN,ACK:\n%s", right, left, got)
	}
	lines := strings.Split(string(got), "\n")
	if !strings.Contains(lines[3], "SYN seq=-100 ") || !strings.Contains(lines[3], "SYN-RECEIVED") {
		t.Errorf("the old SYN's row is %q, want seq=-100 and the server's SYN-RECEIVED", lines[3])
	}
	if !strings.Contains(lines[4], "ack=-99") {
		t.Errorf("the SYN,ACK's row is %q, want ack=-99", lines[4])
	}
}

// TestDiagramCloseByACallGoesOnItsFIN checks that a state change made by a
// call (close) right after a segment arrived is drawn on the row of the FIN
// it sends, not on the row of the segment received before it, while a
// change a received segment made stays on that segment's row.
func TestDiagramCloseByACallGoesOnItsFIN(t *testing.T) {
	tp := newTape()
	c, s := newPeers()
	tp.handshake(c, s)
	tp.exchange(s, c, seg{pshack, 5001, 1001, 200}) // the response arrives
	tp.to(c, "FIN-WAIT-1", "close")                 // then the application closes
	tp.sent(c, seg{finack, 1001, 5201, 0})
	tp.rcvd(s, seg{finack, 1001, 5201, 0})
	tp.to(s, "CLOSE-WAIT", "rcv FIN")
	got := string(draw(t, tp.events, DiagramOptions{Relative: true}))
	for line := range strings.Lines(got) {
		switch {
		case strings.Contains(line, "PSH,ACK") && strings.Contains(line, "FIN-WAIT-1"):
			t.Errorf("FIN-WAIT-1 is on the row of the segment received before the close: %q", line)
		case strings.Contains(line, "FIN,ACK") && !(strings.HasPrefix(line, "FIN-WAIT-1 ") && strings.HasSuffix(line, "CLOSE-WAIT\n")):
			t.Errorf("the FIN's row is %q, want the client's FIN-WAIT-1 and the server's CLOSE-WAIT on it", line)
		}
	}
	if !strings.Contains(got, "FIN-WAIT-1") {
		t.Errorf("no FIN-WAIT-1 in\n%s", got)
	}
}

// TestDiagramReceivedThenDropped checks that a segment its receiver reports
// receiving and then dropping is one arrow, reaching the receiver's
// timeline with the reason under it and no X, and that a copy the network
// made, received after the original, is an arrow of its own.
func TestDiagramReceivedThenDropped(t *testing.T) {
	tp := newTape()
	c, s := newPeers()
	tp.handshake(c, s)
	tp.sent(c, seg{pshack, 1001, 5001, 10})
	tp.rcvd(s, seg{pshack, 1001, 5001, 10})
	tp.add(s, Event{Kind: KindDrop, Flags: pshack, Seq: 1001, Ack: 5001, Window: 65535, Len: 10, Cause: "accept queue full"})
	tp.rcvd(s, seg{pshack, 1001, 5001, 10}) // a duplicate the network made
	got := draw(t, tp.events, DiagramOptions{Relative: true})
	right, _ := countArrows(got)
	if right != 4 {
		t.Fatalf("%d arrows right, want the SYN, the ACK, the dropped segment and its copy:\n%s", right, got)
	}
	if n := strings.Count(string(got), "X  |"); n != 0 {
		t.Errorf("%d arrows end in X, want none: the dropped segment arrived:\n%s", n, got)
	}
	if n := strings.Count(string(got), "(drop: accept queue full)  |\n"); n != 1 {
		t.Errorf("%d notes of the drop by the server's timeline, want 1:\n%s", n, got)
	}
}
