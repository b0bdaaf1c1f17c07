package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
)

const demoAbout = `demo runs two synack stacks in one process, joined by an in-memory link
(link/pipe): a client at 10.0.0.1 and a server at 10.0.0.2 running Go's own
net/http on port 80. The client fetches one page and then closes the
connection, and the demo prints the whole journey as a sequence diagram:

  - the three-way handshake (SYN, SYN,ACK, ACK) with each side's random
    initial sequence number and the ack = seq+1 answers;
  - the HTTP request and response riding in PSH,ACK segments, each
    acknowledged;
  - the four-way close (FIN, ACK, FIN, ACK), the client's TIME-WAIT, and its
    end after 2*MSL;

with the TCP state of each side after every segment, then the HTTP status
line and the time taken. Protocol time runs on a virtual clock, so the
60-second TIME-WAIT passes at once. No root, no network, no flags needed.

With fault flags, link/fault sits on the client's end of the link, on the
same virtual clock, which then moves on by itself whenever only a timer can
make the exchange go on: the diagram shows the lost segments (ending in X)
and the timers that fired, such as the retransmissions, and the demo ends
with the protocol time the exchange took and what the faults did.`

// demoClient and demoServer are the two hosts of the demo.
var (
	demoClient = netip.MustParsePrefix("10.0.0.1/24")
	demoServer = netip.MustParseAddrPort("10.0.0.2:80")
)

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", demoAbout+"\n\n"+faultAbout, stderr)
	mtu := fs.Int("mtu", 1500, "MTU of the link between the two stacks (68-65535)")
	relative := fs.Bool("relative", false, "print sequence numbers relative to each side's ISN, as Wireshark does")
	path := fs.String("path", "/", "path the client requests")
	events := fs.Bool("events", false, "also print every trace event, one per line")
	var ff faultFlags
	ff.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	faults, faultsOn, err := ff.config() // demo puts it on its virtual clock
	if err != nil {
		return err
	}
	if *mtu < 68 || *mtu > 65535 {
		return fmt.Errorf("--mtu %d is out of range: an IPv4 link carries 68 to 65535 bytes", *mtu)
	}
	if !strings.HasPrefix(*path, "/") {
		return fmt.Errorf("--path %q must start with /", *path)
	}
	var fp *fault.Config
	if faultsOn {
		fp = &faults
	}
	res, err := demo(*mtu, *path, fp)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "synack demo: one HTTP request between two userspace TCP/IP stacks in one process\n")
	fmt.Fprintf(stdout, "client %v  <-- link/pipe, MTU %d -->  server %v (Go net/http)\n", demoClient.Addr(), *mtu, demoServer)
	if faultsOn {
		fmt.Fprintf(stdout, "link/fault at the client's end, seed %d: client->server %v; server->client %v\n", faults.Seed, faults.Out, faults.In)
	}
	fmt.Fprintln(stdout)
	// With faults, the timers that fired explain the segments sent again.
	if err := trace.DiagramWith(stdout, res.events, res.client, demoServer, trace.DiagramOptions{Relative: *relative, Timers: faultsOn}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s %s  (%d body bytes, %v for the request, real time)\n", res.proto, res.status, res.bodyLen, res.elapsed.Round(time.Microsecond))
	fmt.Fprintf(stdout, "client ended %s after 2*MSL; server ended %s.\n", res.clientFinal, res.serverFinal)
	if faultsOn {
		fmt.Fprintf(stdout, "protocol time (virtual clock): %v for the handshake, %v for the request\n", res.handshake.Round(time.Microsecond), res.protoElapsed.Round(time.Microsecond))
		fmt.Fprintf(stdout, "link/fault: %s\n", res.faultStats)
	}
	if *events {
		fmt.Fprintln(stdout)
		for i := range res.events {
			fmt.Fprintln(stdout, res.events[i].String())
		}
	}
	return nil
}

// demoResult is what one run of the demo saw.
type demoResult struct {
	events                   []trace.Event
	client                   netip.AddrPort
	proto, status            string
	bodyLen                  int
	elapsed                  time.Duration
	clientFinal, serverFinal tcp.State

	// With faults only: the protocol time the handshake and the request
	// took, and what the faults did.
	handshake, protoElapsed time.Duration
	faultStats              string
}

// watcher is a trace sink that records events and lets the demo wait for a
// state to be reached.
type watcher struct {
	trace.Recorder
	mu     sync.Mutex
	states map[netip.AddrPort]string // last state by local endpoint
	change chan struct{}
	driver *clockDriver // nil without faults
}

func (w *watcher) Event(e *trace.Event) {
	w.Recorder.Event(e)
	if w.driver != nil {
		w.driver.event(e)
	}
	if e.Kind == trace.KindStateChange {
		w.mu.Lock()
		w.states[e.Local] = e.State
		w.mu.Unlock()
		select {
		case w.change <- struct{}{}:
		default:
		}
	}
}

