package tcp

// RFC 5961 (challenge ACKs, the SEG.ACK check of §5) and the limits on the
// ACKs invalid segments draw: per connection, Linux's tcp_invalid_ratelimit
// (RFC 5961 §7); per stack, a randomised budget of challenge ACKs per
// second (tcp_challenge_ack_limit, CVE-2016-5696).

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// wantCounter fails the test unless the counter name reads want.
func wantCounter(t *testing.T, name string, got uint64, want uint64) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %d, want %d", name, got, want)
	}
}

// TestEstablishedRecvRSTInWindowChallengeACKRateLimited: a RST in the
// window but not at RCV.NXT draws one challenge ACK; a second within
// 500 ms draws none and is counted; after 500 ms one is sent again.
func TestEstablishedRecvRSTInWindowChallengeACKRateLimited(t *testing.T) {
	e := established(t)
	st := e.env.Stats
	e.c.HandleSegment(at(sec), in(rst, y+100, 0))
	e.expect(is(ack, x+1, y+1))
	e.c.HandleSegment(at(sec+499*time.Millisecond), in(rst, y+200, 0))
	e.expectNone()
	wantCounter(t, "TCPACKSkippedChallenge", st.TCPACKSkippedChallenge.Load(), 1)
	e.c.HandleSegment(at(sec+500*time.Millisecond), in(rst, y+300, 0))
	e.expect(is(ack, x+1, y+1))
	wantCounter(t, "TCPChallengeACK", st.TCPChallengeACK.Load(), 2)
	e.state(StateEstablished)
}

// TestEstablishedRecvRSTAtRcvNxtResetsWhileLimited: the limit holds back
// ACKs only: a RST exactly at RCV.NXT right after a challenge still resets
// (RFC 5961 §3.2).
func TestEstablishedRecvRSTAtRcvNxtResetsWhileLimited(t *testing.T) {
	e := established(t)
	e.c.HandleSegment(at(sec), in(rst, y+100, 0))
	e.expect(is(ack, x+1, y+1))
	e.c.HandleSegment(at(sec+time.Millisecond), in(rst, y+1, 0))
	e.expectNone()
	e.state(StateClosed)
}

// TestEstablishedRecvSYNChallengeACKRateLimited: RFC 5961 §4.2's challenge
// ACK for a SYN, in the window or not, shares the connection's limit with
// the others.
func TestEstablishedRecvSYNChallengeACKRateLimited(t *testing.T) {
	e := established(t)
	st := e.env.Stats
	e.c.HandleSegment(at(sec), in(syn, y+77, 0))
	e.expect(is(ack, x+1, y+1))
	e.c.HandleSegment(at(sec+100*time.Millisecond), in(synack, y-5000, x+1)) // out of window: a challenge all the same
	e.c.HandleSegment(at(sec+200*time.Millisecond), in(rst, y+9, 0))
	e.expectNone()
	wantCounter(t, "TCPACKSkippedChallenge", st.TCPACKSkippedChallenge.Load(), 2)
	e.c.HandleSegment(at(2*sec), in(syn, y+77, 0))
	e.expect(is(ack, x+1, y+1))
	e.state(StateEstablished)
	wantCounter(t, "TCPChallengeACK", st.TCPChallengeACK.Load(), 2)
}

// TestEstablishedRecvOutOfWindowACKRateLimited: a bare ACK outside the
// window draws a duplicate ACK at most once per 500 ms (TCPACKSkippedSeq).
func TestEstablishedRecvOutOfWindowACKRateLimited(t *testing.T) {
	e := established(t)
	st := e.env.Stats
	for i, seq := range []seqnum.Value{y - 1000, y + 1<<20, y + 1<<31, y - 5} {
		e.c.HandleSegment(at(sec+time.Duration(i)*100*time.Millisecond), in(ack, seq, x+1))
		if i == 0 {
			e.expect(is(ack, x+1, y+1))
		} else {
			e.expectNone()
		}
	}
	wantCounter(t, "TCPACKSkippedSeq", st.TCPACKSkippedSeq.Load(), 3)
	wantCounter(t, "OutOfWindowACKs", st.OutOfWindowACKs.Load(), 1)
	e.c.HandleSegment(at(2*sec), in(ack, y-1000, x+1))
	e.expect(is(ack, x+1, y+1))
}

