package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDemoShowsTheJourney runs `synack demo` and checks that its diagram
// shows every state of both sides, the handshake and close segments in
// order, and the HTTP status line.
func TestDemoShowsTheJourney(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"demo"}, &out, &errb); code != 0 {
		t.Fatalf("demo exited %d: %s", code, errb.String())
	}
	s := out.String()
	t.Log("\n" + s)
	for _, state := range []string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
		"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "LAST-ACK", "TIME-WAIT"} {
		if !strings.Contains(s, state) {
			t.Errorf("demo output lacks state %s", state)
		}
	}
	// The segments of the handshake and the close, in this order.
	order := []string{"---- SYN seq=", "<--- SYN,ACK seq=", "---- ACK seq=", "PSH,ACK", "<--- PSH,ACK",
		"---- FIN,ACK", "<--- ACK", "<--- FIN,ACK", "---- ACK", "(timeout 2MSL)"}
	rest := s
	for _, o := range order {
		i := strings.Index(rest, o)
		if i < 0 {
			t.Fatalf("demo output lacks %q after the earlier segments", o)
		}
		rest = rest[i+len(o):]
	}
	if !strings.Contains(s, "HTTP/1.1 200 OK") {
		t.Error("demo output lacks the HTTP status line")
	}
	// The handshake's numbers: the SYN,ACK acknowledges the SYN's seq+1,
	// and the ACK's seq is x+1 and its ack y+1.
	syn := regexp.MustCompile(`---- SYN seq=(\d+)`).FindStringSubmatch(s)
	synack := regexp.MustCompile(`<--- SYN,ACK seq=(\d+) ack=(\d+)`).FindStringSubmatch(s)
	ack := regexp.MustCompile(`---- ACK seq=(\d+) ack=(\d+)`).FindStringSubmatch(s)
	if syn == nil || synack == nil || ack == nil {
		t.Fatal("handshake segments not found")
	}
	if plus1(syn[1]) != synack[2] || plus1(syn[1]) != ack[1] || plus1(synack[1]) != ack[2] {
		t.Errorf("handshake numbers wrong: SYN seq=%s, SYN,ACK seq=%s ack=%s, ACK seq=%s ack=%s",
			syn[1], synack[1], synack[2], ack[1], ack[2])
	}
}

func plus1(dec string) string {
	v, err := strconv.ParseUint(dec, 10, 32)
	if err != nil {
		return "bad number " + dec
	}
	return strconv.FormatUint(uint64(uint32(v+1)), 10)
}

func TestDemoHelpSaysWhatItShows(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"demo", "--help"}, &out, &errb); code != 0 {
		t.Fatalf("demo --help exited %d", code)
	}
	for _, want := range []string{"three-way handshake", "four-way close", "TIME-WAIT", "-mtu"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("demo --help lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestBadArgumentsSayWhatWasWrong(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"demo", "--mtu", "20"}, 1, "--mtu 20 is out of range"},
		{[]string{"demo", "--path", "x"}, 1, `--path "x" must start with /`},
		{[]string{"demo", "--nosuch"}, 2, "flag provided but not defined: -nosuch"},
		{[]string{"demo", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"; the commands are demo, serve,`},
		{[]string{"--mtu", "20"}, 2, `a flag before the command: "--mtu"`},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("synack %v: exit %d, stderr %q; want exit %d and %q", c.args, code, errb.String(), c.code, c.want)
		}
	}
}

// TestNoArgumentsListsTheCommands: `synack` alone is help, not a command.
func TestNoArgumentsListsTheCommands(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "  demo ") || strings.Contains(out.String(), "TIME-WAIT") {
		t.Fatalf("synack with no arguments: exit %d, output:\n%s%s\nwant the list of commands", code, out.String(), errb.String())
	}
}
