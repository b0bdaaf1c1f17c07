package tcp

// SYN cookies (RFC 4987 §3.6, syncookie.go) and the SYN queue's pruning
// under pressure (synqueue.go).

import (
	"net/netip"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// cookieServer is a server whose listener answers every SYN with a cookie.
func cookieServer(t *testing.T, backlog int, opts ...cfgOpt) *end {
	return newServer(t, backlog, append([]cfgOpt{func(c *Config) { c.SYNCookies = SYNCookiesAlways }}, opts...)...)
}

// synOpts sets the options of an arriving segment.
func synOpts(o wire.TCPOptions) func(*Segment) { return func(s *Segment) { s.Options = o } }

// cookieSYN delivers a SYN with options o (ISN irs) to s at now and returns
// the cookie SYN,ACK, checking that nothing was kept.
func cookieSYN(t *testing.T, s *end, now time.Time, irs seqnum.Value, o wire.TCPOptions) *sentSeg {
	t.Helper()
	s.deliver(now, in(syn, irs, 0, synOpts(o)))
	sa := s.expect(hasFlags(synack), hasAck(irs.Add(1)))
	if s.c != nil || s.l.HalfOpen() != 0 {
		t.Fatalf("a cookie SYN,ACK kept state: half-open %d", s.l.HalfOpen())
	}
	return sa
}

// cookieACK is the ACK that completes a handshake answered by sa.
func cookieACK(irs seqnum.Value, sa *sentSeg, opts ...func(*Segment)) *Segment {
	seg := in(ack, irs.Add(1), sa.Seq.Add(1), opts...)
	if sa.Options.HasTimestamps {
		seg.Options.HasTimestamps, seg.Options.TSVal, seg.Options.TSEcr = true, 777, sa.Options.TSVal
	}
	return seg
}

// TestListenRecvSYNCookieRoundTripsOptions: the MSS (rounded down to the
// table), window scale and SACK-permitted of the SYN come back with the
// ACK, the last two only when the peer sent timestamps (in TSval's low bits).
func TestListenRecvSYNCookieRoundTripsOptions(t *testing.T) {
	for _, tc := range []struct {
		name          string
		o             wire.TCPOptions
		mss           int // the connection's MSS: the table's value, less the timestamps option
		ws            uint8
		wsOK, sackOK  bool
		synackOptions wire.TCPOptions // the options the SYN,ACK must carry, but TSVal
	}{
		{"all options", wire.TCPOptions{HasMSS: true, MSS: 1460, HasWindowScale: true, WindowScale: 7, SACKPermitted: true, HasTimestamps: true, TSVal: 42},
			1460 - tsLen, 7, true, true,
			wire.TCPOptions{HasMSS: true, MSS: 1460, HasWindowScale: true, WindowScale: windowShift(DefaultMaxReceiveBufferSize), SACKPermitted: true, HasTimestamps: true, TSEcr: 42}},
		{"MSS rounded down", wire.TCPOptions{HasMSS: true, MSS: 1439, HasWindowScale: true, WindowScale: 0, HasTimestamps: true, TSVal: 42},
			1400 - tsLen, 0, true, false,
			wire.TCPOptions{HasMSS: true, MSS: 1460, HasWindowScale: true, WindowScale: windowShift(DefaultMaxReceiveBufferSize), HasTimestamps: true, TSEcr: 42}},
		{"window scale 14, no SACK", wire.TCPOptions{HasMSS: true, MSS: 536, HasWindowScale: true, WindowScale: 14, HasTimestamps: true, TSVal: 42},
			536 - tsLen, 14, true, false,
			wire.TCPOptions{HasMSS: true, MSS: 1460, HasWindowScale: true, WindowScale: windowShift(DefaultMaxReceiveBufferSize), HasTimestamps: true, TSEcr: 42}},
		{"SACK, no window scale", wire.TCPOptions{HasMSS: true, MSS: 1300, SACKPermitted: true, HasTimestamps: true, TSVal: 42},
			1220 - tsLen, 0, false, true,
			wire.TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSEcr: 42}},
		{"no timestamps: no window scale, no SACK", wire.TCPOptions{HasMSS: true, MSS: 1460, HasWindowScale: true, WindowScale: 7, SACKPermitted: true},
			1460, 0, false, false,
			wire.TCPOptions{HasMSS: true, MSS: 1460}},
		{"no MSS option: 536", wire.TCPOptions{}, 536, 0, false, false, wire.TCPOptions{HasMSS: true, MSS: 1460}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := cookieServer(t, 4, func(c *Config) { c.MSS = 1460 })
			sa := cookieSYN(t, s, at(0), 100, tc.o)
			got := sa.Options
			got.TSVal = 0
			if got != tc.synackOptions {
				t.Fatalf("SYN,ACK options %+v, want %+v", got, tc.synackOptions)
			}
			s.deliver(at(50*time.Millisecond), cookieACK(100, sa))
			if s.c == nil {
				t.Fatalf("no connection from the cookie ACK (SyncookiesFailed %d)", s.env.Stats.SyncookiesFailed.Load())
			}
			s.state(StateEstablished)
			s.expectNone()
			c := s.c
			if c.mss != tc.mss || c.wsOK != tc.wsOK || c.sndShift != tc.ws || c.sackOK != tc.sackOK || c.tsOK != tc.o.HasTimestamps {
				t.Fatalf("mss %d wsOK %v shift %d sackOK %v tsOK %v; want %d %v %d %v %v",
					c.mss, c.wsOK, c.sndShift, c.sackOK, c.tsOK, tc.mss, tc.wsOK, tc.ws, tc.sackOK, tc.o.HasTimestamps)
			}
			if c.ISS() != sa.Seq || c.IRS() != 100 || c.RcvNxt() != 101 || c.SndNxt() != sa.Seq.Add(1) {
				t.Fatalf("ISS %d IRS %d RCV.NXT %d SND.NXT %d", c.ISS(), c.IRS(), c.RcvNxt(), c.SndNxt())
			}
			queues(t, s.l, 0, 1)
			if s.l.Accept() != c {
				t.Fatal("Accept did not return the cookie connection")
			}
			st := s.env.Stats
			if st.SyncookiesSent.Load() != 1 || st.SyncookiesRecv.Load() != 1 || st.SyncookiesFailed.Load() != 0 || st.PassiveOpens.Load() != 1 {
				t.Fatalf("SyncookiesSent %d Recv %d Failed %d PassiveOpens %d", st.SyncookiesSent.Load(),
					st.SyncookiesRecv.Load(), st.SyncookiesFailed.Load(), st.PassiveOpens.Load())
			}
		})
	}
}

