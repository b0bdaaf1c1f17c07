package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/cmd/synack/web"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/trace"
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
	exe := needChromium(t)
	p := newBrowserPair(t)
	b := startBrowser(t, exe)
	b.do(t, chromedp.Navigate(p.url+web.Prefix))
	liveView(t, b, p)
	labView(t, b)
}

// browser is a headless chromium tab and the deadline of what is done in it.
type browser struct{ ctx context.Context }

// needChromium returns chromium's path, or skips the test without it
// (fails it under CI).
func needChromium(t *testing.T) string {
	t.Helper()
	exe := chromium()
	if exe == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed, and CI must run the browser test: add chromium to .ci/run's apt-get line")
		}
		t.Skip("chromium is not installed (apt-get install chromium): the web view is not tried in a browser")
	}
	return exe
}

// startBrowser starts chromium exe headless. What is done in its tab
// shares a deadline of 25 s.
func startBrowser(t *testing.T, exe string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.Headless,
		chromedp.DisableGPU, chromedp.WindowSize(1400, 1200))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // chromium refuses to run as root with its sandbox
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	// The first Run starts the browser, for as long as tab lives: no
	// deadline on it; what follows has one.
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, 25*time.Second)
	t.Cleanup(cancel)
	return &browser{ctx}
}

