package policy

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/synack-net/synack/clock"
)

// What a Policy logs: not one line per event, which a flood of connections
// would turn into a flood of lines, but one line for the first event after
// a quiet interval, then at most one per LogInterval with the counts since
// the line before.

// event is what a Policy did to one connection.
type event int

const (
	eventRefusedPerAddr event = iota
	eventRefusedTotal
	eventIdleClosed
)

// logState is what happened since the last line; guarded by Policy.mu.
type logState struct {
	timer  clock.Timer // fires LogInterval after a line; nil until the first
	armed  bool        // a line went out less than LogInterval ago
	counts [3]uint64   // by event, since the last line
	last   netip.Addr  // the address last refused
}

// line is one log line's counts; nil when there is nothing to say.
type line struct {
	counts [3]uint64
	last   netip.Addr
	open   int
}

// noteLocked records e and returns the line to log now, nil when a line
// went out less than an interval ago (the flush will carry this one).
// p.mu is held.
func (p *Policy) noteLocked(e event, addr netip.Addr) *line {
	if p.cfg.Log == nil {
		return nil
	}
	p.logged.counts[e]++
	if e != eventIdleClosed && addr.IsValid() {
		p.logged.last = addr
	}
	if p.logged.armed {
		return nil
	}
	p.logged.armed = true
	if p.logged.timer == nil {
		p.logged.timer = p.clk.AfterFunc(p.cfg.LogInterval, p.flush)
	} else {
		p.logged.timer.Reset(p.cfg.LogInterval)
	}
	return p.takeLocked()
}

// takeLocked returns what happened since the last line and starts a new
// count; nil when nothing did. p.mu is held.
func (p *Policy) takeLocked() *line {
	if p.logged.counts == [3]uint64{} {
		return nil
	}
	l := &line{counts: p.logged.counts, last: p.logged.last, open: p.stats.CurrConns}
	p.logged.counts, p.logged.last = [3]uint64{}, netip.Addr{}
	return l
}

// flush is the log timer's callback: a line with what happened in the
// interval, and another interval; or, after a quiet one, nothing, and the
// next event is logged at once.
func (p *Policy) flush() {
	p.mu.Lock()
	l := p.takeLocked()
	if l == nil {
		p.logged.armed = false
	} else {
		p.logged.timer.Reset(p.cfg.LogInterval)
	}
	p.mu.Unlock()
	p.emit(l)
}

// emit logs l: a warning when connections were refused, information when
// they were only closed for idleness.
func (p *Policy) emit(l *line) {
	if l == nil {
		return
	}
	level := slog.LevelInfo
	attrs := []slog.Attr{
		slog.Uint64("refused-per-addr", l.counts[eventRefusedPerAddr]),
		slog.Uint64("refused-total", l.counts[eventRefusedTotal]),
		slog.Uint64("idle-closed", l.counts[eventIdleClosed]),
		slog.Int("open", l.open),
	}
	if l.counts[eventRefusedPerAddr]+l.counts[eventRefusedTotal] > 0 {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("last-refused", l.last.String()), slog.String("refuse", p.cfg.Refuse.String()))
	}
	p.cfg.Log.LogAttrs(context.Background(), level, "policy", attrs...)
}
