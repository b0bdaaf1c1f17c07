package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// observed is two stacks over a pipe, on one virtual clock (no timer is
// needed: every exchange here is driven by segments), each with its admin
// endpoint served by httptest on loopback.
type observed struct {
	client, server       *synack.Stack
	a, b                 *pipe.Endpoint
	clk                  *clock.Virtual
	clientURL, serverURL string
}

func newObserved(t *testing.T) *observed {
	t.Helper()
	o := &observed{}
	o.a, o.b = pipe.New(1500)
	clk := clock.NewVirtual(time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC))
	o.clk = clk
	var err error
	if o.client, err = synack.New(o.a, synack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Clock: clk}); err != nil {
		t.Fatal(err)
	}
	if o.server, err = synack.New(o.b, synack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clk}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	serve := func(st *synack.Stack) string {
		a := newAdmin(stackSnapshot{st: st.Internals()}, log) // the pipe's counters as section Link
		hs := httptest.NewServer(a.srv.Handler)
		t.Cleanup(hs.Close)
		return hs.URL
	}
	o.clientURL = serve(o.client)
	o.serverURL = serve(o.server)
	t.Cleanup(func() {
		o.client.Close()
		o.server.Close()
		o.a.Close()
		o.b.Close()
	})
	return o
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// jsonCounters reads /snapshot's counters.
func jsonCounters(t *testing.T, base string) stack.Counters {
	t.Helper()
	code, b := get(t, base+"/snapshot")
	if code != http.StatusOK {
		t.Fatalf("/snapshot: %d %s", code, b)
	}
	var snap stack.Snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatalf("/snapshot: %v", err)
	}
	return snap.Counters
}

// promMetrics reads /metrics with Prometheus's own text parser.
func promMetrics(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, b := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mfs
}

// promValue is the value of the unlabelled metric name, and whether it is there.
func promValue(mfs map[string]*dto.MetricFamily, name string) (float64, bool) {
	mf := mfs[name]
	if mf == nil || len(mf.Metric) != 1 {
		return 0, false
	}
	m := mf.Metric[0]
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	}
	return 0, false
}

// counterRef names a counter of one side.
type counterRef struct {
	server        bool
	section, name string
}

func (r counterRef) String() string {
	side := "client"
	if r.server {
		side = "server"
	}
	return side + " " + r.section + "." + r.name
}

// reading is every counter of both sides, from JSON and from Prometheus.
type reading struct {
	json [2]stack.Counters
	prom [2]map[string]*dto.MetricFamily
}

func (o *observed) read(t *testing.T) reading {
	var r reading
	for i, u := range []string{o.clientURL, o.serverURL} {
		r.json[i], r.prom[i] = jsonCounters(t, u), promMetrics(t, u)
	}
	return r
}

func (r reading) get(t *testing.T, c counterRef) (uint64, float64) {
	t.Helper()
	i := 0
	if c.server {
		i = 1
	}
	j, ok := r.json[i].Get(c.section, c.name)
	if !ok {
		t.Fatalf("%v is not in /snapshot", c)
	}
	p, ok := promValue(r.prom[i], "synack_"+c.section+"_"+c.name)
	if !ok {
		t.Fatalf("%v is not in /metrics as synack_%s_%s", c, c.section, c.name)
	}
	return j, p
}

// quiet reports whether the server holds one ESTABLISHED connection whose
// received bytes were all read, and the client's has nothing unacknowledged
// and no ACK owed: the pair is idle.
func (o *observed) quiet() bool {
	est := func(t []stack.SocketInfo) (stack.SocketInfo, bool) {
		for _, r := range t {
			if r.State == tcp.StateEstablished {
				return r, true
			}
		}
		return stack.SocketInfo{}, false
	}
	s, ok1 := est(o.server.Internals().Sockets())
	c, ok2 := est(o.client.Internals().Sockets())
	return ok1 && ok2 && s.RecvQ == 0 && s.TCP.BytesReceived == 1 && c.SendQ == 0 && s.TCP.DelayedACKAt.IsZero()
}

