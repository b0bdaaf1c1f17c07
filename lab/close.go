package lab

import (
	"fmt"

	"github.com/synack-net/synack/wire"
)

// The scenarios of closing a connection: article 001's four-way close and
// its variants.

func init() {
	register(&Scenario{Name: "close", Summary: "the four-way close: FIN, ACK, FIN, ACK, then TIME-WAIT for 2*MSL", run: runClose})
}

func runClose(w *world) (*report, error) {
	c, s, _, err := w.connect(128)
	if err != nil {
		return nil, err
	}
	ce, se := w.clientEnd(), w.serverEnd()
	if err := c.Close(); err != nil {
		return nil, err
	}
	if _, err := w.readToEOF(s); err != nil {
		return nil, err
	}
	serverSaw := w.state(se, ce)
	if err := s.Close(); err != nil {
		return nil, err
	}
	if err := w.runUntil(maxWait, "the client's TIME-WAIT", w.in(ce, se, "TIME-WAIT")); err != nil {
		return nil, err
	}
	tw := w.elapsed()
	if err := w.runUntil(maxWait, "the end of TIME-WAIT", w.in(ce, se, "CLOSED")); err != nil {
		return nil, err
	}
	return &report{
		conns: []drawing{{left: ce, right: se}},
		outcome: []string{
			fmt.Sprintf("server: read returned the end of the stream in %s; then the server closed", serverSaw),
			fmt.Sprintf("client: TIME-WAIT from %v to %v (2*MSL), then CLOSED", tw, w.elapsed()),
		},
		story: `The client closes first: it sends FIN (seq=1, the FIN takes one sequence number) and enters FIN-WAIT-1. The
server acknowledges it (ack=2) and enters CLOSE-WAIT: its application reads the end of the stream, but the server
may still send, since each direction closes on its own. The client, its FIN acknowledged, waits in FIN-WAIT-2 for
the server's FIN. When the server's application closes, its FIN goes out and it waits in LAST-ACK; the client
acknowledges that FIN and enters TIME-WAIT, the server, its FIN acknowledged, is CLOSED. The side that closed first
stays in TIME-WAIT for twice the maximum segment lifetime (2*MSL, 60 s here as on Linux): long enough to answer the
server's FIN again if the last ACK is lost (see time-wait), and for any old segment of this connection to die
before the same four numbers can make a new one.`,
		rfc: "RFC 9293 §3.6 (closing a connection, Figure 12, the normal close sequence) and §3.10.4 (CLOSE)",
	}, nil
}

func init() {
	register(&Scenario{Name: "half-close", Summary: "the client shuts its sending side; the server still answers, then closes", run: runHalfClose})
	register(&Scenario{Name: "simultaneous-close", Summary: "both sides close at once: FINs cross, CLOSING, both in TIME-WAIT", run: runSimultaneousClose})
	register(&Scenario{Name: "time-wait", Summary: "the last ACK is lost: TIME-WAIT answers the FIN sent again", run: runTimeWait})
}

func runHalfClose(w *world) (*report, error) {
	c, s, _, err := w.connect(128)
	if err != nil {
		return nil, err
	}
	ce, se := w.clientEnd(), w.serverEnd()
	if _, err := c.Write([]byte("how many bytes?")); err != nil {
		return nil, err
	}
	if err := c.CloseWrite(); err != nil {
		return nil, err
	}
	req, err := w.readToEOF(s)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(s, "%d\n", len(req)); err != nil {
		return nil, err
	}
	answer, err := w.receive(c, len(fmt.Sprint(len(req)))+1)
	if err != nil {
		return nil, err
	}
	clientIn := w.state(ce, se)
	if err := s.Close(); err != nil {
		return nil, err
	}
	if err := w.runUntil(maxWait, "the client's TIME-WAIT", w.in(ce, se, "TIME-WAIT")); err != nil {
		return nil, err
	}
	if err := c.Close(); err != nil {
		return nil, err
	}
	if err := w.runUntil(maxWait, "the end of TIME-WAIT", w.in(ce, se, "CLOSED")); err != nil {
		return nil, err
	}
	return &report{
		conns: []drawing{{left: ce, right: se}},
		outcome: []string{
			fmt.Sprintf("server: read %q, then the end of the stream; it wrote its answer", req),
			fmt.Sprintf("client: read the answer %q in %s, after its own FIN", answer, clientIn),
		},
		story: `The client writes its request and then shuts down only its sending side (shutdown(SHUT_WR), CloseWrite in
Go): its FIN says "no more data from me", not "go away". The server reads the request and then the end of the
stream, which tells it the request is whole, a way of framing a message without a length (as rsh and HTTP/1.0
did). A connection is two streams, one each way, and the server's stream is still open: in CLOSE-WAIT it writes its
answer, and the client, in FIN-WAIT-2, reads it and acknowledges it. Only when the server closes does its FIN end
the second stream; the client then goes through TIME-WAIT as in close.`,
		rfc: "RFC 9293 §3.6 (\"CLOSE is an operation meaning 'I have no more data to send'\", half-closed connections) and §3.10.4",
	}, nil
}

