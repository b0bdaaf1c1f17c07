package main

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/synack-net/synack/cmd/synack/web"
)

// chromium returns the path of Debian's chromium (or another Chrome), ""
// when there is none.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestWebViewInChromium drives the web view in a real browser, headless
// chromium through chromedp: the admin endpoint of a stack (in-process,
// over link/pipe, traced) serves /tcp/; the page's table shows a new
// connection once it is made; a click on it draws its sequence diagram,
// where the SYN, the SYN-ACK and the ACK are arrows of the SVG, each the
// right way; the state diagram counts it in ESTABLISHED; the lab's
// handshake steps one segment at a time; and in fast-retransmit the
// segment drawn lost is the original, its retransmission arriving.
//
// The screenshots are test artifacts: webview-live.png and
// webview-lab.png, written to the directory $SYNACK_ARTIFACTS names when
// set, else to the test's t.TempDir() (the path is logged with -v).
//
// Without chromium the test skips, except under CI (the CI variable set,
// as .ci/run sets it), where .ci/run installs it and the test must run.
func TestWebViewInChromium(t *testing.T) {
	exe := chromium()
	if exe == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed, and CI must run the browser test: add chromium to .ci/run's apt-get line")
		}
		t.Skip("chromium is not installed (apt-get install chromium): the web view is not tried in a browser")
	}
	p := newTracedPair(t) // tracepage_test.go: the admin endpoint of a traced stack
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.Headless,
		chromedp.DisableGPU, chromedp.WindowSize(1400, 1200))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // chromium refuses to run as root with its sandbox
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first Run starts the browser, for as long as browser lives: no
	// deadline on it; each wait below has one.
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(browser, 25*time.Second)
	defer cancel()
	l, err := p.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
			t.Fatalf("waiting for %s (%s): %v", what, expr, err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(p.url+web.Prefix)); err != nil {
		t.Fatal(err)
	}
	wait("the listener in the table", `document.querySelector('tr[data-conn="0.0.0.0:80-*"]')`)

	go func() {
		if c, err := l.Accept(); err == nil {
			defer c.Close()
			c.Read(make([]byte, 1)) // until the client goes
		}
	}()
	cc, err := p.client.DialTCP(context.Background(), netip.MustParseAddrPort("10.0.0.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	id := web.ConnID(netip.MustParseAddrPort("10.0.0.2:80"), cc.LocalAddr().(*net.TCPAddr).AddrPort())
	row := `tr[data-conn="` + id + `"]`
	wait("the new connection in the table", `document.querySelector('`+row+`')`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row))); err != nil {
		t.Fatal(err)
	}
	wait("the sequence diagram's three arrows", `document.querySelectorAll('#seq svg g.seg').length >= 3`)
	arrows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#seq svg g.seg')].map(g => g.dataset.flags + ' ' + g.dataset.dir + ' seq=' + g.dataset.seq + ' ack=' + g.dataset.ack)`))
	if err != nil {
		t.Fatal(err)
	}
	// synack's side (the server) is on the left: the SYN comes from the
	// right, the SYN-ACK goes to it, the ACK comes back.
	want := []string{"SYN r2l seq=0 ack=0", "SYN,ACK l2r seq=0 ack=1", "ACK r2l seq=1 ack=1"}
	if len(arrows) < 3 || strings.Join(arrows[:3], "|") != strings.Join(want, "|") {
		t.Errorf("the diagram's arrows: %q; want %q first", arrows, want)
	}
	states, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#seq svg text.state')].map(e => e.textContent).join(' ')`))
	if err != nil || !strings.Contains(states, "LISTEN") || !strings.Contains(states, "SYN-RECEIVED") || !strings.Contains(states, "ESTABLISHED") {
		t.Errorf("the diagram's states: %q, %v; want LISTEN, SYN-RECEIVED and ESTABLISHED", states, err)
	}
	peer, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#seq svg text.state.inferred')].map(e => e.dataset.state).join(' ')`))
	if err != nil || peer != "SYN-SENT ESTABLISHED" {
		t.Errorf("the peer's states inferred: %q, %v; want SYN-SENT ESTABLISHED", peer, err)
	}
	wait("the state diagram counting it", `document.querySelector('#fsm g.box[data-state="ESTABLISHED"] .count').textContent === '1'`)

	// The close: once the connection leaves the table, its diagram is
	// drawn once more, the FINs in it, and the peer's states after them.
	cc.Close()
	p.closeServerSide(t, id)
	wait("the close in the diagram", `document.querySelectorAll('#seq svg g.seg[data-flags*="FIN"]').length === 2`)
	peer, err = chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#seq svg text.state.inferred')].map(e => e.dataset.state).join(' ')`))
	if err != nil || peer != "SYN-SENT ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT" {
		t.Errorf("the peer's states inferred: %q, %v; want SYN-SENT ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT", peer, err)
	}
	shot(t, ctx, "webview-live.png")

	// The lab: the handshake stepped one segment at a time.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`location.hash = 'lab/handshake'`)); err != nil {
		t.Fatal(err)
	}
	wait("the lab's first step", `document.querySelector('#labpos').textContent.startsWith('step 0 of') && document.querySelectorAll('#labdiagrams svg g.seg').length === 0`)
	for n, flags := range []string{"SYN", "SYN,ACK", "ACK"} {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("next"))); err != nil {
			t.Fatal(err)
		}
		wait("step "+flags, `(() => { const s = document.querySelectorAll('#labdiagrams svg g.seg');
			return s.length === `+string(rune('1'+n))+` && s[s.length-1].dataset.flags === '`+flags+`' && s[s.length-1].classList.contains('new'); })()`)
	}
	shot(t, ctx, "webview-lab.png")

	// fast-retransmit: of the ten segments, the second is the one lost,
	// and its retransmission, not the original, is the one that arrives.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`location.hash = 'lab/fast-retransmit'`)); err != nil {
		t.Fatal(err)
	}
	wait("fast-retransmit", `document.querySelector('#labsummary').textContent.startsWith('fast-retransmit')`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("last"))); err != nil {
		t.Fatal(err)
	}
	wait("fast-retransmit drawn whole", `document.querySelector('#next').disabled && document.querySelectorAll('#labdiagrams svg g.seg').length > 20`)
	lost, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#labdiagrams svg g.seg.lost').length`))
	if err != nil || lost != 1 {
		t.Errorf("fast-retransmit: %d segments lost, %v; want 1", lost, err)
	}
	copies, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#labdiagrams svg g.seg[data-dir="l2r"][data-seq="1449"]')].map(g => g.classList.contains('lost') ? 'lost' : 'arrived')`))
	if err != nil || strings.Join(copies, ",") != "lost,arrived" {
		t.Errorf("fast-retransmit's two copies of seq=1449, in the order sent: %q, %v; want lost, arrived", copies, err)
	}
}

// shot writes a screenshot of the page as a test artifact.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SYNACK_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// closeServerSide gives the stacks turns (moving the virtual clock only
// to timers due within a second: a delayed ACK) until the server's side of
// the connection id is CLOSED, as its trace says.
func (p *tracedPair) closeServerSide(t *testing.T, id string) {
	t.Helper()
	local, remote, err := web.ParseConn(id)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		if tr, ok := p.rings.Trace(local, remote); ok && !tr.Closed.IsZero() {
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the server's side did not close in 10 s")
		}
		runtime.Gosched()
		if next, ok := p.clk.Next(); ok && next.Sub(p.clk.Now()) < time.Second {
			p.clk.AdvanceTo(next)
		}
	}
}
