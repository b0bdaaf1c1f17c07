package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"unicode"

	"github.com/synack-net/synack/link/fault"
)

// faultFlags are the flags that put a link/fault Endpoint on a command's
// link, so that anyone can watch an application over a bad network. Every
// command registers them the same way; each setting holds for both
// directions unless given per direction as out=V,in=V.
type faultFlags struct {
	loss, delay, jitter, reorder, duplicate, corrupt, rate string
	seed                                                   uint64
}

// defaultFaultSeed is --seed's default: fixed, so that two runs with the
// same flags make the same decisions.
const defaultFaultSeed = 1

// faultSetting is one fault flag: its name, which is also the key
// fault.ParseDirection reads its value under, what it does and what its
// value looks like.
type faultSetting struct {
	name, does, want string
	val              func(*faultFlags) *string
}

const (
	wantShare    = "a percentage such as 2% or a fraction such as 0.02"
	wantDuration = "a duration such as 100ms"
)

var faultSettings = []faultSetting{
	{"loss", "drop this share of packets", wantShare, func(f *faultFlags) *string { return &f.loss }},
	{"delay", "delay every packet this long, one way", wantDuration, func(f *faultFlags) *string { return &f.delay }},
	{"jitter", "add to each packet's delay a random extra of up to this long (it never reorders)", wantDuration, func(f *faultFlags) *string { return &f.jitter }},
	{"reorder", fmt.Sprintf("hold this share of packets back %v so that the packets sent meanwhile overtake them", fault.DefaultReorderDelay), wantShare, func(f *faultFlags) *string { return &f.reorder }},
	{"duplicate", "send this share of packets twice", wantShare, func(f *faultFlags) *string { return &f.duplicate }},
	{"corrupt", "flip one bit in this share of packets, which the receiver then drops as damaged", wantShare, func(f *faultFlags) *string { return &f.corrupt }},
	{"rate", fmt.Sprintf("send packets through a bottleneck of this bandwidth with a %d-packet queue", fault.DefaultQueueDepth),
		"bits per second such as 10mbit or 1.5gbit (units bit, kbit, mbit, gbit, tbit)", func(f *faultFlags) *string { return &f.rate }},
}

// faultAbout explains the fault flags in each command's --help.
const faultAbout = `Fault flags (--loss, --delay, --jitter, --reorder, --duplicate, --corrupt,
--rate) put link/fault between synack and the link, so that you can watch an
application over a bad network. Each takes one value for both directions, or
out=V,in=V (either half may be left out): out is what synack sends (in the
demo, the client), in what it receives. --seed seeds their random decisions:
the same seed makes the same decisions for the same packets. Without them
the link is used as it is.`

// register adds the fault flags to fs.
func (f *faultFlags) register(fs *flag.FlagSet) {
	for _, s := range faultSettings {
		fs.StringVar(s.val(f), s.name, "", s.does+": "+s.want+"; or out=V,in=V")
	}
	fs.Uint64Var(&f.seed, "seed", defaultFaultSeed, "seed of the fault flags' random decisions")
}

// config returns the fault.Config the flags describe, with no clock (the
// real one) for the caller to set. on is false when no flag disturbs
// either direction: the link is then left as it is. The error names the
// flag and what is wrong with its value.
func (f *faultFlags) config() (cfg fault.Config, on bool, err error) {
	var out, in []string // "key value" pairs for fault.ParseDirection
	for _, s := range faultSettings {
		v := *s.val(f)
		if v == "" {
			continue
		}
		o, i, err := s.parse(v)
		if err != nil {
			return fault.Config{}, false, err
		}
		if o != "" {
			out = append(out, s.name, o)
		}
		if i != "" {
			in = append(in, s.name, i)
		}
	}
	cfg = fault.Config{Seed: f.seed}
	// Every value has been read alone already: together they read too.
	if cfg.Out, err = fault.ParseDirection(strings.Join(out, " ")); err != nil {
		return fault.Config{}, false, err
	}
	if cfg.In, err = fault.ParseDirection(strings.Join(in, " ")); err != nil {
		return fault.Config{}, false, err
	}
	return cfg, !cfg.Out.IsZero() || !cfg.In.IsZero(), nil
}

// parse splits v, the value of s's flag, into the values for each
// direction ("" for none) and checks each with fault.ParseDirection.
func (s faultSetting) parse(v string) (out, in string, err error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("--%s %s: %s", s.name, v, fmt.Sprintf(format, args...))
	}
	if strings.ContainsFunc(v, unicode.IsSpace) {
		return "", "", bad("want one value, or out=V,in=V")
	}
	if !strings.Contains(v, "=") {
		if strings.Contains(v, ",") {
			return "", "", bad("name each direction, as in out=V,in=V")
		}
		if err := s.check(v); err != nil {
			return "", "", bad("%v", err)
		}
		return v, v, nil
	}
	var seen [2]bool
	for _, part := range strings.Split(v, ",") {
		dir, val, ok := strings.Cut(part, "=")
		var i int
		switch {
		case ok && dir == "out":
			i = 0
		case ok && dir == "in":
			i = 1
		default:
			return "", "", bad("%q is not out=V or in=V; want one value for both directions, or out=V,in=V", part)
		}
		if seen[i] {
			return "", "", bad("%s is given twice", dir)
		}
		seen[i] = true
		if val == "" {
			return "", "", bad("%s has no value; want %s", dir, s.want)
		}
		if err := s.check(val); err != nil {
			return "", "", bad("%s: %v", dir, err)
		}
		if i == 0 {
			out = val
		} else {
			in = val
		}
	}
	return out, in, nil
}

// check reads val as fault.ParseDirection reads s's setting and says why
// it does not read: fault's reason, such as "not between 0% and 100%",
// then what a value looks like unless the reason says it already.
func (s faultSetting) check(val string) error {
	_, err := fault.ParseDirection(s.name + " " + val)
	switch {
	case err == nil:
		return nil
	case s.name == "rate":
		// ParseRate's reason repeats the value and says what s.want says.
		return fmt.Errorf("not a rate; want %s", s.want)
	}
	why := err
	if inner := errors.Unwrap(err); inner != nil {
		why = inner // without the "fault: bad loss ..." that the flag repeats
	}
	if s.want == wantDuration {
		return why // "not a duration such as 10ms" or "negative"
	}
	return fmt.Errorf("%v; want %s", why, s.want)
}

// faultStats says in one line what a fault Endpoint did to each
// direction.
func faultStats(e *fault.Endpoint, outName, inName string) string {
	o, i := e.Stats()
	return outName + " " + directionStats(o) + "; " + inName + " " + directionStats(i)
}

// directionStats says what one direction did: "12 packets: 3 dropped, 0
// duplicated, 1 corrupted, 0 reordered", with the bottleneck's drops when
// there were any.
func directionStats(s fault.Stats) string {
	line := fmt.Sprintf("%d packets: %d dropped, %d duplicated, %d corrupted, %d reordered",
		s.Packets, s.Dropped, s.Duplicated, s.Corrupted, s.Reordered)
	if s.QueueDrops > 0 {
		line += fmt.Sprintf(", %d dropped by the full bottleneck queue", s.QueueDrops)
	}
	return line
}
