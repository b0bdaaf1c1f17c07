package main

import (
	"bytes"
	"io"
	"net/netip"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// counterScenario is one scenario of TestEveryCounterMoves: it makes its
// stacks on e and drives them; the counters they end with are read, and
// those of moves ("Section.Name") must have moved on one of them.
type counterScenario struct {
	name  string
	run   func(e *scenarioEnv)
	moves []string
}

var counterScenarios = []counterScenario{
	{"bulk over a lossy link, SACK", func(e *scenarioEnv) { bulkLossy(e, false) }, []string{"Tcp.CurrEstab", "TcpExt.TCPRcvBufGrown"}},
	{"bulk over a lossy link, NewReno", func(e *scenarioEnv) { bulkLossy(e, true) }, []string{"TcpExt.TCPRenoRecovery"}},
	{"established drops", establishedDrops, []string{"TcpExt.BadSACKBlocks", "TcpExt.DropACKTooOld", "TcpExt.DropBadACK", "TcpExt.DropNoACK", "TcpExt.DropNoTimestamp", "TcpExt.DropOutOfWindow", "TcpExt.PAWSEstab", "TcpExt.ReadShutDiscards", "TcpExt.TCPACKSkippedChallenge", "TcpExt.TCPACKSkippedPAWS", "TcpExt.TCPACKSkippedSeq", "TcpExt.TCPChallengeACK", "TcpExt.TCPDSACKOldSent", "TcpExt.TCPDSACKRecv", "TcpExt.TCPOFOQueue", "TcpExt.TCPOutOfWindowACKs", "TcpExt.WindowScaleClamped", "TcpExt.WindowShrunk"}},
	{"listener queues and cookies", listenerQueues, []string{"TcpExt.DropBadFlags", "TcpExt.ListenDrops", "TcpExt.MinMSSRaised", "TcpExt.TCPReqQFullDrop"}},
	{"TIME-WAIT drops", timeWaitDrops, []string{"TcpExt.DropNoTimestamp", "TcpExt.DropOutOfWindow", "TcpExt.PAWSEstab", "TcpExt.TCPACKSkippedTimeWait"}},
	{"SYN cookies", synCookies, []string{"TcpExt.ListenOverflows", "TcpExt.ListenDrops", "TcpExt.SyncookiesFailed", "TcpExt.SyncookiesRecv", "TcpExt.SyncookiesSent"}},
	{"SYN cookies at the connection limit", cookiesAtLimit, []string{"TcpExt.ConnLimitDrops", "TcpExt.SyncookiesRecv"}},
	{"handshake drops", handshakeDrops, []string{"TcpExt.DropBadACK", "TcpExt.ListenOverflows"}},
	{"SYN-SENT drops", synSentDrops, []string{"Tcp.ActiveOpens", "Tcp.AttemptFails", "TcpExt.DropBadACK", "TcpExt.DropBadFlags"}},
	{"connection limit and bad checksums", connLimit, []string{"TcpExt.ConnLimitDrops", "Tcp.InErrs"}},
	{"ICMP errors and path MTU", icmpErrors, []string{"Icmp.InDestUnreachs", "Icmp.InErrorsBadCode", "Icmp.InErrorsBadQuote", "Icmp.InErrorsNoSocket", "Icmp.InErrorsOutOfWindow", "Icmp.InTimeExcds", "Icmp.SoftErrors", "Ip.PMTUClamped", "Ip.PMTUIgnored", "Ip.PMTUMSSLowered", "Ip.PMTUUpdates"}},
	{"a packet that is not IPv4", notIPv4, []string{"Ip.InNotIPv4"}},
	{"a refused dial", icmpHardError, []string{"Icmp.HardErrors"}},
	{"path MTU cache eviction", pmtuEvictions, []string{"Ip.PMTUCacheEvictions"}},
	{"reassembly", reassembly, []string{"Ip.ReasmBadFragments", "Ip.ReasmDuplicates", "Ip.ReasmFails", "Ip.ReasmOKs", "Ip.ReasmOverLimit", "Ip.ReasmOverlaps", "Ip.ReasmOversize", "Ip.ReasmReqds", "Ip.ReasmTimeout", "Icmp.OutTimeExcds"}},
	{"a link that refuses", refusingLinkScenario, []string{"Ip.FragCreates", "Ip.FragFails", "Ip.FragOKs", "Ip.OutDiscards", "Udp.SndbufErrors", "Udp.OutDatagrams"}},
	{"timers: zero window, timeouts, FIN-WAIT-2", timerScenario, []string{"TcpExt.FinWait2Timeouts", "TcpExt.SYNQueuePruned", "TcpExt.TCPACKSkippedSynRecv", "TcpExt.TCPAbortOnData", "TcpExt.TCPAbortOnTimeout", "TcpExt.TCPLossProbes", "TcpExt.TCPReqQFullDoCookies", "TcpExt.TCPTimeouts", "TcpExt.TCPWinProbe", "TcpExt.WinProbeAborts", "Tcp.EstabResets", "Tcp.RetransSegs"}},
	{"memory bounds and out-of-order text", memoryScenario, []string{"TcpExt.DropOutOfOrder", "TcpExt.OfoPruned", "TcpExt.ReceiveKept", "TcpExt.TCPMemoryPressures", "TcpExt.TCPOFODrop", "TcpExt.TCPRcvQDrop"}},
	{"TIME-WAIT and challenge budgets", budgetScenario, []string{"TcpExt.TCPChallengeACKOverBudget", "TcpExt.TCPTimeWaitOverflow"}},
	{"a spurious timeout", spuriousTimeout, []string{"TcpExt.TCPLossUndo", "TcpExt.TCPFullUndo"}},
	{"a spurious timeout by F-RTO", frtoTimeout, []string{"TcpExt.TCPSpuriousRTOs", "TcpExt.TCPLossUndo", "TcpExt.TCPLostRetransmit"}},
	{"a loss probe that repairs", tlpRecovery, []string{"TcpExt.TCPLossProbeRecovery", "TcpExt.TCPLossProbes"}},
	{"a recovery undone by D-SACK", dsackUndo, []string{"TcpExt.TCPDSACKUndo", "TcpExt.TCPFastRetrans", "TcpExt.TCPSackRecovery"}},
	{"send memory", sendMemory, []string{"TcpExt.SndMemoryLimited"}},
	{"a full SACK scoreboard", sackScoreboard, []string{"TcpExt.SACKScoreboardFull"}},
	{"an offloading link", gsoScenario, []string{"IpExt.GSOInErrors", "IpExt.GSOInPackets", "IpExt.GSOOutMerged"}},
	{"shared text", sharedTextScenario, []string{"IpExt.InShared", "IpExt.InSharedFlattened", "IpExt.OutShared", "TcpExt.ReceiveShared"}},
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
	l := r.listen(80, 8)
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
	r.send(c.craft(func(f *wire.TCPFields) { f.Flags, f.Seq = wire.FlagRST, f.Seq.Add(1<<30) }, nil)) // out of the window
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
	srv, err := l.AcceptTCP()
	if err != nil {
		e.t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Write(make([]byte, 3000)); err != nil {
		e.t.Fatal(err)
	}
	got := r.send()
	if len(got) == 0 {
		e.t.Fatal("the stack sent nothing")
	}
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
	// The user shuts reading: text is acknowledged and discarded.
	srv.CloseRead()
	r.send(c.seg(wire.FlagACK, []byte("discarded")))
}

// listenerQueues fills a listener's SYN queue of one with cookies off
// (a SYN whose MSS is raised to the minimum, then one dropped), and
// sends it a SYN,FIN and a stray ACK.
func listenerQueues(e *scenarioEnv) {
	r := e.raw(synack.Config{TCP: tcp.Config{MaxSYNBacklog: 1, SYNCookies: tcp.SYNCookiesOff}})
	r.listen(80, 1)
	syn := func(port uint16, opts wire.TCPOptions) []byte {
		return seg(wire.TCPFields{SrcPort: port, DstPort: 80, Seq: 5000, Flags: wire.FlagSYN, Window: 65535, Options: opts}, nil)
	}
	r.send(syn(41000, wire.TCPOptions{HasMSS: true, MSS: 8}), syn(41001, wire.TCPOptions{}))
	r.send(seg(wire.TCPFields{SrcPort: 41002, DstPort: 80, Seq: 5000, Flags: wire.FlagSYN | wire.FlagFIN, Window: 65535}, nil))
	r.send(seg(wire.TCPFields{SrcPort: 41003, DstPort: 80, Seq: 5000, Ack: 77, Flags: wire.FlagACK, Window: 65535}, nil))
}

// synCookies answers every SYN with a cookie, takes good ones until the
// accept queue of one is full and drops the next for it, refuses a
// forged cookie, and drops a SYN that finds the queue full.
func synCookies(e *scenarioEnv) {
	r := e.raw(synack.Config{TCP: tcp.Config{SYNCookies: tcp.SYNCookiesAlways}})
	r.listen(80, 1)
	r.cookies(42002, 42003, 42005)
	r.send(seg(wire.TCPFields{SrcPort: 42001, DstPort: 80, Seq: 5000, Ack: 77, Flags: wire.FlagACK, Window: 65535}, nil))
	r.send(seg(wire.TCPFields{SrcPort: 42004, DstPort: 80, Seq: 5000, Flags: wire.FlagSYN, Window: 65535}, nil))
}

// cookies sends a SYN to port 80 from each port, then the ACK of each
// SYN,ACK (a cookie's, when the listener sends cookies), in turn.
func (r *rawRig) cookies(ports ...uint16) {
	r.t.Helper()
	acks := make([][]byte, 0, len(ports))
	for _, p := range ports {
		got := r.send(seg(wire.TCPFields{SrcPort: p, DstPort: 80, Seq: 5000, Flags: wire.FlagSYN, Window: 65535}, nil))
		if len(got) != 1 || got[0].Flags() != wire.FlagSYN|wire.FlagACK {
			r.t.Fatalf("the SYN from %d got no SYN,ACK", p)
		}
		acks = append(acks, seg(wire.TCPFields{SrcPort: p, DstPort: 80, Seq: 5001, Ack: got[0].SeqNum().Add(1), Flags: wire.FlagACK, Window: 65535}, nil))
	}
	for _, a := range acks {
		r.send(a)
	}
}

// cookiesAtLimit: two good cookies on a stack that may hold one
// connection.
func cookiesAtLimit(e *scenarioEnv) {
	r := e.raw(synack.Config{MaxConnections: 1, TCP: tcp.Config{SYNCookies: tcp.SYNCookiesAlways}})
	r.listen(80, 8)
	r.cookies(42100, 42101)
}

// handshakeDrops: two half-open connections on a listener of one; an ACK
// of nothing sent in SYN-RECEIVED, and a final ACK that finds the accept
// queue filled meanwhile by the other's.
func handshakeDrops(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	r.listen(80, 1)
	var isn [2]seqnum.Value
	for i := range uint16(2) {
		got := r.send(seg(wire.TCPFields{SrcPort: 42200 + i, DstPort: 80, Seq: 5000, Flags: wire.FlagSYN, Window: 65535}, nil))
		if len(got) != 1 {
			e.t.Fatalf("the SYN from %d got %d answers", 42200+i, len(got))
		}
		isn[i] = got[0].SeqNum()
	}
	ack := func(i uint16, a seqnum.Value) []byte {
		return seg(wire.TCPFields{SrcPort: 42200 + i, DstPort: 80, Seq: 5001, Ack: a, Flags: wire.FlagACK, Window: 65535}, nil)
	}
	r.send(ack(0, isn[0].Add(1000))) // acknowledges nothing sent
	r.send(ack(1, isn[1].Add(1)))    // fills the queue
	r.send(ack(0, isn[0].Add(1)))    // finds it full
}

// synSentDrops answers a dial's SYN with a SYN,ACK of nothing sent, a RST
// without ACK, and an ACK without SYN, then refuses it.
func synSentDrops(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	failed := make(chan error, 1)
	go func() {
		c, err := r.st.DialTCP(e.t.Context(), netip.AddrPortFrom(rigPeer, 9998))
		if err == nil {
			c.Close()
		}
		failed <- err
	}()
	syn := r.awaitSYN()
	h := wire.TCPFields{SrcPort: 9998, DstPort: syn.SrcPort(), Seq: 7000, Ack: syn.SeqNum().Add(1000), Flags: wire.FlagSYN | wire.FlagACK, Window: 65535}
	r.send(seg(h, nil))
	h.Flags, h.Ack = wire.FlagRST, 0
	r.send(seg(h, nil))
	h.Flags, h.Ack = wire.FlagACK, syn.SeqNum().Add(1)
	r.send(seg(h, nil))
	h.Flags = wire.FlagRST | wire.FlagACK
	r.send(seg(h, nil))
	if err := <-failed; err == nil {
		e.t.Error("the dial succeeded despite the RST")
	}
}

// awaitSYN waits for a SYN from the stack, a dial's.
func (r *rawRig) awaitSYN() wire.TCP {
	r.t.Helper()
	start := time.Now()
	for {
		if time.Since(start) > 10*time.Second {
			r.t.Fatal("the dial sent no SYN")
		}
		r.barrier()
		for _, s := range r.take() {
			if s.Flags() == wire.FlagSYN {
				return s
			}
		}
	}
}

// connLimit opens the one connection a stack may hold and sends another
// SYN, then a SYN with a bad checksum and an ACK with a bad option.
func connLimit(e *scenarioEnv) {
	r := e.raw(synack.Config{MaxConnections: 1})
	r.listen(80, 8)
	r.open(43000, 80, wire.TCPOptions{})
	r.send(seg(wire.TCPFields{SrcPort: 43001, DstPort: 80, Seq: 5000, Flags: wire.FlagSYN, Window: 65535}, nil))
	bad := seg(wire.TCPFields{SrcPort: 43002, DstPort: 80, Seq: 5000, Flags: wire.FlagSYN, Window: 65535}, nil)
	bad[len(bad)-4] ^= 0xff // the checksum's high byte
	r.send(bad)
	// An ACK whose MSS option has length 3.
	opt := seg(wire.TCPFields{SrcPort: 43003, DstPort: 80, Seq: 5000, Ack: 1, Flags: wire.FlagACK, Window: 65535,
		Options: wire.TCPOptions{HasMSS: true, MSS: 1460}}, nil)
	t := opt[wire.IPv4MinHeaderLen:]
	t[21] = 3           // the MSS option's length
	t[16], t[17] = 0, 0 // checksum again
	wire.TCP(t).FillChecksum(rigPeer, rigServer)
	r.send(opt)
}

// timeWaitDrops closes a connection from the stack's side into TIME-WAIT
// and sends the record segments it drops.
func timeWaitDrops(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	l := r.listen(80, 8)
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
	r.send(c.craft(func(f *wire.TCPFields) { f.Flags, f.Seq = wire.FlagRST, f.Seq.Add(10) }, nil))
}
