package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// serveLimits are serve's defences against clients that never go away or
// hold too much: keepalive on every accepted connection, as Go's net
// listeners turn it on; timeouts on HTTP requests and on idle echo and
// discard connections; and a cap on one client's concurrent connections.
type serveLimits struct {
	keepAlive         time.Duration // keepalive idle time and interval; 0: off
	keepAliveCount    int           // unanswered keepalive probes that end a connection
	userTimeout       time.Duration // TCP_USER_TIMEOUT of accepted connections; 0: off
	readHeaderTimeout time.Duration // net/http Server.ReadHeaderTimeout
	readTimeout       time.Duration // net/http Server.ReadTimeout
	writeTimeout      time.Duration // net/http Server.WriteTimeout
	idleTimeout       time.Duration // net/http Server.IdleTimeout; echo and discard with nothing to read or written for this long
	maxPerClient      int           // concurrent connections from one address; 0: no cap
}

// The defaults of serve's limits. Keepalive is Go's (net.ListenConfig with
// a zero KeepAlive, net.KeepAliveConfig's defaults: 15 s idle, 15 s apart,
// 9 probes), so a vanished client is found in about 2.5 minutes.
const (
	defaultServeKeepAlive      = 15 * time.Second
	defaultServeKeepAliveCount = 9
	defaultReadHeaderTimeout   = 10 * time.Second
	defaultReadTimeout         = 5 * time.Minute
	defaultWriteTimeout        = 10 * time.Minute
	defaultIdleTimeout         = 2 * time.Minute
	defaultMaxPerClient        = 256
	// capLogInterval is how often a hit of the per-client cap is logged at most.
	capLogInterval = 10 * time.Second
)

// register adds the limit flags to fs.
func (l *serveLimits) register(fs *flag.FlagSet) {
	fs.DurationVar(&l.keepAlive, "keepalive", defaultServeKeepAlive,
		"keepalive on accepted connections: idle time before the first probe and time between probes, as Go's net listeners (0: off)")
	fs.IntVar(&l.keepAliveCount, "keepalive-count", defaultServeKeepAliveCount,
		"unanswered keepalive probes that end a connection")
	fs.DurationVar(&l.userTimeout, "user-timeout", 0,
		"TCP_USER_TIMEOUT of accepted connections (RFC 5482): how long sent data may stay unacknowledged (0: off, the retry count decides)")
	fs.DurationVar(&l.readHeaderTimeout, "read-header-timeout", defaultReadHeaderTimeout,
		"HTTP: longest time to read a request's headers (0: none)")
	fs.DurationVar(&l.readTimeout, "read-timeout", defaultReadTimeout,
		"HTTP: longest time to read a whole request, body included (0: none)")
	fs.DurationVar(&l.writeTimeout, "write-timeout", defaultWriteTimeout,
		"HTTP: longest time to write a response (0: none)")
	fs.DurationVar(&l.idleTimeout, "idle-timeout", defaultIdleTimeout,
		"close an HTTP keep-alive connection waiting for its next request, or an echo or discard connection with nothing read or written, after this long (0: never; HTTP then waits --read-timeout, as net/http does)")
	fs.IntVar(&l.maxPerClient, "max-per-client", defaultMaxPerClient,
		"most concurrent connections from one client address, all services together; more are closed at once (0: no cap)")
}

// check reports a limit flag whose value makes no sense.
func (l *serveLimits) check() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--keepalive", l.keepAlive}, {"--user-timeout", l.userTimeout}, {"--read-header-timeout", l.readHeaderTimeout},
		{"--read-timeout", l.readTimeout}, {"--write-timeout", l.writeTimeout}, {"--idle-timeout", l.idleTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("%s %v is negative (0 turns it off)", d.name, d.v)
		}
	}
	if l.keepAliveCount < 1 {
		return fmt.Errorf("--keepalive-count %d must be at least 1", l.keepAliveCount)
	}
	if l.maxPerClient < 0 {
		return fmt.Errorf("--max-per-client %d is negative (0: no cap)", l.maxPerClient)
	}
	return nil
}

