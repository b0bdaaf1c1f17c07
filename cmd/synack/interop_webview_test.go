package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
	"github.com/synack-net/synack/trace"
)

// TestServeWebViewOverTUN: serve's own HTTP service on port 80 serves the
// web view at /tcp/ to the kernel's curl through the TUN device; the page
// names the connection that fetched it, and (tracing on by default) the
// trace of that very connection, read from the web view, starts with the
// kernel's SYN and holds the GET. The admin endpoint serves the view too.
func TestServeWebViewOverTUN(t *testing.T) {
	ns := tuntest.Namespace(t)
	requireTools(t, "curl")
	const admin = "127.0.0.1:7073"
	startServe(t, ns, "--admin", admin)
	page := mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "http://"+serveAddr+"/tcp/")
	m := regexp.MustCompile(`name="synack-self" content="([^"]+)"`).FindStringSubmatch(page)
	if m == nil || !strings.HasPrefix(m[1], serveAddr+":80-") {
		t.Fatalf("the page does not name its connection:\n%s", page)
	}
	var tr trace.ConnTrace
	out := mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "http://"+serveAddr+"/tcp/trace?conn="+m[1])
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("/tcp/trace: %v\n%s", err, out)
	}
	if len(tr.Events) < 4 || tr.Events[0].Kind != trace.KindSegmentReceived || tr.Events[0].Flags.String() != "SYN" || tr.Events[0].Seq != 0 {
		t.Fatalf("the page's connection's trace does not start with the kernel's SYN: %+v", tr.Events)
	}
	var request bool
	for _, e := range tr.Events {
		request = request || e.Kind == trace.KindSegmentReceived && e.Len > 0 && e.Seq == 1
	}
	if !request {
		t.Errorf("the trace has no request (data at relative seq 1): %+v", tr.Events)
	}
	if out := mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "http://"+admin+"/tcp/"); !strings.Contains(out, "static/app.js") {
		t.Errorf("the admin endpoint's /tcp/:\n%s", out)
	}
}
