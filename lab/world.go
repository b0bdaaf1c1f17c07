package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/trace"
)

// The two hosts of every scenario.
var (
	clientAddr = netip.MustParsePrefix("10.0.0.1/24")
	serverAddr = netip.MustParsePrefix("10.0.0.2/24")
)

// serverPort is the port the server listens on (or does not).
const serverPort = 8000

// labEpoch is the virtual clock's start: every run begins at the same instant.
var labEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// world is one run of a scenario: the clock, the cable, the two stacks and
// the recorder of their events.
type world struct {
	opts   Options
	clk    *clock.Virtual
	cable  *cable
	rec    trace.Recorder
	fault  *fault.Endpoint // on the client's end; nil without --loss or --delay
	cw, sw *counter        // what the client and the server write
	client *synack.Stack
	server *synack.Stack
	start  time.Time
}

// stackSetup changes a stack's configuration before the world starts it.
type stackSetup func(*synack.Config)

// newWorld starts the two stacks with opts' conditions; setup, when not
// nil, adjusts each side's configuration first.
func newWorld(opts Options, client, server stackSetup) (*world, error) {
	w := &world{opts: opts, clk: clock.NewVirtual(labEpoch), cable: newCable(opts.mtu())}
	w.start = w.clk.Now()
	var cep link.Endpoint = w.cable.plug(clientAddr.Addr())
	if opts.faulty() {
		cfg := opts.Faults
		cfg.Clock, cfg.Seed = w.clk, opts.Seed
		w.fault = fault.New(cep, cfg)
		cep = w.fault
	}
	w.cw = newCounter(cep)
	w.sw = newCounter(w.cable.plug(serverAddr.Addr()))
	ccfg := synack.Config{Addr: clientAddr, Clock: w.clk, Trace: &w.rec, Host: "client", Shards: 1}
	scfg := synack.Config{Addr: serverAddr, Clock: w.clk, Trace: &w.rec, Host: "server", Shards: 1}
	if client != nil {
		client(&ccfg)
	}
	if server != nil {
		server(&scfg)
	}
	var err error
	if w.client, err = synack.New(w.cw, ccfg); err != nil {
		return nil, err
	}
	if w.server, err = synack.New(w.sw, scfg); err != nil {
		w.client.Close()
		return nil, err
	}
	return w, nil
}

// close stops both stacks. Take the events before: closing aborts what is
// left.
func (w *world) close() {
	w.client.Close()
	w.server.Close()
	if w.fault != nil {
		w.fault.Close()
	}
}

// clientPort is the client's port: from the ephemeral range (RFC 6056),
// chosen by the seed so that a run repeats.
func (w *world) clientPort() uint16 { return uint16(49152 + w.opts.Seed%16384) }

// clientEnd and serverEnd are the two ends of the scenario's connection.
func (w *world) clientEnd() netip.AddrPort {
	return netip.AddrPortFrom(clientAddr.Addr(), w.clientPort())
}
func (w *world) serverEnd() netip.AddrPort { return netip.AddrPortFrom(serverAddr.Addr(), serverPort) }

// settle delivers every packet on the cable, and those they make the
// stacks send, until the cable is empty. The clock does not move.
func (w *world) settle() {
	for w.cable.deliverOne() {
	}
}

// step settles the link, then moves the clock to the next timer, fires it
// and settles again. It reports false when no timer is armed.
func (w *world) step() bool {
	w.settle()
	next, ok := w.clk.Next()
	if !ok {
		return false
	}
	w.clk.AdvanceTo(next)
	w.settle()
	return true
}

// runUntil steps from timer to timer until done reports true, for at most
// limit of protocol time.
func (w *world) runUntil(limit time.Duration, what string, done func() bool) error {
	w.settle()
	end := w.clk.Now().Add(limit)
	for !done() {
		next, ok := w.clk.Next()
		if !ok || next.After(end) {
			return fmt.Errorf("lab: %s did not happen within %v of protocol time", what, limit)
		}
		w.step()
	}
	return nil
}

// advance moves the clock by d, firing the timers due on the way, and
// settles the link after each.
func (w *world) advance(d time.Duration) {
	end := w.clk.Now().Add(d)
	w.settle()
	for {
		next, ok := w.clk.Next()
		if !ok || next.After(end) {
			break
		}
		w.step()
	}
	w.clk.AdvanceTo(end)
	w.settle()
}

// elapsed is the protocol time since the world started.
func (w *world) elapsed() time.Duration { return w.clk.Now().Sub(w.start) }

// dial is a connection being opened on its own goroutine.
type dial struct {
	done chan struct{}
	conn *synack.TCPConn
	err  error
}