// waitState waits until local's connection is in state, or gives up.
func (w *watcher) waitState(local netip.AddrPort, state tcp.State) error {
	limit := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		s := w.states[local]
		w.mu.Unlock()
		if s == state.String() {
			return nil
		}
		select {
		case <-w.change:
		case <-limit:
			return fmt.Errorf("%v never reached %s (last %s)", local, state, s)
		}
	}
}

// demo runs the exchange, with faults on the client's end of the link when
// faults is not nil, and returns what it saw.
func demo(mtu int, path string, faults *fault.Config) (*demoResult, error) {
	vclk := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	w := &watcher{states: make(map[netip.AddrPort]string), change: make(chan struct{}, 1)}
	a, b := pipe.New(mtu)
	defer a.Close()
	defer b.Close()
	var cep link.Endpoint = a
	var fe *fault.Endpoint
	if faults != nil {
		cfg := *faults
		cfg.Clock = vclk
		fe = fault.New(a, cfg)
		defer fe.Close()
		cep = fe
		w.driver = &clockDriver{clk: vclk, a: a, b: b, fault: fe}
	}
	client, err := synack.New(cep, synack.Config{Addr: demoClient, Clock: vclk, Trace: w, Host: "client"})
	if err != nil {
		return nil, err
	}
	defer client.Close()
	server, err := synack.New(b, synack.Config{Addr: netip.PrefixFrom(demoServer.Addr(), 24), Clock: vclk, Trace: w, Host: "server"})
	if err != nil {
		return nil, err
	}
	defer server.Close()
	var l net.Listener
	if l, err = server.ListenTCP(demoServer, 16); err != nil {
		return nil, err
	}
	if d := w.driver; d != nil {
		d.stacks = [2]*synack.Stack{client, server}
		l = d.listener(l)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { d.run(stop); close(done) }()
		defer func() { close(stop); <-done }()
	}
	srv := serveHello(l)
	defer srv.Close()

	var local netip.AddrPort
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := client.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		local = c.LocalAddr().(*net.TCPAddr).AddrPort()
		if w.driver != nil {
			c = w.driver.dialed(c)
		}
		return c, nil
	}}
	hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	start, vstart := time.Now(), vclk.Now()
	resp, err := hc.Get("http://" + demoServer.String() + path)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed, protoElapsed := time.Since(start), vclk.Now().Sub(vstart)
	if err != nil {
		return nil, err
	}
	// The client closes first, as in the articles: FIN-WAIT-1, FIN-WAIT-2,
	// TIME-WAIT on its side; CLOSE-WAIT, LAST-ACK, CLOSED on the server's.
	transport.CloseIdleConnections()
	if err := w.waitClosed(vclk, local); err != nil {
		return nil, err
	}
	res := &demoResult{events: w.Events(), client: local, proto: resp.Proto, status: resp.Status, bodyLen: len(body),
		elapsed: elapsed, clientFinal: tcp.StateClosed, serverFinal: tcp.StateClosed}
	if fe != nil {
		res.handshake = handshakeTime(res.events, local)
		res.protoElapsed = protoElapsed
		res.faultStats = faultStats(fe, "client->server", "server->client")
	}
	return res, nil
}

// serveHello serves l with net/http, answering every request with one
// line that names it and its client.
func serveHello(l net.Listener) *http.Server {
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(rw, "Hello from synack: %s %s served to %s\n", r.Method, r.URL.Path, r.RemoteAddr)
	})}
	go srv.Serve(l)
	return srv
}

// waitClosed waits, once the client has closed, for both ends to reach
// CLOSED: the server's conn (keyed by its own local address, the
// listener's) through LAST-ACK, the client's (local) through TIME-WAIT.
// Without faults the clock stands still but for TIME-WAIT, which lasts
// 2*MSL, so waitClosed moves it; with faults the driver moves it.
func (w *watcher) waitClosed(vclk *clock.Virtual, local netip.AddrPort) error {
	if err := w.waitState(demoServer, tcp.StateClosed); err != nil {
		return err
	}
	if w.driver == nil {
		if err := w.waitState(local, tcp.StateTimeWait); err != nil {
			return err
		}
		vclk.Advance(2*tcp.DefaultMSL + time.Second)
	}
	return w.waitState(local, tcp.StateClosed)
}

// handshakeTime is the protocol time from local's first SYN to its
// ESTABLISHED, by the events' clock.
func handshakeTime(events []trace.Event, local netip.AddrPort) time.Duration {
	var syn time.Time
	for i := range events {
		e := &events[i]
		switch {
		case e.Local != local:
		case e.Kind == trace.KindSegmentSent && syn.IsZero():
			syn = e.Time
		case e.Kind == trace.KindStateChange && e.State == tcp.StateEstablished.String():
			return e.Time.Sub(syn)
		}
	}
	return 0
}
