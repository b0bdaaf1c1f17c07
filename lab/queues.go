package lab

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// The scenarios of a listener's two queues: article 002 and 004's backlog,
// and a SYN flood.

func init() {
	register(&Scenario{Name: "backlog-full", Summary: "the accept queue is full: the final ACK is dropped, and retried until there is room", run: runBacklogFull})
}

// clientEndN is the client's n-th end (0 is clientEnd), for scenarios with
// several connections.
func (w *world) clientEndN(n int) netip.AddrPort {
	return netip.AddrPortFrom(clientAddr.Addr(), w.clientPort()+uint16(n))
}

func runBacklogFull(w *world) (*report, error) {
	se := w.serverEnd()
	l, err := w.server.ListenTCP(se, 1)
	if err != nil {
		return nil, err
	}
	first, second := w.clientEndN(0), w.clientEndN(1)
	d1, err := w.startDial(w.client, w.cw, first, se)
	if err != nil {
		return nil, err
	}
	d2, err := w.startDial(w.client, w.cw, second, se)
	if err != nil {
		return nil, err
	}
	w.settle()
	secondIn := w.state(se, second)
	// The server's application is busy: it accepts only after 2.5 s.
	w.advance(2500 * time.Millisecond)
	if err := w.runUntil(maxWait, "a connection to accept", func() bool { return l.Ready() > 0 }); err != nil {
		return nil, err
	}
	a1, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	acceptedAt := w.elapsed()
	if err := w.runUntil(maxWait, "the second connection's ESTABLISHED", func() bool { return l.Ready() > 0 }); err != nil {
		return nil, err
	}
	a2, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	if err := w.runUntil(maxWait, "both dials", func() bool { return w.opened(first, se)() && w.opened(second, se)() }); err != nil {
		return nil, err
	}
	if _, err := d1.result(); err != nil {
		return nil, err
	}
	if _, err := d2.result(); err != nil {
		return nil, err
	}
	return &report{
		conns: []drawing{{caption: fmt.Sprintf("The second connection, from port %d:", second.Port()), left: second, right: se}},
		outcome: []string{
			fmt.Sprintf("client: both connects returned at once, ESTABLISHED; on the server the second stayed %s", secondIn),
			fmt.Sprintf("server: SYN,ACK of the second sent again at %s", w.timesOf(func(e *trace.Event) bool { return timer(se, "retransmit")(e) && e.Remote == second })),
			fmt.Sprintf("server: accepted %v at %v, then %v (%s) at %v", a1.RemoteAddr(), acceptedAt, a2.RemoteAddr(), a2.State(), w.elapsed()),
		},
		story: `The server listens with a backlog of 1: its accept queue holds one established connection, and its
application is busy and does not call accept for 2.5 seconds. Two connections arrive at once. Both SYNs find room
(the first connection is still half-open), both get their SYN,ACK, and the client, which cannot see the server's
queues, is ESTABLISHED on both: connect returned. The first final ACK fills the accept queue. The second final ACK
finds it full, and the server drops it (counted in ListenOverflows), keeping the half-open connection in
SYN-RECEIVED. That is what Linux does by default (tcp_abort_on_overflow=0): the server's SYN,ACK timer fires, it
sends SYN,ACK again, and the client answers it with the ACK again; the first retry is dropped as well. Once the
application accepts the first connection the queue has room, and the next retry's ACK completes the second one. The
client never knew: the wait is invisible to it until it sends data. BSD stacks, like macOS, drop the SYN instead
when the queue is full, and the client times out if the queue stays full (article 004). A SYN that finds the
accept queue already full is dropped by synack too, as Linux does.`,
		rfc: "RFC 9293 §3.10.7.2 (LISTEN) and §3.10.7.4 (SYN-RECEIVED), RFC 6298 §5 (the SYN,ACK's retransmission)",
	}, nil
}

