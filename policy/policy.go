// Package policy holds a server's rules for long connections, as article
// 001 discusses them: a long connection costs the server memory for as
// long as it stays open, so a server closes those that go quiet, and does
// not let one client, or all clients together, hold more than a set number.
//
// Layer: it sits above any net.Listener, synack's (*synack.TCPListener) or
// Go's own (*net.TCPListener), and below the application that accepts. It
// sees only net.Conn (the remote address, Read, Write, Close) and, where a
// connection has them, Abort or SetLinger(0) to reset it and CloseWrite to
// pass on. It knows nothing of TCP's internals (segments, states, windows) nor of what the
// application speaks over the connection (HTTP's timeouts are net/http's).
//
// A Policy is shared by the listeners it wraps (Policy.Listener), so a cap
// counts a client's connections across all of a server's ports. It keeps
// no goroutine and no timer per connection: Reads and Writes stamp the
// time, and idle connections are found by one timer on the Policy's clock,
// armed at the earliest moment a connection may have gone idle; the
// per-interval log line has another. The clock is injectable, so tests run
// idle reaping on synack's virtual clock.
//
// Bounds: the per-address table has an entry only for an address with at
// least one open connection, so it holds at most as many entries as there
// are open connections, and at most MaxConns when that is set. The idle
// heap holds one entry per open connection. A refused connection is closed
// inside Accept and leaves nothing behind but a count.
package policy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/synack-net/synack/clock"
)

// Refusal is what a connection over a cap gets.
type Refusal int

const (
	// RefuseClose closes it at once with a FIN: the client reads EOF.
	RefuseClose Refusal = iota
	// RefuseReset aborts it with a RST where the connection can (synack's
	// TCPConn.Abort, Go's *net.TCPConn.SetLinger(0) then Close): the
	// client's calls fail with ECONNRESET and nothing lingers in TIME-WAIT
	// on the server. A connection that can do neither is closed.
	RefuseReset
)

// String returns "close" or "reset".
func (r Refusal) String() string {
	if r == RefuseReset {
		return "reset"
	}
	return "close"
}

// ParseRefusal reads "close" or "reset".
func ParseRefusal(s string) (Refusal, error) {
	switch s {
	case "close":
		return RefuseClose, nil
	case "reset":
		return RefuseReset, nil
	}
	return 0, fmt.Errorf("%q is neither close nor reset", s)
}

// MarshalText is String's text (for flag.TextVar and encodings).
func (r Refusal) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText is ParseRefusal.
func (r *Refusal) UnmarshalText(b []byte) error {
	v, err := ParseRefusal(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// DefaultLogInterval is how often, at most, a Policy logs what it did when
// Config.LogInterval is zero.
const DefaultLogInterval = 10 * time.Second

// Config sets a Policy's limits; a zero field turns its limit off.
type Config struct {
	// IdleTimeout closes a connection with no successful Read or Write
	// for this long (a Read that returned data, a Write that wrote some).
	IdleTimeout time.Duration
	// MaxConnsPerAddr caps the open connections from one remote IP
	// address (the port ignored; IPv4-mapped IPv6 counted as IPv4).
	// Connections whose remote address is not IP are not capped per
	// address.
	MaxConnsPerAddr int
	// MaxConns caps the open connections of all the Policy's listeners.
	MaxConns int
	// Refuse says what a connection over a cap gets: RefuseClose (the
	// zero value) or RefuseReset.
	Refuse Refusal
	// Clock measures idle time and the log interval; nil is clock.Real().
	Clock clock.Clock
	// Log receives at most one line per LogInterval saying what the
	// Policy refused and closed in it; nil logs nothing.
	Log *slog.Logger
	// LogInterval is the shortest time between two log lines; zero is
	// DefaultLogInterval.
	LogInterval time.Duration
}

// Stats are a Policy's counters, as plain values (Policy.Stats copies them).
type Stats struct {
	Accepted       uint64 // connections handed to the application
	RefusedPerAddr uint64 // turned away: their address had MaxConnsPerAddr open
	RefusedTotal   uint64 // turned away: MaxConns connections were open
	IdleClosed     uint64 // closed after IdleTimeout with no successful Read or Write
	CurrConns      int    // connections open now (accepted, not yet closed)
	CurrAddrs      int    // entries in the per-address table: addresses with open connections
}

// Policy applies one Config to the connections of the listeners it wraps.
// It is safe for concurrent use.
type Policy struct {
	cfg   Config
	clk   clock.Clock
	epoch time.Time // clock time 0 of the connections' activity stamps

	// mu guards everything below; lock order: mu, then the clock's lock
	// (mu is held while arming timers; timer callbacks take mu).
	mu      sync.Mutex
	perAddr map[netip.Addr]int // open connections per address; no zero entries
	stats   Stats
	idle    idleHeap    // open connections by when they may have gone idle
	reaper  clock.Timer // fires at idle[0].expiry; nil until first needed
	armed   bool        // reaper is armed
	logged  logState    // what has happened since the last log line (log.go)
}

// New returns a Policy with cfg's limits, or an error naming each field
// whose value makes no sense (a negative duration or cap, an unknown
// Refusal).
func New(cfg Config) (*Policy, error) {
	var errs []error
	if cfg.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("policy: IdleTimeout %v is negative (0 turns it off)", cfg.IdleTimeout))
	}
	if cfg.MaxConnsPerAddr < 0 {
		errs = append(errs, fmt.Errorf("policy: MaxConnsPerAddr %d is negative (0: no cap)", cfg.MaxConnsPerAddr))
	}
	if cfg.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("policy: MaxConns %d is negative (0: no cap)", cfg.MaxConns))
	}
	if cfg.Refuse != RefuseClose && cfg.Refuse != RefuseReset {
		errs = append(errs, fmt.Errorf("policy: Refuse %d is neither RefuseClose nor RefuseReset", cfg.Refuse))
	}
	if cfg.LogInterval < 0 {
		errs = append(errs, fmt.Errorf("policy: LogInterval %v is negative (0: %v)", cfg.LogInterval, DefaultLogInterval))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.LogInterval == 0 {
		cfg.LogInterval = DefaultLogInterval
	}
	return &Policy{cfg: cfg, clk: cfg.Clock, epoch: cfg.Clock.Now(), perAddr: make(map[netip.Addr]int)}, nil
}