// TestEstablishedRecvPAWSRejectedACKRateLimited: segments rejected by PAWS
// (RFC 7323 §5.3 R1) draw one ACK per 500 ms (TCPACKSkippedPAWS), and the
// limit is the connection's, shared with the sequence check's.
func TestEstablishedRecvPAWSRejectedACKRateLimited(t *testing.T) {
	e := establishedFull(t)
	st := e.env.Stats
	old := func() *Segment { return in(ack, y+1, x+1, ts(peerTS-1, 0)) }
	e.c.HandleSegment(at(sec), old())
	e.expect(is(ack, x+1, y+1))
	e.c.HandleSegment(at(sec+10*time.Millisecond), old())
	e.c.HandleSegment(at(sec+20*time.Millisecond), old())
	e.expectNone()
	wantCounter(t, "TCPACKSkippedPAWS", st.TCPACKSkippedPAWS.Load(), 2)
	e.c.HandleSegment(at(sec+30*time.Millisecond), in(ack, y-5000, x+1, ts(peerTS+1, 0)))
	e.expectNone()
	wantCounter(t, "TCPACKSkippedSeq", st.TCPACKSkippedSeq.Load(), 1)
	e.c.HandleSegment(at(2*sec), old())
	e.expect(is(ack, x+1, y+1))
	wantCounter(t, "DropPAWS", st.DropPAWS.Load(), 4)
}

// TestEstablishedRecvDataACKTooOldDropped is RFC 5961 §5.2: text whose ACK
// lies below SND.UNA - MAX.SND.WND is not accepted; it is answered with a
// challenge ACK (rate limited as the others) and counted.
func TestEstablishedRecvDataACKTooOldDropped(t *testing.T) {
	e := established(t) // SND.UNA = x+1, MAX.SND.WND = peerWnd
	st := e.env.Stats
	for i, a := range []seqnum.Value{(x + 1).Sub(peerWnd + 1), (x + 1).Sub(1 << 30), (x + 1).Sub(1<<31 - 1)} {
		e.c.HandleSegment(at(sec+time.Duration(i)*sec), in(pshack, y+1, a, data([]byte("injected"))))
		e.expect(is(ack, x+1, y+1))
		if e.c.RcvNxt() != y+1 || e.c.RecvQueue() != 0 {
			t.Fatalf("ack %d: RCV.NXT %d, RecvQ %d: the text was accepted", a, e.c.RcvNxt(), e.c.RecvQueue())
		}
	}
	wantCounter(t, "DropACKTooOld", st.DropACKTooOld.Load(), 3)
	wantCounter(t, "TCPChallengeACK", st.TCPChallengeACK.Load(), 3)
	e.c.HandleSegment(at(3*sec+time.Millisecond), in(pshack, y+1, (x+1).Sub(1<<20), data([]byte("again"))))
	e.expectNone()
	wantCounter(t, "TCPACKSkippedChallenge", st.TCPACKSkippedChallenge.Load(), 1)
	e.state(StateEstablished)
}

// TestEstablishedRecvDataOldACKInWindowAccepted: an ACK below SND.UNA but
// within MAX.SND.WND of it is an old ACK an honest peer may send (one
// overtaken by a later one): the text is accepted (RFC 5961 §5.2).
func TestEstablishedRecvDataOldACKInWindowAccepted(t *testing.T) {
	for _, a := range []seqnum.Value{x, (x + 1).Sub(peerWnd)} {
		e := established(t)
		e.c.HandleSegment(at(sec), in(pshack, y+1, a, data([]byte("honest"))))
		e.expect(is(ack, x+1, y+7))
		if e.c.RecvQueue() != 6 || e.env.Stats.DropACKTooOld.Load() != 0 {
			t.Fatalf("ack %d: RecvQ %d DropACKTooOld %d", a, e.c.RecvQueue(), e.env.Stats.DropACKTooOld.Load())
		}
	}
}

