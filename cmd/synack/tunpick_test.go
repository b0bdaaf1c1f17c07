package main

import (
	"flag"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// TestPickAddrs: a device's default subnet gives way to a free one when
// another interface (a running serve's device) uses it; addresses given
// that clash are refused, naming the interface and its subnet; the
// device's own addresses, when --tun names it, are no clash.
func TestPickAddrs(t *testing.T) {
	serve := ifacePrefix{"synack0", netip.MustParsePrefix("10.7.0.1/24")}
	lo := ifacePrefix{"lo", netip.MustParsePrefix("127.0.0.1/8")}
	cases := []struct {
		name      string
		taken     []ifacePrefix
		args      []string
		addr, hst string // the addresses picked
		note, err string // what the note or the error says
	}{
		{"free", []ifacePrefix{lo}, nil, "10.7.0.2/24", "10.7.0.1/24", "", ""},
		{"beside serve", []ifacePrefix{lo, serve}, nil, "10.7.1.2/24", "10.7.1.1/24",
			"--host-addr 10.7.0.1/24 overlaps 10.7.0.1/24 on synack0: using --addr 10.7.1.2/24 --host-addr 10.7.1.1/24", ""},
		{"beside two", []ifacePrefix{serve, {"synack1", netip.MustParsePrefix("10.7.1.1/24")}}, nil, "10.7.2.2/24", "10.7.2.1/24", "using --addr 10.7.2.2/24", ""},
		{"inside a wider subnet", []ifacePrefix{{"eth0", netip.MustParsePrefix("10.7.0.9/16")}}, nil, "", "", "",
			"--host-addr 10.7.0.1/24 overlaps 10.7.0.9/16 on eth0, and every 10.7.N.0/24 is taken: give --addr and --host-addr"},
		{"host address given", []ifacePrefix{serve}, []string{"--host-addr", "10.7.0.1/24"}, "", "", "",
			"--host-addr 10.7.0.1/24 overlaps 10.7.0.1/24 on synack0 (a running synack serve?): give addresses in a free subnet, or leave out --addr and --host-addr to get one"},
		{"address given", []ifacePrefix{{"eth0", netip.MustParsePrefix("10.9.0.5/16")}}, []string{"--addr", "10.9.3.2/24", "--host-addr", "10.9.3.1/24"}, "", "", "",
			"--host-addr 10.9.3.1/24 overlaps 10.9.0.5/16 on eth0"},
		{"stack address in a subnet", []ifacePrefix{{"eth0", netip.MustParsePrefix("10.9.0.5/16")}}, []string{"--addr", "10.9.3.2/24", "--host-addr", ""}, "", "", "",
			"--addr 10.9.3.2/24 is inside 10.9.0.5/16 on eth0"},
		{"own device", []ifacePrefix{lo, serve}, []string{"--tun", "synack0"}, "10.7.0.2/24", "10.7.0.1/24", "", ""},
		{"own device configured", []ifacePrefix{serve}, []string{"--tun", "synack0", "--host-addr", ""}, "10.7.0.2/24", "", "", ""},
		{"another device", []ifacePrefix{serve}, []string{"--tun", "other", "--addr", "10.7.0.3/24"}, "", "", "",
			"--host-addr 10.7.0.1/24 overlaps 10.7.0.1/24 on synack0"},
	}
	defer func(f func() ([]ifacePrefix, error)) { hostPrefixes = f }(hostPrefixes)
	for _, c := range cases {
		hostPrefixes = func() ([]ifacePrefix, error) { return c.taken, nil }
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var tf tunFlags
		tf.register(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		addr := netip.MustParsePrefix(tf.addr)
		var host netip.Prefix
		if tf.hostAddr != "" {
			host = netip.MustParsePrefix(tf.hostAddr)
		}
		a, h, note, err := tf.pickAddrs(addr, host)
		if c.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), c.err) {
				t.Errorf("%s: %v; want an error %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || a.String() != c.addr || prefixString(h) != c.hst || !strings.Contains(note, c.note) || (c.note == "") != (note == "") {
			t.Errorf("%s: %v %v note %q err %v; want %s %s note %q", c.name, a, prefixString(h), note, err, c.addr, c.hst, c.note)
		}
	}
}

// TestTunDefaultsShowInHelp: the flags that give way still show their
// first choice in --help.
func TestTunDefaultsShowInHelp(t *testing.T) {
	var b strings.Builder
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&b)
	var tf tunFlags
	tf.register(fs)
	fs.PrintDefaults()
	for _, want := range []string{"(default synack0)", "(default 10.7.0.2/24)", "(default 10.7.0.1/24)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, b.String())
		}
	}
}
