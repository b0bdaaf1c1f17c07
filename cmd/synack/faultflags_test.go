package main

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/fault"
)

// parseFaultFlags registers the fault flags on a fresh flag set, parses
// args and returns what config makes of them.
func parseFaultFlags(t *testing.T, args ...string) (fault.Config, bool, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f faultFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	return f.config()
}

func TestFaultFlagsGoodValues(t *testing.T) {
	both := func(d fault.Direction) [2]fault.Direction { return [2]fault.Direction{d, d} }
	cases := []struct {
		args []string
		on   bool
		dirs [2]fault.Direction // out, in
		seed uint64
	}{
		{nil, false, [2]fault.Direction{}, defaultFaultSeed},
		{[]string{"--seed", "9"}, false, [2]fault.Direction{}, 9},
		{[]string{"--loss", "0"}, false, [2]fault.Direction{}, defaultFaultSeed},
		{[]string{"--loss", "0%", "--delay", "0s"}, false, [2]fault.Direction{}, defaultFaultSeed},
		{[]string{"--loss", "2%"}, true, both(fault.Direction{Loss: 0.02}), defaultFaultSeed},
		{[]string{"--loss", "0.02"}, true, both(fault.Direction{Loss: 0.02}), defaultFaultSeed},
		{[]string{"--loss", "100%"}, true, both(fault.Direction{Loss: 1}), defaultFaultSeed},
		{[]string{"--delay", "100ms", "--jitter", "10ms", "--seed", "18446744073709551615"}, true,
			both(fault.Direction{Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond}), 1<<64 - 1},
		{[]string{"--reorder", "5%", "--duplicate", "0.01", "--corrupt", "0.5%"}, true,
			both(fault.Direction{Reorder: 0.05, Duplicate: 0.01, Corrupt: 0.005}), defaultFaultSeed},
		{[]string{"--rate", "10mbit"}, true, both(fault.Direction{Rate: 10_000_000}), defaultFaultSeed},
		{[]string{"--rate", "1.5GBIT"}, true, both(fault.Direction{Rate: 1_500_000_000}), defaultFaultSeed},
		// Per direction: out is what the stack sends, in what it receives.
		{[]string{"--loss", "out=1%,in=5%"}, true,
			[2]fault.Direction{{Loss: 0.01}, {Loss: 0.05}}, defaultFaultSeed},
		{[]string{"--loss", "in=5%,out=1%"}, true,
			[2]fault.Direction{{Loss: 0.01}, {Loss: 0.05}}, defaultFaultSeed},
		{[]string{"--loss", "in=5%"}, true, [2]fault.Direction{{}, {Loss: 0.05}}, defaultFaultSeed},
		{[]string{"--delay", "out=20ms", "--loss", "1%", "--rate", "in=64kbit"}, true,
			[2]fault.Direction{{Loss: 0.01, Delay: 20 * time.Millisecond}, {Loss: 0.01, Rate: 64_000}}, defaultFaultSeed},
		{[]string{"--delay", "out=0,in=0s"}, false, [2]fault.Direction{}, defaultFaultSeed},
	}
	for _, c := range cases {
		cfg, on, err := parseFaultFlags(t, c.args...)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if on != c.on || cfg.Out != c.dirs[0] || cfg.In != c.dirs[1] || cfg.Seed != c.seed || cfg.Clock != nil {
			t.Errorf("%q: on=%v out={%v} in={%v} seed=%d clock=%v; want on=%v out={%v} in={%v} seed=%d and no clock",
				c.args, on, cfg.Out, cfg.In, cfg.Seed, cfg.Clock, c.on, c.dirs[0], c.dirs[1], c.seed)
		}
	}
}

