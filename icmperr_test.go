package synack_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/wire"
)

// ICMP errors reaching their connection, checked (RFC 5927 §4.1), and
// path MTU discovery (RFC 1191), through the stack.

// routerAddr is a router between the pair's hosts, which sends the ICMP errors.
var routerAddr = netip.MustParseAddr("10.0.0.254")

// icmpError builds an ICMP error of type typ and code from src to dst with
// rest as its second word, quoting q.
func icmpError(typ, code uint8, rest uint32, src, dst netip.Addr, q []byte) []byte {
	m := make([]byte, wire.ICMPv4HeaderLen+len(q))
	(&wire.ICMPv4Fields{Type: typ, Code: code, Rest: rest}).Encode(m)
	copy(m[wire.ICMPv4HeaderLen:], q)
	wire.ICMPv4(m).FillChecksum()
	return ipv4Packet(wire.ProtocolICMPv4, src, dst, m)
}

// quoteOf is what a router quotes of pkt: its header and 8 bytes (RFC 792).
func quoteOf(pkt []byte) []byte { return append([]byte(nil), pkt[:wire.IPv4MinHeaderLen+8]...) }

// dialRaw starts a dial from the raw peer's stack to the peer's port 80
// and returns the SYN it sent and the dial's result.
func dialRaw(t *testing.T, r *rawPeer) ([]byte, chan error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		c, err := r.st.DialTCP(context.Background(), netip.AddrPortFrom(peerAddr, 80))
		if c != nil {
			c.Close()
		}
		errc <- err
	}()
	var syn []byte
	waitFor(t, "the SYN", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.got) > 0 {
			syn, r.got = r.got[0], r.got[1:]
		}
		return syn != nil
	})
	return syn, errc
}

// TestSynSentICMPErrorsFailConnect: a connect answered by an ICMP error
// quoting its SYN fails at once with the error Linux gives: host, net,
// port unreachable, administratively prohibited (13) and time exceeded.
func TestSynSentICMPErrorsFailConnect(t *testing.T) {
	for _, tc := range []struct {
		typ, code uint8
		want      error
	}{
		{wire.ICMPv4DestUnreachable, wire.ICMPv4HostUnreachable, syscall.EHOSTUNREACH},
		{wire.ICMPv4DestUnreachable, wire.ICMPv4NetUnreachable, syscall.ENETUNREACH},
		{wire.ICMPv4DestUnreachable, wire.ICMPv4PortUnreachable, syscall.ECONNREFUSED},
		{wire.ICMPv4DestUnreachable, 13, syscall.EHOSTUNREACH},
		{wire.ICMPv4TimeExceeded, 0, syscall.EHOSTUNREACH},
	} {
		r := newRawPeer(t)
		syn, errc := dialRaw(t, r)
		r.send(t, icmpError(tc.typ, tc.code, 0, routerAddr, serverAddr.Addr(), quoteOf(syn)))
		err := recvErr(t, errc, "dial")
		if !errors.Is(err, tc.want) {
			t.Errorf("type %d code %d: dial error %v, want %v", tc.typ, tc.code, err, tc.want)
		}
		if n := r.st.Internals().Stats().ICMPHardErrors.Load(); n != 1 {
			t.Errorf("type %d code %d: ICMPHardErrors = %d, want 1", tc.typ, tc.code, n)
		}
	}
}

