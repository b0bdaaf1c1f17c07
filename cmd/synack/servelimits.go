package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/policy"
)

// serveLimits are serve's defences against clients that never go away or
// hold too much: keepalive on every accepted connection, as Go's net
// listeners turn it on; timeouts on HTTP requests; and package policy's
// rules over every service: idle connections closed, a cap on one
// client's connections and on all of them.
type serveLimits struct {
	keepAlive         time.Duration  // keepalive idle time and interval; 0: off
	keepAliveCount    int            // unanswered keepalive probes that end a connection
	userTimeout       time.Duration  // TCP_USER_TIMEOUT of accepted connections; 0: off
	readHeaderTimeout time.Duration  // net/http Server.ReadHeaderTimeout
	readTimeout       time.Duration  // net/http Server.ReadTimeout
	writeTimeout      time.Duration  // net/http Server.WriteTimeout
	idleTimeout       time.Duration  // policy IdleTimeout of every service, and net/http Server.IdleTimeout
	maxConnsPerIP     int            // policy MaxConnsPerAddr, all services together; 0: no cap
	maxConns          int            // policy MaxConns, all services together; 0: no cap
	overCap           policy.Refusal // what a connection over a cap gets
}

// The defaults of serve's limits. Keepalive is Go's (net.ListenConfig with
// a zero KeepAlive, net.KeepAliveConfig's defaults: 15 s idle, 15 s apart,
// 9 probes), so a vanished client is found in about 2.5 minutes. Keepalive
// finds peers that are gone; the idle timeout finds those that are there
// and say nothing, which keepalive's answered probes would keep forever.
const (
	defaultServeKeepAlive      = 15 * time.Second
	defaultServeKeepAliveCount = 9
	defaultReadHeaderTimeout   = 10 * time.Second
	defaultReadTimeout         = 5 * time.Minute
	defaultWriteTimeout        = 10 * time.Minute
	defaultIdleTimeout         = 2 * time.Minute
	defaultMaxConnsPerIP       = 256
	defaultMaxConns            = 4096
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
		"HTTP: longest time to read a request's headers, counted from the request's start, so a client that trickles a byte a second is cut off however steadily it trickles (0: none)")
	fs.DurationVar(&l.readTimeout, "read-timeout", defaultReadTimeout,
		"HTTP: longest time to read a whole request, body included (0: none)")
	fs.DurationVar(&l.writeTimeout, "write-timeout", defaultWriteTimeout,
		"HTTP: longest time to write a response (0: none)")
	fs.DurationVar(&l.idleTimeout, "idle-timeout", defaultIdleTimeout,
		"close a connection of any service that reads nothing and writes nothing for this long, an HTTP keep-alive connection waiting for its next request too: "+
			"long enough for a person at nc to pause, short enough that forgotten connections free their memory within minutes (0: never)")
	fs.IntVar(&l.maxConnsPerIP, "max-conns-per-ip", defaultMaxConnsPerIP,
		"most concurrent connections from one client address, all services together; more are refused as --over-cap says (0: no cap)")
	fs.IntVar(&l.maxConnsPerIP, "max-per-client", defaultMaxConnsPerIP, "the older name of --max-conns-per-ip")
	fs.IntVar(&l.maxConns, "max-conns", defaultMaxConns,
		"most concurrent connections of all clients and services together, bounding the goroutines and connection state serve keeps "+
			"(16 clients at --max-conns-per-ip's default; the stack bounds buffer memory itself) (0: no cap)")
	fs.TextVar(&l.overCap, "over-cap", policy.RefuseClose,
		"what a connection over a cap gets, once accepted: close (a FIN: the client reads EOF) or reset (a RST: ECONNRESET, and serve keeps no TIME-WAIT for it)")
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
	if l.maxConnsPerIP < 0 {
		return fmt.Errorf("--max-conns-per-ip %d is negative (0: no cap)", l.maxConnsPerIP)
	}
	if l.maxConns < 0 {
		return fmt.Errorf("--max-conns %d is negative (0: no cap)", l.maxConns)
	}
	return nil
}

// keepAliveConfig is the keepalive accepted connections get.
func (l *serveLimits) keepAliveConfig() net.KeepAliveConfig {
	return net.KeepAliveConfig{Enable: l.keepAlive > 0, Idle: l.keepAlive, Interval: l.keepAlive, Count: l.keepAliveCount}
}

// policy is the policy the limits give, shared by serve's services, so
// that the caps count a client's connections over all ports.
func (l *serveLimits) policy(log *slog.Logger, clk clock.Clock) (*policy.Policy, error) {
	return policy.New(policy.Config{IdleTimeout: l.idleTimeout, MaxConnsPerAddr: l.maxConnsPerIP, MaxConns: l.maxConns,
		Refuse: l.overCap, Clock: clk, Log: log})
}

// limitListener applies serve's limits to what a listener accepts: the
// policy's, then keepalive and the user timeout on each connection admitted.
type limitListener struct {
	*policy.Listener
	limits *serveLimits
}

// Accept returns the next connection within the caps, a *policy.Conn, its
// keepalive on.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	inner := c.(*policy.Conn).Unwrap()
	if kc, ok := inner.(interface {
		SetKeepAliveConfig(net.KeepAliveConfig) error
	}); ok {
		kc.SetKeepAliveConfig(l.limits.keepAliveConfig())
	}
	if uc, ok := inner.(interface{ SetUserTimeout(time.Duration) error }); ok && l.limits.userTimeout > 0 {
		uc.SetUserTimeout(l.limits.userTimeout) // *synack.TCPConn's TCP_USER_TIMEOUT
	}
	return c, nil
}