func runSimultaneousClose(w *world) (*report, error) {
	c, s, _, err := w.connect(128)
	if err != nil {
		return nil, err
	}
	ce, se := w.clientEnd(), w.serverEnd()
	// Both close before either FIN is delivered: they cross on the link.
	if err := c.Close(); err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	if err := w.runUntil(maxWait, "both TIME-WAITs", func() bool {
		return w.state(ce, se) == "TIME-WAIT" && w.state(se, ce) == "TIME-WAIT"
	}); err != nil {
		return nil, err
	}
	bothAt := w.elapsed()
	if err := w.runUntil(maxWait, "the end of TIME-WAIT", func() bool {
		return w.state(ce, se) == "CLOSED" && w.state(se, ce) == "CLOSED"
	}); err != nil {
		return nil, err
	}
	return &report{
		conns: []drawing{{left: ce, right: se}},
		outcome: []string{
			fmt.Sprintf("client and server: both closed at once; both in TIME-WAIT at %v, once each FIN was acknowledged", bothAt),
			fmt.Sprintf("both CLOSED at %v, after 2*MSL", w.elapsed()),
		},
		story: `Both applications close at the same moment, so both FINs are on the link before either arrives: each side
sends FIN and enters FIN-WAIT-1. Each then receives the other's FIN while its own is not yet acknowledged: that is
CLOSING, a state only a simultaneous close reaches. Each acknowledges the FIN it received, and when the ACK of its
own FIN arrives, each enters TIME-WAIT: both sides closed actively, so both wait 2*MSL before the connection is
gone. Four segments still, but two pairs crossing instead of a question and an answer.`,
		rfc: "RFC 9293 §3.6 (Figure 13, simultaneous close sequence) and §3.10.7.4 (FIN-WAIT-1 receiving a FIN: CLOSING)",
	}, nil
}

func runTimeWait(w *world) (*report, error) {
	c, s, _, err := w.connect(128)
	if err != nil {
		return nil, err
	}
	ce, se := w.clientEnd(), w.serverEnd()
	if err := c.Close(); err != nil {
		return nil, err
	}
	if _, err := w.readToEOF(s); err != nil {
		return nil, err
	}
	// The client's ACK of the server's FIN is lost, once.
	lost := false
	w.cable.setDrop(func(seg *tcpSeg) bool {
		if !lost && seg.src == ce && seg.flags == wire.FlagACK {
			lost = true
			return true
		}
		return false
	})
	if err := s.Close(); err != nil {
		return nil, err
	}
	if err := w.runUntil(maxWait, "the client's TIME-WAIT", w.in(ce, se, "TIME-WAIT")); err != nil {
		return nil, err
	}
	twAt := w.elapsed()
	if err := w.runUntil(maxWait, "the server's CLOSED", w.in(se, ce, "CLOSED")); err != nil {
		return nil, err
	}
	serverDone := w.elapsed()
	if err := w.runUntil(maxWait, "the end of TIME-WAIT", w.in(ce, se, "CLOSED")); err != nil {
		return nil, err
	}
	return &report{
		conns: []drawing{{left: ce, right: se}},
		outcome: []string{
			fmt.Sprintf("client: TIME-WAIT from %v; the server's FIN came again at %v and was acknowledged again", twAt, serverDone),
			fmt.Sprintf("client: CLOSED at %v, 2*MSL after the last FIN; the server CLOSED at %v", w.elapsed(), serverDone),
		},
		story: `This is why the side that closes first waits in TIME-WAIT. The client acknowledges the server's FIN, and
that last ACK is lost (the X). The server, in LAST-ACK, has no way to know: its FIN is not acknowledged, a timer fires
and it sends the FIN again. The timer here is the tail loss probe (RFC 8985 §7, about two round trips, at least
200 ms), which resends the last segment before the retransmission timeout would; without an answer the timeout
would follow, with back-off. Had the client forgotten the connection already, that FIN would meet a CLOSED port and draw a
reset, and the server would report an error for a connection that closed well. In TIME-WAIT the client still knows
the connection: it acknowledges the FIN again and restarts its 2*MSL timer, and this time the server hears it and
is CLOSED. The wait also lets every old segment of this connection die on the network before the same four numbers
(addresses and ports) can be used again.`,
		rfc: "RFC 9293 §3.6 (closing a connection) and §3.10.7.4 (TIME-WAIT STATE: \"the only thing that can arrive in this state is a retransmission of the remote FIN. Acknowledge it, and restart the 2 MSL timeout\"), RFC 8985 §7 (tail loss probe)",
	}, nil
}