// TestSynSentForgedICMPIgnoredAndCounted: host unreachables that quote the
// SYN with another port, or with a sequence number 2^31 from the ISS (RFC
// 5927 §4.1), are dropped and counted, and the connect completes when the
// SYN,ACK comes.
func TestSynSentForgedICMPIgnoredAndCounted(t *testing.T) {
	r := newRawPeer(t)
	syn, errc := dialRaw(t, r)
	wrongPort := quoteOf(syn)
	binary.BigEndian.PutUint16(wrongPort[wire.IPv4MinHeaderLen+2:], 81)
	farSeq := quoteOf(syn)
	iss := binary.BigEndian.Uint32(farSeq[wire.IPv4MinHeaderLen+4:])
	binary.BigEndian.PutUint32(farSeq[wire.IPv4MinHeaderLen+4:], iss+1<<31)
	nextSeq := quoteOf(syn)
	binary.BigEndian.PutUint32(nextSeq[wire.IPv4MinHeaderLen+4:], iss+1)
	before := snapshot(r.st)
	for _, q := range [][]byte{wrongPort, farSeq, nextSeq} {
		if got := r.send(t, icmpError(wire.ICMPv4DestUnreachable, wire.ICMPv4HostUnreachable, 0, routerAddr, serverAddr.Addr(), q)); len(got) != 0 {
			t.Fatalf("%d packets in answer to a forged ICMP", len(got))
		}
	}
	want := map[string]uint64{"InReceives": 3, "InDelivers": 3, "ICMPInMsgs": 3, "ICMPInDestUnreachs": 3,
		"ICMPInErrorsNoSocket": 1, "ICMPInErrorsOutOfWindow": 2}
	if d := before.diff(snapshot(r.st)); !maps.Equal(d, want) {
		t.Errorf("counters changed by %v, want %v", d, want)
	}
	// The SYN,ACK completes the connect.
	tcpSyn, _ := wire.ParseTCP(syn[wire.IPv4MinHeaderLen:])
	got := r.send(t, tcpPacket(wire.TCPFields{SrcPort: 80, DstPort: tcpSyn.SrcPort(), Seq: 7000, Ack: tcpSyn.SeqNum().Add(1),
		Flags: wire.FlagSYN | wire.FlagACK, Window: 65535}, nil))
	if len(got) == 0 {
		t.Fatal("no ACK for the SYN,ACK")
	}
	if err := recvErr(t, errc, "dial"); err != nil {
		t.Fatalf("dial after forged errors: %v, want success", err)
	}
}

// TestICMPErrorBadQuotesDroppedAndCounted hands the stack ICMP errors
// quoting garbage, nothing, or a datagram it did not send: each is dropped
// without an answer and counted by its reason, and nothing panics.
func TestICMPErrorBadQuotesDroppedAndCounted(t *testing.T) {
	r := newRawPeer(t)
	syn, _ := dialRaw(t, r) // a connection the good-looking quotes could be about
	me, peer := serverAddr.Addr(), peerAddr
	unreach := func(code uint8, q []byte) []byte {
		return icmpError(wire.ICMPv4DestUnreachable, code, 0, routerAddr, me, q)
	}
	other := withIPv4(quoteOf(syn), func(h []byte) { copy(h[12:16], []byte{10, 0, 0, 9}) })
	later := withIPv4(quoteOf(syn), func(h []byte) { h[6], h[7] = 0x00, 0x10 })
	icmpQ := withIPv4(quoteOf(syn), func(h []byte) { h[9] = wire.ProtocolICMPv4 })
	longIHL := quoteOf(syn)
	longIHL[0] = 0x4f // a 60-byte header in 28 bytes
	noConn := quoteOf(syn)
	binary.BigEndian.PutUint16(noConn[wire.IPv4MinHeaderLen:], 1) // our port 1: no connection
	udpQ := ipv4Packet(wire.ProtocolUDP, me, peer, []byte{0x13, 0x88, 0, 53, 0, 9, 0, 0, 'x'})
	bad := func(k string) map[string]uint64 {
		return map[string]uint64{"InReceives": 1, "InDelivers": 1, "ICMPInMsgs": 1, "ICMPInDestUnreachs": 1, k: 1}
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want map[string]uint64
	}{
		{"no quote", unreach(1, nil), bad("ICMPInErrorsBadQuote")},
		{"IPv4 header only", unreach(1, syn[:20]), bad("ICMPInErrorsBadQuote")},
		{"7 bytes of TCP", unreach(1, syn[:27]), bad("ICMPInErrorsBadQuote")},
		{"frag needed, 3 bytes of TCP", unreach(4, syn[:23]), bad("ICMPInErrorsBadQuote")},
		{"IHL past the quote", unreach(1, longIHL), bad("ICMPInErrorsBadQuote")},
		{"from another host", unreach(1, other), bad("ICMPInErrorsBadQuote")},
		{"a later fragment", unreach(1, later), bad("ICMPInErrorsBadQuote")},
		{"an ICMP datagram", unreach(1, icmpQ), bad("ICMPInErrorsBadQuote")},
		{"random bytes", unreach(3, []byte("\x45\xff\x00\x30garbage garbage garbage")), bad("ICMPInErrorsBadQuote")},
		{"code 16", unreach(16, quoteOf(syn)), bad("ICMPInErrorsBadCode")},
		{"no connection", unreach(1, noConn), bad("ICMPInErrorsNoSocket")},
		{"no UDP socket", unreach(3, udpQ[:28]), bad("ICMPInErrorsNoSocket")},
		{"frag needed, no connection", unreach(4, noConn), bad("ICMPInErrorsNoSocket")},
		{"time exceeded, no quote", icmpError(wire.ICMPv4TimeExceeded, 0, 0, routerAddr, me, nil),
			map[string]uint64{"InReceives": 1, "InDelivers": 1, "ICMPInMsgs": 1, "ICMPInTimeExcds": 1, "ICMPInErrorsBadQuote": 1}},
	} {
		before := snapshot(r.st)
		if got := r.send(t, tc.pkt); len(got) != 0 {
			t.Errorf("%s: %d packets sent in answer", tc.name, len(got))
		}
		if d := before.diff(snapshot(r.st)); !maps.Equal(d, tc.want) {
			t.Errorf("%s: counters changed by %v, want %v", tc.name, d, tc.want)
		}
	}
	if st := states(r.st); len(st) != 1 {
		t.Errorf("connections %v after bad ICMPs, want the one in SYN-SENT", st)
	}
}

