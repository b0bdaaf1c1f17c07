package synack_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"testing"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/tcp"
)

// idlePairBound is what an established, idle connection pair (both ends,
// and the *TCPConn values the application holds) may add to the heap: a
// fifth of what gVisor's netstack takes for one in the benchmark's idle
// workload (about 11,400 bytes, BENCHMARKS.md), less some room for the
// harness. Each end is a tcp.Conn in the 768-byte size class, the stack's
// socket and its place in the connection table; the congestion controller,
// loss-recovery records and buffers come only when data moves.
const idlePairBound = 2200

// usedIdlePairBound is the same for a pair that exchanged a request and a
// response and went idle: its buffers went back to the pool as they
// drained, and what stays is each sender's congestion controller and
// loss-recovery records (about 700 bytes an end).
const usedIdlePairBound = 4000

// TestIdlePairHeap opens 2,000 connection pairs between two stacks on the
// virtual clock and leaves them idle, some never used and some after a
// request (300 bytes) and a response (2,000 bytes): the heap a pair adds,
// after two collections, is at most idlePairBound and usedIdlePairBound
// bytes (issue 14). Each count runs in a process of its own (this test
// binary, run again for TestIdlePairHeapChild), so that what other tests
// of the package leave behind, or let go of meanwhile, is not counted.
func TestIdlePairHeap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		used  bool
		bound float64
	}{{"never used", false, idlePairBound}, {"after a request and a response", true, usedIdlePairBound}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestIdlePairHeapChild$", "-test.v")
			cmd.Env = append(os.Environ(), "SYNACK_IDLE_CHILD="+strconv.FormatBool(tc.used))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v:\n%s", cmd, err, out)
			}
			m := regexp.MustCompile(`idle-pair-heap=(-?[0-9.]+)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("the child printed no count:\n%s", out)
			}
			per, err := strconv.ParseFloat(string(m[1]), 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%.0f heap bytes a pair", per)
			if per > tc.bound || per <= 0 {
				t.Errorf("an idle pair adds %.0f bytes to the heap, want more than 0 and at most %.0f", per, tc.bound)
			}
		})
	}
}

// TestIdlePairHeapChild is TestIdlePairHeap's count, in the process
// TestIdlePairHeap starts; run any other way it does nothing.
func TestIdlePairHeapChild(t *testing.T) {
	used, err := strconv.ParseBool(os.Getenv("SYNACK_IDLE_CHILD"))
	if err != nil {
		t.Skip("run by TestIdlePairHeap in a process of its own")
	}
	fmt.Printf("idle-pair-heap=%.1f\n", idlePairHeap(t, 2000, used))
}

// idlePairHeap opens n pairs, each used for one exchange if used, and
// returns the heap each adds once all are idle.
func idlePairHeap(t *testing.T, n int, used bool) float64 {
	p := newPair(t, pairConfig{virtual: true})
	l := p.listen(t, 80, n)
	clients := make([]*synack.TCPConn, 0, n+1)
	servers := make([]*synack.TCPConn, 0, n+1)
	req, resp := make([]byte, 300), make([]byte, 2000)
	open := func() {
		c, s := p.connect(t, l)
		clients, servers = append(clients, c), append(servers, s)
		if !used {
			return
		}
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, req); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(resp); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			t.Fatal(err)
		}
	}
	// The first pair is not counted: it makes the tables and the pipe's
	// buffers, which are not per pair.
	open()
	p.settle(t)
	before := heapSample()
	for range n {
		open()
	}
	p.settle(t)
	after := heapSample()
	for i := range clients {
		if clients[i].State() != tcp.StateEstablished || servers[i].State() != tcp.StateEstablished {
			t.Fatalf("pair %d: %v and %v, want both ESTABLISHED", i, clients[i].State(), servers[i].State())
		}
		if ci, si := clients[i].Info(), servers[i].Info(); ci.SendQ+ci.RecvQ+si.SendQ+si.RecvQ != 0 {
			t.Fatalf("pair %d is not idle: %+v, %+v", i, ci, si)
		}
	}
	runtime.KeepAlive(clients)
	runtime.KeepAlive(servers)
	return (float64(after) - float64(before)) / float64(n)
}
