package lab

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/seqnum"
)

// The scenarios of moving data: article 003's sliding window, losses and
// retransmissions.

func init() {
	register(&Scenario{Name: "lost-segment", Summary: "a data segment lost twice: the loss probe, then the retransmission timeout", run: runLostSegment})
	register(&Scenario{Name: "fast-retransmit", Summary: "one segment of ten lost: duplicate ACKs with SACK resend it at once", run: runFastRetransmit})
}

// loseSegment returns a drop filter that loses the first times
// transmissions of the k-th data segment src sends (k from 1, segments
// told apart by their sequence numbers).
func loseSegment(src netip.AddrPort, k, times int) func(*tcpSeg) bool {
	var seen []seqnum.Value
	var target seqnum.Value
	found, lost := false, 0
	return func(s *tcpSeg) bool {
		if s.src != src || s.n == 0 {
			return false
		}
		if !found && !slices.Contains(seen, s.seq) {
			seen = append(seen, s.seq)
			target, found = s.seq, len(seen) == k
		}
		if found && s.seq == target && lost < times {
			lost++
			return true
		}
		return false
	}
}

// receive reads from s until it has n bytes, settling the link and moving
// the clock from timer to timer until they have come.
func (w *world) receive(s *synack.TCPConn, n int) ([]byte, error) {
	var got []byte
	err := w.runUntil(maxWait, fmt.Sprintf("the arrival of %d bytes", n), func() bool {
		b, _ := readAvailable(s)
		got = append(got, b...)
		return len(got) >= n
	})
	return got, err
}

func runLostSegment(w *world) (*report, error) {
	c, s, _, err := w.connect(128)
	if err != nil {
		return nil, err
	}
	ce, se := w.clientEnd(), w.serverEnd()
	w.cable.setDrop(loseSegment(ce, 1, 2))
	msg := []byte("hello, server")
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	start := w.elapsed()
	got, err := w.receive(s, len(msg))
	if err != nil {
		return nil, err
	}
	took := w.elapsed() - start
	w.settle()
	w.advance(w.untilQuiet())
	return &report{
		conns: []drawing{{left: ce, right: se}},
		outcome: []string{
			fmt.Sprintf("server: read %q, %v after the client wrote it", got, took),
			fmt.Sprintf("client: retransmitted segments: %d", c.Info().TCP.Retransmits),
		},
		story: `The client writes one short message and the segment is lost (the X), and so is its first copy. Nothing else
is in flight, so no later segment can make the server's ACKs tell of the loss: only a timer can. First the tail
loss probe (RACK-TLP): about two smoothed round trips after the last send, at least 200 ms here, the client sends
the last segment again, to draw an acknowledgement that would reveal the loss quickly. That probe is lost too.
Then the retransmission timeout fires: the RTO, computed from the round-trip time measured on the handshake and
never less than 200 ms (Linux's floor; RFC 6298 suggests 1 s), and the segment goes out a third time. Had that been
lost, the RTO would have doubled (back-off) each time. The server acknowledges the data as soon as it arrives, and
its application reads it; TCP hides the loss, not the delay.`,
		rfc: "RFC 6298 §5 (managing the retransmission timer), RFC 8985 §7 (tail loss probe) and RFC 9293 §3.8.1",
	}, nil
}

func runFastRetransmit(w *world) (*report, error) {
	c, s, _, err := w.connect(128)
	if err != nil {
		return nil, err
	}
	ce, se := w.clientEnd(), w.serverEnd()
	w.cable.setDrop(loseSegment(ce, 2, 1))
	mss := c.Info().TCP.MSS
	msg := bytes.Repeat([]byte("0123456789"), 10*mss/10)
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	start := w.elapsed()
	if _, err := w.receive(s, len(msg)); err != nil {
		return nil, err
	}
	took := w.elapsed() - start
	w.advance(w.untilQuiet())
	return &report{
		conns: []drawing{{left: ce, right: se}},
		outcome: []string{
			fmt.Sprintf("server: read all %d bytes, %v after the client wrote them", len(msg), took),
			fmt.Sprintf("client: retransmitted segments: %d, with no timeout", c.Info().TCP.Retransmits),
		},
		story: `The client writes ten segments' worth at once; its initial congestion window lets all ten go (RFC 6928),
and they all leave before the first ACK comes back, which is why the diagram (in the order segments were sent)
shows the ACKs together. The second segment is lost. The server acknowledges the first, and each segment after the
hole draws an ACK at once that still says ack=1449: a duplicate ACK, carrying a SACK block that names what did
arrive beyond the hole. The client does not wait for a timer. RFC 5681's rule resends on the third duplicate ACK;
synack, as Linux, uses RACK, which needs only one: the first duplicate's SACK block shows that the third segment,
sent after the second, arrived, and once a reordering window (a quarter of the minimum round trip, next to nothing
on this link) has passed, the second is taken for lost, not late, and sent again at once: fast retransmit. The
client also cuts its congestion window and enters fast recovery. The server's next ACK covers all ten segments: one
round trip lost, and no retransmission timeout.`,
		rfc: "RFC 5681 §3.2 (fast retransmit and fast recovery), RFC 2018 (SACK), RFC 8985 (RACK) and RFC 6675",
	}, nil
}

