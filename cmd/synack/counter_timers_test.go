package main

import (
	"net/netip"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// TestEveryCounterMoves's scenarios on timers, memory bounds and budgets.

// listen opens a listener of the rig's stack on port, closed at the end.
func (r *rawRig) listen(port uint16, backlog int) *synack.TCPListener {
	r.t.Helper()
	l, err := r.st.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), port), backlog)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { l.Close() })
	return l
}

// accept opens a connection from the raw peer's port to l's and returns
// both ends.
func (r *rawRig) accept(l *synack.TCPListener, port, dst uint16, opts wire.TCPOptions) (*rawConn, *synack.TCPConn) {
	r.t.Helper()
	c := r.open(port, dst, opts)
	s, err := l.AcceptTCP()
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { s.Abort() })
	return c, s
}

var tsSACK = wire.TCPOptions{HasTimestamps: true, SACKPermitted: true}

// timerScenario: a zero window never opened, data never acknowledged, an
// orphaned FIN-WAIT-2, half-open connections never completed, text after
// a close, invalid segments in SYN-RECEIVED.
func timerScenario(e *scenarioEnv) {
	r := e.raw(synack.Config{TCP: tcp.Config{Retries: 3, FinWait2Timeout: 5 * time.Second, MaxRTO: 4 * time.Second}})
	l := r.listen(80, 8)
	// A zero window with data to send: probes, then the end.
	zc, zs := r.accept(l, 46000, 80, tsSACK)
	r.send(zc.craft(func(f *wire.TCPFields) { f.Window = 0 }, nil))
	zs.Write(make([]byte, 2000))
	// Data never acknowledged: a loss probe, timeouts, the end.
	_, ds := r.accept(l, 46001, 80, tsSACK)
	ds.Write(make([]byte, 3000))
	// The stack closes; the peer acknowledges the FIN and sends none.
	fc, fs := r.accept(l, 46002, 80, wire.TCPOptions{})
	fs.Close()
	fc.ackAll(r.send())
	r.send(fc.seg(wire.FlagACK, nil))
	// Text after the user closed: reset.
	ac, as := r.accept(l, 46003, 80, wire.TCPOptions{})
	as.Close()
	ac.ackAll(r.send())
	r.send(ac.seg(wire.FlagACK, []byte("late")))
	// Segments out of the window in SYN-RECEIVED, twice at once: the
	// second's ACK is skipped.
	r.write(seg(wire.TCPFields{SrcPort: 46004, DstPort: 80, Seq: 9, Flags: wire.FlagSYN, Window: 65535}, nil))
	far := wire.TCPFields{SrcPort: 46004, DstPort: 80, Seq: 10 + 1<<30, Flags: wire.FlagACK, Window: 65535}
	r.send(seg(far, []byte("far")), seg(far, []byte("far")))
	// Half-open connections on a listener of 16: pruned before their
	// SYN,ACK retries run out.
	r.listen(81, 16)
	for i := range uint16(12) {
		r.write(seg(wire.TCPFields{SrcPort: 47000 + i, DstPort: 81, Seq: 9, Flags: wire.FlagSYN, Window: 65535}, nil))
	}
	// A listener whose SYN queue of one is full: a cookie for the second.
	r.listen(82, 1)
	for i := range uint16(3) {
		r.write(seg(wire.TCPFields{SrcPort: 47100 + i, DstPort: 82, Seq: 9, Flags: wire.FlagSYN, Window: 65535}, nil))
	}
	ts := r.st.Internals().TCPStats()
	r.advanceUntil(func() bool {
		return ts.WinProbeAborts.Load() > 0 && ts.AbortOnTimeout.Load() > 1 && ts.FinWait2Timeouts.Load() > 0 && ts.SYNQueuePruned.Load() > 0
	})
}

