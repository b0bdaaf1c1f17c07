package stack

import (
	"bytes"
	"context"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// wireNet is a stack whose link is the test: DeliverPacket runs the whole
// inbound path on the test's goroutine, and what the stack writes back is
// collected, so each exchange is synchronous and time is the virtual clock.
type wireNet struct {
	t   *testing.T
	s   *Stack
	clk *clock.Virtual
	got [][]byte
}

var _ link.Endpoint = (*wireNet)(nil)

func (n *wireNet) MTU() int                   { return 1500 }
func (n *wireNet) Attach(link.Dispatcher)     {}
func (n *wireNet) Close() error               { return nil }
func (n *wireNet) WritePacket(p []byte) error { n.got = append(n.got, bytes.Clone(p)); return nil }

func newWireNet(t *testing.T, cfg Config) *wireNet {
	t.Helper()
	n := &wireNet{t: t, clk: clock.NewVirtual(fzStart)}
	cfg.Addr, cfg.Clock = netip.MustParsePrefix("10.0.0.2/24"), n.clk
	s, err := New(n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.s = s
	t.Cleanup(func() { s.Close() })
	return n
}

// send delivers a segment from remote to local and returns the TCP
// segments the stack answered with.
func (n *wireNet) send(local, remote netip.AddrPort, f wire.TCPFields) []wire.TCP {
	n.got = nil
	n.s.DeliverPacket(tcpPacket(local, remote, &f, nil))
	var out []wire.TCP
	for _, p := range n.got {
		ip, err := wire.ParseIPv4(p)
		if err != nil || ip.Protocol() != wire.ProtocolTCP {
			continue
		}
		seg, err := wire.ParseTCP(ip.Payload())
		if err != nil {
			n.t.Fatalf("stack wrote a bad segment: %v", err)
		}
		out = append(out, seg)
	}
	return out
}

// synACK sends a SYN from remote with sequence number seq and returns the
// stack's SYN,ACK, failing the test if there is none.
func (n *wireNet) synACK(local, remote netip.AddrPort, seq seqnum.Value) wire.TCP {
	n.t.Helper()
	out := n.send(local, remote, wire.TCPFields{Seq: seq, Flags: wire.FlagSYN, Window: 65535})
	if len(out) != 1 || out[0].Flags() != wire.FlagSYN|wire.FlagACK {
		n.t.Fatalf("SYN from %v: answered %d segments, want one SYN,ACK", remote, len(out))
	}
	return out[0]
}

// handshake completes a handshake from remote and returns what the stack
// answered the final ACK with.
func (n *wireNet) handshake(local, remote netip.AddrPort, iss seqnum.Value) []wire.TCP {
	n.t.Helper()
	sa := n.synACK(local, remote, iss)
	return n.send(local, remote, wire.TCPFields{Seq: iss.Add(1), Ack: sa.SeqNum().Add(1), Flags: wire.FlagACK, Window: 65535})
}

// stateOf names what the table holds for a 4-tuple.
func stateOf(c *tcp.Conn) string {
	if c == nil {
		return "no connection"
	}
	return c.State().String()
}

func (n *wireNet) conn(local, remote netip.AddrPort) *tcp.Conn {
	if c := n.s.lookup(keyOf(local, remote)); c != nil {
		return c.conn
	}
	return nil
}

// timeWait is the TIME-WAIT record of a 4-tuple, or nil.
func (n *wireNet) timeWait(local, remote netip.AddrPort) *tcp.TimeWait {
	if e := n.s.twLookup(keyOf(local, remote)); e != nil {
		return &e.rec
	}
	return nil
}

// TestListenCookieACKPastMaxConnectionsDropped: with every SYN answered by
// a cookie, a valid cookie ACK makes a connection only while the stack
// holds fewer than MaxConnections; past it the ACK is dropped (no
// connection, no RST) and counted in ConnLimitDrops, so clients completing
// stateless handshakes cannot grow the table beyond its bound.
func TestListenCookieACKPastMaxConnectionsDropped(t *testing.T) {
	const limit, clients = 3, 8
	n := newWireNet(t, Config{MaxConnections: limit, TCP: tcp.Config{SYNCookies: tcp.SYNCookiesAlways}})
	local := netip.AddrPortFrom(fzAddr, fzPort)
	if _, err := n.s.ListenTCP(local, 64); err != nil {
		t.Fatal(err)
	}
	for i := range clients {
		remote := netip.AddrPortFrom(fzPeers[0], uint16(40000+i))
		out := n.handshake(local, remote, 1000)
		if len(out) != 0 {
			t.Fatalf("client %d: the final ACK was answered with %d segments, want none", i, len(out))
		}
		if got := n.s.connCount(); got > limit {
			t.Fatalf("client %d: the stack holds %d connections, above MaxConnections %d", i, got, limit)
		}
		if established := n.conn(local, remote) != nil; established != (i < limit) {
			t.Fatalf("client %d: connection made %v, want %v", i, established, i < limit)
		}
	}
	if got := n.s.TCPStats().SyncookiesRecv.Load(); got != clients {
		t.Errorf("SyncookiesRecv = %d, want %d: every cookie was valid", got, clients)
	}
	if got := n.s.Stats().ConnLimitDrops.Load(); got != clients-limit {
		t.Errorf("ConnLimitDrops = %d, want %d", got, clients-limit)
	}
}

// twNet is a stack listening on port 80 with backlog 1 that holds the
// server side of a connection from twPeer in TIME-WAIT (the server closed
// first), and the old incarnation's NextISS.
func twNet(t *testing.T, cfg Config) (n *wireNet, ln *TCPListener, nextISS seqnum.Value) {
	t.Helper()
	n = newWireNet(t, cfg)
	local := netip.AddrPortFrom(fzAddr, fzPort)
	ln, err := n.s.ListenTCP(local, 1)
	if err != nil {
		t.Fatal(err)
	}
	n.handshake(local, twPeer, 1000)
	c, err := ln.Accept(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n.got = nil
	c.Close()
	if len(n.got) != 1 {
		t.Fatalf("Close sent %d segments, want a FIN", len(n.got))
	}
	fin, _ := wire.ParseTCP(n.got[0][wire.IPv4MinHeaderLen:])
	// The peer acknowledges the FIN and sends its own.
	n.send(local, twPeer, wire.TCPFields{Seq: 1001, Ack: fin.SeqNum().Add(1), Flags: wire.FlagACK | wire.FlagFIN, Window: 65535})
	tw := n.timeWait(local, twPeer)
	if tw == nil || n.conn(local, twPeer) != nil {
		t.Fatalf("server side %s, want a TIME-WAIT record", stateOf(n.conn(local, twPeer)))
	}
	return n, ln, tw.NextISS()
}

var twPeer = netip.AddrPortFrom(fzPeers[0], 40000)

// TestTimeWaitSYNDroppedByFullAcceptQueueKeepsTimeWait: a SYN that may
// take a 4-tuple over from TIME-WAIT arrives while the accept queue is
// full. The listener drops it, and TIME-WAIT stays as it was; once the
// queue has room, the peer's retransmitted SYN ends TIME-WAIT and its
// connection starts at the old incarnation's NextISS, not from the ISN
// clock. The stack holds at most MaxConnections connections throughout;
// the record is not one of them, so the new connection finds room.
func TestTimeWaitSYNDroppedByFullAcceptQueueKeepsTimeWait(t *testing.T) {
	n, ln, next := twNet(t, Config{MaxConnections: 2})
	local := netip.AddrPortFrom(fzAddr, fzPort)
	other := netip.AddrPortFrom(fzPeers[1], 40000)
	n.handshake(local, other, 5000) // fills the accept queue
	if ln.Ready() != 1 {
		t.Fatalf("%d ready, want the accept queue full at 1", ln.Ready())
	}
	drops := n.s.TCPStats().ListenDrops.Load()
	syn := wire.TCPFields{Seq: 900000, Flags: wire.FlagSYN, Window: 65535}
	if out := n.send(local, twPeer, syn); len(out) != 0 {
		t.Fatalf("SYN on a full accept queue answered with %d segments, want none", len(out))
	}
	if got := n.s.TCPStats().ListenDrops.Load() - drops; got != 1 {
		t.Fatalf("ListenDrops went up by %d, want 1", got)
	}
	if n.timeWait(local, twPeer) == nil {
		t.Fatalf("after the dropped SYN the 4-tuple holds %s, want TIME-WAIT kept", stateOf(n.conn(local, twPeer)))
	}
	if _, err := ln.Accept(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.clk.Advance(1e9) // the peer's SYN retransmission
	sa := n.synACK(local, twPeer, syn.Seq)
	if sa.SeqNum() != next {
		t.Fatalf("retransmitted SYN answered with ISS %d, want the TIME-WAIT's NextISS %d", sa.SeqNum(), next)
	}
	if c := n.conn(local, twPeer); c == nil || c.State() != tcp.StateSynReceived || n.timeWait(local, twPeer) != nil {
		t.Fatalf("after the SYN,ACK the 4-tuple holds %s, want SYN-RECEIVED and no record", stateOf(c))
	}
	if got := n.s.Stats().ConnLimitDrops.Load(); got != 0 {
		t.Fatalf("ConnLimitDrops = %d: the record does not count, so the takeover found room", got)
	}
}

// TestTimeWaitSYNAnsweredByCookieEndsTimeWait: with cookies for every SYN,
// a SYN that may end TIME-WAIT is answered with a cookie, whose ISS
// replaces NextISS (Linux's tcp_conn_request); TIME-WAIT ends with that
// answer, so the peer's ACK reaches the listener and makes the new
// connection.
func TestTimeWaitSYNAnsweredByCookieEndsTimeWait(t *testing.T) {
	n, ln, _ := twNet(t, Config{TCP: tcp.Config{SYNCookies: tcp.SYNCookiesAlways}})
	local := netip.AddrPortFrom(fzAddr, fzPort)
	const seq = 900000
	sa := n.synACK(local, twPeer, seq)
	if c := n.conn(local, twPeer); c != nil || n.timeWait(local, twPeer) != nil {
		t.Fatalf("after the cookie SYN,ACK the 4-tuple holds %s, want nothing", stateOf(c))
	}
	out := n.send(local, twPeer, wire.TCPFields{Seq: seq + 1, Ack: sa.SeqNum().Add(1), Flags: wire.FlagACK, Window: 65535})
	if len(out) != 0 {
		t.Fatalf("the cookie ACK was answered with %d segments, want none", len(out))
	}
	if c := n.conn(local, twPeer); c == nil || c.State() != tcp.StateEstablished || c.ISS() != sa.SeqNum() {
		t.Fatalf("after the cookie ACK the 4-tuple holds %s, want ESTABLISHED from ISS %d", stateOf(c), sa.SeqNum())
	}
	if ln.Ready() != 1 {
		t.Fatalf("%d ready, want the new connection", ln.Ready())
	}
}