// TestListenRecvCookieACKWithDataDelivers: text on the ACK that brings the
// cookie back is taken at once, and acknowledged.
func TestListenRecvCookieACKWithDataDelivers(t *testing.T) {
	s := cookieServer(t, 4)
	sa := cookieSYN(t, s, at(0), 100, wire.TCPOptions{HasMSS: true, MSS: 1460})
	s.deliver(at(time.Millisecond), cookieACK(100, sa, data([]byte("hello"))))
	s.state(StateEstablished)
	s.expect(is(ack, sa.Seq.Add(1), 106))
	readSome(t, s.c, "hello")
}

// TestListenRecvBadCookieResets: an ACK whose cookie is not ours, whether
// from another 4-tuple, with another ISN, tampered with, or too old, is
// answered as LISTEN answers any ACK, with <SEQ=SEG.ACK><CTL=RST>, and
// counted; nothing is made.
func TestListenRecvBadCookieResets(t *testing.T) {
	o := wire.TCPOptions{HasMSS: true, MSS: 1460}
	for _, tc := range []struct {
		name string
		when time.Duration
		port uint16 // the ACK's source port; 0 for the SYN's
		seq  seqnum.Value
		iss  func(seqnum.Value) seqnum.Value
	}{
		{"another port", time.Second, 49153, 101, nil},
		{"another ISN", time.Second, 0, 102, nil},
		{"tampered ISS", time.Second, 0, 101, func(v seqnum.Value) seqnum.Value { return v ^ 1<<20 }},
		{"tampered count", time.Second, 0, 101, func(v seqnum.Value) seqnum.Value { return v + 1<<24 }},
		{"MSS index out of the table", time.Second, 0, 101, func(v seqnum.Value) seqnum.Value { return v + 8 }},
		{"two minutes old", 2 * time.Minute, 0, 101, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := cookieServer(t, 4)
			sa := cookieSYN(t, s, at(0), 100, o)
			iss := sa.Seq
			if tc.iss != nil {
				iss = tc.iss(iss)
			}
			e := s
			if tc.port != 0 {
				e = s.serverFor(netip.AddrPortFrom(clientAddr.Addr(), tc.port), 0)
			}
			e.deliver(at(tc.when), in(ack, tc.seq, iss.Add(1)))
			e.expect(is(rst, iss.Add(1), 0))
			if e.c != nil || s.l.Ready() != 0 || s.env.Stats.SyncookiesFailed.Load() != 1 || s.env.Stats.SyncookiesRecv.Load() != 0 {
				t.Fatalf("a connection was made (ready %d) or SyncookiesFailed %d != 1", s.l.Ready(), s.env.Stats.SyncookiesFailed.Load())
			}
		})
	}
}