// pmtuRouter makes the client's gate a router whose link to the client
// carries at most mtu bytes: a bigger packet from the server is dropped
// and answered with "fragmentation needed" reporting report as the MTU
// (RFC 1191 §4), quoting the packet.
// first is set to the virtual time of the first.
func pmtuRouter(g *gate, clk *clock.Virtual, mtu int, report uint16, sent, first *atomic.Int64) {
	g.drop = func(pkt []byte) bool {
		if len(pkt) <= mtu {
			return false
		}
		if sent.Add(1) == 1 {
			first.Store(clk.Now().UnixNano())
		}
		g.Endpoint.WritePacket(icmpError(wire.ICMPv4DestUnreachable, wire.ICMPv4FragmentationNeeded, uint32(report),
			routerAddr, serverAddr.Addr(), quoteOf(pkt)))
		return true
	}
}

// chunk sends size seeded bytes from the server to the client over p,
// without closing, moving the virtual clock only when nothing else can
// happen, and checks them byte for byte once all have been read.
func chunk(t *testing.T, p *pair, server, client *synack.TCPConn, size int64, seed uint64) {
	t.Helper()
	want, _, _ := sum(seededReader(seed, size))
	var read atomic.Int64
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(server, seededReader(seed, size))
		errc <- err
	}()
	var got [32]byte
	var rerr error
	var finished atomic.Bool
	go func() {
		got, _, rerr = sum(io.LimitReader(counting{client, &read}, size))
		finished.Store(true)
	}()
	p.runClock(t, 10000, read.Load, finished.Load)
	if err := <-errc; err != nil || rerr != nil {
		t.Fatalf("sending: %v; receiving: %v", err, rerr)
	}
	if got != want {
		t.Fatalf("received %d bytes with SHA-256 %x, want %x", read.Load(), got, want)
	}
}

// download sends size seeded bytes from the server to the client over p,
// moving the virtual clock only when nothing else can happen, and checks
// them byte for byte.
func download(t *testing.T, p *pair, server, client *synack.TCPConn, size int64, seed uint64) {
	t.Helper()
	want, _, _ := sum(seededReader(seed, size))
	var read atomic.Int64
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(server, seededReader(seed, size))
		if err == nil {
			err = server.CloseWrite()
		}
		errc <- err
	}()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, n, err := sum(counting{client, &read})
		done <- result{got, n, err}
	}()
	var r result
	var finished atomic.Bool
	go func() { r = <-done; finished.Store(true) }()
	p.runClock(t, 10000, read.Load, finished.Load)
	if r.err != nil {
		t.Fatalf("receiving: %v after %d bytes", r.err, r.n)
	}
	if err := <-errc; err != nil {
		t.Fatalf("sending: %v", err)
	}
	if r.n != size || r.sum != want {
		t.Fatalf("received %d bytes with SHA-256 %x, want %d bytes with %x", r.n, r.sum, size, want)
	}
}

