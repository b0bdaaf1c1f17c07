package stack

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"sync"
	"testing"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/wire"
)

// syncNet is a link that is the test, as wireNet, but whose writes may
// come from several goroutines at once.
type syncNet struct {
	mu  sync.Mutex
	got [][]byte
}

func (n *syncNet) MTU() int               { return 1500 }
func (n *syncNet) Attach(link.Dispatcher) {}
func (n *syncNet) Close() error           { return nil }
func (n *syncNet) WritePacket(p []byte) error {
	n.mu.Lock()
	n.got = append(n.got, bytes.Clone(p))
	n.mu.Unlock()
	return nil
}

// resetsTo reports whether the stack wrote a RST to remote.
func (n *syncNet) resetsTo(remote netip.AddrPort) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.got {
		ip, err := wire.ParseIPv4(p)
		if err != nil || ip.Protocol() != wire.ProtocolTCP {
			continue
		}
		t, err := wire.ParseTCP(ip.Payload())
		if err == nil && ip.Dst() == remote.Addr() && t.DstPort() == remote.Port() && t.Flags().Has(wire.FlagRST) {
			return true
		}
	}
	return false
}

// twoInShards returns two remote ports whose 4-tuples with local (and
// remote's address) fall in different shards of s.
func twoInShards(t *testing.T, s *Stack, local netip.AddrPort, raddr netip.Addr) (a, b netip.AddrPort) {
	t.Helper()
	a = netip.AddrPortFrom(raddr, 40000)
	for p := uint16(40001); p < 41000; p++ {
		b = netip.AddrPortFrom(raddr, p)
		if s.shardOf(keyOf(local, a)) != s.shardOf(keyOf(local, b)) {
			return a, b
		}
	}
	t.Fatal("no two ports in different shards")
	return
}

// TestShardDeliveryInParallel: with one shard's lock held, a segment for
// a 4-tuple of that shard waits on its own goroutine while a segment for
// a 4-tuple of another shard, delivered on the test's goroutine at the
// same time, is answered at once: DeliverPacket takes concurrent callers
// and their connections do not wait for each other. (Were the lock the
// stack's, the second delivery would block forever and the test hang.)
func TestShardDeliveryInParallel(t *testing.T) {
	n := &syncNet{}
	s, err := New(n, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clock.NewVirtual(fzStart), Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.shards) != 4 {
		t.Fatalf("%d shards, want the 4 asked for", len(s.shards))
	}
	local := netip.AddrPortFrom(s.Addr(), 9) // no listener: a SYN is answered with a RST
	ra, rb := twoInShards(t, s, local, fzPeers[0])
	syn := wire.TCPFields{Flags: wire.FlagSYN, Seq: 1000, Window: 1000}
	pa := tcpPacket(local, ra, &syn, nil)
	pb := tcpPacket(local, rb, &syn, nil)

	held := s.shardOf(keyOf(local, ra))
	held.mu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.DeliverPacket(pa)
	}()
	s.DeliverPacket(pb) // returns while held is held
	if !n.resetsTo(rb) {
		t.Fatal("no RST for the segment of the free shard")
	}
	select {
	case <-done:
		t.Fatal("the segment of the held shard was handled with its lock held")
	default:
	}
	held.mu.Unlock()
	<-done
	if !n.resetsTo(ra) {
		t.Fatal("no RST for the segment of the held shard once it was let go")
	}
}

// TestShardConnectionsInParallel: two established connections between two
// stacks over a pipe, in different shards on both sides. With the server
// shard of the first held, the second still carries a request and its
// answer both ways.
func TestShardConnectionsInParallel(t *testing.T) {
	clk := clock.NewVirtual(fzStart)
	a, b := pipe.New(1500)
	defer a.Close()
	defer b.Close()
	client, err := New(a, Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Clock: clk, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := New(b, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clk, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	sa := netip.AddrPortFrom(server.Addr(), 80)
	l, err := server.ListenTCP(sa, 8)
	if err != nil {
		t.Fatal(err)
	}
	// Two client ports whose 4-tuples are in different shards on both
	// stacks (each stack sees the tuple from its side).
	var ports []uint16
	for p := uint16(40000); len(ports) < 2 && p < 41000; p++ {
		c := netip.AddrPortFrom(client.Addr(), p)
		if len(ports) == 1 {
			c0 := netip.AddrPortFrom(client.Addr(), ports[0])
			if server.shardOf(keyOf(sa, c0)) == server.shardOf(keyOf(sa, c)) ||
				client.shardOf(keyOf(c0, sa)) == client.shardOf(keyOf(c, sa)) {
				continue
			}
		}
		ports = append(ports, p)
	}
	if len(ports) < 2 {
		t.Fatal("no two ports in different shards on both stacks")
	}
	ctx := context.Background()
	var cc, sc [2]*TCPConn
	for i, p := range ports {
		if cc[i], err = client.DialTCP(ctx, netip.AddrPortFrom(client.Addr(), p), sa); err != nil {
			t.Fatal(err)
		}
		if sc[i], err = l.Accept(ctx); err != nil {
			t.Fatal(err)
		}
	}
	held := sc[0].s
	if held == sc[1].s || cc[0].s == cc[1].s {
		t.Fatal("the connections share a shard")
	}
	held.mu.Lock()
	exchange(t, cc[1], sc[1], []byte("ping"), []byte("pong"))
	if held.mu.TryLock() {
		t.Fatal("the held shard's lock was free")
	}
	held.mu.Unlock()
	exchange(t, cc[0], sc[0], []byte("ping"), []byte("pong")) // and the first still works
}

// exchange sends req from c to s and resp back, checking both.
func exchange(t *testing.T, c, s *TCPConn, req, resp []byte) {
	t.Helper()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(req))
	if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, req) {
		t.Fatalf("server read %q, %v; want %q", got, err, req)
	}
	if _, err := s.Write(resp); err != nil {
		t.Fatal(err)
	}
	got = make([]byte, len(resp))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, resp) {
		t.Fatalf("client read %q, %v; want %q", got, err, resp)
	}
}
