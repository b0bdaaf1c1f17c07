package synack_test

// A blind attack on an established connection (RFC 5961): an attacker who
// knows the 4-tuple but not the sequence numbers injects RSTs, SYNs and
// data with random sequence and ACK numbers into both ends' links while a
// stream moves, on virtual time.

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// tap sits between a stack and its link and counts what passes: segments
// with text in, and out the bare ACKs (ACK alone, no text) and the ISS of
// the SYN.
type tap struct {
	inner    link.Endpoint
	mu       sync.Mutex
	d        link.Dispatcher
	inData   atomic.Uint64
	bareACKs atomic.Uint64
	iss      atomic.Uint32
}

var _ link.Endpoint = (*tap)(nil)

func (t *tap) MTU() int     { return t.inner.MTU() }
func (t *tap) Close() error { return t.inner.Close() }

func (t *tap) Attach(d link.Dispatcher) {
	t.mu.Lock()
	t.d = d
	t.mu.Unlock()
	if d == nil {
		t.inner.Attach(nil)
	} else {
		t.inner.Attach(t)
	}
}

func (t *tap) DeliverPacket(pkt []byte) {
	if ip, err := wire.ParseIPv4(pkt); err == nil && ip.Protocol() == wire.ProtocolTCP {
		if seg, err := wire.ParseTCP(ip.Payload()); err == nil && len(seg.Payload()) > 0 {
			t.inData.Add(1)
		}
	}
	t.mu.Lock()
	d := t.d
	t.mu.Unlock()
	if d != nil {
		d.DeliverPacket(pkt)
	}
}

func (t *tap) WritePacket(pkt []byte) error {
	if ip, err := wire.ParseIPv4(pkt); err == nil && ip.Protocol() == wire.ProtocolTCP {
		if seg, err := wire.ParseTCP(ip.Payload()); err == nil {
			switch {
			case seg.Flags() == wire.FlagACK && len(seg.Payload()) == 0:
				t.bareACKs.Add(1)
			case seg.Flags().Has(wire.FlagSYN):
				t.iss.Store(uint32(seg.SeqNum()))
			}
		}
	}
	return t.inner.WritePacket(pkt)
}

// blindNet is lossyNet with a tap on each stack and an attacker writing
// straight into the pipe: what it sends to the server enters at the
// client's end of the pipe, what it sends to the client at the server's.
type blindNet struct {
	clk            *clock.Virtual
	a, b           *pipe.Endpoint
	fa             *fault.Endpoint
	ta, tb         *tap
	client, server *synack.Stack
	toClient       atomic.Uint64 // packets the attacker wrote into b
}

func newBlindNet(t *testing.T, d fault.Direction, cfg tcp.Config) *blindNet {
	n := &blindNet{clk: clock.NewVirtual(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))}
	n.a, n.b = pipe.New(mtu)
	n.fa = fault.New(n.a, fault.Config{Clock: n.clk, Seed: 1, Out: d, In: fault.Direction{Delay: d.Delay}})
	n.ta, n.tb = &tap{inner: n.fa}, &tap{inner: n.b}
	n.client, n.server = twoStacks(t, n.clk, n.ta, n.tb, cfg, nil, n.fa, n.b)
	return n
}

// lossy views n as a lossyNet, to use its connect and drive; flushed is
// the only check that must see the attacker's packets, so it is not used
// from there: connect runs before the attack.
func (n *blindNet) lossy() *lossyNet {
	return &lossyNet{clk: n.clk, a: n.a, b: n.b, fa: n.fa, client: n.client, server: n.server}
}

// flushed is lossyNet.flushed less the packets the attacker wrote into b.
func (n *blindNet) flushed() bool {
	cs, ss := n.client.Internals().Stats(), n.server.Internals().Stats()
	out, _ := n.fa.Stats()
	return cs.OutRequests.Load() == out.Packets+cs.OutDiscards.Load() &&
		ss.OutRequests.Load()+n.toClient.Load() == n.b.Stats().Sent+ss.OutDiscards.Load()
}

// drive is lossyNet.drive with blindNet's flushed.
func (n *blindNet) drive(t *testing.T, done, appsBlocked func() bool) {
	t.Helper()
	driveClock(t, n.clk, 5*time.Minute, done, func() bool { return pipesQuiet(n.a, n.b) && appsBlocked() },
		func() bool { return n.flushed() && n.fa.Settled() })
}

