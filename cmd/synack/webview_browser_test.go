package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
// segment drawn lost is the original, its retransmission arriving. With
// data flowing and the virtual clock stepped over several of the
// history's ticks, the plots (cwnd and bytes in flight, RTT) draw lines of
// a point per step. Served as serve's port 80 serves it, knowing the
// connection that fetched it (web.Config.Self), the page draws that
// connection's handshake without a click.
//
// The screenshots are test artifacts: webview-live.png, webview-lab.png
// and webview-self.png, written to the directory $SYNACK_ARTIFACTS names
// when set (.ci/run sets it to .ci/artifacts, for CI to keep), else to the
// test's t.TempDir(), which goes with the test (the path is logged with -v).
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
	selfView(t, b, p)
}

// TestCIKeepsScreenshots: .ci/run, up to where it installs packages, run
// by bash, exports SYNACK_ARTIFACTS as .ci/artifacts in the checkout and
// makes that directory, which git ignores: CI keeps the browser test's
// screenshots instead of losing them with a temporary directory.
func TestCIKeepsScreenshots(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	run, err := os.ReadFile(filepath.Join(root, ".ci/run"))
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(string(run), "\nif [ \"$(id -u)\" = 0 ]")
	if !ok {
		t.Fatal(".ci/run has no `if [ \"$(id -u)\" = 0 ]` line: where does its setup end?")
	}
	cmd := exec.Command("bash", "-c", head+"\nprintenv SYNACK_ARTIFACTS || true", filepath.Join(root, ".ci/run"))
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "SYNACK_ARTIFACTS=") })
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf(".ci/run's setup: %v\n%s", err, out)
	}
	dir := strings.TrimSpace(string(out))
	if want := filepath.Join(root, ".ci/artifacts"); dir != want {
		t.Fatalf(".ci/run exports SYNACK_ARTIFACTS=%q; want %q", dir, want)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf(".ci/run did not make %s: %v", dir, err)
	}
	if _, err := exec.LookPath("git"); err == nil {
		if out, err := exec.Command("git", "-C", root, "check-ignore", "-q", ".ci/artifacts/webview-live.png").CombinedOutput(); err != nil {
			t.Errorf("git does not ignore .ci/artifacts (add it to .gitignore): %v %s", err, out)
		}
	}
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
// handshake; the state diagram counts it; its plots draw a point per step
// of the clock; its close is drawn once it goes.
func liveView(t *testing.T, b *browser, p *browserPair) {
	l, err := p.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b.wait(t, "the listener in the table", `document.querySelector('tr[data-conn="0.0.0.0:80-*"]')`)
	send := make(chan int)
	go func() {
		if c, err := l.Accept(); err == nil {
			defer c.Close()
			c.Write(make([]byte, <-send))
			io.Copy(io.Discard, c) // until the client goes
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
	plots(t, b, p, cc, send, id)

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

// plots: the server's side of cc (id, picked) sends data; then each step
// of the virtual clock of a history tick (an Interval of the admin's view)
// is one more point of each line of the plots, at its own time. The
// server's history, which the page reads when a connection is picked,
// has no two samples of one instant.
func plots(t *testing.T, b *browser, p *browserPair, cc net.Conn, send chan<- int, id string) {
	t.Helper()
	const size = 8 * 1448 // whole segments: no ACK waits for the delayed-ACK timer
	got := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(cc, make([]byte, size))
		got <- err
	}()
	send <- size
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("reading the server's data: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the client did not get the server's %d bytes in 10 s", size)
	}
	// Two tables of one instant (the clock stands still), a tick apart in
	// wall time, on a stream of the test's own: the history keeps one sample.
	tables(t, p.url+web.Prefix+"events", 2)
	// Distinct times of a plot's line (its x coordinates).
	xs := func(plot string, k int) string {
		return `new Set(document.querySelector('` + plot + ` svg polyline.series.s` + string(rune('0'+k)) + `')?.getAttribute('points').split(' ').map(p => p.split(',')[0])).size`
	}
	const steps = 3
	for i := 1; i <= steps; i++ {
		p.clk.Advance(web.DefaultInterval)
		n := string(rune('1' + i))
		b.wait(t, "the plots' point of step "+n, xs("#plot-bytes", 0)+` >= `+n+` && `+xs("#plot-bytes", 1)+` >= `+n+` && `+xs("#plot-rtt", 0)+` >= `+n)
	}
	if above := b.strings(t, `[...document.querySelector('#plot-bytes svg polyline.series.s0').getAttribute('points').split(' ')].map(p => String(+p.split(',')[1] < 146))`, " "); strings.Contains(above, "false") {
		t.Errorf("the cwnd line touches the axis (cwnd 0) at some point: %s", above)
	}
	resp, err := http.Get(p.url + web.Prefix + "history?conn=" + url.QueryEscape(id))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Samples []struct {
			T    time.Time `json:"t"`
			CWND int       `json:"cwnd"`
		} `json:"samples"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	seen := map[time.Time]bool{}
	for _, x := range h.Samples {
		if seen[x.T] {
			t.Errorf("the history has two samples at %v: %+v", x.T, h.Samples)
			break
		}
		seen[x.T] = true
	}
	if len(h.Samples) < steps+1 {
		t.Errorf("the history of %s: %d samples; want one per step of the clock and the first, %d", id, len(h.Samples), steps+1)
	}
}

// tables reads n tables from the event stream at url, then closes it.
func tables(t *testing.T, url string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for n > 0 && sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			n--
		}
	}
	if n > 0 {
		t.Fatalf("the event stream ended with %d tables to come: %v", n, sc.Err())
	}
}

// selfView: served as serve's port 80 serves it, the view told which
// connection fetched the page (web.Config.Self, here a connection of the
// pair: chromium itself comes over loopback), the page opens that
// connection and draws its handshake with no click.
func selfView(t *testing.T, b *browser, p *browserPair) {
	l, err := p.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:8080"), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	server := netip.MustParseAddrPort("10.0.0.2:8080")
	cc, err := p.client.DialTCP(context.Background(), server)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := cc.LocalAddr().(*net.TCPAddr).AddrPort()
	view := web.New(web.Config{Snapshot: p.server.Internals().Snapshot, Rings: func() *trace.Rings { return p.rings },
		Self: func(*http.Request) (netip.AddrPort, netip.AddrPort, bool) { return server, client, true }})
	hs := httptest.NewServer(view)
	defer func() {
		view.Close() // ends the page's event stream, which hs.Close would wait for
		hs.Close()
	}()
	b.do(t, chromedp.Navigate(hs.URL+web.Prefix))
	id := web.ConnID(server, client)
	b.wait(t, "its own connection's three arrows, with no click", `document.querySelector('tr.self.picked[data-conn="`+id+`"]') && document.querySelectorAll('#seq svg g.seg').length >= 3`)
	arrows := b.strings(t, `[...document.querySelectorAll('#seq svg g.seg')].slice(0, 3).map(g => g.dataset.flags + ' ' + g.dataset.dir)`, "|")
	if want := "SYN r2l|SYN,ACK l2r|ACK r2l"; arrows != want {
		t.Errorf("the diagram of the page's own connection: %q; want %q first", arrows, want)
	}
	if title := b.strings(t, `[document.querySelector('#seqtitle').textContent]`, ""); !strings.Contains(title, id) || !strings.Contains(title, "fetched this page") {
		t.Errorf("the diagram's title: %q; want %s, the connection that fetched this page", title, id)
	}
	shot(t, b.ctx, "webview-self.png")
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
	clk            *clock.Virtual
	rings          *trace.Rings
	url            string
	closed         chan netip.AddrPort // the remote end of each server-side close
}

func newBrowserPair(t *testing.T) *browserPair {
	t.Helper()
	clk := clock.NewVirtual(time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC))
	rings := trace.NewRings(64, time.Minute, 16, clk.Now)
	p := &browserPair{clk: clk, rings: rings, closed: make(chan netip.AddrPort, 16)}
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
