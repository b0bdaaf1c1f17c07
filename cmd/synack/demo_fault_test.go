package main

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// runDemo runs `synack demo` with args and returns its output; it fails
// the test if the demo fails.
func runDemoArgs(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(append([]string{"demo"}, args...), &out, &errb); code != 0 {
		t.Fatalf("demo %q exited %d: %s", args, code, errb.String())
	}
	return out.String()
}

// demoStats matches the demo's fault stats line.
var demoStats = regexp.MustCompile(`(?m)^link/fault: client->server (\d+) packets: (\d+) dropped, (\d+) duplicated, (\d+) corrupted, (\d+) reordered; ` +
	`server->client (\d+) packets: (\d+) dropped, (\d+) duplicated, (\d+) corrupted, (\d+) reordered$`)

// TestDemoWithLossRetransmits: with 30% loss and seed 1, segments are lost
// on the way (drawn ending in X), the retransmission timer fires and sends
// them again, the request still gets its 200 OK, and the stats line counts
// the drops.
func TestDemoWithLossRetransmits(t *testing.T) {
	s := runDemoArgs(t, "--loss", "30%", "--seed", "1")
	t.Log("\n" + s)
	for _, want := range []string{
		"link/fault at the client's end, seed 1: client->server loss 30%; server->client loss 30%\n",
		"HTTP/1.1 200 OK", "(timer retransmit)", "(timeout 2MSL)", "protocol time (virtual clock): "} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if !regexp.MustCompile(`-X  \||\|  X-`).MatchString(s) {
		t.Error("demo output shows no lost segment (an arrow ending in X)")
	}
	m := demoStats.FindStringSubmatch(s)
	if m == nil {
		t.Fatal("demo output lacks the fault stats line")
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	if n(2)+n(7) == 0 || n(3)+n(4)+n(5)+n(8)+n(9)+n(10) != 0 {
		t.Errorf("stats line %q: want drops and nothing else", m[0])
	}
	// A segment dropped is sent again: a side sends more segments than
	// there are in the exchange without faults (11).
	if sent := n(1) + n(6); sent <= 11 {
		t.Errorf("%d segments sent for %d dropped: nothing was sent again", sent, n(2)+n(7))
	}
}

// TestDemoWithDelayTakesProtocolTime: 100 ms each way makes the handshake
// one round trip of 200 ms and the request (handshake, then request and
// response) two, on the virtual clock.
func TestDemoWithDelayTakesProtocolTime(t *testing.T) {
	s := runDemoArgs(t, "--delay", "100ms")
	if want := "protocol time (virtual clock): 200ms for the handshake, 400ms for the request\n"; !strings.Contains(s, want) {
		t.Errorf("demo --delay 100ms output lacks %q:\n%s", want, s)
	}
	// SYN, ACK, request, FIN (carrying the delayed ACK of the response),
	// and the last ACK.
	if !strings.Contains(s, "link/fault: client->server 5 packets: 0 dropped") || !strings.Contains(s, "HTTP/1.1 200 OK") {
		t.Errorf("demo --delay 100ms: want 200 OK and 5 packets from the client, none dropped:\n%s", s)
	}
}

// TestDemoWithoutFaultsSaysNothingOfThem: without fault flags the demo
// prints what it always has: no fault, timer or protocol time line.
func TestDemoWithoutFaultsSaysNothingOfThem(t *testing.T) {
	s := runDemoArgs(t, "--seed", "5")
	for _, bad := range []string{"link/fault", "protocol time", "(timer "} {
		if strings.Contains(s, bad) {
			t.Errorf("demo without fault flags prints %q:\n%s", bad, s)
		}
	}
}

// TestDemoSameSeedSameRun: the same seed and faults give the same run:
// each side sends and receives the same segments, in the same order, at
// the same protocol times, and the faults count the same; another seed
// gives another run. (Sequence numbers are taken relative to each side's
// initial one, which is random; the diagram, which interleaves the two
// sides' events as their goroutines record them, is not compared.)
func TestDemoSameSeedSameRun(t *testing.T) {
	faults := func(seed uint64) *fault.Config {
		d := fault.Direction{Loss: 0.3}
		return &fault.Config{Seed: seed, Out: d, In: d}
	}
	first := demoRun(t, faults(1))
	second := demoRun(t, faults(1))
	if !slices.Equal(first, second) {
		t.Errorf("seed 1 twice, different runs:\n%s\n--- and ---\n%s", strings.Join(first, "\n"), strings.Join(second, "\n"))
	}
	if other := demoRun(t, faults(2)); slices.Equal(first, other) {
		t.Errorf("seeds 1 and 2 give the same run:\n%s", strings.Join(first, "\n"))
	}
}

// demoRun runs the demo with faults and describes what happened as lines:
// each side's events in the side's own order, then the protocol times and
// the fault stats.
func demoRun(t *testing.T, faults *fault.Config) []string {
	t.Helper()
	res, err := demo(1500, "/", faults)
	if err != nil {
		t.Fatal(err)
	}
	if res.status != "200 OK" {
		t.Fatalf("status %q, want 200 OK", res.status)
	}
	var lines []string
	for _, host := range []string{"client", "server"} {
		lines = append(lines, sideSteps(res.events, host)...)
	}
	return append(lines, fmt.Sprintf("handshake %v request %v", res.handshake, res.protoElapsed), res.faultStats)
}

// sideSteps describes the events of one host, in order, with their
// protocol time since the demo's first event and their sequence and
// acknowledgement numbers relative to the initial ones.
func sideSteps(events []trace.Event, host string) []string {
	// Each side's ISN is the seq of the first SYN it sent.
	isn := map[string]seqnum.Value{}
	for _, e := range events {
		if _, ok := isn[e.Host]; !ok && e.Kind == trace.KindSegmentSent && e.Flags&wire.FlagSYN != 0 {
			isn[e.Host] = e.Seq
		}
	}
	peer := map[string]string{"client": "server", "server": "client"}[host]
	var steps []string
	for _, e := range events {
		if e.Host != host {
			continue
		}
		at := e.Time.Sub(events[0].Time)
		switch e.Kind {
		case trace.KindStateChange:
			steps = append(steps, fmt.Sprintf("%s %v state %s->%s %s", host, at, e.From, e.State, e.Cause))
			continue
		case trace.KindTimer:
			steps = append(steps, fmt.Sprintf("%s %v timer %s in %s", host, at, e.Cause, e.State))
			continue
		}
		seqFrom, ackFrom := host, peer // sent: our seq, their ack
		if e.Kind != trace.KindSegmentSent {
			seqFrom, ackFrom = peer, host
		}
		ack := "" // meaningless without the ACK flag
		if e.Flags&wire.FlagACK != 0 {
			ack = fmt.Sprintf(" ack=%d", isn[ackFrom].Size(e.Ack))
		}
		steps = append(steps, fmt.Sprintf("%s %v %s %s seq=%d%s len=%d win=%d %s", host, at, e.Kind, e.Flags,
			isn[seqFrom].Size(e.Seq), ack, e.Len, e.Window, e.Cause))
	}
	return steps
}
