package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWriteJSONRoundTrip(t *testing.T) {
	events := fullConnection()
	for _, tc := range stringCases {
		events = append(events, tc.e) // every kind, an unknown one, zero fields
	}
	events = append(events, Event{}, Event{Kind: KindTimer, Time: time.Date(2025, 6, 7, 8, 9, 10, 11, time.FixedZone("x", 3600))})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, events); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	i := 0
	for ; sc.Scan(); i++ {
		var got Event
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d %s: %v", i+1, sc.Bytes(), err)
		}
		if i >= len(events) {
			t.Fatalf("more lines than events: %s", sc.Bytes())
		}
		want := events[i]
		if !got.Time.Equal(want.Time) {
			t.Errorf("line %d: time %v, want %v", i+1, got.Time, want.Time)
		}
		got.Time, want.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("line %d: decoded\n  %+v\nwant\n  %+v", i+1, got, want)
		}
	}
	if i != len(events) {
		t.Errorf("%d lines for %d events", i, len(events))
	}
}

func TestWriteJSONLine(t *testing.T) {
	e := stringCases[0].e
	e.Time = time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, []Event{e, stringCases[2].e}); err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2025-01-02T03:04:05.000006Z","kind":"sent","host":"client","local":"10.0.0.1:49152","remote":"10.0.0.2:80","flags":"SYN","seq":1234,"win":65535,"state":"SYN-SENT"}
{"kind":"state","host":"client","local":"10.0.0.1:49152","remote":"10.0.0.2:80","state":"ESTABLISHED","from":"SYN-SENT","cause":"rcv SYN,ACK"}
`
	if buf.String() != want {
		t.Errorf("WriteJSON wrote\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestReadJSONReadsWhatWriteJSONWrote(t *testing.T) {
	events := fullConnection()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, events); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := Diagram(&a, events, clientAddr, serverAddr); err != nil {
		t.Fatal(err)
	}
	if err := Diagram(&b, got, clientAddr, serverAddr); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(events) || a.String() != b.String() {
		t.Errorf("read back %d of %d events; diagram\n%s\nwant\n%s", len(got), len(events), b.String(), a.String())
	}
}

func TestReadJSONRejectsBadInput(t *testing.T) {
	for _, in := range []string{
		`{"kind":"sent"} {"kind":"bogus"}`,
		`{"kind":"sent","flags":"SYN,NOPE"}`,
		`{"kind":"kind(300)"}`,
		`{"kind":"sent","local":"10.0.0.1"}`,
		`{"kind":`,
		`[1,2]`,
	} {
		got, err := ReadJSON(strings.NewReader(in))
		if err == nil {
			t.Errorf("ReadJSON(%s) = %v, nil; want an error", in, got)
		}
	}
}

func TestParseFlags(t *testing.T) {
	for _, f := range []int{0, 1, 2, 18, 17, 25, 4, 20, 255} {
		s := synFlags(f).String()
		got, err := ParseFlags(s)
		if err != nil || got != synFlags(f) {
			t.Errorf("ParseFlags(%q) = %v, %v; want %v", s, got, err, synFlags(f))
		}
	}
	if _, err := ParseFlags("SYN,,ACK"); err == nil {
		t.Errorf("ParseFlags accepted an empty name")
	}
}

func TestWriteJSONReportsWriteErrors(t *testing.T) {
	errBroken := errors.New("broken")
	err := WriteJSON(failWriter{errBroken}, fullConnection())
	if !errors.Is(err, errBroken) {
		t.Errorf("WriteJSON to a failing writer = %v, want %v", err, errBroken)
	}
}

// failWriter fails every write with err.
type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

// TestJSONOptionsRoundTrip: a segment's options survive WriteJSON and
// ReadJSON, and a segment without options writes no "options" key.
func TestJSONOptionsRoundTrip(t *testing.T) {
	e := Event{Kind: KindSegmentSent, Local: clientAddr, Remote: serverAddr, Flags: ack, Seq: 1, Ack: 2}
	e.Options.HasMSS, e.Options.MSS = true, 1460
	e.Options.HasWindowScale, e.Options.WindowScale = true, 7
	e.Options.SACKPermitted = true
	e.Options.HasTimestamps, e.Options.TSVal, e.Options.TSEcr = true, 100, 200
	e.Options.NumSACKBlocks = 1
	e.Options.SACKBlocks[0].Left, e.Options.SACKBlocks[0].Right = 10, 20
	plain := Event{Kind: KindSegmentSent, Local: clientAddr, Remote: serverAddr, Flags: ack}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, []Event{e, plain}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	if !strings.Contains(lines[0], `"options":{"mss":1460,"wscale":7,"sack_ok":true,"ts":[100,200],"sack":[[10,20]]}`) || strings.Contains(lines[1], "options") {
		t.Fatalf("JSON:\n%s", buf.String())
	}
	got, err := ReadJSON(&buf)
	if err != nil || len(got) != 2 || got[0].Options != e.Options || got[1].Options != plain.Options {
		t.Fatalf("read back %+v, %v", got, err)
	}
}
