package stack

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

var rpLocal = netip.AddrPortFrom(fzAddr, fzPort)

// rpRemote is the i'th test client: distinct ports of two addresses.
func rpRemote(i int) netip.AddrPort {
	return netip.AddrPortFrom(fzPeers[i%2], uint16(40000+i))
}

// rpGroup listens on rpLocal with n members of a ReusePort group.
func rpGroup(t *testing.T, n *wireNet, members int) []*TCPListener {
	t.Helper()
	var ls []*TCPListener
	for range members {
		l, err := n.s.ListenTCPOptions(rpLocal, 128, ListenOptions{ReusePort: true})
		if err != nil {
			t.Fatalf("member %d: %v", len(ls), err)
		}
		ls = append(ls, l)
	}
	return ls
}

// acceptAll takes every queued connection of each listener and returns,
// per client address, the index of the listener that had it.
func acceptAll(t *testing.T, ls []*TCPListener) map[netip.AddrPort]int {
	t.Helper()
	got := make(map[netip.AddrPort]int)
	for i, l := range ls {
		for {
			c, err := l.TryAccept()
			if errors.Is(err, ErrWouldBlock) {
				break
			}
			if err != nil {
				t.Fatalf("listener %d: %v", i, err)
			}
			got[c.RemoteAddr()] = i
		}
	}
	return got
}

// handshakes completes handshakes from clients [from, to) and fails the test
// if any is answered (a RST would mean it reached no listener or the
// wrong one).
func handshakes(t *testing.T, n *wireNet, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if out := n.handshake(rpLocal, rpRemote(i), seqnum.Value(1000*i)); len(out) != 0 {
			t.Fatalf("client %d: the final ACK was answered with %d segments (flags %v)", i, len(out), out[0].Flags())
		}
	}
}

// TestReusePortSpreadsByTuple: two listeners share a port; 64 clients
// from distinct ports all get through, both listeners get some, and which
// one a 4-tuple reaches depends on the 4-tuple alone: a second stack with
// another shard count (which moves connections between shards) steers
// every client the same way.
func TestReusePortSpreadsByTuple(t *testing.T) {
	const clients = 64
	var runs [2]map[netip.AddrPort]int
	for r, shards := range []int{1, 8} {
		n := newWireNet(t, Config{Shards: shards})
		ls := rpGroup(t, n, 2)
		handshakes(t, n, 0, clients)
		runs[r] = acceptAll(t, ls)
		if len(runs[r]) != clients {
			t.Fatalf("shards %d: %d connections accepted, want %d", shards, len(runs[r]), clients)
		}
		var per [2]int
		for _, i := range runs[r] {
			per[i]++
		}
		if per[0] == 0 || per[1] == 0 {
			t.Fatalf("shards %d: the listeners accepted %v: one got none", shards, per)
		}
		t.Logf("shards %d: %v", shards, per)
	}
	for a, i := range runs[0] {
		if runs[1][a] != i {
			t.Errorf("client %v reached listener %d, then %d: the choice is not the 4-tuple's", a, i, runs[1][a])
		}
	}
}

// TestReusePortNeedsEveryMember: a port shared only among listeners that
// all asked for it and are bound alike, in either order, and for Bind's
// check as for Listen.
func TestReusePortNeedsEveryMember(t *testing.T) {
	share := ListenOptions{ReusePort: true}
	n := newWireNet(t, Config{})
	plain, err := n.s.ListenTCP(rpLocal, 8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.s.ListenTCPOptions(rpLocal, 8, share); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("ReusePort over a plain listener: %v, want EADDRINUSE", err)
	}
	if err := n.s.CheckTCPBind(rpLocal, false, true); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("bind with SO_REUSEPORT over a plain listener: %v, want EADDRINUSE", err)
	}
	plain.Close()

	ls := rpGroup(t, n, 2)
	if _, err := n.s.ListenTCP(rpLocal, 8); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("plain listener over a group: %v, want EADDRINUSE", err)
	}
	if err := n.s.CheckTCPBind(rpLocal, true, false); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("bind with SO_REUSEADDR alone over a group: %v, want EADDRINUSE", err)
	}
	if err := n.s.CheckTCPBind(rpLocal, false, true); err != nil {
		t.Errorf("bind with SO_REUSEPORT over a group: %v, want nil", err)
	}
	wild := netip.AddrPortFrom(netip.IPv4Unspecified(), fzPort)
	if _, err := n.s.ListenTCPOptions(wild, 8, share); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("a wildcard member in a group of the stack's address: %v, want EADDRINUSE", err)
	}
	if got := n.s.Snapshot().States[tcp.StateListen.String()]; got != 2 {
		t.Errorf("snapshot counts %d listeners, want the group's 2", got)
	}
	if got := len(n.s.Sockets()); got != 2 {
		t.Errorf("the socket table has %d rows, want one per member", got)
	}
	ls[0].Close()
	ls[1].Close()
	if _, err := n.s.ListenTCP(rpLocal, 8); err != nil {
		t.Errorf("the port after the group's last member closed: %v", err)
	}
}