// spuriousTimeout: a timeout whose retransmission the peer shows needless
// by its timestamp echo (Eifel, RFC 3522; F-RTO, RFC 5682).
func spuriousTimeout(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	l := r.listen(80, 8)
	c, s := r.accept(l, 46100, 80, tsSACK)
	s.Write(make([]byte, 4000))
	got := r.send()
	if len(got) == 0 {
		e.t.Fatal("no data sent")
	}
	var first wire.TCPOptions
	wire.ParseTCPOptions(got[0].Options(), &first)
	ts := r.st.Internals().TCPStats()
	r.advanceUntil(func() bool { return ts.Timeouts.Load() > 0 })
	r.take()
	ack := func(n int) {
		r.send(c.craft(func(f *wire.TCPFields) {
			f.Ack = got[n-1].SeqNum().Add(wireLen(got[n-1]))
			f.Options.TSEcr = first.TSVal
		}, nil))
	}
	ack(1)
	ack(len(got))
	s.Write(make([]byte, 1000))
	r.send()
}

// frtoTimeout: a timeout after which the peer acknowledges data sent
// before it and never resent (F-RTO, RFC 5682 §2).
func frtoTimeout(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	l := r.listen(80, 8)
	c, s := r.accept(l, 46110, 80, wire.TCPOptions{SACKPermitted: true})
	s.Write(make([]byte, 4000))
	got := r.send()
	ts := r.st.Internals().TCPStats()
	r.advanceUntil(func() bool { return ts.Timeouts.Load() > 0 })
	c.ackAll(got)
	r.send(c.seg(wire.FlagACK, nil))
}

// tlpRecovery: a loss probe, new data after it, and an ACK of all: the
// probe repaired a loss (RFC 8985 §7.4).
func tlpRecovery(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	l := r.listen(80, 8)
	c, s := r.accept(l, 46120, 80, wire.TCPOptions{SACKPermitted: true})
	s.Write(make([]byte, 2000))
	got := r.send()
	ts := r.st.Internals().TCPStats()
	r.advanceUntil(func() bool { return ts.TCPLossProbes.Load() > 0 })
	s.Write(make([]byte, 500))
	got = append(got, r.send()...)
	c.ackAll(got)
	r.send(c.seg(wire.FlagACK, nil))
}

// dsackUndo: a fast recovery whose one retransmission the peer reports
// as a duplicate (RFC 2883): the reduction is undone.
func dsackUndo(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	l := r.listen(80, 8)
	c, s := r.accept(l, 46130, 80, wire.TCPOptions{SACKPermitted: true})
	s.Write(make([]byte, 6*536))
	got := r.send()
	if len(got) < 5 {
		e.t.Fatalf("%d segments sent; want 6", len(got))
	}
	first := got[0]
	end := func(s wire.TCP) seqnum.Value { return s.SeqNum().Add(wireLen(s)) }
	for k := 1; k < len(got); k++ {
		r.send(c.craft(func(f *wire.TCPFields) {
			f.Options.NumSACKBlocks = 1
			f.Options.SACKBlocks[0] = wire.SACKBlock{Left: got[1].SeqNum(), Right: end(got[k])}
		}, nil))
	}
	ts := r.st.Internals().TCPStats()
	r.advanceUntil(func() bool { return ts.RetransSegs.Load() > 0 })
	r.take()
	c.ackAll(got)
	r.send(c.craft(func(f *wire.TCPFields) {
		f.Options.NumSACKBlocks = 1
		f.Options.SACKBlocks[0] = wire.SACKBlock{Left: first.SeqNum(), Right: end(first)}
	}, nil))
}

// wireLen is the sequence space a segment takes.
func wireLen(s wire.TCP) seqnum.Size {
	n := seqnum.Size(len(s.Payload()))
	if s.Flags().Has(wire.FlagFIN) || s.Flags().Has(wire.FlagSYN) {
		n++
	}
	return n
}

