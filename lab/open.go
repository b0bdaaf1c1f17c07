package lab

import (
	"fmt"
	"strings"
	"time"

	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// The scenarios of opening a connection: article 004's experiments.

func init() {
	register(&Scenario{Name: "handshake", Summary: "the three-way handshake: SYN, SYN,ACK, ACK", run: runHandshake})
}

func runHandshake(w *world) (*report, error) {
	l, err := w.server.ListenTCP(w.serverEnd(), 128)
	if err != nil {
		return nil, err
	}
	d, err := w.dialClient()
	if err != nil {
		return nil, err
	}
	if err := w.runUntil(maxWait, "the handshake", w.opened(w.clientEnd(), w.serverEnd())); err != nil {
		return nil, err
	}
	c, err := d.result()
	if err != nil {
		return nil, err
	}
	connected := w.elapsed()
	if err := w.runUntil(maxWait, "the server's ESTABLISHED", func() bool { return l.Ready() > 0 }); err != nil {
		return nil, err
	}
	s, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return &report{
		conns: []drawing{{left: w.clientEnd(), right: w.serverEnd()}},
		outcome: []string{
			fmt.Sprintf("client: connect returned after %v: %s", connected, c.State()),
			fmt.Sprintf("server: accept returned the connection from %v: %s", s.RemoteAddr(), s.State()),
		},
		story: `The server listens (a passive OPEN) and the client connects (an active OPEN). The client sends SYN with its
initial sequence number, shown as 0, and enters SYN-SENT. The server answers SYN,ACK: its own initial number, and
ack=1, the next byte it expects, which acknowledges the client's SYN (a SYN takes one sequence number). The server is
now SYN-RECEIVED, a half-open connection in the listener's SYN queue. The client, its SYN acknowledged, is ESTABLISHED
and acknowledges the server's SYN with ack=1: the third segment. When it arrives the server is ESTABLISHED too and
the connection moves to the accept queue, where accept finds it; the handshake is the stacks' work, done whether or
not the application calls accept. Three segments, not two, because each side must see its own number acknowledged:
that is what protects a connection from an old duplicate SYN (see old-duplicate-syn).`,
		rfc: "RFC 9293 §3.5 (Figure 6, the basic three-way handshake) and §3.10.1 (OPEN)",
	}, nil
}

func init() {
	register(&Scenario{Name: "refused", Summary: "connect to a port with no socket: SYN, then RST,ACK; connection refused", run: runRefused})
	register(&Scenario{Name: "bound-not-listening", Summary: "a port bound but not listening: RST as on Linux; why macOS stays silent", run: runBoundNotListening})
	register(&Scenario{Name: "timeout", Summary: "a server that never answers: the SYN sent again with back-off, then ETIMEDOUT", run: runTimeout})
}

// dialFails dials the server, runs until the dial is over and returns
// the outcome line of its error.
func (w *world) dialFails() (string, error) {
	d, err := w.dialClient()
	if err != nil {
		return "", err
	}
	if err := w.runUntil(maxWait, "the end of the dial", w.opened(w.clientEnd(), w.serverEnd())); err != nil {
		return "", err
	}
	c, err := d.result()
	if err == nil {
		c.Close()
		return "", fmt.Errorf("the dial succeeded, the scenario wants it to fail")
	}
	return fmt.Sprintf("client: %v (%s) after %v", err, errnoName(err), w.elapsed()), nil
}

func runRefused(w *world) (*report, error) {
	line, err := w.dialFails()
	if err != nil {
		return nil, err
	}
	return &report{
		conns:   []drawing{{left: w.clientEnd(), right: w.serverEnd()}},
		outcome: []string{line},
		story: `Nothing on the server holds port 8000: no listener, no connection. A segment that reaches no connection meets
a CLOSED state, and to anything but a reset a CLOSED port answers with a reset. Since the SYN had no ACK bit, the
reset is <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>: it acknowledges the SYN, so the client can tell it answers this
very SYN and not an old one. The client takes a reset that acknowledges its SYN as a refusal: it goes back to CLOSED
and connect fails at once with ECONNREFUSED. No retransmission, no waiting: one round trip. The server keeps nothing.`,
		rfc: "RFC 9293 §3.10.7.1 (segment arrives, CLOSED) and §3.10.7.3 (SYN-SENT: an acceptable RST, \"connection reset\")",
	}, nil
}

func runBoundNotListening(w *world) (*report, error) {
	line, err := w.dialFails()
	if err != nil {
		return nil, err
	}
	return &report{
		conns:   []drawing{{left: w.clientEnd(), right: w.serverEnd()}},
		outcome: []string{line},
		story: `Article 004 bound a socket to port 8000 without calling listen. On Linux the client's SYN is answered with
RST,ACK at once, just as for a port with no socket (see refused): Linux looks a SYN up among listening sockets and
established ones only, a socket that is merely bound is neither, and a segment for no connection meets the CLOSED
state, which answers with a reset. synack has no bind without listen (a port belongs to a listener or to a
connection), so what the server does here is what Linux does, and the diagram is the refused one. The article,
run on macOS, saw no answer at all: the client sent its SYN again and again and connect timed out, while netstat
showed the bound socket in CLOSED. macOS's TCP comes from BSD, whose input finds the bound socket for the SYN, sees
that its control block is in the CLOSED state, and drops the segment without a reply. RFC 9293 asks for the reset
(a CLOSED state answers every segment but a reset with one); BSD's silence makes the client wait for ETIMEDOUT, as
in the timeout scenario.`,
		rfc: "RFC 9293 §3.10.7.1 (segment arrives, CLOSED: \"an incoming segment not containing a RST causes a RST to be sent in response\")",
	}, nil
}

func runTimeout(w *world) (*report, error) {
	// The server is silent: the cable loses everything sent to it, as a
	// firewall that drops does, or macOS with the port bound (see
	// bound-not-listening).
	to := w.serverEnd()
	w.cable.setDrop(func(s *tcpSeg) bool { return s.dst == to })
	line, err := w.dialFails()
	if err != nil {
		return nil, err
	}
	var times []string
	var first time.Time
	for _, e := range w.rec.Events() {
		if e.Kind == trace.KindSegmentSent && e.Local == w.clientEnd() && e.Flags.Has(wire.FlagSYN) {
			if first.IsZero() {
				first = e.Time
			}
			times = append(times, e.Time.Sub(first).String())
		}
	}
	return &report{
		conns:   []drawing{{left: w.clientEnd(), right: w.serverEnd()}},
		outcome: []string{line, fmt.Sprintf("the SYN was sent at %s", strings.Join(times, ", "))},
		story: fmt.Sprintf(`Nothing answers the client's SYN: the server's host drops it, as a firewall that drops does, or a
macOS host with the port bound but not listening (see bound-not-listening). The SYN is covered by the retransmission
timer like any segment: the first timeout is 1 second, as RFC 6298 sets the initial RTO (there is no round-trip
sample yet), and each time it fires the SYN is sent again and the timeout doubled (exponential back-off). After the
last of %d transmissions, the client gives up: connect fails with ETIMEDOUT, after %v, as Linux's default of six
retries (tcp_syn_retries) does. The server's side of the diagram stays empty: its stack never saw a segment of this connection.`, len(times), w.elapsed().Round(time.Second)),
		rfc: "RFC 9293 §3.8.1 and RFC 6298 §5 (retransmission timeout, back-off), RFC 1122 §4.2.3.5 (R2, when to give up; it asks for at least 3 minutes for a SYN, where Linux and synack stop after about 2)",
	}, nil
}

func init() {
	register(&Scenario{Name: "simultaneous-open", Summary: "both sides connect to each other at once: SYNs cross, one connection", run: runSimultaneousOpen})
}

func runSimultaneousOpen(w *world) (*report, error) {
	ce, se := w.clientEnd(), w.serverEnd()
	// Each dials the other from the port the other dials, before either
	// SYN is delivered: they cross on the link.
	dc, err := w.startDial(w.client, w.cw, ce, se)
	if err != nil {
		return nil, err
	}
	ds, err := w.startDial(w.server, w.sw, se, ce)
	if err != nil {
		return nil, err
	}
	if err := w.runUntil(maxWait, "both dials", func() bool { return w.opened(ce, se)() && w.opened(se, ce)() }); err != nil {
		return nil, err
	}
	c, err := dc.result()
	if err != nil {
		return nil, err
	}
	s, err := ds.result()
	if err != nil {
		return nil, err
	}
	return &report{
		conns: []drawing{{left: ce, right: se}},
		outcome: []string{
			fmt.Sprintf("client: connect to %v returned: %s", se, c.State()),
			fmt.Sprintf("server: connect to %v returned: %s (no listener, no accept)", ce, s.State()),
		},
		story: `Neither side listens: both connect, each to the port the other connects from, at the same moment, so both
SYNs are on the link before either arrives. Each side, in SYN-SENT, receives a SYN without an ACK: not the answer it
waits for, but a peer opening too. RFC 9293 allows this: the side records the peer's initial sequence number, enters
SYN-RECEIVED and sends SYN,ACK, its own SYN again with an acknowledgement of the peer's. Each SYN,ACK acknowledges
the other's SYN, so both sides reach ESTABLISHED. Four segments instead of three, and one connection, not two: a
connection is named by its four numbers, which both SYNs share. It is rare (peer-to-peer programs use it to get
through NATs), but it is why a SYN in SYN-SENT is not an error.`,
		rfc: "RFC 9293 §3.5 (Figure 7, simultaneous connection synchronization) and §3.10.7.3 (SYN-SENT, fourth: check the SYN bit)",
	}, nil
}

func init() {
	register(&Scenario{Name: "old-duplicate-syn", Summary: "an old SYN arrives first: the client resets it, then its real SYN opens", run: runOldDuplicateSYN})
}

func runOldDuplicateSYN(w *world) (*report, error) {
	ce, se := w.clientEnd(), w.serverEnd()
	l, err := w.server.ListenTCP(se, 128)
	if err != nil {
		return nil, err
	}
	// The client's SYN is slow on the network; a SYN of an earlier
	// connection between the same two ports, delayed even longer, arrives
	// first.
	var syn tcpSeg
	w.cable.setHold(func(s *tcpSeg) bool {
		if s.src == ce && s.flags == wire.FlagSYN {
			syn = *s
			return true
		}
		return false
	})
	d, err := w.dialClient()
	if err != nil {
		return nil, err
	}
	if err := w.runUntil(maxWait, "the client's SYN", func() bool { return w.cable.heldCount() > 0 }); err != nil {
		return nil, err
	}
	w.cable.inject(synPacket(ce, se, syn.seq.Sub(oldSYNDistance)))
	if err := w.runUntil(maxWait, "the reset of the old SYN's connection", w.in(se, ce, "CLOSED")); err != nil {
		return nil, err
	}
	serverAfterRST := w.state(se, ce)
	w.cable.release()
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
		conns: []drawing{{left: ce, right: se}},
		outcome: []string{
			fmt.Sprintf("server: the old SYN's half-open connection ended %s, reset by the client", serverAfterRST),
			fmt.Sprintf("client: connect returned: %s; server: accept returned it: %s", c.State(), s.State()),
		},
		story: fmt.Sprintf(`Why three segments and not two. The client connects, but before its SYN arrives, an old SYN between the
same two ports does: a duplicate from an earlier connection, delayed in the network (here the lab forges it, %d
below the client's initial sequence number, hence seq=-%d; the client's stack never sent it). The diagram's rows
are in the order segments were sent, so the client's SYN is drawn first, but the network holds it back and it
arrives only after the reset. The
server cannot tell it is old: it enters SYN-RECEIVED and answers SYN,ACK, acknowledging the old number. The client,
in SYN-SENT, sees an acknowledgement of a number it never sent (ack is not its ISS+1), so the SYN,ACK is not the
answer to its SYN: it sends a reset carrying the acknowledgement as its sequence number, <SEQ=SEG.ACK><CTL=RST>,
and stays in SYN-SENT. The reset is acceptable to the server (its sequence number is the one the server expects),
and a half-open connection made by a passive OPEN goes back to LISTEN: the server's child is CLOSED and freed. Then
the client's real SYN arrives and the handshake completes as usual. With a two-way handshake the server would have
opened a connection the client never wanted.`, oldSYNDistance, oldSYNDistance),
		rfc: "RFC 9293 §3.5 (Figure 8, recovery from old duplicate SYN), §3.10.7.3 (SYN-SENT: an unacceptable ACK) and §3.10.7.4 (SYN-RECEIVED: an RST)",
	}, nil
}

// oldSYNDistance is how far below the client's initial sequence number the
// old duplicate SYN's is.
const oldSYNDistance = 100000