// TestListenRecvCookieACKAgeLimits: a cookie is good in the minute it was
// made and the next (Linux MAX_SYNCOOKIE_AGE); ACKs are checked as cookies
// only while cookies were sent in the last two minutes (Linux
// tcp_synq_no_recent_overflow), so a stray ACK later is no failed cookie.
func TestListenRecvCookieACKAgeLimits(t *testing.T) {
	o := wire.TCPOptions{HasMSS: true, MSS: 1460}
	s := cookieServer(t, 4)
	b := s.serverFor(netip.AddrPortFrom(clientAddr.Addr(), 40001), 0)
	start := at(59 * time.Second) // the last second of a minute
	saA := cookieSYN(t, s, start, 100, o)
	saB := cookieSYN(t, b, start, 300, o)
	b.deliver(start.Add(59*time.Second), in(ack, 301, saB.Seq.Add(1))) // the next minute: good
	b.state(StateEstablished)
	b.expectNone()
	s.deliver(start.Add(61*time.Second), in(ack, 101, saA.Seq.Add(1))) // the next minute but one: too old
	s.expect(hasFlags(rst))
	if n := s.env.Stats.SyncookiesFailed.Load(); n != 1 {
		t.Fatalf("SyncookiesFailed = %d, want 1", n)
	}
	late := s.serverFor(netip.AddrPortFrom(clientAddr.Addr(), 40002), 0)
	late.deliver(start.Add(2*time.Minute+time.Second), in(ack, 101, saA.Seq.Add(1)))
	late.expect(hasFlags(rst))
	if n := s.env.Stats.SyncookiesFailed.Load(); n != 1 {
		t.Fatalf("SyncookiesFailed = %d, want still 1: no cookie sent in two minutes", n)
	}
}

// TestCookieSecretsRotateKeepPrevious: each minute gets a new secret; a
// cookie made with the current one stays good through the next rotation
// and not the one after.
func TestCookieSecretsRotateKeepPrevious(t *testing.T) {
	var s cookieSecrets
	l, r := netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("10.0.0.1:40000")
	t0 := at(10 * time.Second)
	iss := s.makeCookie(t0, l, r, 7, 3)
	first := s.cur
	for _, tc := range []struct {
		d  time.Duration
		ok bool
	}{{0, true}, {49 * time.Second, true}, {51 * time.Second, true}, {109 * time.Second, true}, {111 * time.Second, false}} {
		idx, ok := s.checkCookie(t0.Add(tc.d), l, r, 7, iss)
		if ok != tc.ok || (ok && idx != 3) {
			t.Fatalf("at +%v: index %d, %v; want 3, %v", tc.d, idx, ok, tc.ok)
		}
	}
	if s.prev == first || s.cur == first {
		t.Fatal("the first secret is still kept two minutes later")
	}
	var u cookieSecrets
	u.rotate(5)
	cur := u.cur
	u.rotate(6)
	if u.prev != cur || u.cur == cur {
		t.Fatal("one step did not make the current secret the previous one")
	}
}

