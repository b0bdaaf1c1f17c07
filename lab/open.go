package lab

import (
	"fmt"
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
