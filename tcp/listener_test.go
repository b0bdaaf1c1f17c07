package tcp

// The listen queues (SPEC.md "Listen queues"): the SYN queue of half-open
// connections, the accept queue bounded by the backlog, and Linux's
// default behaviour when the accept queue is full.

import (
	"net/netip"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// clientOf returns a pair of a new client at port (ISS iss) and its end on
// server s (ISS siss).
func clientOf(t *testing.T, s *end, port uint16, iss, siss seqnum.Value) *pair {
	c := peerAt(t, port, iss)
	return &pair{t: t, client: c, server: s.serverFor(c.local, siss)}
}

// handshake runs a whole handshake of p starting at t0.
func (p *pair) handshake(t0 time.Time) {
	p.t.Helper()
	_ = p.client.c.Connect(t0, p.client.iss)
	p.flow(t0.Add(time.Millisecond), p.client, hasFlags(syn))
	p.flow(t0.Add(2*time.Millisecond), p.server, hasFlags(synack))
	p.flow(t0.Add(3*time.Millisecond), p.client, hasFlags(ack))
	p.client.state(StateEstablished)
}

// queues asserts the lengths of the listener's two queues.
func queues(t *testing.T, l *Listener, halfOpen, ready int) {
	t.Helper()
	if l.HalfOpen() != halfOpen || l.Ready() != ready {
		t.Fatalf("half-open %d ready %d, want %d and %d", l.HalfOpen(), l.Ready(), halfOpen, ready)
	}
}

// TestListenHandshakeWithoutAcceptQueues: the handshake completes whether
// or not the application calls Accept; Accept takes connections oldest first.
func TestListenHandshakeWithoutAcceptQueues(t *testing.T) {
	s := newServer(t, 4)
	a := clientOf(t, s, 1001, 100, 500)
	b := clientOf(t, s, 1002, 200, 600)
	a.handshake(at(0))
	b.handshake(at(time.Second))
	a.server.state(StateEstablished)
	b.server.state(StateEstablished)
	queues(t, s.l, 0, 2)
	if s.l.Accept() != a.server.c || s.l.Accept() != b.server.c || s.l.Accept() != nil {
		t.Fatal("Accept must return a, then b, then nil")
	}
	queues(t, s.l, 0, 0)
}

// TestListenBacklogAtLeastOne: a backlog below 1 still admits one connection.
func TestListenBacklogAtLeastOne(t *testing.T) {
	env, _ := newEnv("server")
	if b := NewListener(env, 0).Backlog(); b != 1 {
		t.Fatalf("Backlog = %d, want 1", b)
	}
}

// TestListenRecvSYNAcceptQueueFullDropped: while the accept queue is full
// a new SYN is dropped without answer (Linux, counted as ListenOverflows
// and ListenDrops); the client's SYN retransmission gets through once there
// is room.
func TestListenRecvSYNAcceptQueueFullDropped(t *testing.T) {
	s := newServer(t, 1)
	a := clientOf(t, s, 1001, 100, 500)
	a.handshake(at(0))
	queues(t, s.l, 0, 1)
	b := clientOf(t, s, 1002, 200, 600)
	_ = b.client.c.Connect(at(time.Second), 200)
	if got := s.l.Classify(in(syn, 200, 0)); got != ListenDrop {
		t.Fatalf("Classify = %v, want ListenDrop", got)
	}
	b.flow(at(time.Second), b.client, is(syn, 200, 0))
	b.server.expectNone()
	queues(t, s.l, 0, 1)
	if st := s.env.Stats; st.ListenDrops.Load() != 2 || st.ListenOverflows.Load() != 2 { // Classify above counted too
		t.Fatalf("ListenDrops %d ListenOverflows %d, want 2 and 2", st.ListenDrops.Load(), st.ListenOverflows.Load())
	}
	s.l.Accept()
	b.client.fire() // the SYN again at 2 s
	b.flow(at(2*time.Second), b.client, is(syn, 200, 0))
	b.flow(at(2*time.Second), b.server, is(synack, 600, 201))
	b.flow(at(2*time.Second), b.client, is(ack, 201, 601))
	queues(t, s.l, 0, 1)
}

// TestListenRecvSYNSYNQueueFullDropped: at most MaxSYNBacklog half-open
// connections per listener; with SYN cookies off, further SYNs are dropped
// and counted.
func TestListenRecvSYNSYNQueueFullDropped(t *testing.T) {
	s := newServer(t, 16, func(c *Config) { c.MaxSYNBacklog, c.SYNCookies = 2, SYNCookiesOff })
	for i, port := range []uint16{1001, 1002, 1003} {
		e := s.serverFor(netip.AddrPortFrom(clientAddr.Addr(), port), 500)
		e.deliver(at(0), in(syn, seqnum.Value(100*i), 0))
		if i < 2 {
			e.expect(hasFlags(synack))
		} else {
			e.expectNone()
		}
	}
	queues(t, s.l, 2, 0)
	if s.env.Stats.ListenDrops.Load() != 1 || s.env.Stats.TCPReqQFullDrop.Load() != 1 || s.env.Stats.PassiveOpens.Load() != 2 {
		t.Fatalf("ListenDrops %d PassiveOpens %d, want 1 and 2",
			s.env.Stats.ListenDrops.Load(), s.env.Stats.PassiveOpens.Load())
	}
}

// fullQueue sets up the overflow case: b is half-open when a's handshake
// fills the accept queue (backlog 1); b's client then completes its side and
// its final ACK is dropped (Linux tcp_abort_on_overflow = 0).
func fullQueue(t *testing.T) (s *end, a, b *pair) {
	t.Helper()
	s = newServer(t, 1)
	a = clientOf(t, s, 1001, 100, 500)
	b = clientOf(t, s, 1002, 200, 600)
	_ = b.client.c.Connect(at(0), 200)
	b.flow(at(0), b.client, is(syn, 200, 0))
	synackB := b.server.expect(is(synack, 600, 201)) // held in the network
	a.handshake(at(time.Millisecond))
	queues(t, s.l, 1, 1)
	b.client.deliver(at(10*time.Millisecond), synackB.segment())
	b.client.state(StateEstablished)
	b.flow(at(20*time.Millisecond), b.client, is(ack, 201, 601))
	b.server.expectNone()
	b.server.state(StateSynReceived)
	queues(t, s.l, 1, 1)
	if s.env.Stats.ListenOverflows.Load() != 1 {
		t.Fatalf("ListenOverflows = %d, want 1", s.env.Stats.ListenOverflows.Load())
	}
	return s, a, b
}

// TestSynReceivedRecvACKAcceptQueueFullCompletesOnSYNACKRetransmit: the
// dropped final ACK leaves the server in SYN-RECEIVED; when Accept makes
// room, its SYN,ACK retransmission draws a fresh ACK from the client
// (ESTABLISHED, the SYN,ACK is old to it) and the handshake completes.
func TestSynReceivedRecvACKAcceptQueueFullCompletesOnSYNACKRetransmit(t *testing.T) {
	s, a, b := fullQueue(t)
	if s.l.Accept() != a.server.c {
		t.Fatal("Accept did not return a")
	}
	b.server.deadline(at(time.Second))
	b.server.fire()
	b.flow(at(time.Second+time.Millisecond), b.server, is(synack, 600, 201))
	b.flow(at(time.Second+2*time.Millisecond), b.client, is(ack, 201, 601))
	b.server.state(StateEstablished)
	queues(t, s.l, 0, 1)
	if s.l.Accept() != b.server.c {
		t.Fatal("Accept did not return b")
	}
}

// TestSynReceivedRecvDataAcceptQueueFullCompletesOnClientRetransmit: the
// client's data also carries the ACK; dropped while the queue is full, its
// retransmission completes the handshake and delivers the data.
func TestSynReceivedRecvDataAcceptQueueFullCompletesOnClientRetransmit(t *testing.T) {
	s, _, b := fullQueue(t)
	b.client.write(at(30*time.Millisecond), []byte("hello"))
	b.flow(at(31*time.Millisecond), b.client, is(pshack, 201, 601), hasData([]byte("hello")))
	b.server.expectNone()
	if s.env.Stats.ListenOverflows.Load() != 2 {
		t.Fatalf("ListenOverflows = %d, want 2", s.env.Stats.ListenOverflows.Load())
	}
	s.l.Accept()
	// The client's RTO is 200 ms (a 10 ms sample, floored at MinRTO).
	b.client.deadline(at(230 * time.Millisecond))
	when := b.client.fire()
	b.flow(when.Add(time.Millisecond), b.client, is(pshack, 201, 601), hasData([]byte("hello")))
	b.server.state(StateEstablished)
	b.flow(when.Add(2*time.Millisecond), b.server, is(ack, 601, 206))
	buf := make([]byte, 10)
	if n, err := b.server.c.Read(when, buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("server Read = %q, %v; want hello", buf[:n], err)
	}
}

// TestListenReadyRecvRSTLeavesQueue: an established connection reset
// while waiting for Accept leaves the accept queue.
func TestListenReadyRecvRSTLeavesQueue(t *testing.T) {
	s := newServer(t, 4)
	a := clientOf(t, s, 1001, 100, 500)
	a.handshake(at(0))
	queues(t, s.l, 0, 1)
	a.server.deliver(at(time.Second), in(rst, 101, 0))
	a.server.state(StateClosed)
	queues(t, s.l, 0, 0)
	if s.l.Accept() != nil {
		t.Fatal("Accept returned a reset connection")
	}
}