// TestCookieSYNACKTimestampCarriesOptions: the options ride in TSval's low
// 6 bits, and TSval is never ahead of the clock.
func TestCookieSYNACKTimestampCarriesOptions(t *testing.T) {
	for _, ts := range []uint32{0, 63, 64, 1000, 1<<32 - 1} {
		v := encodeTSOptions(ts, true, 9, true)
		if v&tsOptMask != 9|tsOptSACK || int32(ts-v) < 0 || ts-v > tsOptMask {
			t.Fatalf("TSval %d -> %d", ts, v)
		}
		if v := encodeTSOptions(ts, false, 0, false); v&tsOptMask != tsOptNoWScale {
			t.Fatalf("no options: low bits %#x", v&tsOptMask)
		}
	}
}

// TestListenRecvCookieACKAcceptQueueFullDropped: a valid cookie while the
// accept queue is full is dropped without answer (ListenOverflows); the
// peer's retransmission within the cookie's life completes it.
func TestListenRecvCookieACKAcceptQueueFullDropped(t *testing.T) {
	s := cookieServer(t, 1)
	a := clientOf(t, s, 1001, 100, 500)
	a.handshake(at(0)) // a cookie connection too
	a.server.state(StateEstablished)
	queues(t, s.l, 0, 1)
	b := s.serverFor(netip.AddrPortFrom(clientAddr.Addr(), 1002), 0)
	b.deliver(at(time.Second), in(syn, 200, 0, mssOpt(1460)))
	b.expectNone() // SYNs are dropped while the accept queue is full, cookies or not
	s.l.Accept()
	b.deliver(at(2*time.Second), in(syn, 200, 0, mssOpt(1460)))
	sa := b.expect(hasFlags(synack))
	a2 := clientOf(t, s, 1003, 300, 0)
	a2.handshake(at(2 * time.Second)) // fills the queue again
	b.deliver(at(3*time.Second), in(pshack, 201, sa.Seq.Add(1), data([]byte("x"))))
	b.expectNone()
	// The SYN at 1 s and the cookie ACK overflowed; only the SYN counts as a drop.
	if b.c != nil || s.env.Stats.ListenOverflows.Load() != 2 || s.env.Stats.ListenDrops.Load() != 1 {
		t.Fatalf("ListenOverflows %d ListenDrops %d, want 2 and 1", s.env.Stats.ListenOverflows.Load(), s.env.Stats.ListenDrops.Load())
	}
	s.l.Accept()
	b.deliver(at(4*time.Second), in(pshack, 201, sa.Seq.Add(1), data([]byte("x"))))
	b.state(StateEstablished)
	readSome(t, b.c, "x")
}

// TestListenRecvSYNQueueBoundedByBacklog: the SYN queue holds at most one
// more than the backlog (Linux's request queue); then SYNs get cookies.
func TestListenRecvSYNQueueBoundedByBacklog(t *testing.T) {
	s := newServer(t, 2)
	for i := range 4 {
		e := s.serverFor(netip.AddrPortFrom(clientAddr.Addr(), uint16(2000+i)), 500)
		e.deliver(at(0), in(syn, 100, 0))
		e.expect(hasFlags(synack))
		if (e.c != nil) != (i < 3) {
			t.Fatalf("SYN %d: made a connection %v", i, e.c != nil)
		}
	}
	queues(t, s.l, 3, 0)
	if n := s.env.Stats.TCPReqQFullDoCookies.Load(); n != 1 {
		t.Fatalf("TCPReqQFullDoCookies = %d, want 1", n)
	}
}

