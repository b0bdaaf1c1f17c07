package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/trace"
)

// tracedPair is a client and a server stack over a pipe on one virtual
// clock; the server keeps per-connection rings (keep 30 s) and serves
// them on its admin endpoint.
type tracedPair struct {
	client, server *synack.Stack
	clk            *clock.Virtual
	rings          *trace.Rings
	url            string
}

const traceKeep = 30 * time.Second

func newTracedPair(t *testing.T) *tracedPair {
	t.Helper()
	p := &tracedPair{clk: clock.NewVirtual(time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC))}
	p.rings = trace.NewRings(64, traceKeep, 16, p.clk.Now)
	a, b := pipe.New(1500)
	var err error
	if p.client, err = synack.New(a, synack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Clock: p.clk}); err != nil {
		t.Fatal(err)
	}
	if p.server, err = synack.New(b, synack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: p.clk, Trace: p.rings}); err != nil {
		t.Fatal(err)
	}
	adm := newAdmin(stackSnapshot{st: p.server.Internals()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	adm.rings = p.rings
	hs := httptest.NewServer(adm.srv.Handler)
	p.url = hs.URL
	t.Cleanup(func() {
		hs.Close()
		p.client.Close()
		p.server.Close()
		a.Close()
		b.Close()
	})
	return p
}

// exchange opens a connection to the server's port 80, sends a request,
// closes both ends and waits (giving the stacks turns, not advancing the
// clock) until the server's side is CLOSED. It returns the connection as
// the server sees it.
func (p *tracedPair) exchange(t *testing.T) (local, remote netip.AddrPort) {
	t.Helper()
	l, err := p.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		if c, err := l.Accept(); err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	cc, err := p.client.DialTCP(context.Background(), netip.MustParseAddrPort("10.0.0.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	cc.Write([]byte("hello"))
	cc.Close()
	local, remote = netip.MustParseAddrPort("10.0.0.2:80"), cc.LocalAddr().(*net.TCPAddr).AddrPort()
	start := time.Now()
	for {
		if tr, ok := p.rings.Trace(local, remote); ok && !tr.Closed.IsZero() {
			return local, remote
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the server's side did not close in 10 s")
		}
		runtime.Gosched()
		if next, ok := p.clk.Next(); ok && next.Sub(p.clk.Now()) < time.Second {
			p.clk.AdvanceTo(next) // a delayed ACK, not the keep time
		}
	}
}

func (p *tracedPair) get(t *testing.T, path string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// TestAdminTraceFormatsAndKeepTime: /trace gives a closed connection's
// events as JSON (relative numbers, Wireshark's), as the sequence diagram
// and as a pcap tshark reads, until the keep time passes on the virtual
// clock; then 404.
func TestAdminTraceFormatsAndKeepTime(t *testing.T) {
	p := newTracedPair(t)
	local, remote := p.exchange(t)
	conn := "?conn=" + local.String() + "-" + remote.String()

	code, _, b := p.get(t, "/trace"+conn)
	if code != http.StatusOK {
		t.Fatalf("/trace: %d %s", code, b)
	}
	var tr trace.ConnTrace
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatalf("/trace JSON: %v\n%s", err, b)
	}
	if tr.Local != local || tr.Remote != remote || tr.Closed.IsZero() || len(tr.Events) < 8 {
		t.Fatalf("/trace: %v-%v closed %v, %d events; want the closed connection", tr.Local, tr.Remote, tr.Closed, len(tr.Events))
	}
	var synSeen, fin bool
	for _, e := range tr.Events {
		if e.Kind == trace.KindSegmentReceived && e.Flags.String() == "SYN" {
			synSeen = e.Seq == 0 // relative: the SYN's seq is 0
			if !e.Options.HasMSS || e.Options.MSS == 0 {
				t.Errorf("the SYN's options are not in the trace: %+v", e.Options)
			}
		}
		if e.Kind == trace.KindSegmentReceived && strings.Contains(e.Flags.String(), "FIN") {
			fin = e.Seq == 6 // after the SYN and "hello"
		}
	}
	if !synSeen || !fin {
		t.Errorf("numbers are not relative (SYN seq=0 %v, FIN seq=6 %v):\n%s", synSeen, fin, b)
	}
	_, _, abs := p.get(t, "/trace"+conn+"&seq=absolute")
	if bytes.Equal(abs, b) {
		t.Error("seq=absolute gives the relative numbers too")
	}

	code, ctype, d := p.get(t, "/trace"+conn+"&format=diagram")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("diagram: %d %s", code, ctype)
	}
	for _, want := range []string{"SYN seq=0", "SYN,ACK seq=0 ack=1", "LISTEN", "ESTABLISHED", "LAST-ACK", "CLOSED"} {
		if !strings.Contains(string(d), want) {
			t.Errorf("diagram lacks %q:\n%s", want, d)
		}
	}

	code, ctype, pcap := p.get(t, "/trace"+conn+"&format=pcap")
	if code != http.StatusOK || ctype != "application/vnd.tcpdump.pcap" || len(pcap) < 24+56*4 {
		t.Fatalf("pcap: %d %s, %d bytes", code, ctype, len(pcap))
	}
	if _, err := exec.LookPath("tshark"); err == nil {
		path := filepath.Join(t.TempDir(), "conn.pcap")
		os.WriteFile(path, pcap, 0o644)
		out, err := exec.Command("tshark", "-n", "-r", path, "-T", "fields", "-e", "tcp.flags.str", "-e", "tcp.options.mss_val").Output()
		if err != nil || !strings.Contains(string(out), "S") || !strings.Contains(string(out), "1460") || strings.Contains(string(out), "Malformed") {
			t.Errorf("tshark: %v\n%s", err, out)
		}
	} else {
		t.Log("tshark not installed: the pcap is not read back")
	}

	p.clk.AdvanceTo(tr.Closed.Add(traceKeep - time.Second))
	if code, _, b := p.get(t, "/trace"+conn); code != http.StatusOK {
		t.Fatalf("a second before the keep time ends: %d %s", code, b)
	}
	p.clk.AdvanceTo(tr.Closed.Add(traceKeep))
	if code, _, b := p.get(t, "/trace"+conn); code != http.StatusNotFound || !strings.Contains(string(b), "no trace of") {
		t.Fatalf("once the keep time passed: %d %s; want 404", code, b)
	}
}

// TestAdminTraceBadRequests: an unknown connection is 404 with a message,
// a bad parameter 400, and tracing off 404 saying how to turn it on.
func TestAdminTraceBadRequests(t *testing.T) {
	p := newTracedPair(t)
	for _, c := range []struct {
		query string
		code  int
		says  string
	}{
		{"?conn=10.0.0.2:80-10.0.0.9:1234", http.StatusNotFound, "no trace of 10.0.0.2:80-10.0.0.9:1234"},
		{"", http.StatusBadRequest, "conn is required"},
		{"?conn=10.0.0.2:80", http.StatusBadRequest, "want LOCAL-REMOTE"},
		{"?conn=10.0.0.2-10.0.0.1:5", http.StatusBadRequest, "want LOCAL-REMOTE"},
		{"?conn=10.0.0.2:80-10.0.0.1:5&format=svg", http.StatusBadRequest, `format "svg"`},
		{"?conn=10.0.0.2:80-10.0.0.1:5&seq=raw", http.StatusBadRequest, `seq "raw"`},
		{"?conn=10.0.0.2:80-10.0.0.1:5&id=3", http.StatusBadRequest, `unknown query parameter "id"`},
	} {
		code, _, b := p.get(t, "/trace"+c.query)
		if code != c.code || !strings.Contains(string(b), c.says) {
			t.Errorf("/trace%s: %d %q; want %d saying %q", c.query, code, b, c.code, c.says)
		}
	}
	off := newAdmin(stackSnapshot{st: p.server.Internals()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rec := httptest.NewRecorder()
	off.srv.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/trace?conn=10.0.0.2:80-10.0.0.1:5", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "--trace-ring") {
		t.Errorf("tracing off: %d %q; want 404 naming --trace-ring", rec.Code, rec.Body.String())
	}
}
