package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/lab"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/trace"
)

// pair is a client and a server stack over a pipe on a virtual clock, the
// server traced into rings and seen by a View served by httptest.
type pair struct {
	clk            *clock.Virtual
	client, server *synack.Stack
	rings          *trace.Rings
	view           *View
	url            string
}

func newPair(t *testing.T, self func(*http.Request) (netip.AddrPort, netip.AddrPort, bool)) *pair {
	t.Helper()
	clk := clock.NewVirtual(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))
	p := &pair{clk: clk, rings: trace.NewRings(64, time.Minute, 16, clk.Now)}
	a, b := pipe.New(1500)
	var err error
	if p.client, err = synack.New(a, synack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Clock: clk}); err != nil {
		t.Fatal(err)
	}
	if p.server, err = synack.New(b, synack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clk, Trace: p.rings}); err != nil {
		t.Fatal(err)
	}
	p.view = New(Config{Snapshot: p.server.Internals().Snapshot, Rings: func() *trace.Rings { return p.rings },
		TraceOff: "tracing is off here", Self: self, Interval: 20 * time.Millisecond})
	hs := httptest.NewServer(p.view)
	p.url = hs.URL
	t.Cleanup(func() {
		p.view.Close()
		hs.Close()
		p.client.Close()
		p.server.Close()
		a.Close()
		b.Close()
	})
	return p
}