// memoryScenario: a stack's receive memory of 8 KiB, filled by text
// nobody reads on one connection while another holds text out of order
// and was offered a window before: its held text is pruned, then its
// in-order text dropped, then new out-of-order text not held. Last, text
// held beyond a FIN that ends the stream before it.
func memoryScenario(e *scenarioEnv) {
	r := e.raw(synack.Config{TCP: tcp.Config{MaxStackReceiveMemory: 8192, ReceiveBufferSize: 65535}})
	l := r.listen(80, 8)
	f, _ := r.accept(l, 46201, 80, tsSACK)
	a, _ := r.accept(l, 46200, 80, tsSACK)
	b, _ := r.accept(l, 46203, 80, tsSACK)
	r.send(f.craft(func(h *wire.TCPFields) { h.Seq = h.Seq.Add(10) }, []byte("beyond")))
	r.send(f.seg(wire.FlagACK|wire.FlagFIN, nil))
	r.send(f.craft(func(h *wire.TCPFields) { h.Seq = h.Seq.Add(10) }, []byte("after the FIN"))) // in CLOSE-WAIT
	r.send(a.craft(func(h *wire.TCPFields) { h.Seq = h.Seq.Add(2000) }, make([]byte, 1000)))    // held
	for range 7 {
		r.send(b.seg(wire.FlagACK, make([]byte, 1000)))
	}
	r.send(a.seg(wire.FlagACK, make([]byte, 1000)))                                          // prunes the held text
	r.send(a.seg(wire.FlagACK, make([]byte, 1000)))                                          // no room: dropped
	r.send(a.craft(func(h *wire.TCPFields) { h.Seq = h.Seq.Add(3000) }, make([]byte, 1000))) // no room to hold
}

// sendMemory: a writer on a stack of 6,000 bytes of send memory, its
// buffer of 4,096 held back from growing as the peer acknowledges.
func sendMemory(e *scenarioEnv) {
	r := e.raw(synack.Config{TCP: tcp.Config{SendBufferSize: 4096, MaxSendBufferSize: 1 << 20, MaxStackSendMemory: 6000}})
	l := r.listen(80, 8)
	c, s := r.accept(l, 46400, 80, wire.TCPOptions{HasMSS: true, MSS: 1460})
	ts := r.st.Internals().TCPStats()
	for i := 0; ts.SndMemoryLimited.Load() == 0; i++ {
		if i == 10 {
			e.t.Fatal("the send buffer never asked to grow")
		}
		if _, err := s.Write(make([]byte, 4096)); err != nil { // what the buffer holds: no wait
			e.t.Fatal(err)
		}
		c.ackAll(r.send())
		r.send(c.seg(wire.FlagACK, nil))
	}
}

// sackScoreboard: a peer that SACKs more separate bytes than the
// sender's scoreboard keeps ranges (256 for this send buffer).
func sackScoreboard(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	l := r.listen(80, 8)
	c, s := r.accept(l, 46500, 80, wire.TCPOptions{SACKPermitted: true, HasMSS: true, MSS: 1460})
	if _, err := s.Write(make([]byte, 10*1460)); err != nil {
		e.t.Fatal(err)
	}
	r.send()
	ts := r.st.Internals().TCPStats()
	for k := 0; ts.SACKScoreboardFull.Load() == 0; k += 4 {
		if k > 2*300 {
			e.t.Fatal("the scoreboard took 300 ranges")
		}
		r.send(c.craft(func(f *wire.TCPFields) {
			f.Options.NumSACKBlocks = 4
			for i := range 4 {
				left := f.Ack.Add(seqnum.Size(2*(k+i) + 1))
				f.Options.SACKBlocks[i] = wire.SACKBlock{Left: left, Right: left.Add(1)}
			}
		}, nil))
	}
}

// budgetScenario: a stack of one TIME-WAIT record and one challenge ACK
// a second.
func budgetScenario(e *scenarioEnv) {
	r := e.raw(synack.Config{MaxTimeWait: 1, TCP: tcp.Config{ChallengeACKLimit: 1}})
	l := r.listen(80, 8)
	for i := range uint16(2) {
		c, _ := r.accept(l, 46300+i, 80, wire.TCPOptions{})
		r.send(c.craft(func(f *wire.TCPFields) { f.Flags, f.Seq = wire.FlagRST, f.Seq.Add(10) }, nil))
	}
	for i := range uint16(2) {
		c, s := r.accept(l, 46310+i, 80, wire.TCPOptions{})
		s.Close()
		c.ackAll(r.send())
		r.send(c.seg(wire.FlagACK|wire.FlagFIN, nil))
	}
}
