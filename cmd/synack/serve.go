package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/policy"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
)

const serveAbout = `serve runs a synack stack on a Linux TUN device, so that the kernel's own TCP
(curl, nc, Python, a browser) talks to it, and serves until SIGINT or SIGTERM,
which close every connection cleanly:

  echo     TCP port 7: sends back everything it reads, closes on EOF
           UDP port 7: sends each datagram back to its source (RFC 862)
  discard  TCP port 9: reads and throws away; UDP port 9 too (RFC 863)
  http     TCP port 80: Go's net/http on a synack listener
             /           which connection served you: addresses, state, segments
             /bytes/N    N pseudo-random bytes; ?seed=S picks them (see /bytes/)
             /upload     POST a body: answers its length and SHA-256
             /netstat    synack's socket table
             /stats      synack's counters, as netstat -s prints them
             /tcp/       the live web view: open it in a browser to watch the
                         handshake of the connection that fetched it, the
                         socket table change, and the lab's scenarios
             /files/     the files of --root, when given

Every accepted connection gets keepalive, as Go's net listeners give it, and
HTTP requests have header, read and write timeouts. Over all services, a
connection that moves nothing for --idle-timeout is closed, one client
address may hold at most --max-conns-per-ip connections at once and all
clients --max-conns; more are closed or reset at once (--over-cap). What
these rules do is counted, and logged at most once every 10 s.

Needs root (CAP_NET_ADMIN) to create the device. To try it by hand:

  sudo synack serve --tun synack0 --addr 10.7.0.2/24 --host-addr 10.7.0.1/24
  curl http://10.7.0.2/`

// serveOpts are serve's flags: its services and the settings shared
// with the other TUN commands, the admin endpoint, the limits and traces.
type serveOpts struct {
	tf                      tunFlags
	echo, discard, httpPort *int
	root, logFormat         *string
	verbose                 *bool
	adm                     adminFlags  // admin.go
	lim                     serveLimits // servelimits.go
	tr                      traceFlags  // tracepage.go
}

// parseServe parses and checks serve's arguments.
func parseServe(args []string, stderr io.Writer) (*serveOpts, error) {
	o := &serveOpts{}
	fs := newFlags("serve", serveAbout+"\n\n"+adminAbout+"\n\n"+faultAbout, stderr)
	o.tf.register(fs)
	o.echo = fs.Int("echo", 7, "port of the echo service (0: off)")
	o.discard = fs.Int("discard", 9, "port of the discard service (0: off)")
	o.httpPort = fs.Int("http", 80, "port of the HTTP service (0: off)")
	o.root = fs.String("root", "", "serve the files of this directory under /files/")
	o.verbose = fs.Bool("v", false, "log every segment and state change too, with their fields as attributes")
	o.logFormat = fs.String("log-format", "text", "log as text (key=value) or json lines")
	o.adm.register(fs)
	o.lim.register(fs)
	o.tr.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := o.lim.check(); err != nil {
		return nil, err
	}
	if err := o.tr.check(); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		name string
		port int
	}{{"--echo", *o.echo}, {"--discard", *o.discard}, {"--http", *o.httpPort}} {
		if p.port < 0 || p.port > 65535 {
			return nil, fmt.Errorf("%s %d is not a port (0 turns the service off)", p.name, p.port)
		}
	}
	if *o.root != "" {
		if st, err := os.Stat(*o.root); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--root %q is not a directory", *o.root)
		}
	}
	o.adm.given = flagGiven(fs, "admin")
	if err := o.adm.check(); err != nil { // admin.go
		return nil, err
	}
	return o, nil
}

func runServe(args []string, stdout, stderr io.Writer) error {
	o, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(*o.logFormat, stderr)
	if err != nil {
		return err
	}
	o.tf.log = log // the stack's limits reached, once a minute each
	var sink trace.Sink
	if *o.verbose {
		sink = eventSink(log)
	}
	rings := o.tr.rings()
	sink = withRings(sink, rings)
	ts, err := o.tf.open("serve", sink)
	if err != nil {
		return err
	}
	al, err := o.adm.listen()
	if err != nil {
		ts.close()
		return err
	}
	defer func() {
		ts.close()
		logFaults(log, ts) // after the last packet, the closes' included
		log.Info("tun", ts.deviceStats()...)
	}()
	defer startAdmin(al, ts, rings, log)() // admin.go; stops before the stack does
	pol, err := o.lim.policy(log, clock.Real())
	if err != nil {
		return err
	}
	defer func() { log.Info("policy totals", policyStats(pol)...) }()
	srv := &server{st: ts.st, log: log, conns: make(map[net.Conn]struct{}), limits: &o.lim, pol: pol, rings: rings}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.start(o); err != nil {
		return err
	}
	log.Info("serving", o.attrs(ts)...)
	select {
	case <-ctx.Done():
		log.Info("signal: closing every connection")
		srv.shutdown(true)
		return nil
	case err := <-ts.failed:
		// Nothing reaches the peers any more: no FIN can be sent or
		// acknowledged, so there is nothing to wait for.
		log.Error("TUN device failed: closing every connection", "err", err)
		srv.shutdown(false)
		return fmt.Errorf("%w: %v", errDeviceGone, err)
	}
}