// blindSegment builds a checksummed IPv4 TCP packet from src to dst.
func blindSegment(src, dst netip.AddrPort, h wire.TCPFields, payload []byte) []byte {
	h.SrcPort, h.DstPort = src.Port(), dst.Port()
	seg := make([]byte, h.Len()+len(payload))
	h.Encode(seg)
	copy(seg[h.Len():], payload)
	wire.TCP(seg).FillChecksum(src.Addr(), dst.Addr())
	return ipv4Packet(wire.ProtocolTCP, src.Addr(), dst.Addr(), seg)
}

// attacker makes blind segments: a RST, a SYN or data (a third each),
// with random sequence, ACK, window and timestamps.
type attacker struct {
	rng *rand.Rand
}

// next returns one segment's header and text.
func (a *attacker) next(i int) (wire.TCPFields, []byte) {
	h := wire.TCPFields{Seq: seqnum.Value(a.rng.Uint32()), Ack: seqnum.Value(a.rng.Uint32()), Window: uint16(a.rng.Uint32())}
	var payload []byte
	switch i % 3 {
	case 0:
		h.Flags = wire.FlagRST
		if a.rng.IntN(2) == 0 {
			h.Flags |= wire.FlagACK
		}
	case 1:
		h.Flags = wire.FlagSYN
		if a.rng.IntN(2) == 0 {
			h.Flags |= wire.FlagACK
		}
	default:
		h.Flags = wire.FlagACK | wire.FlagPSH
		payload = make([]byte, 1+a.rng.IntN(100))
		for j := range payload {
			payload[j] = byte(a.rng.Uint32())
		}
	}
	if h.Flags&wire.FlagRST == 0 {
		// Both stacks agreed to timestamps: without them the segment
		// would be dropped unanswered (RFC 7323 §3.2). The attacker
		// cannot know TS.Recent: half its guesses fail PAWS.
		h.Options.HasTimestamps, h.Options.TSVal, h.Options.TSEcr = true, a.rng.Uint32(), a.rng.Uint32()
	}
	return h, payload
}