// drive moves the virtual clock from timer to timer, giving the
// goroutines turns in between, until done; it fails the test after ten
// seconds of wall time.
func (o *observed) drive(t *testing.T, done func() bool) {
	t.Helper()
	start := time.Now()
	for !done() {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("not done after 10 s (virtual %v)", o.clk.Now())
		}
		runtime.Gosched()
		if next, ok := o.clk.Next(); ok && !done() {
			o.clk.AdvanceTo(next)
		}
	}
}

// rawStep returns a step that writes, from the client's end of the pipe,
// an IPv4 packet of protocol proto to dst with payload (a fragment when
// more is 1), then waits for the server to have handled it.
func rawStep(o *observed, barrier func(), proto uint8, dst string, more uint8, payload []byte) func() {
	return func() {
		pkt := make([]byte, 20+len(payload))
		f := wire.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64, Protocol: proto, Flags: more,
			Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr(dst)}
		f.Encode(pkt)
		copy(pkt[20:], payload)
		if err := o.a.WritePacket(pkt); err != nil {
			panic(err)
		}
		barrier()
	}
}

// tcpHeader is a 20-byte TCP header, an ACK from port 40000 to 80, with
// the checksum sum (wrong for any packet but by chance).
func tcpHeader(sum uint16) []byte {
	h := make([]byte, 20)
	h[0], h[1], h[2], h[3] = 0x9c, 0x40, 0, 80
	h[12], h[13] = 5<<4, 0x10
	h[14], h[15] = 0xff, 0xff
	h[16], h[17] = byte(sum>>8), byte(sum)
	return h
}

