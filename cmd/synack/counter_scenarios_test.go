package main

import (
	"bytes"
	"io"
	"net/netip"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// counterScenario is one scenario of TestEveryCounterMoves: it makes its
// stacks on e and drives them; the counters they end with are read.
type counterScenario struct {
	name string
	run  func(e *scenarioEnv)
}

var counterScenarios = []counterScenario{
	{"bulk over a lossy link, SACK", func(e *scenarioEnv) { bulkLossy(e, false) }},
	{"bulk over a lossy link, NewReno", func(e *scenarioEnv) { bulkLossy(e, true) }},
	{"established drops", establishedDrops},
	{"listener queues and cookies", listenerQueues},
	{"TIME-WAIT drops", timeWaitDrops},
	{"SYN cookies", synCookies},
	{"connection limit and bad checksums", connLimit},
}

// bulkLossy moves 256 KiB each way over a link that loses, duplicates
// and reorders: retransmissions, recoveries, D-SACKs, reordering.
func bulkLossy(e *scenarioEnv, noSACK bool) {
	d := fault.Direction{Loss: 0.03, Duplicate: 0.02, Reorder: 0.03, ReorderDelay: 3 * time.Millisecond, Delay: 5 * time.Millisecond}
	cfg := synack.Config{TCP: tcp.Config{NoSACK: noSACK}}
	p := e.pair(cfg, cfg, &d)
	l, err := p.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 4)
	if err != nil {
		e.t.Fatal(err)
	}
	defer l.Close()
	cc, sc := p.connect(l, 80)
	data := bytes.Repeat([]byte("0123456789abcdef"), 16<<10)
	p.do(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := io.ReadFull(sc, make([]byte, len(data))); err != nil {
				e.t.Errorf("server read: %v", err)
			}
			if _, err := sc.Write(data); err != nil {
				e.t.Errorf("server write: %v", err)
			}
		}()
		if _, err := cc.Write(data); err != nil {
			e.t.Errorf("client write: %v", err)
		}
		if _, err := io.ReadFull(cc, make([]byte, len(data))); err != nil {
			e.t.Errorf("client read: %v", err)
		}
		<-done
	})
	e.takeAll() // CurrEstab while both are open
	p.do(func() { cc.Close(); sc.Close() })
}

// establishedDrops sends a connection every kind of segment its checks
// drop, on a raw peer that agreed timestamps and SACK.
func establishedDrops(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	l, err := r.st.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 8)
	if err != nil {
		e.t.Fatal(err)
	}
	defer l.Close()
	c := r.open(40001, 80, wire.TCPOptions{HasTimestamps: true, SACKPermitted: true, HasMSS: true, MSS: 1460, HasWindowScale: true, WindowScale: 15})
	// Out of window, twice: the second's ACK is skipped by the rate limit.
	far := func(f *wire.TCPFields) { f.Seq = f.Seq.Add(1 << 30) }
	r.send(c.craft(far, []byte("far")), c.craft(far, []byte("far")))
	// No ACK flag.
	r.send(c.craft(func(f *wire.TCPFields) { f.Flags = wire.FlagPSH }, []byte("x")))
	// An ACK of what was never sent, and one too old.
	r.send(c.craft(func(f *wire.TCPFields) { f.Ack = f.Ack.Add(1 << 20) }, nil))
	r.send(c.craft(func(f *wire.TCPFields) { f.Ack = f.Ack - 1<<30 }, nil))
	// An in-window RST not at RCV.NXT, twice; a SYN. The clock moves
	// past the per-connection rate limit of invalid-segment ACKs first.
	r.clk.Advance(time.Second)
	r.send(c.craft(func(f *wire.TCPFields) { f.Flags, f.Seq = wire.FlagRST, f.Seq.Add(10) }, nil))
	r.send(c.craft(func(f *wire.TCPFields) { f.Flags, f.Seq = wire.FlagRST, f.Seq.Add(11) }, nil))
	r.clk.Advance(time.Second)
	r.send(c.craft(func(f *wire.TCPFields) { f.Flags = wire.FlagSYN }, nil))
	// No timestamp; an old timestamp, three times on a connection of its
	// own (no invalid segment answered before).
	r.send(c.craft(func(f *wire.TCPFields) { f.Options = wire.TCPOptions{} }, []byte("n")))
	p := r.open(40003, 80, wire.TCPOptions{HasTimestamps: true})
	old := func(f *wire.TCPFields) { f.Options.TSVal = 1 }
	r.send(p.craft(old, nil), p.craft(old, nil), p.craft(old, nil))
	// Out of order, then the hole and a duplicate: queued, D-SACK sent.
	r.send(c.craft(func(f *wire.TCPFields) { f.Seq = f.Seq.Add(100) }, make([]byte, 100)))
	r.send(c.seg(wire.FlagACK, make([]byte, 100)))
	r.send(c.craft(func(f *wire.TCPFields) { f.Seq = f.Seq - 100 }, make([]byte, 100)))
	c.nxt = c.nxt.Add(100) // the held segment
	// The stack sends; the peer SACKs nonsense, reports a D-SACK, then
	// shrinks its window.
	var srv *synack.TCPConn
	if srv, err = l.AcceptTCP(); err != nil {
		e.t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Write(make([]byte, 3000)); err != nil {
		e.t.Fatal(err)
	}
	got := r.send()
	una := c.una
	c.ackAll(got[:1])
	r.send(c.craft(func(f *wire.TCPFields) {
		f.Options.NumSACKBlocks = 1
		f.Options.SACKBlocks[0] = wire.SACKBlock{Left: f.Ack.Add(1 << 20), Right: f.Ack.Add(1<<20 + 10)}
	}, nil))
	r.send(c.craft(func(f *wire.TCPFields) {
		f.Options.NumSACKBlocks = 1
		f.Options.SACKBlocks[0] = wire.SACKBlock{Left: una, Right: f.Ack}
	}, nil))
	r.send(c.craft(func(f *wire.TCPFields) { f.Window = 10 }, nil))
	// The user shuts reading: text is discarded; then closes: more text resets.
	srv.CloseRead()
	r.send(c.seg(wire.FlagACK, []byte("discarded")))
}

