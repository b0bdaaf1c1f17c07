package trace

import (
	"net/netip"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

const (
	syn    = wire.FlagSYN
	ack    = wire.FlagACK
	fin    = wire.FlagFIN
	psh    = wire.FlagPSH
	rst    = wire.FlagRST
	synack = wire.FlagSYN | wire.FlagACK
	finack = wire.FlagFIN | wire.FlagACK
	pshack = wire.FlagPSH | wire.FlagACK
)

var (
	clientAddr = netip.MustParseAddrPort("10.0.0.1:49152")
	serverAddr = netip.MustParseAddrPort("10.0.0.2:80")
	otherAddr  = netip.MustParseAddrPort("10.0.0.1:49153") // a second client port
	listenAddr = netip.MustParseAddrPort("0.0.0.0:80")
)

// peer is one side of a scripted connection.
type peer struct {
	host          string
	local, remote netip.AddrPort
	state         string
}

// seg is a segment of a script.
type seg struct {
	flags    wire.TCPFlags
	seq, ack seqnum.Value
	n        int
}

// tape records the events of a script, one millisecond apart, as the engine
// would report them.
type tape struct {
	now    time.Time
	events []Event
}

func newTape() *tape { return &tape{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (t *tape) add(p *peer, e Event) {
	t.now = t.now.Add(time.Millisecond)
	e.Time, e.Host, e.Local, e.Remote = t.now, p.host, p.local, p.remote
	if e.State == "" {
		e.State = p.state
	}
	t.events = append(t.events, e)
}

func (t *tape) segment(k Kind, p *peer, s seg) {
	t.add(p, Event{Kind: k, Flags: s.flags, Seq: s.seq, Ack: s.ack, Window: 65535, Len: s.n})
}

// sent records p sending s.
func (t *tape) sent(p *peer, s seg) { t.segment(KindSegmentSent, p, s) }

// rcvd records p receiving s.
func (t *tape) rcvd(p *peer, s seg) { t.segment(KindSegmentReceived, p, s) }

// to records p moving to state for cause.
func (t *tape) to(p *peer, state, cause string) {
	from := p.state
	p.state = state
	t.add(p, Event{Kind: KindStateChange, From: from, State: state, Cause: cause})
}

// timer records a timer of p firing.
func (t *tape) timer(p *peer, cause string) { t.add(p, Event{Kind: KindTimer, Cause: cause}) }

// newPeers returns a client and a server about to connect.
func newPeers() (client, server *peer) {
	return &peer{host: "client", local: clientAddr, remote: serverAddr, state: "CLOSED"},
		&peer{host: "server", local: serverAddr, remote: clientAddr, state: "LISTEN"}
}

// handshake records the three-way handshake, client ISN 1000, server ISN 5000.
func (t *tape) handshake(c, s *peer) {
	t.to(c, "SYN-SENT", "connect")
	t.sent(c, seg{syn, 1000, 0, 0})
	t.rcvd(s, seg{syn, 1000, 0, 0})
	t.to(s, "SYN-RECEIVED", "rcv SYN")
	t.sent(s, seg{synack, 5000, 1001, 0})
	t.rcvd(c, seg{synack, 5000, 1001, 0})
	t.to(c, "ESTABLISHED", "rcv SYN,ACK")
	t.sent(c, seg{ack, 1001, 5001, 0})
	t.rcvd(s, seg{ack, 1001, 5001, 0})
	t.to(s, "ESTABLISHED", "rcv ACK")
}

// exchange records one segment from a to b, received.
func (t *tape) exchange(a, b *peer, s seg) {
	t.sent(a, s)
	t.rcvd(b, s)
}

// fullConnection is the life of one connection: the handshake, a request of
// 78 bytes, a response of 1024 bytes, the four-way close started by the
// client, and TIME-WAIT ending.
func fullConnection() []Event {
	t := newTape()
	c, s := newPeers()
	l := &peer{host: "server", local: listenAddr, state: "CLOSED"}
	t.to(l, "LISTEN", "listen")
	t.handshake(c, s)
	t.exchange(c, s, seg{pshack, 1001, 5001, 78})
	t.exchange(s, c, seg{ack, 5001, 1079, 0})
	t.exchange(s, c, seg{pshack, 5001, 1079, 1024})
	t.exchange(c, s, seg{ack, 1079, 6025, 0})
	t.to(c, "FIN-WAIT-1", "close")
	t.sent(c, seg{finack, 1079, 6025, 0})
	t.rcvd(s, seg{finack, 1079, 6025, 0})
	t.to(s, "CLOSE-WAIT", "rcv FIN")
	t.sent(s, seg{ack, 6025, 1080, 0})
	t.rcvd(c, seg{ack, 6025, 1080, 0})
	t.to(c, "FIN-WAIT-2", "rcv ACK of FIN")
	t.to(s, "LAST-ACK", "close")
	t.sent(s, seg{finack, 6025, 1080, 0})
	t.rcvd(c, seg{finack, 6025, 1080, 0})
	t.to(c, "TIME-WAIT", "rcv FIN")
	t.sent(c, seg{ack, 1080, 6026, 0})
	t.rcvd(s, seg{ack, 1080, 6026, 0})
	t.to(s, "CLOSED", "rcv ACK of FIN")
	t.timer(c, "2MSL")
	t.to(c, "CLOSED", "timeout 2MSL")
	return t.events
}

func seqValue(i int) seqnum.Value { return seqnum.Value(i) }

func synFlags(f int) wire.TCPFlags { return wire.TCPFlags(f) }

// simultaneousClose is a handshake followed by both sides closing at once
// (RFC 9293 Figure 13): each FIN crosses the other, both go through CLOSING
// to TIME-WAIT.
func simultaneousClose() []Event {
	t := newTape()
	c, s := newPeers()
	t.handshake(c, s)
	t.to(c, "FIN-WAIT-1", "close")
	t.sent(c, seg{finack, 1001, 5001, 0})
	t.to(s, "FIN-WAIT-1", "close")
	t.sent(s, seg{finack, 5001, 1001, 0})
	t.rcvd(c, seg{finack, 5001, 1001, 0})
	t.to(c, "CLOSING", "rcv FIN")
	t.sent(c, seg{ack, 1002, 5002, 0})
	t.rcvd(s, seg{finack, 1001, 5001, 0})
	t.to(s, "CLOSING", "rcv FIN")
	t.sent(s, seg{ack, 5002, 1002, 0})
	t.rcvd(c, seg{ack, 5002, 1002, 0})
	t.to(c, "TIME-WAIT", "rcv ACK of FIN")
	t.rcvd(s, seg{ack, 1002, 5002, 0})
	t.to(s, "TIME-WAIT", "rcv ACK of FIN")
	t.timer(c, "2MSL")
	t.to(c, "CLOSED", "timeout 2MSL")
	t.timer(s, "2MSL")
	t.to(s, "CLOSED", "timeout 2MSL")
	return t.events
}

// lossyConnection loses the client's first data segment, which the
// retransmission timer sends again, then the client drops the server's
// answer for a bad checksum; the server's RST ends it.
func lossyConnection() []Event {
	t := newTape()
	c, s := newPeers()
	t.handshake(c, s)
	t.sent(c, seg{pshack, 1001, 5001, 100})
	t.timer(c, "retransmit")
	t.exchange(c, s, seg{pshack, 1001, 5001, 100})
	t.exchange(s, c, seg{ack, 5001, 1101, 0})
	t.sent(s, seg{pshack, 5001, 1101, 10})
	t.add(c, Event{Kind: KindDrop, Flags: pshack, Seq: 5001, Ack: 1101, Window: 65535, Len: 10, Cause: "bad checksum"})
	t.to(s, "CLOSED", "abort")
	t.sent(s, seg{rst | ack, 5011, 1101, 0})
	t.rcvd(c, seg{rst | ack, 5011, 1101, 0})
	t.to(c, "CLOSED", "rcv RST")
	return t.events
}

// only returns the events that host emitted.
func only(events []Event, host string) []Event {
	var out []Event
	for _, e := range events {
		if e.Host == host {
			out = append(out, e)
		}
	}
	return out
}

// withNoise interleaves events with those of other connections: a second
// client port talking to the same server, the client talking to another
// server, and the listener, none of which the diagram of events may show.
func withNoise(events []Event) []Event {
	other := fullConnection()
	otherServer := netip.MustParseAddrPort("10.0.0.3:80")
	var out []Event
	for i, e := range events {
		out = append(out, e)
		if i < len(other) {
			o := other[i]
			o.Seq, o.Ack = o.Seq+777, o.Ack+777
			switch {
			case o.Local == clientAddr:
				o.Local, o.Host = otherAddr, "client2"
			case o.Remote == clientAddr:
				o.Remote = otherAddr
			}
			out = append(out, o)
		}
		if i%5 == 0 {
			out = append(out, Event{Kind: KindStateChange, Host: "client", Local: clientAddr, Remote: otherServer,
				From: "ESTABLISHED", State: "CLOSE-WAIT", Cause: "rcv FIN"})
			out = append(out, Event{Kind: KindSegmentSent, Host: "client", Local: otherServer, Remote: clientAddr,
				Flags: finack, Seq: 1079, Ack: 6025, Window: 65535})
		}
	}
	return out
}