func init() {
	register(&Scenario{Name: "zero-window", Summary: "a receiver that does not read: the window closes, the sender probes, then it opens", run: runZeroWindow,
		setup: [2]stackSetup{nil, func(c *synack.Config) { c.TCP.ReceiveBufferSize, c.TCP.MaxReceiveBufferSize = 4096, 4096 }}})
}

func runZeroWindow(w *world) (*report, error) {
	c, s, _, err := w.connect(128)
	if err != nil {
		return nil, err
	}
	ce, se := w.clientEnd(), w.serverEnd()
	msg := bytes.Repeat([]byte("z"), 6000)
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	// The server's application reads nothing for 5 seconds.
	w.advance(5 * time.Second)
	stuck := c.Info().SendQ
	got, err := w.receive(s, len(msg))
	if err != nil {
		return nil, err
	}
	w.advance(w.untilQuiet())
	return &report{
		conns: []drawing{{left: ce, right: se}},
		outcome: []string{
			fmt.Sprintf("client: wrote %d bytes; %d of them waited 5s for the window to open", len(msg), stuck),
			fmt.Sprintf("client: window probes at %s", w.timesOf(timer(ce, "persist"))),
			fmt.Sprintf("server: read all %d bytes once its application started reading, at 5s", len(got)),
		},
		story: `The server's receive buffer holds 4096 bytes and its application does not read. The window it advertises
is the room left in that buffer. The client sends two full segments; the server's ACK leaves room for 1200 bytes,
less than a segment, and the client holds them back rather than send a small segment (silly window syndrome
avoidance) until its override timer fires, 200 ms later. The next ACK says win=0: a zero window. The client must
stop, but not forever: if the ACK that opens the window were lost, both sides would wait for each other. So its
persist timer sends a window probe from time to time, with exponential back-off like a retransmission. As Linux
does, the probe carries no data and the sequence number just below the next one expected (seq=4096): the
receiver finds it outside its window and discards it (the drop under each probe), but must answer with an ACK giving
its window: still zero. The probes go on for as long as answers come. When
the application reads, the buffer empties and the server sends a window update (win=4096) at once; the client sends
the rest. The window is flow control: a sender never overruns a receiver's buffer.`,
		rfc: "RFC 9293 §3.8.6.1 (zero-window probing) and §3.8.6.2 (silly window syndrome avoidance), RFC 1122 §4.2.2.17 (probing zero windows)",
	}, nil
}

func init() {
	register(&Scenario{Name: "keepalive", Summary: "an idle connection probed; when the peer falls silent, ETIMEDOUT", run: runKeepalive})
}

// Keepalive settings of the scenario: shorter than the defaults so that
// the diagram stays short; the story gives Linux's.
const (
	kaIdle     = 30 * time.Second
	kaInterval = 10 * time.Second
	kaCount    = 3
)

func runKeepalive(w *world) (*report, error) {
	c, _, _, err := w.connect(128)
	if err != nil {
		return nil, err
	}
	ce, se := w.clientEnd(), w.serverEnd()
	if err := c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: kaIdle, Interval: kaInterval, Count: kaCount}); err != nil {
		return nil, err
	}
	// One probe answered: the connection is alive.
	w.advance(kaIdle + time.Second)
	// Then the server's host vanishes (unplugged, crashed, or a NAT
	// forgot the connection): nothing reaches it or comes from it.
	silentAt := w.elapsed()
	w.cable.setDrop(func(s *tcpSeg) bool { return s.src == se || s.dst == se })
	w.advance(kaIdle)
	if err := w.runUntil(maxWait, "the keepalive timeout", w.in(ce, se, "CLOSED")); err != nil {
		return nil, err
	}
	_, rerr := c.Read(make([]byte, 1))
	return &report{
		conns: []drawing{{left: ce, right: se}},
		outcome: []string{
			fmt.Sprintf("client: keepalive probes at %s; the server vanished at %v", w.timesOf(timer(ce, "keepalive")), silentAt),
			fmt.Sprintf("client: read: %v (%s) at %v", rerr, errnoName(rerr), w.elapsed()),
		},
		story: fmt.Sprintf(`TCP sends nothing on an idle connection, so a peer that vanished (its host crashed or unplugged, or a NAT
or firewall on the way forgot the connection) goes unnoticed until the next write. Keepalive finds it: after %v of
silence the client sends a probe, a segment with no data and the sequence number just below the next one
(seq=snd.nxt-1), which the peer must answer with an ACK since the byte is an old one. The server answers and the
idle timer starts again. Then the server's host vanishes: nothing reaches it or comes from it. The next probe goes
unanswered, and so do %d more, %v apart; one interval after the last the client gives up: it resets the connection
(an RST that never arrives) and the application's next call fails with ETIMEDOUT. The server's side, had its host
lived on without the link, would stay ESTABLISHED: a half-open connection, which only its own keepalive or a write
would find. Keepalive is off unless asked for; Linux's defaults, when it is on,
are 2 hours idle, 75 s between probes and 9 probes, Go's net package asks for 15 s, 15 s and 9; this scenario uses
%v, %v and %d to keep the diagram short.`, kaIdle, kaCount-1, kaInterval, kaIdle, kaInterval, kaCount),
		rfc: "RFC 1122 §4.2.3.6 (TCP keep-alives) and RFC 9293 §3.8.4",
	}, nil
}
