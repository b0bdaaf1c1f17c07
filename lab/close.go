package lab

import (
	"fmt"
	"time"
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
	w.settle()
	_, eof := readAvailable(s)
	serverSaw := w.state(se, ce)
	if err := s.Close(); err != nil {
		return nil, err
	}
	w.settle()
	tw := w.elapsed()
	if err := w.runUntil(maxWait, "the end of TIME-WAIT", w.in(ce, se, "CLOSED")); err != nil {
		return nil, err
	}
	return &report{
		conns: []drawing{{left: ce, right: se}},
		outcome: []string{
			fmt.Sprintf("server: read returned end of stream: %v, in %s; then the server closed", eof, serverSaw),
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

var _ = time.Second
