package synack_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"syscall"
	"testing"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/tcp"
)

// TestSimultaneousOpenEstablishes has both stacks dial each other on the
// same pair of ports with their SYNs crossing, RFC 9293 Figure 8: each goes
// SYN-SENT -> SYN-RECEIVED -> ESTABLISHED, both dials return one
// connection, and data flows both ways.
func TestSimultaneousOpenEstablishes(t *testing.T) {
	pc, _, g := gates(false)
	p := newPair(t, pc)
	ca := netip.AddrPortFrom(clientAddr.Addr(), 5000)
	sa := netip.AddrPortFrom(serverAddr.Addr(), 6000)
	type result struct {
		c   *synack.TCPConn
		err error
	}
	cch, sch := make(chan result, 1), make(chan result, 1)
	g.Hold() // the client's SYN waits at the server's door
	go func() {
		c, err := p.client.DialTCPFrom(context.Background(), ca, sa)
		cch <- result{c, err}
	}()
	waitFor(t, "the client's SYN", func() bool { return g.Held() == 1 })
	go func() {
		c, err := p.server.DialTCPFrom(context.Background(), sa, ca)
		sch <- result{c, err}
	}()
	// The server's SYN reaches the client in SYN-SENT.
	waitFor(t, "the client in SYN-RECEIVED", func() bool {
		st := states(p.client)
		return len(st) == 1 && st[0] == tcp.StateSynReceived
	})
	g.Open()
	cr, sr := <-cch, <-sch
	if cr.err != nil || sr.err != nil {
		t.Fatalf("dials: client %v, server %v", cr.err, sr.err)
	}
	defer cr.c.Close()
	defer sr.c.Close()
	for _, c := range []*synack.TCPConn{cr.c, sr.c} {
		if st := c.State(); st != tcp.StateEstablished {
			t.Errorf("%v: %v, want ESTABLISHED", c.LocalAddr(), st)
		}
	}
	if _, err := fmt.Fprint(cr.c, "from client"); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprint(sr.c, "from server"); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 11)
	if _, err := io.ReadFull(sr.c, b); err != nil || string(b) != "from client" {
		t.Fatalf("server read %q, %v", b, err)
	}
	if _, err := io.ReadFull(cr.c, b); err != nil || string(b) != "from server" {
		t.Fatalf("client read %q, %v", b, err)
	}
	for _, s := range []*synack.Stack{p.client, p.server} {
		if n := s.Internals().TCPStats().ActiveOpens.Load(); n != 1 {
			t.Errorf("%v: ActiveOpens = %d, want 1", s.Addr(), n)
		}
	}
}

// TestEstablishedPeerRebootedResets loses the server's state (a new stack
// takes its place on the link, as after a reboot): the client's next
// segment reaches no socket, is answered with a RST (RFC 9293 §3.10.7.1),
// and the client's connection fails with ECONNRESET.
func TestEstablishedPeerRebootedResets(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	_ = s // forgotten with its stack
	p.b.Attach(nil)
	// The old stack is not closed (that would reset its connections): it
	// is just gone from the wire. New refuses an endpoint a live stack
	// holds, so the fresh one gets the same pipe end under another name.
	fresh, err := synack.New(rewired{p.b}, synack.Config{Addr: serverAddr, Host: "server"})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := c.Write([]byte("anyone there?")); err != nil {
		t.Fatal(err)
	}
	_, err = c.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after the peer lost its state: %v, want ECONNRESET", err)
	}
	if n := fresh.Internals().Stats().TCPNoSocket.Load(); n != 1 {
		t.Errorf("fresh stack TCPNoSocket = %d, want 1", n)
	}
}

// TestEstablishedPeerMSSRespected gives the server a link MTU of 576: it
// announces an MSS of 536 in its SYN,ACK, and the client never sends it a
// packet larger than 576 bytes although its own link carries 1500.
func TestEstablishedPeerMSSRespected(t *testing.T) {
	var g *gate
	largest := 0
	p := newPair(t, pairConfig{serverLink: func(ep link.Endpoint) link.Endpoint {
		ep.(interface{ SetMTU(int) }).SetMTU(576)
		g = newGate(ep)
		g.SetDrop(func(pkt []byte) bool {
			largest = max(largest, len(pkt))
			return false
		})
		return g
	}})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	transfer(t, c, s, 100<<10, 9)
	transfer(t, s, c, 100<<10, 10)
	g.SetDrop(nil) // synchronizes with the last call of the drop function
	if largest != 576 {
		t.Errorf("largest packet to the server: %d bytes, want 576", largest)
	}
	if st := p.server.Internals().TCPConfig(); st.MSS != 536 {
		t.Errorf("server MSS %d, want 536", st.MSS)
	}
}

// rewired is a link endpoint under a name of its own: the same wire.
type rewired struct{ link.Endpoint }