// TestReusePortCloseMember: closing a member resets the connections in
// its accept queue (as Linux resets a closing listener's) and leaves the
// other's; new clients then all reach the one left, which accepts them.
func TestReusePortCloseMember(t *testing.T) {
	n := newWireNet(t, Config{})
	ls := rpGroup(t, n, 2)
	handshakes(t, n, 0, 32)
	queued := [2]int{ls[0].Ready(), ls[1].Ready()}
	if queued[0] == 0 || queued[1] == 0 {
		t.Fatalf("accept queues %v: want both used", queued)
	}
	n.got = nil
	ls[0].Close()
	resets := 0
	for _, p := range n.got {
		ip, _ := wire.ParseIPv4(p)
		if seg, err := wire.ParseTCP(ip.Payload()); err == nil && seg.Flags()&wire.FlagRST != 0 {
			resets++
			if c := n.conn(rpLocal, netip.AddrPortFrom(ip.Dst(), seg.DstPort())); c != nil {
				t.Errorf("reset connection to %v still in the table (%s)", ip.Dst(), stateOf(c))
			}
		}
	}
	if resets != queued[0] {
		t.Errorf("closing member 0 sent %d RSTs, want one per queued connection (%d)", resets, queued[0])
	}
	if got := ls[1].Ready(); got != queued[1] {
		t.Errorf("member 1's queue went from %d to %d when member 0 closed", queued[1], got)
	}
	handshakes(t, n, 100, 132)
	got := acceptAll(t, ls[1:])
	if len(got) != queued[1]+32 {
		t.Errorf("member 1 accepted %d, want its %d and the 32 new clients", len(got), queued[1])
	}
	for i := 100; i < 132; i++ {
		if _, ok := got[rpRemote(i)]; !ok {
			t.Errorf("client %d, after member 0 closed, was not accepted by member 1", i)
		}
	}
}

// TestReusePortCookieReachesItsMember: with a SYN cookie for every SYN,
// the final ACK keeps no state to find, so it must hash to the member
// whose secret made the cookie; every handshake completes with both
// members used. When the group changes between the SYN and the ACK, the
// ACK can meet the other member's secret and is reset: the test can fail.
func TestReusePortCookieReachesItsMember(t *testing.T) {
	n := newWireNet(t, Config{TCP: tcp.Config{SYNCookies: tcp.SYNCookiesAlways}})
	ls := rpGroup(t, n, 2)
	handshakes(t, n, 0, 32)
	got := acceptAll(t, ls)
	var per [2]int
	for _, i := range got {
		per[i]++
	}
	if len(got) != 32 || per[0] == 0 || per[1] == 0 {
		t.Fatalf("accepted %d (per member %v), want 32 over both", len(got), per)
	}
	if sent := n.s.TCPStats().SyncookiesSent.Load(); sent != 32 {
		t.Fatalf("SyncookiesSent = %d: the handshakes did not use cookies", sent)
	}

	// The control: a SYN answered by member 0's cookie, then member 0
	// closes; the ACK reaches member 1 and does not open a connection.
	i := 200
	for ; ls[0] != (*n.s.listeners.Load())[fzPort].pick(keyOf(rpLocal, rpRemote(i))); i++ {
	}
	sa := n.synACK(rpLocal, rpRemote(i), 5000)
	ls[0].Close()
	out := n.send(rpLocal, rpRemote(i), wire.TCPFields{Seq: 5001, Ack: sa.SeqNum().Add(1), Flags: wire.FlagACK, Window: 65535})
	if len(out) != 1 || out[0].Flags()&wire.FlagRST == 0 || n.conn(rpLocal, rpRemote(i)) != nil {
		t.Errorf("a cookie of the closed member reached the other: %d segments, connection %s; want a RST",
			len(out), stateOf(n.conn(rpLocal, rpRemote(i))))
	}
}