// Config returns the Policy's configuration, defaults filled in.
func (p *Policy) Config() Config { return p.cfg }

// Stats returns a copy of the Policy's counters.
func (p *Policy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.CurrAddrs = len(p.perAddr)
	return s
}

// Listener wraps l: its Accept returns only connections within the caps,
// as *Conn, and the Policy closes them when idle. Closing the returned
// listener closes l; connections already accepted stay open.
func (p *Policy) Listener(l net.Listener) *Listener { return &Listener{Listener: l, p: p} }

// Listener is a net.Listener under a Policy.
type Listener struct {
	net.Listener
	p *Policy
}

var _ net.Listener = (*Listener)(nil)

// Accept waits for the next connection within the Policy's caps and returns
// it as a *Conn. Connections over a cap are refused (closed or reset, as
// configured) and counted, and Accept waits on. Errors are l's.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if pc := l.p.admit(c); pc != nil {
			return pc, nil
		}
	}
}

// remoteIP is c's remote IP address, IPv4-mapped IPv6 unmapped; the zero
// Addr when c's remote address is not IP.
func remoteIP(c net.Conn) netip.Addr {
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// admit counts c in and returns it wrapped, or refuses it and returns nil.
// A connection over both caps counts as over the total.
func (p *Policy) admit(c net.Conn) *Conn {
	addr := remoteIP(c)
	p.mu.Lock()
	refused := true
	var e event
	switch {
	case p.cfg.MaxConns > 0 && p.stats.CurrConns >= p.cfg.MaxConns:
		p.stats.RefusedTotal++
		e = eventRefusedTotal
	case p.cfg.MaxConnsPerAddr > 0 && addr.IsValid() && p.perAddr[addr] >= p.cfg.MaxConnsPerAddr:
		p.stats.RefusedPerAddr++
		e = eventRefusedPerAddr
	default:
		refused = false
	}
	if refused {
		l := p.noteLocked(e, addr)
		p.mu.Unlock()
		p.emit(l) // before the refusal: once the client sees it, the line is out
		p.refuse(c)
		return nil
	}
	pc := &Conn{Conn: c, p: p, addr: addr, idx: -1}
	if addr.IsValid() {
		p.perAddr[addr]++
	}
	p.stats.CurrConns++
	p.stats.Accepted++
	if p.cfg.IdleTimeout > 0 {
		now := p.since()
		pc.last.Store(int64(now))
		pc.expiry = now + p.cfg.IdleTimeout
		p.idle.push(pc)
		p.armLocked()
	}
	p.mu.Unlock()
	return pc
}

// refuse closes c, with a RST when so configured and c, or a connection
// it wraps (Unwrap), can send one.
func (p *Policy) refuse(c net.Conn) {
	for inner := c; p.cfg.Refuse == RefuseReset && inner != nil; {
		if a, ok := inner.(interface{ Abort() error }); ok { // synack's TCPConn
			a.Abort()
			break
		}
		if l, ok := inner.(interface{ SetLinger(int) error }); ok { // Go's *net.TCPConn
			l.SetLinger(0)
			break
		}
		u, ok := inner.(interface{ Unwrap() net.Conn })
		if !ok {
			break
		}
		inner = u.Unwrap()
	}
	c.Close()
}

// release counts c, which was admitted, out: it has been closed, by the
// application or, when idle, by the reaper.
func (p *Policy) release(c *Conn, idle bool) {
	p.mu.Lock()
	if c.addr.IsValid() {
		if p.perAddr[c.addr]--; p.perAddr[c.addr] <= 0 {
			delete(p.perAddr, c.addr) // the table's bound: no entry without a connection
		}
	}
	p.stats.CurrConns--
	if c.idx >= 0 {
		p.idle.remove(c)
	}
	var l *line
	if idle {
		p.stats.IdleClosed++
		l = p.noteLocked(eventIdleClosed, c.addr)
	}
	p.mu.Unlock()
	p.emit(l)
}

// since is the Policy clock's time since epoch.
func (p *Policy) since() time.Duration { return p.clk.Now().Sub(p.epoch) }