// TestEstablishedFragNeededTransferCompletes: a download over a path whose
// MTU is 1280 (the links 1500) completes byte for byte: the router's
// "fragmentation needed" lowers the server's MSS and path MTU to 1280, the
// dropped segments go again at once, cut to size; a reported MTU below 552
// counts as 552 (Linux's min_pmtu), which is then the path MTU, and a
// reported 0 takes RFC 1191's plateau below 1500 (1492). The cache entry
// is gone ten minutes on, on the virtual clock (stack's TestPathMTUCache
// checks the second).
func TestEstablishedFragNeededTransferCompletes(t *testing.T) {
	for _, tc := range []struct {
		name         string
		mtu          int
		report       uint16
		want         int
		wantClamped  bool
		wantPlateaus bool
	}{
		{"mtu 1280", 1280, 1280, 1280, false, false},
		{"forged 300 clamped to 552", 552, 300, 552, true, false},
		{"old router: plateau 1492", 1492, 0, 1492, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc, cg, _ := gates(true)
			pc.trace = traceOnFailure(t)
			p := newPair(t, pc)
			var icmps, first atomic.Int64
			pmtuRouter(cg, p.clk, tc.mtu, tc.report, &icmps, &first)
			l := p.listen(t, 80, 8)
			client, server := p.connect(t, l)
			defer client.Close()
			defer server.Close()
			download(t, p, server, client, 1<<20, 7)
			st := p.server.Internals()
			if icmps.Load() == 0 {
				t.Fatal("the router sent no fragmentation needed")
			}
			// The entry holds for ten minutes from when it was learned; the
			// clock may have run past that while the test waited for the
			// applications (runClock), and then it must be gone.
			learned := time.Unix(0, first.Load()).UTC()
			want := tc.want
			if !p.clk.Now().Before(learned.Add(10 * time.Minute)) {
				want = mtu
			}
			if got := st.PathMTU(clientAddr.Addr()); got != want {
				t.Errorf("PathMTU(client) = %d, want %d (%v after it was learned)", got, want, p.clk.Now().Sub(learned))
			}
			if got := server.Info().TCP.MSS; got > tc.want-40 {
				t.Errorf("server's MSS %d, above %d less 40", got, tc.want)
			}
			s := st.Stats()
			if s.PMTUUpdates.Load() != 1 || s.PMTUMSSLowered.Load() != 1 {
				t.Errorf("PMTUUpdates %d, PMTUMSSLowered %d; want 1, 1", s.PMTUUpdates.Load(), s.PMTUMSSLowered.Load())
			}
			if got := s.PMTUClamped.Load() > 0; got != tc.wantClamped {
				t.Errorf("PMTUClamped = %d, want clamping %v", s.PMTUClamped.Load(), tc.wantClamped)
			}
			p.clk.AdvanceTo(learned.Add(10 * time.Minute))
			if got := st.PathMTU(clientAddr.Addr()); got != mtu {
				t.Errorf("PathMTU(client) 10 min on = %d, want the link's %d (expired)", got, mtu)
			}
		})
	}
}

// TestSynSentCachedPathMTUSetsMSS: a connection opened to a destination
// whose path MTU the stack learned starts with an MSS that fits it, so its
// first flight crosses the small link without a loss.
func TestSynSentCachedPathMTUSetsMSS(t *testing.T) {
	pc, cg, _ := gates(true)
	p := newPair(t, pc)
	var icmps, first atomic.Int64
	pmtuRouter(cg, p.clk, 1280, 1280, &icmps, &first)
	l := p.listen(t, 80, 8)
	c1, s1 := p.connect(t, l)
	download(t, p, s1, c1, 100_000, 1)
	c1.Close()
	s1.Close()
	before := icmps.Load()
	c2, s2 := p.connect(t, l)
	defer c2.Close()
	defer s2.Close()
	if got := s2.Info().TCP.MSS; got > 1240 {
		t.Errorf("second connection's MSS %d, want at most 1240 (path MTU 1280)", got)
	}
	download(t, p, s2, c2, 100_000, 2)
	if icmps.Load() != before {
		t.Errorf("the second connection drew %d more fragmentation needed, want none", icmps.Load()-before)
	}
}

var _ link.Endpoint = (*gate)(nil)