// do runs actions in the tab.
func (b *browser) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// wait polls the page until the JavaScript expr is true.
func (b *browser) wait(t *testing.T, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

// strings evaluates expr, which gives a list of strings, joined by sep.
func (b *browser) strings(t *testing.T, expr, sep string) string {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return strings.Join(v, sep)
}

// liveView: a new connection appears in the table; a click draws its
// handshake; the state diagram counts it; its close is drawn once it goes.
func liveView(t *testing.T, b *browser, p *browserPair) {
	l, err := p.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b.wait(t, "the listener in the table", `document.querySelector('tr[data-conn="0.0.0.0:80-*"]')`)
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
	client := cc.LocalAddr().(*net.TCPAddr).AddrPort()
	id := web.ConnID(netip.MustParseAddrPort("10.0.0.2:80"), client)
	row := `tr[data-conn="` + id + `"]`
	b.wait(t, "the new connection in the table", `document.querySelector('`+row+`')`)
	b.do(t, chromedp.Click(chromedp.CSS(row)))
	b.wait(t, "the sequence diagram's three arrows", `document.querySelectorAll('#seq svg g.seg').length >= 3`)
	// synack's side (the server) is on the left: the SYN comes from the
	// right, the SYN-ACK goes to it, the ACK comes back.
	arrows := b.strings(t, `[...document.querySelectorAll('#seq svg g.seg')].slice(0, 3).map(g => g.dataset.flags + ' ' + g.dataset.dir + ' seq=' + g.dataset.seq + ' ack=' + g.dataset.ack)`, "|")
	if want := "SYN r2l seq=0 ack=0|SYN,ACK l2r seq=0 ack=1|ACK r2l seq=1 ack=1"; arrows != want {
		t.Errorf("the diagram's arrows: %q; want %q first", arrows, want)
	}
	const ours, peers = `#seq svg text.state:not(.inferred)`, `#seq svg text.state.inferred`
	if states := b.strings(t, `[...document.querySelectorAll('`+ours+`')].map(e => e.dataset.state)`, " "); states != "LISTEN SYN-RECEIVED ESTABLISHED" {
		t.Errorf("the diagram's states: %q; want LISTEN SYN-RECEIVED ESTABLISHED", states)
	}
	if peer := b.strings(t, `[...document.querySelectorAll('`+peers+`')].map(e => e.dataset.state)`, " "); peer != "SYN-SENT ESTABLISHED" {
		t.Errorf("the peer's states inferred: %q; want SYN-SENT ESTABLISHED", peer)
	}
	b.wait(t, "the state diagram counting it", `document.querySelector('#fsm g.box[data-state="ESTABLISHED"] .count').textContent === '1'`)

	// The close: once the connection leaves the table, its diagram is
	// drawn once more, the FINs in it, and the peer's states after them.
	cc.Close()
	p.waitClosed(t, client)
	b.wait(t, "the close in the diagram", `document.querySelectorAll('#seq svg g.seg[data-flags*="FIN"]').length === 2`)
	if peer := b.strings(t, `[...document.querySelectorAll('`+peers+`')].map(e => e.dataset.state)`, " "); peer != "SYN-SENT ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT" {
		t.Errorf("the peer's states inferred: %q; want SYN-SENT ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT", peer)
	}
	shot(t, b.ctx, "webview-live.png")
}

// labView: the handshake steps one segment at a time; in fast-retransmit
// the copy drawn lost is the original, its retransmission the one that
// arrives.
func labView(t *testing.T, b *browser) {
	b.do(t, chromedp.Evaluate[chromedp.Void](`location.hash = 'lab/handshake'`))
	b.wait(t, "the lab's first step", `document.querySelector('#labpos').textContent.startsWith('step 0 of') && document.querySelectorAll('#labdiagrams svg g.seg').length === 0`)
	for n, flags := range []string{"SYN", "SYN,ACK", "ACK"} {
		b.do(t, chromedp.Click(chromedp.ID("next")))
		b.wait(t, "step "+flags, `(() => { const s = document.querySelectorAll('#labdiagrams svg g.seg');
			return s.length === `+string(rune('1'+n))+` && s[s.length-1].dataset.flags === '`+flags+`' && s[s.length-1].classList.contains('new'); })()`)
	}
	shot(t, b.ctx, "webview-lab.png")

	b.do(t, chromedp.Evaluate[chromedp.Void](`location.hash = 'lab/fast-retransmit'`))
	b.wait(t, "fast-retransmit", `document.querySelector('#labsummary').textContent.startsWith('fast-retransmit')`)
	b.do(t, chromedp.Click(chromedp.ID("last")))
	b.wait(t, "fast-retransmit drawn whole", `document.querySelector('#next').disabled && document.querySelectorAll('#labdiagrams svg g.seg').length > 20`)
	if lost := b.strings(t, `[...document.querySelectorAll('#labdiagrams svg g.seg.lost')].map(g => g.dataset.dir + ' seq=' + g.dataset.seq)`, "|"); lost != "l2r seq=1449" {
		t.Errorf("fast-retransmit's lost segments: %q; want the client's seq=1449 alone", lost)
	}
	copies := b.strings(t, `[...document.querySelectorAll('#labdiagrams svg g.seg[data-dir="l2r"][data-seq="1449"]')].map(g => g.classList.contains('lost') ? 'lost' : 'arrived')`, ",")
	if copies != "lost,arrived" {
		t.Errorf("fast-retransmit's two copies of seq=1449, in the order sent: %q; want lost,arrived", copies)
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

// browserPair is a client and a server stack over a pipe on a virtual
// clock, the server traced and seen by its admin endpoint (served by
// httptest at url); closed gets each connection the server's side closes.
type browserPair struct {
	client, server *synack.Stack
	url            string
	closed         chan netip.AddrPort // the remote end of each server-side close
}

func newBrowserPair(t *testing.T) *browserPair {
	t.Helper()
	clk := clock.NewVirtual(time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC))
	p := &browserPair{closed: make(chan netip.AddrPort, 16)}
	rings := trace.NewRings(64, time.Minute, 16, clk.Now)
	watch := trace.SinkFunc(func(e *trace.Event) {
		if e.Kind == trace.KindStateChange && e.State == "CLOSED" {
			select {
			case p.closed <- e.Remote:
			default:
			}
		}
	})
	a, b := pipe.New(1500)
	var err error
	if p.client, err = synack.New(a, synack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Clock: clk}); err != nil {
		t.Fatal(err)
	}
	if p.server, err = synack.New(b, synack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clk, Trace: trace.Tee(rings, watch)}); err != nil {
		t.Fatal(err)
	}
	adm := newAdmin(stackSnapshot{st: p.server.Internals()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	adm.rings = rings
	hs := httptest.NewServer(adm.srv.Handler)
	p.url = hs.URL
	t.Cleanup(func() {
		adm.close() // ends the page's event stream, which hs.Close would wait for
		hs.Close()
		p.client.Close()
		p.server.Close()
		a.Close()
		b.Close()
	})
	return p
}

// waitClosed waits until the server's side of the connection from remote
// is CLOSED. The close needs no timer: the clock stays.
func (p *browserPair) waitClosed(t *testing.T, remote netip.AddrPort) {
	t.Helper()
	limit := time.After(10 * time.Second)
	for {
		select {
		case r := <-p.closed:
			if r == remote {
				return
			}
		case <-limit:
			t.Fatalf("the server's side of %v did not close in 10 s", remote)
		}
	}
}