// TestListenRecvSYNStackHalfOpenLimit: MaxHalfOpen bounds the half-open
// connections of all listeners of a stack together.
func TestListenRecvSYNStackHalfOpenLimit(t *testing.T) {
	s := newServer(t, 16, func(c *Config) { c.MaxHalfOpen, c.SYNCookies = 3, SYNCookiesOff })
	other := NewListener(s.env, 16)
	for i := range 4 {
		l := s.l
		if i%2 == 1 {
			l = other
		}
		e := s.serverFor(netip.AddrPortFrom(clientAddr.Addr(), uint16(2000+i)), 500)
		e.l = l
		e.deliver(at(0), in(syn, 100, 0))
		if (e.c != nil) != (i < 3) {
			t.Fatalf("SYN %d: made a connection %v", i, e.c != nil)
		}
	}
	if s.env.Stats.TCPReqQFullDrop.Load() != 1 {
		t.Fatalf("TCPReqQFullDrop = %d, want 1", s.env.Stats.TCPReqQFullDrop.Load())
	}
}

// halfOpenFlood fills a listener of backlog 16 with n SYNs that are never
// acknowledged and runs their timers until t; it returns the ends.
func halfOpenFlood(t *testing.T, n int, until time.Duration) (*end, []*end) {
	s := newServer(t, 16, func(c *Config) { c.SYNCookies = SYNCookiesOff })
	var ends []*end
	for i := range n {
		e := s.serverFor(netip.AddrPortFrom(clientAddr.Addr(), uint16(3000+i)), 500)
		e.deliver(at(0), in(syn, 100, 0))
		ends = append(ends, e)
	}
	for {
		var next time.Time
		var who *end
		for _, e := range ends {
			if d := e.c.Deadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
				next, who = d, e
			}
		}
		if who == nil || next.After(at(until)) {
			return s, ends
		}
		who.c.HandleTimer(next)
	}
}

// TestSynReceivedTimeoutQueueUnderPressurePruned: when the SYN queue is
// more than half full and its entries are old (SYN,ACKs that timed out),
// their retries fall to 2, so they are dropped after about 7 s, not 63 s
// (Linux reqsk_timer_handler), until the queue is no more than half full;
// a queue under no pressure keeps its entries.
func TestSynReceivedTimeoutQueueUnderPressurePruned(t *testing.T) {
	s, ends := halfOpenFlood(t, 17, 8*time.Second)
	closed := 0
	for _, e := range ends {
		if e.c.State() == StateClosed {
			closed++
		}
	}
	// The first 9 to time out a third time leave 8: half of max(8, 16).
	if closed != 9 || s.l.HalfOpen() != 8 || s.env.shared.halfOpen.Load() != 8 {
		t.Fatalf("after 8 s: %d closed, %d half-open (stack %d); want 9 and 8", closed, s.l.HalfOpen(), s.env.shared.halfOpen.Load())
	}
	if n := s.env.Stats.SYNQueuePruned.Load(); n != 9 {
		t.Fatalf("SYNQueuePruned = %d, want 9", n)
	}
	if s.l.young != 0 {
		t.Fatalf("young = %d, want 0: every SYN,ACK timed out", s.l.young)
	}

	s, ends = halfOpenFlood(t, 8, 60*time.Second)
	for i, e := range ends {
		if e.c.State() != StateSynReceived {
			t.Fatalf("entry %d without pressure: %v after 60 s, want SYN-RECEIVED", i, e.c.State())
		}
	}
	if n := s.env.Stats.SYNQueuePruned.Load(); n != 0 {
		t.Fatalf("SYNQueuePruned = %d without pressure", n)
	}
}

// TestSynReceivedYoungCountBalances: a SYN,ACK that timed out and is then
// acknowledged, and one acknowledged at once, leave the young count at 0.
func TestSynReceivedYoungCountBalances(t *testing.T) {
	s := newServer(t, 4)
	a := clientOf(t, s, 1001, 100, 500)
	b := clientOf(t, s, 1002, 200, 600)
	a.handshake(at(0))
	_ = b.client.c.Connect(at(0), 200)
	b.flow(at(0), b.client, hasFlags(syn))
	b.server.take()
	if s.l.young != 1 {
		t.Fatalf("young = %d, want 1", s.l.young)
	}
	b.server.fire() // the SYN,ACK times out once
	if s.l.young != 0 {
		t.Fatalf("young = %d after a timeout, want 0", s.l.young)
	}
	b.flow(at(2*time.Second), b.server, hasFlags(synack))
	b.flow(at(2*time.Second), b.client, hasFlags(ack))
	b.server.state(StateEstablished)
	if s.l.young != 0 || s.l.HalfOpen() != 0 || s.env.shared.halfOpen.Load() != 0 {
		t.Fatalf("young %d half-open %d stack %d", s.l.young, s.l.HalfOpen(), s.env.shared.halfOpen.Load())
	}
}

