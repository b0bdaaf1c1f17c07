package stack

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// TestSocketAgeOnVirtualClock: each row of the socket table says how long
// its socket has lived on the stack's clock: a listener since Listen, a
// passive connection since its peer's SYN (not since the handshake ended),
// an active one since its SYN, and a connection in TIME-WAIT since it was
// made, carried over to its record. The ages are read against the
// snapshot's own Time and show in its JSON.
func TestSocketAgeOnVirtualClock(t *testing.T) {
	n := newWireNet(t, Config{TCP: tcp.Config{MSL: 10 * time.Second}})
	local := netip.AddrPortFrom(fzAddr, fzPort)
	ln, err := n.s.ListenTCP(local, 4)
	if err != nil {
		t.Fatal(err)
	}
	n.clk.Advance(2 * time.Second)
	sa := n.synACK(local, twPeer, 1000) // SYN-RECEIVED, born at 2 s
	n.clk.Advance(3 * time.Second)
	n.send(local, twPeer, wire.TCPFields{Seq: 1001, Ack: sa.SeqNum().Add(1), Flags: wire.FlagACK, Window: 65535})
	if _, err := ln.Accept(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.clk.Advance(1500 * time.Millisecond)
	active, err := n.s.dialTCP(netip.AddrPort{}, netip.AddrPortFrom(fzPeers[1], 9), 0) // SYN-SENT, born at 6.5 s
	if err != nil {
		t.Fatal(err)
	}
	closer := netip.AddrPortFrom(fzPeers[2], 40001)
	n.clk.Advance(250 * time.Millisecond)
	tw, _ := n.closeFirst(ln, local, closer, 5000, nil, nil) // born at 6.75 s, now in TIME-WAIT
	if tw.State() != tcp.StateTimeWait {
		t.Fatalf("the closed connection is in %v, want TIME-WAIT", tw.State())
	}
	n.clk.Advance(1250 * time.Millisecond) // now 8 s after Listen

	snap := n.s.Snapshot()
	want := map[netip.AddrPort]struct {
		state tcp.State
		age   time.Duration
	}{
		{}:                  {tcp.StateListen, 8 * time.Second},
		twPeer:              {tcp.StateEstablished, 6 * time.Second},
		active.RemoteAddr(): {tcp.StateSynSent, 1500 * time.Millisecond},
		closer:              {tcp.StateTimeWait, 1250 * time.Millisecond},
	}
	if len(snap.Sockets) != len(want) {
		t.Fatalf("%d sockets, want %d: %+v", len(snap.Sockets), len(want), snap.Sockets)
	}
	for _, r := range snap.Sockets {
		w, ok := want[r.Remote]
		if !ok || r.State != w.state || r.Age != w.age {
			t.Errorf("%v-%v %v: age %v; want %v, age %v", r.Local, r.Remote, r.State, r.Age, w.state, w.age)
		}
	}
	if in := active.Info(); in.Age != 1500*time.Millisecond {
		t.Errorf("Info of the dialing socket: age %v, want 1.5s", in.Age)
	}

	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for i, r := range back.Sockets {
		if r.Age != snap.Sockets[i].Age {
			t.Errorf("JSON row %d: age %v, want %v", i, r.Age, snap.Sockets[i].Age)
		}
	}
}