// TestEstablishedRecvACKOfUnsentRateLimited: the other side of §5.2's
// range, SEG.ACK beyond SND.MAX, is answered the same way and limited too.
func TestEstablishedRecvACKOfUnsentRateLimited(t *testing.T) {
	e := established(t)
	st := e.env.Stats
	e.c.HandleSegment(at(sec), in(ack, y+1, x+100))
	e.expect(is(ack, x+1, y+1))
	e.c.HandleSegment(at(sec+time.Millisecond), in(pshack, y+1, x+1<<20, data([]byte("x"))))
	e.expectNone()
	if st.DropBadACK.Load() != 2 || st.TCPACKSkippedChallenge.Load() != 1 || e.c.RecvQueue() != 0 {
		t.Fatalf("DropBadACK %d TCPACKSkippedChallenge %d RecvQ %d, want 2 1 0",
			st.DropBadACK.Load(), st.TCPACKSkippedChallenge.Load(), e.c.RecvQueue())
	}
}

// TestEstablishedRecvRetransmissionAlwaysDSACKed: a retransmission of text
// already received (below RCV.NXT, within a window of it) is data an honest
// sender sends after a spurious timeout: each one is answered with its
// D-SACK (RFC 2883), however many arrive within 500 ms; so is text past
// the right edge within one window. A guessed segment far below RCV.NXT is
// limited and reports no D-SACK.
func TestEstablishedRecvRetransmissionAlwaysDSACKed(t *testing.T) {
	e := establishedFull(t)
	st := e.env.Stats
	seg := in(pshack, y+1, x+1, data(bytesN(100)), ts(peerTS+1, 0))
	e.c.HandleSegment(at(sec), seg)
	e.expect(is(ack, x+1, y+101), hasSACK())
	for i := range 5 {
		e.c.HandleSegment(at(sec+time.Duration(i)*time.Millisecond), seg)
		e.expect(is(ack, x+1, y+101), hasSACK([2]seqnum.Value{y + 1, y + 101}))
	}
	right := (y + 101).Add(e.c.rcvWnd()).Add(1000) // past the right edge, within a window
	e.c.HandleSegment(at(sec+10*time.Millisecond), in(pshack, right, x+1, data(bytesN(10)), ts(peerTS+1, 0)))
	e.expect(is(ack, x+1, y+101))
	e.c.HandleSegment(at(sec+11*time.Millisecond), in(pshack, right, x+1, data(bytesN(10)), ts(peerTS+1, 0)))
	e.expect(is(ack, x+1, y+101))
	wantCounter(t, "TCPACKSkippedSeq", st.TCPACKSkippedSeq.Load(), 0)
	far := (y + 1).Sub(1 << 28)
	e.c.HandleSegment(at(sec+20*time.Millisecond), in(pshack, far, x+1, data(bytesN(100)), ts(peerTS+1, 0)))
	e.expect(is(ack, x+1, y+101), hasSACK()) // the first answer of the connection's limit
	e.c.HandleSegment(at(sec+30*time.Millisecond), in(pshack, far, x+1, data(bytesN(100)), ts(peerTS+1, 0)))
	e.expectNone()
	wantCounter(t, "TCPACKSkippedSeq", st.TCPACKSkippedSeq.Load(), 1)
	wantCounter(t, "DSACKsSent", st.DSACKsSent.Load(), 5)
}

