package stack

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// benchSizes are the connection counts the issue compares: a stack with a
// handful of connections and one with 100,000.
var benchSizes = []int{10, 100_000}

// benchServer is the local end of every benchmark connection.
var benchServer = netip.MustParseAddrPort("10.0.0.2:80")

// benchClient is the remote end of the i-th benchmark connection: clients
// spread over addresses and ports, computed as a packet's header would
// give them, without a table to read.
func benchClient(i int) netip.AddrPort {
	a := netip.AddrFrom4([4]byte{10, 1, byte(i >> 16), byte(i >> 8)})
	return netip.AddrPortFrom(a, uint16(32768+i%256))
}

// BenchmarkDemux is the lookup tcpInput does for every arriving segment:
// the 4-tuple's key, then the connection table. The lookups visit the
// connections in random order, so that at 100,000 they miss the cache as
// a busy server's would.
func BenchmarkDemux(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			s := &shard{conns: make(map[connKey]*TCPConn)} // the table alone
			for i := range n {
				s.conns[keyOf(benchServer, benchClient(i))] = &TCPConn{s: s, heapIdx: -1}
			}
			order := rand.New(rand.NewPCG(1, 2)).Perm(n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if s.conns[keyOf(benchServer, benchClient(order[i%n]))] == nil {
					b.Fatal("connection not found")
				}
				i++
			}
		})
	}
}

// BenchmarkTimerHeap is the stack's one timer structure holding a deadline
// for each of n connections:
//
//   - move: a connection's deadline is pushed back, as an ACK pushes back
//     the retransmission timer, and the heap is fixed;
//   - expire: the earliest deadline is due: it is popped and re-armed
//     later, as fire and HandleTimer do.
func BenchmarkTimerHeap(b *testing.B) {
	const t0 = stamp(time.Hour)
	fill := func(n int) (timerHeap, []*TCPConn) {
		r := rand.New(rand.NewPCG(3, 4))
		var h timerHeap
		conns := make([]*TCPConn, n)
		for i := range conns {
			c := &TCPConn{heapIdx: -1, deadline: t0 + stamp(r.IntN(1_000_000))*stamp(time.Microsecond)}
			heap.Push(&h, c)
			conns[i] = c
		}
		return h, conns
	}
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("move/conns=%d", n), func(b *testing.B) {
			h, conns := fill(n)
			order := rand.New(rand.NewPCG(5, 6)).Perm(n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c := conns[order[i%n]]
				c.deadline += stamp(200 * time.Millisecond)
				heap.Fix(&h, int(c.heapIdx))
				i++
			}
		})
		b.Run(fmt.Sprintf("expire/conns=%d", n), func(b *testing.B) {
			h, _ := fill(n)
			b.ReportAllocs()
			for b.Loop() {
				c := heap.Pop(&h).(*TCPConn)
				c.deadline += stamp(time.Second)
				heap.Push(&h, c)
			}
		})
	}
}