// startDial starts st dialing from local to remote and returns once the SYN
// has reached the link; counter is st's.
func (w *world) startDial(st *synack.Stack, cnt *counter, local, remote netip.AddrPort) (*dial, error) {
	d := &dial{done: make(chan struct{})}
	before := cnt.count()
	go func() {
		defer close(d.done)
		d.conn, d.err = st.DialTCPFrom(context.Background(), local, remote)
	}()
	if err := cnt.waitFor(before + 1); err != nil {
		return nil, err
	}
	return d, nil
}

// dialClient starts the client dialing the server from clientEnd.
func (w *world) dialClient() (*dial, error) {
	return w.startDial(w.client, w.cw, w.clientEnd(), w.serverEnd())
}

// state returns the last state local's connection to remote reported,
// "" when it reported none: a condition the scenario can wait for that,
// unlike a blocked call's return, depends on nothing but the exchange.
func (w *world) state(local, remote netip.AddrPort) string {
	events := w.rec.Events()
	for i := len(events) - 1; i >= 0; i-- {
		e := &events[i]
		if e.Kind == trace.KindStateChange && e.Local == local && e.Remote == remote {
			return e.State
		}
	}
	return ""
}

// opened returns a condition for runUntil: local's dial to remote is over,
// its connection past the handshake (ESTABLISHED or later) or CLOSED.
func (w *world) opened(local, remote netip.AddrPort) func() bool {
	return func() bool {
		s := w.state(local, remote)
		return s != "" && s != "SYN-SENT" && s != "SYN-RECEIVED"
	}
}

// result waits for the dial to return; the scenario calls it once the
// exchange that ends it has been settled.
func (d *dial) result() (*synack.TCPConn, error) {
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		return nil, errors.New("lab: a dial did not return")
	}
	return d.conn, d.err
}

// readAll reads what c has received and not yet been read, without
// blocking: the scenario calls it once the link has settled.
func readAvailable(c *synack.TCPConn) ([]byte, bool) {
	var out []byte
	eof := false
	for {
		info := c.Info()
		if info.RecvQ == 0 {
			eof = info.TCP.FinReceived
			break
		}
		buf := make([]byte, info.RecvQ)
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	return out, eof
}

// maxWait bounds, in protocol time, how long a scenario waits for a step
// that should come: a step that never comes is an error, not a hang.
const maxWait = 10 * time.Minute

// connect opens the scenario's connection: the server listens with
// backlog, the client dials, and the server accepts.
func (w *world) connect(backlog int) (c, s *synack.TCPConn, l *synack.TCPListener, err error) {
	if l, err = w.server.ListenTCP(w.serverEnd(), backlog); err != nil {
		return nil, nil, nil, err
	}
	d, err := w.dialClient()
	if err != nil {
		return nil, nil, nil, err
	}
	if err = w.runUntil(maxWait, "the handshake", w.opened(w.clientEnd(), w.serverEnd())); err != nil {
		return nil, nil, nil, err
	}
	if c, err = d.result(); err != nil {
		return nil, nil, nil, err
	}
	if err = w.runUntil(maxWait, "the server's ESTABLISHED", func() bool { return l.Ready() > 0 }); err != nil {
		return nil, nil, nil, err
	}
	if s, err = l.AcceptTCP(); err != nil {
		return nil, nil, nil, err
	}
	return c, s, l, nil
}

// in returns a condition for runUntil: local's connection to remote is in
// state.
func (w *world) in(local, remote netip.AddrPort, state string) func() bool {
	return func() bool { return w.state(local, remote) == state }
}

// untilQuiet returns how long the scenario lets the clock run after its
// last step so that the acknowledgements a delayed-ACK timer holds go
// out: a little over the longest delayed-ACK time.
func (w *world) untilQuiet() time.Duration { return 500 * time.Millisecond }

// timesOf returns the protocol times, from the world's start, of the
// events match chooses, joined for an outcome line.
func (w *world) timesOf(match func(e *trace.Event) bool) string {
	var out []string
	for _, e := range w.rec.Events() {
		if match(&e) {
			out = append(out, e.Time.Sub(w.start).String())
		}
	}
	return strings.Join(out, ", ")
}

// timer returns a matcher of the timer events called cause of local's
// connection.
func timer(local netip.AddrPort, cause string) func(e *trace.Event) bool {
	return func(e *trace.Event) bool { return e.Kind == trace.KindTimer && e.Local == local && e.Cause == cause }
}

// readToEOF reads s until the end of the stream, moving the clock from
// timer to timer until it comes, and returns what it read.
func (w *world) readToEOF(s *synack.TCPConn) ([]byte, error) {
	var got []byte
	err := w.runUntil(maxWait, "the end of the stream", func() bool {
		b, eof := readAvailable(s)
		got = append(got, b...)
		return eof
	})
	return got, err
}
