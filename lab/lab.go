package lab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/trace"
)

// Options are the conditions a scenario runs in.
type Options struct {
	// Seed picks the client's port and seeds link/fault's decisions; the
	// same seed gives the same run.
	Seed uint64
	// Faults, when either direction is not zero, puts link/fault on the
	// client's end of the link: Out disturbs what the client sends, In
	// what it receives. The lab sets its Clock and Seed.
	Faults fault.Config
	// Events, when set, also prints every trace event of both stacks, one
	// a line, with its protocol time.
	Events bool
}

// DefaultSeed is the seed a scenario runs with when none is given.
const DefaultSeed = 1

// mtu is the link's MTU.
func (o Options) mtu() int { return 1500 }

// faulty reports whether the options put link/fault on the link.
func (o Options) faulty() bool { return !o.Faults.Out.IsZero() || !o.Faults.In.IsZero() }

// Scenario is one experiment.
type Scenario struct {
	Name    string // as typed after `synack lab`
	Summary string // one line: what it shows
	run     func(w *world) (*report, error)
	setup   [2]stackSetup // the client's and the server's configuration changes
	delay   time.Duration // the one-way delay when Options give none
}

// report is what a scenario found: the connections to draw and what to say.
type report struct {
	conns   []drawing // the diagrams, in order
	outcome []string  // what the applications saw, one line each
	story   string    // what happened and why, one paragraph
	rfc     string    // the sections it follows
}

// drawing is one connection's diagram with a caption above it ("" for none).
type drawing struct {
	caption     string
	left, right netip.AddrPort
}

// scenarios is the lab, in the order `synack lab` lists it.
var scenarios []*Scenario

// register adds s to the lab; each scenario's file calls it from init.
func register(s *Scenario) { scenarios = append(scenarios, s) }

// order is the order of the list: the articles' order, simplest first.
var order = []string{
	"handshake", "close", "refused", "bound-not-listening", "timeout",
	"half-close", "simultaneous-close", "simultaneous-open", "lost-segment",
	"fast-retransmit", "zero-window", "time-wait", "keepalive",
	"backlog-full", "syn-flood", "old-duplicate-syn", "short-vs-long",
}

// Scenarios returns the lab's scenarios in the order they are listed.
func Scenarios() []*Scenario {
	rank := func(name string) int {
		for i, n := range order {
			if n == name {
				return i
			}
		}
		return len(order)
	}
	out := append([]*Scenario(nil), scenarios...)
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].Name) < rank(out[j].Name) })
	return out
}

// Names returns the scenarios' names, in the order they are listed.
func Names() []string {
	var names []string
	for _, s := range Scenarios() {
		names = append(names, s.Name)
	}
	return names
}

// List writes the scenarios, one line each.
func List(w io.Writer) error {
	var b bytes.Buffer
	width := 0
	for _, s := range Scenarios() {
		width = max(width, len(s.Name))
	}
	for _, s := range Scenarios() {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, s.Name, s.Summary)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// UnknownError is the error Run returns for a name the lab does not have.
type UnknownError struct{ Name string }

func (e *UnknownError) Error() string {
	return fmt.Sprintf("no scenario %q; the scenarios are: %s", e.Name, strings.Join(Names(), ", "))
}

// find returns the scenario called name.
func find(name string) (*Scenario, error) {
	for _, c := range scenarios {
		if c.Name == name {
			return c, nil
		}
	}
	return nil, &UnknownError{Name: name}
}

// conditions returns opts with the scenario's own delay when opts put
// no fault on the link.
func (s *Scenario) conditions(opts Options) Options {
	if !opts.faulty() && s.delay > 0 {
		opts.Faults.Out.Delay, opts.Faults.In.Delay = s.delay, s.delay
	}
	return opts
}

// play runs s with opts (its conditions applied) and returns what it found, the events of both
// stacks (taken before the world closes, which aborts what is left) and
// the protocol time it took.
func (s *Scenario) play(opts Options) (*report, []trace.Event, time.Duration, error) {
	w, err := newWorld(opts, s.setup[0], s.setup[1])
	if err != nil {
		return nil, nil, 0, err
	}
	defer w.close()
	rep, err := s.run(w)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%s: %w", s.Name, err)
	}
	return rep, w.rec.Events(), w.elapsed(), nil
}

// Run runs the scenario called name with opts and writes what it shows.
func Run(out io.Writer, name string, opts Options) error {
	s, err := find(name)
	if err != nil {
		return err
	}
	opts = s.conditions(opts)
	rep, events, elapsed, err := s.play(opts)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "synack lab %s: %s\n", s.Name, s.Summary)
	fmt.Fprintf(&b, "client %v and server %v on an in-memory link, seed %d", clientAddr.Addr(), serverAddr.Addr(), opts.Seed)
	b.WriteString("\n")
	if opts.faulty() {
		fmt.Fprintf(&b, "link/fault at the client's end: client->server %v; server->client %v\n", opts.Faults.Out, opts.Faults.In)
	}
	for _, d := range rep.conns {
		b.WriteString("\n")
		if d.caption != "" {
			b.WriteString(d.caption + "\n\n")
		}
		if err := trace.DiagramWith(&b, events, d.left, d.right, trace.DiagramOptions{Relative: true, Timers: true}); err != nil {
			return err
		}
	}
	b.WriteString("\n")
	for _, o := range rep.outcome {
		b.WriteString(o + "\n")
	}
	fmt.Fprintf(&b, "protocol time: %v\n\n", elapsed)
	b.WriteString(wrap(rep.story, 76))
	b.WriteString("\n")
	b.WriteString(wrap("Follows "+rep.rfc+".", 76))
	if opts.Events {
		b.WriteString("\nEvents:\n")
		for i := range events {
			e := &events[i]
			fmt.Fprintf(&b, "%9v  %s\n", e.Time.Sub(labEpoch), e.String())
		}
	}
	_, err = out.Write(b.Bytes())
	return err
}

// wrap breaks text into lines of at most width columns, ending each.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(text) {
		switch {
		case n == 0:
		case n+1+len(word) > width:
			b.WriteString("\n")
			n = 0
		default:
			b.WriteString(" ")
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	b.WriteString("\n")
	return b.String()
}

// errnoName names the errno err wraps, as C programs print it.
func errnoName(err error) string {
	for _, e := range []struct {
		errno syscall.Errno
		name  string
	}{{syscall.ECONNREFUSED, "ECONNREFUSED"}, {syscall.ETIMEDOUT, "ETIMEDOUT"}, {syscall.ECONNRESET, "ECONNRESET"},
		{syscall.EHOSTUNREACH, "EHOSTUNREACH"}, {syscall.EPIPE, "EPIPE"}} {
		if errors.Is(err, e.errno) {
			return e.name
		}
	}
	return "no errno"
}