// TestSynReceivedRecvSYNAgainRateLimited: a retransmitted SYN in
// SYN-RECEIVED draws the SYN,ACK again, at most once per 500 ms
// (TCPACKSkippedSynRecv, as Linux's tcp_check_req).
func TestSynReceivedRecvSYNAgainRateLimited(t *testing.T) {
	e := synReceived(t)
	e.deliver(at(sec), in(syn, x, 0, mssOpt(1460)))
	e.expect(is(synack, y, x+1))
	e.deliver(at(sec+100*time.Millisecond), in(syn, x, 0, mssOpt(1460)))
	e.expectNone()
	wantCounter(t, "TCPACKSkippedSynRecv", e.env.Stats.TCPACKSkippedSynRecv.Load(), 1)
	e.deliver(at(2*sec), in(syn, x, 0, mssOpt(1460)))
	e.expect(is(synack, y, x+1))
}

// TestEstablishedInvalidACKRateLimitOff: a negative InvalidACKRateLimit
// turns the per-connection limit off.
func TestEstablishedInvalidACKRateLimitOff(t *testing.T) {
	e := established(t, func(c *Config) { c.InvalidACKRateLimit = -1 })
	for i := range 10 {
		e.c.HandleSegment(at(sec+time.Duration(i)*time.Millisecond), in(rst, y+100, 0))
		e.expect(is(ack, x+1, y+1))
	}
}

// constSource is a rand.Source that always returns v.
type constSource uint64

func (s constSource) Uint64() uint64 { return uint64(s) }

// establishedMany opens n client connections in one Env (one stack), each
// established with its own remote port.
func establishedMany(t *testing.T, n int, opts ...cfgOpt) (*Env, *recorder, []*Conn) {
	t.Helper()
	env, out := newEnv("client", opts...)
	conns := make([]*Conn, n)
	for i := range conns {
		remote := netip.AddrPortFrom(serverAddr.Addr(), uint16(1000+i))
		c := NewConn(env, clientAddr, remote)
		if err := c.Connect(base, x); err != nil {
			t.Fatal(err)
		}
		c.HandleSegment(at(rtt), in(synack, y, x+1))
		if c.State() != StateEstablished {
			t.Fatalf("connection %d: %v", i, c.State())
		}
		conns[i] = c
	}
	out.segs = nil
	return env, out, conns
}

// TestEstablishedChallengeACKBudgetPerStack: with ChallengeACKLimit L, the
// stack sends at most its budget of challenge ACKs each second over all
// its connections: L/2 + r mod L, r from ChallengeRand (here fixed, so the
// bound is exact). The rest are counted in TCPChallengeACKOverBudget.
func TestEstablishedChallengeACKBudgetPerStack(t *testing.T) {
	const conns, limit = 300, 100
	for _, tc := range []struct {
		r      uint64
		budget int
	}{{0, limit / 2}, {limit - 1, limit/2 + limit - 1}, {1<<64 - 1, limit/2 + (1<<64-1)%limit}} {
		env, out, cs := establishedMany(t, conns, func(c *Config) { c.ChallengeACKLimit = limit })
		env.ChallengeRand = constSource(tc.r)
		for s := range 3 { // three seconds, each past the per-connection limit
			for i, c := range cs {
				c.HandleSegment(at(time.Duration(s+1)*sec+time.Duration(i)*time.Microsecond), in(rst, y+100, 0))
			}
			sent := len(out.segs)
			out.segs = nil
			if sent != tc.budget {
				t.Fatalf("r=%d, second %d: %d challenge ACKs, want the budget %d", tc.r, s, sent, tc.budget)
			}
		}
		st := env.Stats
		wantCounter(t, "TCPChallengeACK", st.TCPChallengeACK.Load(), uint64(3*tc.budget))
		wantCounter(t, "TCPChallengeACKOverBudget", st.TCPChallengeACKOverBudget.Load(), uint64(3*(conns-tc.budget)))
	}
}

