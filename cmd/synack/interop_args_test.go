package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestBadAddressesSayWhatWasWrong: addresses and URLs that do not parse
// get a clear message and exit status 1 (2 for a usage error) before any
// device is opened, so this needs no root.
func TestBadAddressesSayWhatWasWrong(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--addr", "10.7.0/24"}, 1, `--addr "10.7.0/24" is not an IPv4 address with a prefix, such as 10.7.0.2/24`},
		{[]string{"serve", "--addr", "10.7.0.2"}, 1, `--addr "10.7.0.2" is not an IPv4 address with a prefix`},
		{[]string{"serve", "--addr", "fd00::2/64"}, 1, `--addr "fd00::2/64" is not an IPv4 address with a prefix`},
		{[]string{"serve", "--host-addr", "10.7.0.300/24"}, 1, `--host-addr "10.7.0.300/24" is not an IPv4 address with a prefix`},
		{[]string{"serve", "--addr", "10.7.0.1/24"}, 1, `--host-addr and --addr are both 10.7.0.1`},
		{[]string{"serve", "--http", "70000"}, 1, `--http 70000 is not a port`},
		{[]string{"serve", "--mtu", "40"}, 1, `--mtu 40 is out of range`},
		{[]string{"serve", "--tun-queues", "0"}, 1, `--tun-queues 0 is out of range: 1 to 16`},
		{[]string{"serve", "--tun-queues", "17"}, 1, `--tun-queues 17 is out of range: 1 to 16`},
		{[]string{"get", "--tun-queues", "-2", "http://10.7.0.1/"}, 1, `--tun-queues -2 is out of range: 1 to 16`},
		{[]string{"get", "http://localhost:8000/"}, 1, `host "localhost" in the URL is not an IPv4 address`},
		{[]string{"get", "10.7.0.1:8000"}, 1, `"10.7.0.1:8000" is not an http:// URL`},
		{[]string{"get", "--addr", "nonsense", "http://10.7.0.1/"}, 1, `--addr "nonsense" is not an IPv4 address with a prefix`},
		{[]string{"get"}, 2, "synack get: needs exactly one URL, got 0 arguments"},
		{[]string{"dial", "10.7.0.1"}, 1, `"10.7.0.1" is not an IPv4 ip:port, such as 10.7.0.1:7000`},
		{[]string{"dial", "10.7.0.1:99999"}, 1, `"10.7.0.1:99999" is not an IPv4 ip:port`},
		{[]string{"dial", "[::1]:7000"}, 1, `"[::1]:7000" is not an IPv4 ip:port`},
		{[]string{"dial", "--host-addr", "10.7.0.1", "10.7.0.1:7000"}, 1, `--host-addr "10.7.0.1" is not an IPv4 address with a prefix`},
		{[]string{"dial", "--timeout", "0s", "10.7.0.1:7000"}, 1, "--timeout 0s must be positive"},
		{[]string{"dial", "--timeout", "soon", "10.7.0.1:7000"}, 2, `synack dial: invalid value "soon" for flag -timeout`},
		{[]string{"get", "http://10.7.0.1/", "--addr", "nonsense"}, 1, `--addr "nonsense" is not an IPv4 address with a prefix`},
		{[]string{"ping", "-c", "1"}, 2, "synack ping: needs exactly one ADDR, such as 10.7.0.1, got 0 arguments"},
		{[]string{"dial"}, 2, "synack dial: needs exactly one ADDR, such as 10.7.0.1:7000, got 0 arguments"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("synack %v: exit %d, stderr %q; want exit %d and %q", c.args, code, errb.String(), c.code, c.want)
		}
	}
}