func init() {
	register(&Scenario{Name: "syn-flood", Summary: "spoofed SYNs fill the SYN queue; SYN cookies still let a real client in", run: runSYNFlood,
		setup: [2]stackSetup{nil, func(c *synack.Config) { c.TCP.MaxSYNBacklog = floodBacklog }}})
}

// The flood: floodSYNs spoofed SYNs against a SYN queue of floodBacklog.
const (
	floodSYNs    = 12
	floodBacklog = 8
)

func runSYNFlood(w *world) (*report, error) {
	ce, se := w.clientEnd(), w.serverEnd()
	l, err := w.server.ListenTCP(se, 128)
	if err != nil {
		return nil, err
	}
	// SYNs from addresses nobody holds: the SYN,ACKs go nowhere and no
	// handshake ever ends.
	rng := rand.New(rand.NewPCG(w.opts.Seed, 0x5f1d))
	for i := range floodSYNs {
		from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)}), uint16(1024+rng.IntN(60000)))
		w.cable.inject(synPacket(from, se, seqnum.Value(rng.Uint32())))
	}
	w.settle()
	halfOpen, cookies := l.HalfOpen(), w.server.Internals().TCPStats().TCPReqQFullDoCookies.Load()
	d, err := w.dialClient()
	if err != nil {
		return nil, err
	}
	if err := w.runUntil(maxWait, "the handshake", w.opened(ce, se)); err != nil {
		return nil, err
	}
	c, err := d.result()
	if err != nil {
		return nil, err
	}
	if err := w.runUntil(maxWait, "the server's ESTABLISHED", func() bool { return l.Ready() > 0 }); err != nil {
		return nil, err
	}
	s, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return &report{
		conns: []drawing{{caption: "The real client's connection:", left: ce, right: se}},
		outcome: []string{
			fmt.Sprintf("server: after %d spoofed SYNs, %d half-open connections (the SYN queue's bound) and %d SYNs answered with a cookie", floodSYNs, halfOpen, cookies),
			fmt.Sprintf("client: connect returned: %s; server: accept returned it: %s", c.State(), s.State()),
		},
		story: fmt.Sprintf(`An attacker sends SYNs from addresses that are not its own. Each SYN makes the server keep a half-open
connection in SYN-RECEIVED and send a SYN,ACK that goes nowhere, so no handshake ever ends; without a defence, the
SYN queue (bounded, %d here; Linux's tcp_max_syn_backlog) fills and real clients are turned away. With the queue
full, synack answers a SYN with a SYN cookie, as Linux does: the SYN,ACK's sequence number encodes the connection's
addresses, a coarse time, the peer's MSS and a secret hash, and the server keeps nothing. A real client answers with
the final ACK, whose ack=cookie+1 brings the cookie back; the server checks it and only then makes the connection,
which passes through SYN-RECEIVED and is ESTABLISHED on that same ACK. A spoofed source never answers, and costs no memory. The price: a cookie cannot hold
everything a SYN said (only a few MSS values, and the window scale and SACK only when timestamps carry them).`, floodBacklog),
		rfc: "RFC 4987 §3.6 (SYN cookies) and §2 (the attack), RFC 9293 §3.10.7.2 (LISTEN)",
	}, nil
}

// synPacket returns an IPv4 packet holding a bare SYN from src to dst, as a
// spoofing attacker sends it.
func synPacket(src, dst netip.AddrPort, seq seqnum.Value) []byte {
	t := wire.TCPFields{SrcPort: src.Port(), DstPort: dst.Port(), Seq: seq, Flags: wire.FlagSYN, Window: 64240}
	pkt := make([]byte, wire.IPv4MinHeaderLen+t.Len())
	ip := wire.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64, Protocol: wire.ProtocolTCP, Src: src.Addr(), Dst: dst.Addr()}
	ip.Encode(pkt)
	t.Encode(pkt[wire.IPv4MinHeaderLen:])
	wire.TCP(pkt[wire.IPv4MinHeaderLen:]).FillChecksum(src.Addr(), dst.Addr())
	return pkt
}