// keepAliveConfig is the keepalive accepted connections get.
func (l *serveLimits) keepAliveConfig() net.KeepAliveConfig {
	return net.KeepAliveConfig{Enable: l.keepAlive > 0, Idle: l.keepAlive, Interval: l.keepAlive, Count: l.keepAliveCount}
}

// clientCap counts each client address's open connections across the
// services of one server and turns away those past the cap.
type clientCap struct {
	max     int
	log     *slog.Logger
	now     func() time.Time
	refused atomic.Uint64 // connections closed at once for the cap, ever

	mu      sync.Mutex
	open    map[netip.Addr]int
	lastLog time.Time // when a hit was last logged
	pending uint64    // hits since then, not logged yet
}

func newClientCap(max int, log *slog.Logger, now func() time.Time) *clientCap {
	return &clientCap{max: max, log: log, now: now, open: make(map[netip.Addr]int)}
}

// admit counts a new connection from addr; false means it is one too many
// and must be closed. A cap of 0 admits everything, uncounted.
func (c *clientCap) admit(addr netip.Addr, service string) bool {
	if c.max <= 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[addr] < c.max {
		c.open[addr]++
		return true
	}
	c.refused.Add(1)
	c.pending++
	if now := c.now(); now.Sub(c.lastLog) >= capLogInterval {
		c.log.Warn("per-client cap: connections closed at once", "service", service, "client", addr.String(),
			"max-per-client", c.max, "closed", c.pending, "closed-total", c.refused.Load())
		c.lastLog, c.pending = now, 0
	}
	return false
}

// release forgets a connection admit counted.
func (c *clientCap) release(addr netip.Addr) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[addr]--; c.open[addr] <= 0 {
		delete(c.open, addr)
	}
}

// limitListener applies serve's limits to what a listener accepts: the
// per-client cap, keepalive and the user timeout.
type limitListener struct {
	net.Listener
	service string
	limits  *serveLimits
	cap     *clientCap
}

// Accept returns the next connection within the cap, its keepalive on;
// connections past the cap are closed at once and never returned.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteAddr(c)
		if !l.cap.admit(addr, l.service) {
			c.Close()
			continue
		}
		if kc, ok := c.(interface {
			SetKeepAliveConfig(net.KeepAliveConfig) error
		}); ok {
			kc.SetKeepAliveConfig(l.limits.keepAliveConfig())
		}
		if uc, ok := c.(interface{ SetUserTimeout(time.Duration) error }); ok && l.limits.userTimeout > 0 {
			uc.SetUserTimeout(l.limits.userTimeout) // *synack.TCPConn's TCP_USER_TIMEOUT
		}
		return &cappedConn{Conn: c, cap: l.cap, addr: addr}, nil
	}
}

// remoteAddr is a connection's remote address without its port.
func remoteAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap.Addr()
}

// cappedConn gives its place under the cap back when closed (once).
type cappedConn struct {
	net.Conn
	cap      *clientCap
	addr     netip.Addr
	released atomic.Bool
}

func (c *cappedConn) Close() error {
	if !c.released.Swap(true) {
		c.cap.release(c.addr)
	}
	return c.Conn.Close()
}

// Unwrap is the connection underneath (the HTTP pages show its state).
func (c *cappedConn) Unwrap() net.Conn { return c.Conn }

// idleConn ends a connection that neither reads nor writes anything for
// its idle time: each Read and Write first moves its deadline on.
type idleConn struct {
	net.Conn
	idle time.Duration
	now  func() time.Time
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(c.now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(c.now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// withIdleTimeout wraps c in an idleConn, or returns it as it is when
// idle is 0.
func withIdleTimeout(c net.Conn, idle time.Duration, now func() time.Time) net.Conn {
	if idle <= 0 {
		return c
	}
	return &idleConn{Conn: c, idle: idle, now: now}
}