// connect makes a connection from the client to the server's port 80 and
// returns its ID as the server names it.
func (p *pair) connect(t *testing.T) string {
	t.Helper()
	l, err := p.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		if c, err := l.Accept(); err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	c, err := p.client.DialTCP(context.Background(), netip.MustParseAddrPort("10.0.0.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return ConnID(netip.MustParseAddrPort("10.0.0.2:80"), c.LocalAddr().(*net.TCPAddr).AddrPort())
}

func (p *pair) get(t *testing.T, path string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// stream opens /tcp/events and returns a func reading its next table.
func (p *pair) stream(t *testing.T, ctx context.Context) func() table {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/tcp/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/tcp/events: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	return func() table {
		t.Helper()
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var tb table
			if err := json.Unmarshal([]byte(data), &tb); err != nil {
				t.Fatalf("an event that is not a table: %v\n%s", err, data)
			}
			return tb
		}
		t.Fatalf("the stream ended: %v", sc.Err())
		return table{}
	}
}

// TestEventsShowNewConnection: the event stream's first table has only
// the listener; once a connection is made, a later table has it,
// ESTABLISHED, with its congestion window, and the states count it. The
// history then has a sample of it, and /tcp/trace its handshake.
func TestEventsShowNewConnection(t *testing.T) {
	p := newPair(t, nil)
	l, err := p.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:7"), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	next := p.stream(t, ctx)
	first := next()
	if len(first.Conns) != 1 || first.Conns[0].ID != "0.0.0.0:7-*" || first.Conns[0].State != "LISTEN" || first.States["LISTEN"] != 1 {
		t.Fatalf("first table: %+v; want the listener alone", first)
	}
	id := p.connect(t)
	var got row
	var tb table
	for got.ID == "" {
		tb = next() // the stream ends with the context's deadline
		for _, r := range tb.Conns {
			if r.ID == id && r.State == "ESTABLISHED" {
				got = r
			}
		}
	}
	if got.CWND == 0 || got.MSS == 0 || got.Remote == "" || got.SegsIn < 2 || tb.States["ESTABLISHED"] != 1 {
		t.Errorf("the new connection's row %+v, states %v", got, tb.States)
	}
	// Ages count on the stack's clock: five seconds on, the connection and
	// the listener (which came before it) are five seconds older.
	age := got.AgeMS
	p.clk.Advance(5 * time.Second)
	for {
		var conn, listener row
		for _, r := range next().Conns {
			switch {
			case r.ID == id:
				conn = r
			case r.State == "LISTEN":
				listener = r
			}
		}
		if conn.AgeMS == age {
			continue // a table from before the clock moved
		}
		if conn.AgeMS != age+5000 || listener.AgeMS < conn.AgeMS {
			t.Fatalf("over 5 s the connection's age went from %d to %d ms, the listener's is %d ms", age, conn.AgeMS, listener.AgeMS)
		}
		break
	}
	code, _, b := p.get(t, "/tcp/history?conn="+id)
	var h struct{ Samples []sample }
	if code != http.StatusOK || json.Unmarshal(b, &h) != nil || len(h.Samples) == 0 || h.Samples[0].CWND != got.CWND {
		t.Errorf("/tcp/history: %d %s; want a sample with cwnd %d", code, b, got.CWND)
	}
	code, _, b = p.get(t, "/tcp/trace?conn="+id)
	var tr trace.ConnTrace
	if code != http.StatusOK || json.Unmarshal(b, &tr) != nil || len(tr.Events) < 3 {
		t.Fatalf("/tcp/trace: %d %s", code, b)
	}
	if e := tr.Events[0]; e.Kind != trace.KindSegmentReceived || e.Flags.String() != "SYN" || e.Seq != 0 {
		t.Errorf("first event %v; want the SYN received, seq=0 (relative)", e.String())
	}
}

// TestStreamsBounded: a 17th event stream is refused with 503 while 16
// are open.
func TestStreamsBounded(t *testing.T) {
	p := newPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range MaxStreams {
		p.stream(t, ctx)() // its first table: it holds its token
	}
	if code, _, b := p.get(t, "/tcp/events"); code != http.StatusServiceUnavailable || !strings.Contains(string(b), "too many") {
		t.Errorf("stream %d: %d %s; want 503", MaxStreams+1, code, b)
	}
}

// TestLabJSON: /tcp/lab/ lists the lab's scenarios and /tcp/lab/NAME is
// the run as lab.Record gives it, the same at each request.
func TestLabJSON(t *testing.T) {
	p := newPair(t, nil)
	code, ctype, b := p.get(t, "/tcp/lab/")
	var list []labEntry
	if code != http.StatusOK || ctype != "application/json" || json.Unmarshal(b, &list) != nil || len(list) != len(lab.Names()) {
		t.Fatalf("/tcp/lab/: %d %s %s", code, ctype, b)
	}
	code, _, b = p.get(t, "/tcp/lab/handshake")
	var rec lab.Recording
	if code != http.StatusOK || json.Unmarshal(b, &rec) != nil {
		t.Fatalf("/tcp/lab/handshake: %d %s", code, b)
	}
	if rec.Name != "handshake" || len(rec.Conns) != 1 || rec.Story == "" {
		t.Fatalf("recording %+v", rec)
	}
	var flags []string
	for _, e := range rec.Conns[0].Events {
		if e.Kind == trace.KindSegmentSent {
			flags = append(flags, e.Flags.String())
		}
	}
	if len(flags) < 3 || flags[0] != "SYN" || flags[1] != "SYN,ACK" || flags[2] != "ACK" {
		t.Errorf("segments sent %q; want SYN, SYN,ACK, ACK first", flags)
	}
	if _, _, again := p.get(t, "/tcp/lab/handshake"); !bytes.Equal(again, b) {
		t.Error("a second request gives another run")
	}
	code, _, b = p.get(t, "/tcp/lab/handshake?seed=7")
	if code != http.StatusOK || !strings.Contains(string(b), `"seed":7`) {
		t.Errorf("seed=7: %d %s", code, b)
	}
}

// TestBadRequests: an unknown connection, a bad parameter, a query that
// does not parse, a parameter given twice, an unknown lab name or page: a
// 4xx with a message saying what is wrong.
func TestBadRequests(t *testing.T) {
	p := newPair(t, nil)
	for _, c := range []struct {
		path string
		code int
		says string
	}{
		{"/tcp/trace?conn=10.0.0.2:80-10.0.0.9:1234", 404, "no trace of 10.0.0.2:80-10.0.0.9:1234"},
		{"/tcp/trace", 400, "conn is required"},
		{"/tcp/trace?conn=10.0.0.2:80", 400, "want LOCAL-REMOTE"},
		{"/tcp/trace?conn=10.0.0.2:80-10.0.0.1:5&seq=raw", 400, `seq "raw"`},
		{"/tcp/trace?conn=10.0.0.2:80-10.0.0.1:5&format=pcap", 400, `unknown query parameter "format"`},
		{"/tcp/history?conn=10.0.0.2:80-10.0.0.9:1234", 404, "no history of 10.0.0.2:80-10.0.0.9:1234"},
		{"/tcp/history?conn=x", 400, "want LOCAL-REMOTE"},
		{"/tcp/events?every=1", 400, `unknown query parameter "every"`},
		{"/tcp/lab/nope", 404, `no scenario "nope"; the scenarios are: handshake`},
		{"/tcp/lab/handshake?seed=-1", 400, `seed "-1"`},
		{"/tcp/lab/handshake?loss=1", 400, `unknown query parameter "loss"`},
		{"/tcp/nothing", 404, "no such page"},
		{"/tcp/?x=1", 400, `unknown query parameter "x"`},
		{"/tcp/trace?conn=%zz", 400, `the query "conn=%zz" could not be parsed`},
		{"/tcp/history?conn=10.0.0.2:80-10.0.0.1:5;x=1", 400, "could not be parsed"},
		{"/tcp/lab/handshake?seed=1&seed=2", 400, `query parameter "seed" given 2 times`},
		{"/tcp/trace?conn=10.0.0.2:80-10.0.0.1:5&conn=10.0.0.2:80-10.0.0.1:6", 400, `"conn" given 2 times`},
	} {
		code, _, b := p.get(t, c.path)
		if code != c.code || !strings.Contains(string(b), c.says) {
			t.Errorf("%s: %d %q; want %d saying %q", c.path, code, b, c.code, c.says)
		}
	}
	off := New(Config{Snapshot: p.server.Internals().Snapshot, TraceOff: "tracing is off: say how"})
	rec := httptest.NewRecorder()
	off.ServeHTTP(rec, httptest.NewRequest("GET", "/tcp/trace?conn=10.0.0.2:80-10.0.0.1:5", nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "say how") {
		t.Errorf("tracing off: %d %q", rec.Code, rec.Body.String())
	}
}

// TestPageSelfAndAssets: the page names the connection that fetched it
// when Self tells it, its script and style are served, and nothing in the
// assets points outside (no CDN): the only URL is SVG's namespace.
func TestPageSelfAndAssets(t *testing.T) {
	self := func(*http.Request) (netip.AddrPort, netip.AddrPort, bool) {
		return netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("10.0.0.1:40000"), true
	}
	p := newPair(t, self)
	code, ctype, b := p.get(t, "/tcp/")
	if code != 200 || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(string(b), `content="10.0.0.2:80-10.0.0.1:40000"`) {
		t.Fatalf("/tcp/: %d %s\n%s", code, ctype, b)
	}
	for _, f := range []string{"app.js", "seq.js", "fsm.js", "style.css"} {
		if code, _, b := p.get(t, "/tcp/static/"+f); code != 200 || len(b) < 100 {
			t.Errorf("/tcp/static/%s: %d, %d bytes", f, code, len(b))
		}
	}
	fs.WalkDir(assets, "assets", func(path string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			return nil
		}
		b, _ := assets.ReadFile(path)
		s := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		if strings.Contains(s, "://") || strings.Contains(s, "//cdn") {
			t.Errorf("%s points outside: the view must fetch nothing from elsewhere", path)
		}
		return nil
	})
}
