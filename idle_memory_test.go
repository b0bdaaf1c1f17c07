package synack_test

import (
	"runtime"
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

// TestIdlePairHeap opens 2,000 connection pairs between two stacks on the
// virtual clock and leaves them idle: the heap they add, after two
// collections, is at most idlePairBound bytes a pair (issue 14).
func TestIdlePairHeap(t *testing.T) {
	const n = 2000
	p := newPair(t, pairConfig{virtual: true})
	l := p.listen(t, 80, n)
	clients := make([]*synack.TCPConn, 0, n)
	servers := make([]*synack.TCPConn, 0, n)
	// The first pair is not counted: it makes the tables and the pipe's
	// buffers, which are not per pair.
	c, s := p.connect(t, l)
	clients, servers = append(clients, c), append(servers, s)
	p.settle(t)
	before := heapSample()
	for range n {
		c, s := p.connect(t, l)
		clients, servers = append(clients, c), append(servers, s)
	}
	p.settle(t)
	after := heapSample()
	for i := range clients {
		if clients[i].State() != tcp.StateEstablished || servers[i].State() != tcp.StateEstablished {
			t.Fatalf("pair %d: %v and %v, want both ESTABLISHED", i, clients[i].State(), servers[i].State())
		}
	}
	per := (float64(after) - float64(before)) / n
	t.Logf("%d idle pairs: %.0f heap bytes a pair", n, per)
	if per > idlePairBound {
		t.Errorf("an idle pair adds %.0f bytes to the heap, want at most %d", per, idlePairBound)
	}
	runtime.KeepAlive(clients)
	runtime.KeepAlive(servers)
}