// TestEstablishedBlindAttackSurvives: while 4 MiB move client to server,
// an attacker injects 100,000 RSTs, SYNs and data segments with random
// numbers, half into each end, one burst of 20 every millisecond for 5 s
// of virtual time. The connection survives and the data arrives intact
// (SHA-256). The ACKs each end sends in answer stay within the bound of
// RFC 5961 §7 as Linux sets it: one per 500 ms of virtual time (11 in
// 5 s), plus one for each injected data segment that lands where an
// honest peer's retransmission or probe may (answered unlimited; the
// test counts those that land near the receive sequence space, a few).
// Counted twice: by the engines' counters (challenge ACKs and duplicate
// ACKs sent, against the skipped ones), and by the bare ACKs on the link,
// where the receiver's honest ACKs are bounded by the honest segments it
// received plus its reads. A RST exactly at RCV.NXT then still resets.
func TestEstablishedBlindAttackSurvives(t *testing.T) {
	const (
		size     = 4 << 20
		bufSize  = 256 << 10
		ticks    = 5000
		perTick  = 20 // half to each end
		tick     = time.Millisecond
		interval = tcp.DefaultInvalidACKRateLimit
	)
	// A 10 Mbit/s bottleneck with room for a whole window: the transfer
	// takes about 3.5 s of the attack's 5 and loses nothing, so the only
	// segments out of window are the attacker's.
	link := fault.Direction{Delay: 5 * time.Millisecond, Rate: 10_000_000, QueueDepth: 1000}
	n := newBlindNet(t, link, tcp.Config{ReceiveBufferSize: bufSize})
	cc, sc := n.lossy().connect(t)
	clientAP, serverAP := cc.LocalAddr().(*net.TCPAddr).AddrPort(), sc.LocalAddr().(*net.TCPAddr).AddrPort()
	clientISS, serverISS := seqnum.Value(n.ta.iss.Load()), seqnum.Value(n.tb.iss.Load())

	before := map[string]counters{"client": snapshot(n.client), "server": snapshot(n.server)}
	bareBefore := map[string]uint64{"client": n.ta.bareACKs.Load(), "server": n.tb.bareACKs.Load()}
	serverInBefore := n.tb.inData.Load()

	// The stream: the client writes, the server reads exactly size bytes.
	src := seeded(12, size)
	var wrote, read, reads atomic.Int64
	var readDone, writeDone atomic.Bool
	var got []byte
	errc := make(chan error, 2)
	go func() {
		for off := 0; off < len(src); {
			k, err := cc.Write(src[off:min(off+64<<10, len(src))])
			off += k
			wrote.Add(int64(k))
			if err != nil {
				errc <- err
				break
			}
		}
		writeDone.Store(true)
	}()
	go func() {
		buf := make([]byte, 64<<10)
		for len(got) < size {
			k, err := sc.Read(buf[:min(len(buf), size-len(got))])
			reads.Add(1)
			got = append(got, buf[:k]...)
			read.Add(int64(k))
			if err != nil {
				errc <- err
				break
			}
		}
		readDone.Store(true)
	}()

	// The attack: a timer of the virtual clock, one burst per tick.
	atk := &attacker{rng: rand.New(rand.NewPCG(5961, 7))}
	var sent int
	var toServer, toClient []wire.TCPFields
	var attackDone atomic.Bool
	// Once the stream is over (all read, all acknowledged, the window
	// open again) nothing honest crosses the links: from then on every
	// bare ACK on them answers the attacker.
	var quietAt time.Time
	var quietBare [2]uint64
	var quietIdx [2]int // injected so far, to the client and to the server
	quiet := func() bool {
		ci := cc.Info().TCP
		return readDone.Load() && ci.InFlight == 0 && ci.SndWnd >= bufSize-2<<10
	}
	var fire func()
	fire = func() {
		if quietAt.IsZero() && quiet() {
			quietAt = n.clk.Now()
			quietBare = [2]uint64{n.ta.bareACKs.Load(), n.tb.bareACKs.Load()}
			quietIdx = [2]int{len(toClient), len(toServer)}
		}
		for i := range perTick {
			h, payload := atk.next(sent)
			sent++
			if i%2 == 0 {
				toServer = append(toServer, h)
				if err := n.a.WritePacket(blindSegment(clientAP, serverAP, h, payload)); err != nil {
					t.Error(err)
				}
			} else {
				toClient = append(toClient, h)
				n.toClient.Add(1)
				if err := n.b.WritePacket(blindSegment(serverAP, clientAP, h, payload)); err != nil {
					t.Error(err)
				}
			}
		}
		if sent < ticks*perTick {
			n.clk.AfterFunc(tick, fire)
		} else {
			attackDone.Store(true)
		}
	}
	start := n.clk.Now()
	n.clk.AfterFunc(tick, fire)
	blocked := func() bool {
		ci := cc.Info()
		writerBlocked := writeDone.Load() || ci.SendQ >= ci.TCP.SndBuf
		return writerBlocked && (readDone.Load() || sc.Info().RecvQ == 0)
	}
	n.drive(t, func() bool { return attackDone.Load() && readDone.Load() && writeDone.Load() }, blocked)
	// Let the last burst and what it draws cross the links.
	var settled atomic.Bool
	n.clk.AfterFunc(50*time.Millisecond, func() { settled.Store(true) })
	n.drive(t, settled.Load, func() bool { return true })
	elapsed := n.clk.Now().Sub(start)
	select {
	case err := <-errc:
		t.Fatalf("the stream failed under attack: %v", err)
	default:
	}

	// The connection survived, the data is intact.
	if cc.State() != tcp.StateEstablished || sc.State() != tcp.StateEstablished {
		t.Fatalf("states %v / %v after the attack, want ESTABLISHED", cc.State(), sc.State())
	}
	if len(got) != size || sha256Of(got) != sha256Of(src) {
		t.Fatalf("server read %d bytes, want %d; SHA-256 match %v", len(got), size, sha256Of(got) == sha256Of(src))
	}

	// The bound of each end: one answer per interval of the attack, plus
	// the injected data that may land in the band answered unlimited:
	// [RCV.NXT - W, RCV.NXT + RCV.WND + W], W the largest window, over
	// every RCV.NXT of the transfer (2 * the buffer is a safe W).
	w := seqnum.Size(2 * bufSize)
	band := func(hs []wire.TCPFields, first seqnum.Value, span seqnum.Size) (k uint64) {
		for _, h := range hs {
			if h.Flags == wire.FlagACK|wire.FlagPSH && h.Seq.InWindow(first.Sub(w), w+span+w+w+1) {
				k++
			}
		}
		return k
	}
	perConn := uint64(elapsed/interval) + 1
	bound := map[string]uint64{
		"server": perConn + band(toServer, clientISS.Add(1), size),
		"client": perConn + band(toClient, serverISS.Add(1), 0),
	}
	retrans := cc.Info().TCP.Retransmits + sc.Info().TCP.Retransmits
	for _, who := range []string{"client", "server"} {
		st := n.client
		if who == "server" {
			st = n.server
		}
		d := before[who].diff(snapshot(st))
		answers := d["TCP.TCPChallengeACK"] + d["TCP.OutOfWindowACKs"]
		skipped := d["TCP.TCPACKSkippedSeq"] + d["TCP.TCPACKSkippedPAWS"] + d["TCP.TCPACKSkippedChallenge"]
		t.Logf("%s: %d answers (%d challenge ACKs), %d skipped (seq %d, PAWS %d, challenge %d), bound %d; %d RSTs dropped out of window, %d ACKs too old, %d beyond SND.MAX",
			who, answers, d["TCP.TCPChallengeACK"], skipped, d["TCP.TCPACKSkippedSeq"], d["TCP.TCPACKSkippedPAWS"],
			d["TCP.TCPACKSkippedChallenge"], bound[who], d["TCP.DropOutOfWindow"], d["TCP.DropACKTooOld"], d["TCP.DropBadACK"])
		// Honest retransmissions (none expected: nothing is lost) may draw
		// an answer each.
		if answers > bound[who]+retrans {
			t.Errorf("%s sent %d ACKs answering invalid segments, over the bound %d (+%d retransmissions)", who, answers, bound[who], retrans)
		}
		// Every SYN draws a challenge ACK or a skip; so the skips are most
		// of the 50,000 segments.
		if skipped < ticks*perTick/2/3 {
			t.Errorf("%s skipped only %d answers", who, skipped)
		}
		if d["TCP.TCPChallengeACKOverBudget"] != 0 || d["TCP.EstabResets"] != 0 {
			t.Errorf("%s: over budget %d, resets %d", who, d["TCP.TCPChallengeACKOverBudget"], d["TCP.EstabResets"])
		}
	}
	// On the link: the client sends no bare ACK of its own (it receives
	// no data), so each is an answer; the server's honest bare ACKs are at
	// most one per honest data segment received plus one per read (a
	// window update), a loose bound the stream's end tightens below.
	clientBare := n.ta.bareACKs.Load() - bareBefore["client"]
	injectedData := uint64(0)
	for _, h := range toServer {
		if h.Flags == wire.FlagACK|wire.FlagPSH {
			injectedData++
		}
	}
	honestIn := n.tb.inData.Load() - serverInBefore - injectedData
	serverBare := n.tb.bareACKs.Load() - bareBefore["server"]
	t.Logf("link: client %d bare ACKs (bound %d); server %d bare ACKs for %d honest data segments in and %d reads (answer bound %d); %v virtual",
		clientBare, bound["client"], serverBare, honestIn, reads.Load(), bound["server"], elapsed)
	if clientBare > bound["client"]+retrans {
		t.Errorf("client sent %d bare ACKs, over the bound %d", clientBare, bound["client"])
	}
	if serverBare > honestIn+uint64(reads.Load())+bound["server"] {
		t.Errorf("server sent %d bare ACKs, over %d honest segments + %d reads + %d answers",
			serverBare, honestIn, reads.Load(), bound["server"])
	}

	// After the stream, exactly: one per interval plus the band.
	if quietAt.IsZero() {
		t.Fatal("the stream did not end before the attack did")
	}
	idle := n.clk.Now().Sub(quietAt) // to the last answer's departure, and 50 ms on
	perIdle := uint64(idle/interval) + 1
	idleBand := [2]uint64{band(toClient[quietIdx[0]:], serverISS.Add(1), 0), band(toServer[quietIdx[1]:], clientISS.Add(1+size), 0)}
	for i, who := range []string{"client", "server"} {
		tp := []*tap{n.ta, n.tb}[i]
		bare := tp.bareACKs.Load() - quietBare[i]
		t.Logf("%s: %d bare ACKs in the last %v of the attack, bound %d + %d", who, bare, idle, perIdle, idleBand[i])
		if bare > perIdle+idleBand[i] {
			t.Errorf("%s sent %d bare ACKs in the %v after the stream, over %d", who, bare, idle, perIdle+idleBand[i])
		}
		if bare == 0 {
			t.Errorf("%s answered nothing in %v: the limit should let one through per %v", who, idle, interval)
		}
	}

	// A RST exactly at RCV.NXT, as the peer would send, still resets.
	rcvNxt := clientISS.Add(1 + size)
	if err := n.a.WritePacket(blindSegment(clientAP, serverAP, wire.TCPFields{Seq: rcvNxt, Flags: wire.FlagRST}, nil)); err != nil {
		t.Fatal(err)
	}
	n.drive(t, func() bool { return sc.State() == tcp.StateClosed }, func() bool { return true })
	if _, err := sc.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after the exact RST: %v, want ECONNRESET", err)
	}
}