// listenerQueues fills a listener's SYN queue (cookies off, then on) and
// its accept queue, and sends bad flags and a forged cookie ACK.
func listenerQueues(e *scenarioEnv) {
	r := e.raw(synack.Config{TCP: tcp.Config{MaxSYNBacklog: 1, SYNCookies: tcp.SYNCookiesOff}})
	l, err := r.st.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 1)
	if err != nil {
		e.t.Fatal(err)
	}
	defer l.Close()
	syn := func(port uint16, opts wire.TCPOptions) []byte {
		return seg(wire.TCPFields{SrcPort: port, DstPort: 80, Seq: 5000, Flags: wire.FlagSYN, Window: 65535, Options: opts}, nil)
	}
	r.send(syn(41000, wire.TCPOptions{HasMSS: true, MSS: 8}), syn(41001, wire.TCPOptions{}))
	r.send(seg(wire.TCPFields{SrcPort: 41002, DstPort: 80, Seq: 5000, Flags: wire.FlagSYN | wire.FlagFIN, Window: 65535}, nil))
	r.send(seg(wire.TCPFields{SrcPort: 41003, DstPort: 80, Seq: 5000, Ack: 77, Flags: wire.FlagACK, Window: 65535}, nil))
}

// synCookies answers every SYN with a cookie, takes a good one, refuses
// a forged one, and fills the accept queue of one.
func synCookies(e *scenarioEnv) {
	r := e.raw(synack.Config{TCP: tcp.Config{SYNCookies: tcp.SYNCookiesAlways}})
	l, err := r.st.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 1)
	if err != nil {
		e.t.Fatal(err)
	}
	defer l.Close()
	r.open(42000, 80, wire.TCPOptions{}) // a good cookie; the accept queue is full
	r.send(seg(wire.TCPFields{SrcPort: 42001, DstPort: 80, Seq: 5000, Ack: 77, Flags: wire.FlagACK, Window: 65535}, nil))
	got := r.send(seg(wire.TCPFields{SrcPort: 42002, DstPort: 80, Seq: 5000, Flags: wire.FlagSYN, Window: 65535}, nil))
	if len(got) == 1 {
		r.send(seg(wire.TCPFields{SrcPort: 42002, DstPort: 80, Seq: 5001, Ack: got[0].SeqNum().Add(1), Flags: wire.FlagACK, Window: 65535}, nil))
	}
}

// connLimit opens the one connection a stack may hold and sends another
// SYN, then a SYN with a bad checksum.
func connLimit(e *scenarioEnv) {
	r := e.raw(synack.Config{MaxConnections: 1})
	l, err := r.st.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 8)
	if err != nil {
		e.t.Fatal(err)
	}
	defer l.Close()
	r.open(43000, 80, wire.TCPOptions{})
	r.send(seg(wire.TCPFields{SrcPort: 43001, DstPort: 80, Seq: 5000, Flags: wire.FlagSYN, Window: 65535}, nil))
	bad := seg(wire.TCPFields{SrcPort: 43002, DstPort: 80, Seq: 5000, Flags: wire.FlagSYN, Window: 65535}, nil)
	bad[len(bad)-4] ^= 0xff // the checksum's high byte
	r.send(bad)
}

// timeWaitDrops closes a connection from the stack's side into TIME-WAIT
// and sends the record segments it drops.
func timeWaitDrops(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	l, err := r.st.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 8)
	if err != nil {
		e.t.Fatal(err)
	}
	defer l.Close()
	c := r.open(40002, 80, wire.TCPOptions{HasTimestamps: true})
	srv, err := l.AcceptTCP()
	if err != nil {
		e.t.Fatal(err)
	}
	srv.Close()
	c.ackAll(r.send())
	c.ackAll(r.send(c.seg(wire.FlagACK|wire.FlagFIN, nil)))
	far := func(f *wire.TCPFields) { f.Seq = f.Seq.Add(1 << 30) }
	r.send(c.craft(far, []byte("far")), c.craft(far, []byte("far")))
	r.send(c.craft(func(f *wire.TCPFields) { f.Options = wire.TCPOptions{} }, nil))
	r.send(c.craft(func(f *wire.TCPFields) { f.Options.TSVal = 1 }, nil))
}