// start opens the services o asks for: echo and discard on TCP and UDP,
// and HTTP.
func (srv *server) start(o *serveOpts) error {
	if *o.echo > 0 {
		if err := srv.listen(*o.echo, "echo", echoConn); err != nil {
			return err
		}
		if err := srv.listenUDP(*o.echo, "echo", true); err != nil {
			return err
		}
	}
	if *o.discard > 0 {
		if err := srv.listen(*o.discard, "discard", discardConn); err != nil {
			return err
		}
		if err := srv.listenUDP(*o.discard, "discard", false); err != nil {
			return err
		}
	}
	if *o.httpPort > 0 {
		return srv.serveHTTP(*o.httpPort, *o.root)
	}
	return nil
}

// attrs are the "serving" log line's attributes: what serve runs, where,
// and with which limits and faults.
func (o *serveOpts) attrs(ts *tunStack) []any {
	lim := &o.lim
	attrs := []any{"tun", ts.dev.Name(), "offload", ts.offloads(), "queues", ts.dev.Queues(), "addr", o.tf.addr, "host-addr", o.tf.hostAddr,
		"echo", *o.echo, "discard", *o.discard, "http", *o.httpPort,
		"keepalive", lim.keepAlive, "idle-timeout", lim.idleTimeout,
		"max-conns-per-ip", lim.maxConnsPerIP, "max-conns", lim.maxConns, "over-cap", lim.overCap.String()}
	if ts.fault != nil {
		attrs = append(attrs, "fault-out", ts.faults.Out.String(), "fault-in", ts.faults.In.String(), "seed", ts.faults.Seed)
	}
	return attrs
}

// logFaults logs, when the device has faults, what they did to each
// direction.
func logFaults(log *slog.Logger, ts *tunStack) {
	if ts.fault != nil {
		out, in := ts.fault.Stats()
		log.Info("link/fault", "out", directionStats(out), "in", directionStats(in))
	}
}

// server runs the services of one stack.
type server struct {
	st        *synack.Stack
	log       *slog.Logger
	mu        sync.Mutex
	conns     map[net.Conn]struct{} // open echo and discard connections
	listeners []net.Listener
	udp       []*synack.UDPConn // the UDP services' sockets (serveudp.go)
	http      *http.Server
	wg        sync.WaitGroup
	limits    *serveLimits
	pol       *policy.Policy // shared by the services: the caps are per client, not per port
	rings     *trace.Rings   // the per-connection traces the web view draws; nil when off
}

// limit wraps a service's listener in serve's limits (servelimits.go).
func (s *server) limit(l net.Listener) net.Listener {
	return &limitListener{Listener: s.pol.Listener(l), limits: s.limits}
}

// policyStats are the policy's counters as log attributes.
func policyStats(p *policy.Policy) []any {
	st := p.Stats()
	return []any{"accepted", st.Accepted, "refused-per-addr", st.RefusedPerAddr, "refused-total", st.RefusedTotal,
		"idle-closed", st.IdleClosed, "open", st.CurrConns}
}

// listen starts a service that hands each connection to handle, which
// returns the bytes it read.
func (s *server) listen(port int, name string, handle func(net.Conn) (int64, error)) error {
	l, err := s.st.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)), 128)
	if err != nil {
		return fmt.Errorf("%s service: %w", name, err)
	}
	s.listeners = append(s.listeners, l)
	ll := s.limit(l)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ll.Accept()
			if err != nil {
				return
			}
			s.track(c, true)
			s.log.Info("open", "service", name, "remote", c.RemoteAddr().String(), "local", c.LocalAddr().String())
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				n, err := handle(c) // the policy closes it when idle
				c.Close()
				s.track(c, false)
				if err != nil {
					s.log.Warn("closed", "service", name, "remote", c.RemoteAddr().String(), "bytes", n, "err", err)
				} else {
					s.log.Info("closed", "service", name, "remote", c.RemoteAddr().String(), "bytes", n)
				}
			}()
		}
	}()
	return nil
}

func (s *server) track(c net.Conn, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if open {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

// echoConn is the echo service of article 004: read, send everything back,
// close on EOF. It returns the bytes echoed.
func echoConn(c net.Conn) (int64, error) {
	return io.Copy(c, c)
}

// discardConn reads and throws the bytes away. It returns how many.
func discardConn(c net.Conn) (int64, error) {
	return io.Copy(io.Discard, c)
}

// shutdown closes the listeners and every connection with a FIN and, when
// graceful, waits (a bounded time) for the closes to be acknowledged.
func (s *server) shutdown(graceful bool) {
	for _, l := range s.listeners {
		l.Close()
	}
	if s.http != nil {
		if graceful {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			s.http.Shutdown(ctx)
			cancel()
		}
		s.http.Close()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	for _, c := range s.udp {
		c.Close()
	}
	s.mu.Unlock()
	if !graceful {
		return
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
	// Give the FINs time to be acknowledged: wait until no connection is
	// still in a state that owes or awaits one (TIME-WAIT may stay).
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && s.closing() {
		time.Sleep(10 * time.Millisecond)
	}
}

// closing reports whether a connection is still closing.
func (s *server) closing() bool { return closingSockets(s.st) }

func closingConns(ts *tunStack) bool { return closingSockets(ts.st) }

// closingSockets reports whether a connection of st is still open or
// closing (neither LISTEN nor TIME-WAIT).
func closingSockets(st *synack.Stack) bool {
	for _, r := range st.Sockets() {
		switch r.State {
		case tcp.StateListen, tcp.StateTimeWait, tcp.StateClosed:
		default:
			return true
		}
	}
	return false
}