// TestEstablishedChallengeACKBudgetRandom: drawn from a real generator the
// budget stays within [L/2, 3L/2) and changes from second to second, so an
// attacker cannot learn it by counting; a negative limit removes it.
func TestEstablishedChallengeACKBudgetRandom(t *testing.T) {
	const limit = 1000
	env, _, _ := establishedMany(t, 0, func(c *Config) { c.ChallengeACKLimit = limit })
	env.ChallengeRand = rand.NewChaCha8([32]byte{1})
	seen := map[int]bool{}
	for s := range 20 {
		now := at(time.Duration(s) * sec)
		n := 0
		for n < 2*limit && env.challengeBudget(now) {
			n++
		}
		if n < limit/2 || n >= limit/2+limit {
			t.Fatalf("second %d: budget %d outside [%d, %d)", s, n, limit/2, limit/2+limit)
		}
		seen[n] = true
	}
	if len(seen) < 10 {
		t.Fatalf("20 seconds drew only %d distinct budgets", len(seen))
	}
	// The default source is made on first use (crypto/rand seeded).
	env2, _, _ := establishedMany(t, 0)
	if !env2.challengeBudget(base) || env2.ChallengeRand == nil {
		t.Fatal("the default budget source was not made")
	}
	env3, _, _ := establishedMany(t, 0, func(c *Config) { c.ChallengeACKLimit = -1 })
	for range 10000 {
		if !env3.challengeBudget(base) {
			t.Fatal("a negative limit still limits")
		}
	}
}

// TestEstablishedChallengeACKAfterTimeoutNumberedSndMax: after a timeout
// rewinds SND.NXT (go-back-N), a challenge ACK is still numbered SND.MAX,
// which the peer's acceptability test passes (ackSeq, as Linux).
func TestEstablishedChallengeACKAfterTimeoutNumberedSndMax(t *testing.T) {
	e := established(t)
	mss := e.c.MSS()
	e.write(at(sec), bytesN(3*mss))
	if got := len(e.take()); got != 3 {
		t.Fatalf("%d segments sent, want 3", got)
	}
	now := e.fire() // the retransmission timeout resends the first segment only
	e.expect(is(ack, x+1, y+1), hasLen(mss))
	if e.c.SndNxt() == (x + 1).Add(seqnum.Size(3*mss)) {
		t.Fatal("SND.NXT was not rewound")
	}
	e.c.HandleSegment(now.Add(time.Millisecond), in(rst, y+50, 0))
	e.expect(is(ack, (x + 1).Add(seqnum.Size(3*mss)), y+1))
	e.c.HandleSegment(now.Add(time.Second), in(ack, y-4000, x+1))
	e.expect(is(ack, (x + 1).Add(seqnum.Size(3*mss)), y+1))
}

// TestTimeWaitRecvOutOfWindowRateLimited: in TIME-WAIT the answers share
// the limit, counted apart (Linux TCPACKSkippedTimeWait).
func TestTimeWaitRecvOutOfWindowRateLimited(t *testing.T) {
	e := timeWait(t)
	e.c.HandleSegment(e.now.Add(time.Millisecond), in(ack, y-4000, x+2))
	e.expect(is(ack, x+2, y+2))
	e.c.HandleSegment(e.now.Add(2*time.Millisecond), in(syn, y+100, 0))
	e.expectNone()
	wantCounter(t, "TCPACKSkippedTimeWait", e.env.Stats.TCPACKSkippedTimeWait.Load(), 1)
	e.state(StateTimeWait)
}

// TestEstablishedRecvProbeAlwaysAnswered: a zero-window or keepalive probe
// (a bare ACK at RCV.NXT-1, as Linux and synack send it) is answered every
// time, however close together: its answer carries the window the prober
// waits for. One number lower is a guess and is limited.
func TestEstablishedRecvProbeAlwaysAnswered(t *testing.T) {
	e := established(t)
	for i := range 4 {
		e.c.HandleSegment(at(sec+time.Duration(i)*100*time.Millisecond), in(ack, y, x+1))
		e.expect(is(ack, x+1, y+1))
	}
	e.c.HandleSegment(at(2*sec), in(ack, y-1, x+1))
	e.expect(is(ack, x+1, y+1))
	e.c.HandleSegment(at(2*sec+time.Millisecond), in(ack, y-1, x+1))
	e.expectNone()
	wantCounter(t, "TCPACKSkippedSeq", e.env.Stats.TCPACKSkippedSeq.Load(), 1)
}