// TestEstablishedICMPSoftError: a host unreachable quoting a data segment
// of an established connection is soft (RFC 1122 §4.2.3.9). Where the path
// comes back, the download completes; where it stays black, the
// connection times out with EHOSTUNREACH, the ICMP's error, not ETIMEDOUT.
func TestEstablishedICMPSoftError(t *testing.T) {
	for _, recovers := range []bool{true, false} {
		t.Run(map[bool]string{true: "path recovers", false: "path stays black"}[recovers], func(t *testing.T) {
			pc, cg, _ := gates(true)
			pc.tcp.Retries = 4 // a shorter timeout
			p := newPair(t, pc)
			l := p.listen(t, 80, 8)
			client, server := p.connect(t, l)
			defer client.Close()
			defer server.Close()
			var dropped atomic.Int64
			cg.drop = func(pkt []byte) bool {
				if seg := tcpOf(pkt); seg == nil || len(seg.Payload()) == 0 {
					return false
				}
				n := dropped.Add(1)
				if n == 1 {
					cg.Endpoint.WritePacket(icmpError(wire.ICMPv4DestUnreachable, wire.ICMPv4HostUnreachable, 0,
						routerAddr, serverAddr.Addr(), quoteOf(pkt)))
				}
				return !recovers || n <= 3
			}
			if recovers {
				download(t, p, server, client, 200_000, 3)
			} else {
				errc := make(chan error, 1)
				go func() {
					_, err := server.Write(make([]byte, 50_000))
					if err == nil {
						_, err = server.Read(make([]byte, 1))
					}
					errc <- err
				}()
				var ended atomic.Bool
				var err error
				go func() { err = <-errc; ended.Store(true) }()
				p.runClock(t, 1000, dropped.Load, ended.Load)
				if !errors.Is(err, syscall.EHOSTUNREACH) {
					t.Fatalf("server's call ended with %v, want EHOSTUNREACH (the ICMP's soft error)", err)
				}
			}
			if n := p.server.Internals().Stats().ICMPSoftErrors.Load(); n != 1 {
				t.Errorf("ICMPSoftErrors = %d, want 1", n)
			}
		})
	}
}

// sizeRecorder is an offloader that records the largest cut size of the
// large segments written while watching is set.
type sizeRecorder struct {
	*offloader
	watching atomic.Bool
	largest  atomic.Int64
	written  atomic.Int64
}

func (r *sizeRecorder) WriteGSO(p []byte, g link.GSO) error {
	if g.Type != link.GSONone && r.watching.Load() {
		r.written.Add(1)
		if int64(g.Size) > r.largest.Load() {
			r.largest.Store(int64(g.Size))
		}
	}
	return r.offloader.WriteGSO(p, g)
}

// TestOffloadFragNeededCutSizeFollowsMSS: on a link that offloads
// segmentation, the cut size of the large segments follows the MSS a
// "fragmentation needed" lowered: after it, every large segment is cut
// into pieces that fit the 1280-byte path, and the download completes.
func TestOffloadFragNeededCutSizeFollowsMSS(t *testing.T) {
	var rec *sizeRecorder
	var cg *gate
	a, b := pipe.New(link.MaxGSOSize)
	p := newPairOn(t, pairConfig{virtual: true,
		clientLink: func(ep link.Endpoint) link.Endpoint { cg = newGate(ep); return cg },
		serverLink: func(ep link.Endpoint) link.Endpoint {
			rec = &sizeRecorder{offloader: &offloader{Endpoint: ep, mtu: mtu, cut: true}}
			return rec
		}}, a, b)
	var icmps, first atomic.Int64
	pmtuRouter(cg, p.clk, 1280, 1280, &icmps, &first)
	l := p.listen(t, 80, 8)
	client, server := p.connect(t, l)
	defer client.Close()
	defer server.Close()
	chunk(t, p, server, client, 1<<20, 4) // learns the path MTU
	if p.server.Internals().Stats().PMTUMSSLowered.Load() != 1 {
		t.Fatal("the first chunk lowered no MSS")
	}
	rec.watching.Store(true) // everything before is written and read
	download(t, p, server, client, 2<<20, 5)
	if rec.written.Load() == 0 {
		t.Fatal("no large segment written after the path MTU was learned")
	}
	if got, max := rec.largest.Load(), int64(1280-40-12); got > max {
		t.Errorf("large segments cut at %d bytes after frag-needed, want at most %d (MTU 1280 less headers and timestamps)", got, max)
	}
}