// readSome reads what c holds and checks it is want.
func readSome(t *testing.T, c *Conn, want string) {
	t.Helper()
	buf := make([]byte, 100)
	if n, err := c.Read(at(time.Hour), buf); err != nil || string(buf[:n]) != want {
		t.Fatalf("Read = %q, %v; want %q", buf[:n], err, want)
	}
}

// TestListenRecvCookieACKNoTimestampRTTSample: the cookie SYN,ACK's TSval
// was taken back by up to 63 ms to carry the SYN's options, so the TSecr of
// the ACK that brings the cookie back gives no RTT sample (it would be too
// long by as much); the first ACK of data gives the first, exact one.
func TestListenRecvCookieACKNoTimestampRTTSample(t *testing.T) {
	s := cookieServer(t, 4)
	o := wire.TCPOptions{HasMSS: true, MSS: 1460, HasWindowScale: true, WindowScale: 7, SACKPermitted: true, HasTimestamps: true, TSVal: 42}
	// At 31 ms the clock's low 6 bits are below the options' (7|SACK), so
	// the TSval goes back the most it can here.
	t0 := at(31 * time.Millisecond)
	sa := cookieSYN(t, s, t0, 100, o)
	if lowered := uint32(t0.UnixMilli()) - sa.Options.TSVal; lowered == 0 || lowered > tsOptMask {
		t.Fatalf("TSval lowered by %d ms, want 1 to 63 (the test's premise)", lowered)
	}
	s.deliver(t0.Add(5*time.Millisecond), cookieACK(100, sa))
	s.state(StateEstablished)
	if c := s.c; c.hasRTT || c.SRTT() != 0 {
		t.Fatalf("the cookie ACK gave an RTT sample: SRTT %v", c.SRTT())
	}
	sent := t0.Add(10 * time.Millisecond)
	s.write(sent, []byte("hi"))
	d := s.expect(hasData([]byte("hi")))
	s.deliver(sent.Add(7*time.Millisecond), in(ack, 101, d.Seq.Add(2), func(seg *Segment) {
		seg.Options.HasTimestamps, seg.Options.TSVal, seg.Options.TSEcr = true, 778, d.Options.TSVal
	}))
	if got := s.c.SRTT(); got != 7*time.Millisecond {
		t.Fatalf("SRTT %v after the first ACK of data, want 7ms", got)
	}
}

// TestListenRecvCookieSYNSmallMSSRaised: a cookie SYN's MSS takes the same
// rule as any SYN's (peerMSS): below MinSendMSS it is raised to it and
// counted, once, when the SYN arrives; the connection the cookie ACK makes
// has that MSS.
func TestListenRecvCookieSYNSmallMSSRaised(t *testing.T) {
	s := cookieServer(t, 4, func(c *Config) { c.MinSendMSS, c.MSS = 600, 1460 })
	sa := cookieSYN(t, s, at(0), 100, wire.TCPOptions{HasMSS: true, MSS: 100})
	if n := s.env.Stats.MinMSSRaised.Load(); n != 1 {
		t.Fatalf("MinMSSRaised = %d after the SYN, want 1", n)
	}
	s.deliver(at(time.Millisecond), cookieACK(100, sa))
	s.state(StateEstablished)
	if n := s.env.Stats.MinMSSRaised.Load(); n != 1 || s.c.mss != 600 {
		t.Fatalf("MinMSSRaised %d, MSS %d after the cookie ACK: want 1 and 600", n, s.c.mss)
	}
}
