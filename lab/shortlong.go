package lab

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
)

// short-vs-long: article 003's comparison of a connection per request with
// one connection for all of them.

func init() {
	register(&Scenario{Name: "short-vs-long", Summary: "ten requests on ten connections against ten on one: segments and round trips",
		run: runShortVsLong, delay: 10 * time.Millisecond})
}

// The exchanges of short-vs-long.
const (
	slRequests = 10
	slRequest  = 40  // bytes of each request
	slResponse = 200 // bytes of each response
)

// phase counts what part of short-vs-long cost.
type phase struct {
	segments int
	took     time.Duration
	conns    []netip.AddrPort // the client's ends
	timeWait int              // TIME-WAIT records the client was left with
}

// timeWaits counts the client's connections in TIME-WAIT.
func (w *world) timeWaits() int {
	n := 0
	for _, r := range w.client.Sockets() {
		if r.State == tcp.StateTimeWait {
			n++
		}
	}
	return n
}

func runShortVsLong(w *world) (*report, error) {
	se := w.serverEnd()
	l, err := w.server.ListenTCP(se, 128)
	if err != nil {
		return nil, err
	}
	var short, long phase
	start := w.elapsed()
	for i := range slRequests {
		end := w.clientEndN(i)
		short.conns = append(short.conns, end)
		c, s, err := w.open(l, end)
		if err != nil {
			return nil, err
		}
		if err := w.exchange(c, s); err != nil {
			return nil, err
		}
		if err := w.hangUp(c, s, end); err != nil {
			return nil, err
		}
	}
	short.took = w.elapsed() - start
	short.timeWait = w.timeWaits()

	start = w.elapsed()
	end := w.clientEndN(slRequests)
	long.conns = []netip.AddrPort{end}
	c, s, err := w.open(l, end)
	if err != nil {
		return nil, err
	}
	for range slRequests {
		if err := w.exchange(c, s); err != nil {
			return nil, err
		}
	}
	if err := w.hangUp(c, s, end); err != nil {
		return nil, err
	}
	long.took = w.elapsed() - start
	long.timeWait = w.timeWaits() - short.timeWait

	short.count(w.rec.Events(), se)
	long.count(w.rec.Events(), se)
	rtt := w.opts.Faults.Out.Delay + w.opts.Faults.In.Delay
	rounds := func(d time.Duration) string {
		if rtt == 0 {
			return "no delay, so no round trips to count"
		}
		return fmt.Sprintf("%.1f round trips of %v", float64(d)/float64(rtt), rtt)
	}
	return &report{
		conns: []drawing{
			{caption: "The first of the ten short connections (the other nine are the same):", left: short.conns[0], right: se},
			{caption: "The long connection, ten requests one after the other:", left: end, right: se},
		},
		outcome: []string{
			fmt.Sprintf("ten connections: %d segments, %v until the last one closed (%s)", short.segments, short.took, rounds(short.took)),
			fmt.Sprintf("one connection:  %d segments, %v until it closed (%s)", long.segments, long.took, rounds(long.took)),
			fmt.Sprintf("in both: %d requests of %d bytes, %d responses of %d bytes; the client was left with %d connections in TIME-WAIT against %d", slRequests, slRequest, slRequests, slResponse, short.timeWait, long.timeWait),
		},
		story: `The same ten requests and responses, sent the two ways HTTP knows: a connection per request (HTTP/1.0)
and one connection kept open for all of them (HTTP/1.1's keep-alive). Each new connection costs a handshake, one
round trip before the request can leave, and a close, four segments more, and it starts over with what TCP knows
about the path: the round-trip estimate and the congestion window are learned again each time, from the initial
window. The long connection pays the handshake and the close once; each request then costs one round trip, and
after the first, its acknowledgements ride on the responses: the server delays the ACK of a request and sends it
with the response (RFC 9293 §3.8.6.3), where a young connection acknowledges at once (quick ACKs, as Linux does),
one more segment for each short connection. The active closer keeps each connection in TIME-WAIT for 2*MSL: ten short connections leave
ten records (and ten ports the client cannot reuse with this server for a minute), the long one leaves one. The
delay is 10 ms each way unless fault flags say otherwise, so that round trips have a length.`,
		rfc: "RFC 9293 §3.5 and §3.6 (the handshake and close each connection pays), RFC 1122 §4.2.3.2 (delayed ACKs) and RFC 9112 §9.3 (persistent connections)",
	}, nil
}

// count counts the segments either side sent on p's connections to the
// server's end se.
func (p *phase) count(events []trace.Event, se netip.AddrPort) {
	for _, e := range events {
		if e.Kind == trace.KindSegmentSent && (containsEnd(p.conns, e.Local) || e.Local == se && containsEnd(p.conns, e.Remote)) {
			p.segments++
		}
	}
}

// containsEnd reports whether ends holds e.
func containsEnd(ends []netip.AddrPort, e netip.AddrPort) bool {
	for _, x := range ends {
		if x == e {
			return true
		}
	}
	return false
}

// open dials the server from end and accepts the connection.
func (w *world) open(l *synack.TCPListener, end netip.AddrPort) (c, s *synack.TCPConn, err error) {
	d, err := w.startDial(w.client, w.cw, end, w.serverEnd())
	if err != nil {
		return nil, nil, err
	}
	if err := w.runUntil(maxWait, "the handshake", w.opened(end, w.serverEnd())); err != nil {
		return nil, nil, err
	}
	if c, err = d.result(); err != nil {
		return nil, nil, err
	}
	if err := w.runUntil(maxWait, "the server's ESTABLISHED", func() bool { return l.Ready() > 0 }); err != nil {
		return nil, nil, err
	}
	s, err = l.AcceptTCP()
	return c, s, err
}

// exchange sends one request from c and its response from s.
func (w *world) exchange(c, s *synack.TCPConn) error {
	if _, err := c.Write(request(slRequest)); err != nil {
		return err
	}
	if _, err := w.receive(s, slRequest); err != nil {
		return err
	}
	if _, err := s.Write(request(slResponse)); err != nil {
		return err
	}
	_, err := w.receive(c, slResponse)
	return err
}

// hangUp closes c, then s once it has read the end of the stream, and
// waits for the server's side to be CLOSED.
func (w *world) hangUp(c, s *synack.TCPConn, end netip.AddrPort) error {
	if err := c.Close(); err != nil {
		return err
	}
	if err := w.runUntil(maxWait, "the client's FIN", func() bool { _, eof := readAvailable(s); return eof }); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	return w.runUntil(maxWait, "the server's CLOSED", w.in(w.serverEnd(), end, "CLOSED"))
}

// request returns n bytes of a request or a response.
func request(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefghijklmnopqrstuvwxyz"[i%26]
	}
	return b
}