func TestFaultFlagsBadValuesSayWhatWasWrong(t *testing.T) {
	const share = "want a percentage such as 2% or a fraction such as 0.02"
	const rate = "not a rate; want bits per second such as 10mbit or 1.5gbit (units bit, kbit, mbit, gbit, tbit)"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--loss", "150%"}, "--loss 150%: not between 0% and 100%; " + share},
		{[]string{"--loss", "1.5"}, "--loss 1.5: not between 0% and 100%; " + share},
		{[]string{"--loss", "-1%"}, "--loss -1%: not between 0% and 100%; " + share},
		{[]string{"--loss", "lots"}, "--loss lots: not a number; " + share},
		{[]string{"--reorder", "NaN"}, "--reorder NaN: not between 0% and 100%; " + share},
		{[]string{"--duplicate", "2%%"}, "--duplicate 2%%: not a number; " + share},
		{[]string{"--corrupt", "101%"}, "--corrupt 101%: not between 0% and 100%; " + share},
		{[]string{"--delay", "100"}, "--delay 100: not a duration such as 10ms"},
		{[]string{"--delay", "-5ms"}, "--delay -5ms: negative"},
		{[]string{"--jitter", "soon"}, "--jitter soon: not a duration such as 10ms"},
		{[]string{"--rate", "10mbps"}, "--rate 10mbps: " + rate},
		{[]string{"--rate", "-1mbit"}, "--rate -1mbit: " + rate},
		// A value must be one value: it cannot smuggle in another setting.
		{[]string{"--loss", "1% delay 10ms"}, "--loss 1% delay 10ms: want one value, or out=V,in=V"},
		{[]string{"--loss", "1%,5%"}, "--loss 1%,5%: name each direction, as in out=V,in=V"},
		{[]string{"--loss", "out=1%,up=5%"}, `--loss out=1%,up=5%: "up=5%" is not out=V or in=V; want one value for both directions, or out=V,in=V`},
		{[]string{"--loss", "1%,in=5%"}, `--loss 1%,in=5%: "1%" is not out=V or in=V; want one value for both directions, or out=V,in=V`},
		{[]string{"--loss", "out=1%,out=2%"}, "--loss out=1%,out=2%: out is given twice"},
		{[]string{"--loss", "in="}, "--loss in=: in has no value; " + share},
		{[]string{"--loss", "out=1%,in=150%"}, "--loss out=1%,in=150%: in: not between 0% and 100%; " + share},
		{[]string{"--delay", "out=-1s"}, "--delay out=-1s: out: negative"},
		// The first bad flag is reported, whatever the good ones around it.
		{[]string{"--delay", "10ms", "--rate", "fast"}, "--rate fast: " + rate},
	}
	for _, c := range cases {
		_, on, err := parseFaultFlags(t, c.args...)
		if err == nil {
			t.Errorf("%q: no error (on=%v); want %q", c.args, on, c.want)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%q: error %q; want %q", c.args, err, c.want)
		}
	}
}

// TestBadFaultFlagsStopEveryCommand: each command refuses a bad fault
// flag with the flag's message and exit status 1 before it opens a device
// (so this needs no root) or runs the demo.
func TestBadFaultFlagsStopEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "--loss", "150%"},
		{"serve", "--loss", "150%"},
		{"get", "--loss", "150%", "http://10.7.0.1/"},
		{"dial", "--loss", "150%", "10.7.0.1:7"},
	} {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		want := "synack " + args[0] + ": --loss 150%: not between 0% and 100%"
		if code != 1 || !strings.Contains(errb.String(), want) || out.Len() != 0 {
			t.Errorf("synack %q: exit %d, stdout %q, stderr %q; want exit 1, no output and %q", args, code, out.String(), errb.String(), want)
		}
	}
}

// TestFaultFlagsInEveryHelp: every command that runs a stack lists the
// fault flags and explains their syntax (ss and netstat run none: they
// read serve's admin endpoint).
func TestFaultFlagsInEveryHelp(t *testing.T) {
	for _, c := range commands {
		if c.name == "ss" || c.name == "netstat" {
			continue
		}
		var out, errb bytes.Buffer
		if code := run([]string{c.name, "--help"}, &out, &errb); code != 0 {
			t.Fatalf("%s --help exited %d", c.name, code)
		}
		help := errb.String()
		for _, want := range []string{"-loss", "-delay", "-jitter", "-reorder", "-duplicate", "-corrupt", "-rate", "-seed",
			"a percentage such as 2% or a fraction such as 0.02", "out=V,in=V", "out is what synack sends"} {
			if !strings.Contains(help, want) {
				t.Errorf("%s --help lacks %q", c.name, want)
			}
		}
	}
}