// udpClient is a UDP socket of the client, closed when the test ends.
func udpClient(t *testing.T, o *observed) *synack.UDPConn {
	uc, err := o.client.ListenUDP(netip.MustParseAddrPort("0.0.0.0:0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	return uc
}

// TestAdminMetricsHoldEveryCounter: every atomic counter of the stack's
// Stats structs (stack, tcp, udp), each set to a value of its own, shows
// that value in /snapshot's JSON and in /metrics under its name, of the
// right type (TestCountersHoldEveryField checks that Counters has every
// field): a counter added later cannot be forgotten by either. The
// sockets per state are gauges.
func TestAdminMetricsHoldEveryCounter(t *testing.T) {
	o := newObserved(t)
	if _, err := o.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 16); err != nil {
		t.Fatal(err)
	}
	in := o.server.Internals()
	want := map[string]uint64{} // by field
	next := uint64(1000)
	for _, p := range []any{in.Stats(), in.TCPStats(), in.UDPStats()} {
		v := reflect.ValueOf(p).Elem()
		for i := range v.NumField() {
			switch a := v.Field(i).Addr().Interface().(type) {
			case *atomic.Uint64:
				a.Store(next)
			case *atomic.Int64:
				a.Store(int64(next))
			default:
				continue
			}
			want[v.Type().String()+"."+v.Type().Field(i).Name] = next
			next += 7
		}
	}
	cs := in.Counters()
	js := jsonCounters(t, o.serverURL)
	mfs := promMetrics(t, o.serverURL)
	n := 0
	for _, s := range cs {
		for _, c := range s.Counters {
			if s.Name == "Link" {
				continue // the pipe's, not a Stats struct's
			}
			w, ok := want[c.Field]
			if !ok {
				t.Errorf("%s.%s is read from %q, not a Stats field", s.Name, c.Name, c.Field)
				continue
			}
			delete(want, c.Field)
			if v, _ := js.Get(s.Name, c.Name); v != w {
				t.Errorf("%s (%s.%s) is %d in /snapshot, want %d", c.Field, s.Name, c.Name, v, w)
			}
			name := "synack_" + s.Name + "_" + c.Name
			mf := mfs[name]
			if mf == nil {
				t.Errorf("%s (%s) is not in /metrics", name, c.Field)
				continue
			}
			typ := dto.MetricType_COUNTER
			if c.Gauge {
				typ = dto.MetricType_GAUGE
			}
			if mf.GetType() != typ {
				t.Errorf("%s is a %v, want %v", name, mf.GetType(), typ)
			}
			if v, _ := promValue(mfs, name); v != float64(w) {
				t.Errorf("%s = %v in /metrics, want %d", name, v, w)
			}
			n++
		}
	}
	for f := range want {
		t.Errorf("%s is in no section", f)
	}
	if n < 90 {
		t.Errorf("only %d counters", n)
	}
	states := mfs["synack_tcp_sockets"]
	if states == nil || len(states.Metric) != int(tcp.StateTimeWait)+1 {
		t.Fatalf("synack_tcp_sockets: %v, want one series per state", states)
	}
	for _, m := range states.Metric {
		if m.Label[0].GetValue() == "LISTEN" && m.Gauge.GetValue() != 1 {
			t.Errorf("synack_tcp_sockets{state=LISTEN} = %v, want 1", m.Gauge.GetValue())
		}
	}
}

// TestAdminBadQuery: a bad parameter, an unknown one (on /metrics too), a
// query that does not parse or a parameter given twice is a 400 with a
// message that says what is wrong, never a crash or a silent default.
func TestAdminBadQuery(t *testing.T) {
	o := newObserved(t)
	for _, c := range []struct{ path, says string }{
		{"/sockets?state=FOO", "unknown state"},
		{"/sockets?state=ESTABLISHED,", "unknown state"},
		{"/sockets?colour=red", `unknown query parameter "colour"`},
		{"/snapshot?x=1", `unknown query parameter "x"`},
		{"/metrics?x=1", `unknown query parameter "x": /metrics takes ["name[]"]`},
		{"/trace?conn=%zz", `the query "conn=%zz" could not be parsed`},
		{"/sockets?state=LISTEN&state=ESTABLISHED", `query parameter "state" given 2 times`},
	} {
		code, b := get(t, o.serverURL+c.path)
		if code != http.StatusBadRequest || !strings.Contains(string(b), c.says) {
			t.Errorf("GET %s: %d %q, want 400 saying %q", c.path, code, b, c.says)
		}
	}
	// A scrape as Prometheus makes it (no query) is answered; name[],
	// the client library's filter, may repeat.
	if mfs := promMetrics(t, o.serverURL); mfs["synack_Tcp_InSegs"] == nil {
		t.Errorf("/metrics without a query: no synack_Tcp_InSegs")
	}
	code, b := get(t, o.serverURL+"/metrics?name[]=synack_Tcp_InSegs&name[]=synack_Tcp_OutSegs")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if code != http.StatusOK || err != nil || len(mfs) != 2 || mfs["synack_Tcp_InSegs"] == nil || mfs["synack_Tcp_OutSegs"] == nil {
		t.Errorf("/metrics?name[]=synack_Tcp_InSegs&name[]=synack_Tcp_OutSegs: %d, %d families (%v); want 200 and those two\n%s", code, len(mfs), err, b)
	}
	if code, _ := get(t, o.serverURL+"/nothing-here"); code != http.StatusNotFound {
		t.Errorf("GET /nothing-here: %d, want 404", code)
	}
}

// TestAdminSocketsAndTools: /sockets filters by state, and ss and netstat
// -s, run as commands, print what the admin endpoint holds.
func TestAdminSocketsAndTools(t *testing.T) {
	o := newObserved(t)
	l, err := o.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 16)
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
	cc, err := o.client.DialTCP(context.Background(), netip.MustParseAddrPort("10.0.0.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cc.Write([]byte("x"))
	// Once the byte is read and acknowledged, nothing is in flight: the
	// clock then moves 5 s, short of any timer of an idle connection, and
	// the listener and the connection, made at the clock's start, are 5 s old.
	for start := time.Now(); !o.quiet(); runtime.Gosched() {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the connection did not settle: server %+v, client %+v", o.server.Internals().Sockets(), o.client.Internals().Sockets())
		}
	}
	o.clk.Advance(5 * time.Second)
	var est []stack.SocketInfo
	_, b := get(t, o.serverURL+"/sockets?state=established")
	if err := json.Unmarshal(b, &est); err != nil {
		t.Fatalf("/sockets: %v in %s", err, b)
	}
	if len(est) != 1 || est[0].State != tcp.StateEstablished || est[0].Remote != cc.LocalAddr().(*net.TCPAddr).AddrPort() {
		t.Fatalf("/sockets?state=established: %+v, want the one connection", est)
	}
	var snap stack.Snapshot
	_, b = get(t, o.serverURL+"/snapshot")
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatalf("/snapshot: %v in %s", err, b)
	}
	if est[0].Age != 5*time.Second || len(snap.Sockets) != 2 || snap.Sockets[0].Age != 5*time.Second || snap.Sockets[1].Age != 5*time.Second {
		t.Errorf("ages: /sockets %v, /snapshot %+v; want 5s for the listener and the connection", est[0].Age, snap.Sockets)
	}
	if est[0].TCP.MSS == 0 || est[0].TCP.RTO == 0 || est[0].TCP.CongestionControl == "" {
		t.Errorf("the connection's tcp.Info is empty: %+v", est[0].TCP)
	}
	addr := strings.TrimPrefix(o.serverURL, "http://")
	var out, errOut bytes.Buffer
	if code := run([]string{"ss", "--admin", addr}, &out, &errOut); code != 0 {
		t.Fatalf("ss: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "LISTEN") || !strings.Contains(out.String(), "ESTAB ") ||
		!strings.Contains(out.String(), " mss:") {
		t.Errorf("ss printed no listener, connection or -i line:\n%s", out.String())
	}
	if n := strings.Count(out.String(), " age:5sec\n"); n != 2 {
		t.Errorf("ss printed %d ages of 5sec, want the listener's and the connection's:\n%s", n, out.String())
	}
	out.Reset()
	if code := run([]string{"netstat", "-s", "--admin", addr}, &out, &errOut); code != 0 {
		t.Fatalf("netstat -s: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "Tcp:\n") || !strings.Contains(out.String(), "1 passive connection openings") {
		t.Errorf("netstat -s printed:\n%s", out.String())
	}
	for _, path := range []string{"/debug/pprof/", "/debug/vars", "/"} {
		if code, b := get(t, o.serverURL+path); code != http.StatusOK || len(b) == 0 {
			t.Errorf("GET %s: %d", path, code)
		}
	}
	_, b = get(t, o.serverURL+"/debug/vars")
	var vars map[string]json.RawMessage
	if err := json.Unmarshal(b, &vars); err != nil || vars["synack"] == nil {
		t.Errorf("/debug/vars has no synack snapshot (%v)", err)
	}
}

// TestAdminAddressChecked: an address that is not loopback, or not an
// address, ends serve with one line saying so before it touches a TUN
// device; an address in use is refused with one line (TestServeAdmin sees
// serve say it), and "" turns the endpoint off.
func TestAdminAddressChecked(t *testing.T) {
	for _, c := range []struct{ addr, says string }{
		{"0.0.0.0:7070", "not a loopback address"},
		{"10.7.0.1:7070", "not a loopback address"},
		{"localhost", "not an address and port"},
	} {
		var out, errOut bytes.Buffer
		code := run([]string{"serve", "--admin", c.addr}, &out, &errOut)
		msg := errOut.String()
		if code != 1 || !strings.Contains(msg, c.says) || strings.Count(msg, "\n") != 1 {
			t.Errorf("serve --admin %s: exit %d, %q; want 1 and one line saying %q", c.addr, code, msg, c.says)
		}
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	a := adminFlags{addr: busy.Addr().String()}
	if l, err := a.listen(); err == nil || !strings.Contains(err.Error(), "is in use") || strings.Contains(err.Error(), "\n") {
		if l != nil {
			l.Close()
		}
		t.Errorf("--admin %s, in use: %v; want one line saying it is in use", a.addr, err)
	}
	a.public = true
	a.addr = "127.0.0.1:0"
	if l, err := a.listen(); err != nil {
		t.Errorf("--admin 127.0.0.1:0: %v", err)
	} else {
		l.Close()
	}
	a.addr = ""
	if l, err := a.listen(); l != nil || err != nil {
		t.Errorf(`--admin "": %v, %v; want off`, l, err)
	}
}

// TestAdminNotOnTheStack: the stack serve runs has nothing on the admin
// port, so a peer on the TUN side that reaches the stack cannot reach
// the admin endpoint through it; the endpoint itself listens on the host's
// loopback (TestAdminAddressChecked), which Linux does not route packets
// from the TUN device to (a loopback destination on another interface is
// a martian).
func TestAdminNotOnTheStack(t *testing.T) {
	o := newObserved(t)
	_, err := o.client.DialTCP(context.Background(), netip.MustParseAddrPort("10.0.0.2:7070"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial to the stack's 7070: %v, want ECONNREFUSED", err)
	}
}

// TestEventSinkLogsAttributes: with -v, each event is one log record whose
// fields are attributes (JSON with --log-format json).
func TestEventSinkLogsAttributes(t *testing.T) {
	var b bytes.Buffer
	log, err := newLogger("json", &b)
	if err != nil {
		t.Fatal(err)
	}
	sink := eventSink(log)
	syn := &trace.Event{Kind: trace.KindSegmentSent, Local: netip.MustParseAddrPort("10.0.0.1:40000"),
		Remote: netip.MustParseAddrPort("10.0.0.2:80"), Flags: wire.FlagSYN, Seq: 1000, Window: 65535, State: "SYN-SENT"}
	syn.Options = wire.TCPOptions{HasMSS: true, MSS: 1460, HasWindowScale: true, WindowScale: 7, SACKPermitted: true,
		HasTimestamps: true, TSVal: 77, TSEcr: 0, NumSACKBlocks: 1}
	syn.Options.SACKBlocks[0] = wire.SACKBlock{Left: 5, Right: 9}
	sink.Event(syn)
	sink.Event(&trace.Event{Kind: trace.KindStateChange, Local: netip.MustParseAddrPort("10.0.0.1:40000"),
		Remote: netip.MustParseAddrPort("10.0.0.2:80"), From: "SYN-SENT", State: "ESTABLISHED", Cause: "rcv SYN,ACK"})
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		recs = append(recs, m)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2:\n%s", len(recs), b.String())
	}
	for k, v := range map[string]any{"msg": "tcp", "kind": "sent", "flags": "SYN", "seq": 1000.0, "win": 65535.0,
		"local": "10.0.0.1:40000", "remote": "10.0.0.2:80", "state": "SYN-SENT"} {
		if recs[0][k] != v {
			t.Errorf("segment record: %s = %v, want %v", k, recs[0][k], v)
		}
	}
	opts, _ := recs[0]["opts"].(map[string]any)
	for k, v := range map[string]any{"mss": 1460.0, "wscale": 7.0, "sack_perm": true, "tsval": 77.0, "tsecr": 0.0} {
		if opts[k] != v {
			t.Errorf("segment record: opts.%s = %v, want %v (opts %v)", k, opts[k], v, recs[0]["opts"])
		}
	}
	if sack, _ := opts["sack"].([]any); len(sack) != 1 || sack[0] != "5-9" {
		t.Errorf("segment record: opts.sack = %v, want [5-9]", opts["sack"])
	}
	if _, ok := recs[1]["opts"]; ok {
		t.Errorf("state record has opts: %v", recs[1])
	}
	for k, v := range map[string]any{"kind": "state", "from": "SYN-SENT", "state": "ESTABLISHED", "cause": "rcv SYN,ACK"} {
		if recs[1][k] != v {
			t.Errorf("state record: %s = %v, want %v", k, recs[1][k], v)
		}
	}
	if _, err := newLogger("xml", io.Discard); err == nil || !strings.Contains(err.Error(), "text or json") {
		t.Errorf("--log-format xml: %v, want an error naming text and json", err)
	}
}

// TestAdminDefaultMovesOver: a serve started without --admin beside one
// that holds the default address takes the next free port (so a second
// serve runs, as the README says it may), while an --admin given on the
// command line that is in use is refused.
func TestAdminDefaultMovesOver(t *testing.T) {
	busy, err := net.Listen("tcp", defaultAdmin)
	if err != nil {
		t.Skipf("cannot hold %s for the test (a serve on this host has it?): %v", defaultAdmin, err)
	}
	defer busy.Close()
	a := adminFlags{addr: defaultAdmin}
	l, err := a.listen()
	if err != nil {
		t.Fatalf("default --admin with %s in use: %v; want the next free port", defaultAdmin, err)
	}
	got := l.Addr().String()
	l.Close()
	if got == defaultAdmin || !strings.HasPrefix(got, "127.0.0.1:707") {
		t.Errorf("default --admin with %s in use listened on %s; want 127.0.0.1:7071 to 7079", defaultAdmin, got)
	}
	a.given = true
	if l, err := a.listen(); err == nil || !strings.Contains(err.Error(), "is in use") {
		if l != nil {
			l.Close()
		}
		t.Errorf("--admin %s given and in use: %v; want refused", defaultAdmin, err)
	}
}
