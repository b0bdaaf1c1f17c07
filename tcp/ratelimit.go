package tcp

// RFC 5961 (blind in-window attacks) and the limits on the ACKs a
// segment that fails a check may draw. A blind attacker who knows a
// connection's 4-tuple but not its sequence numbers can send RSTs, SYNs
// and data with guessed numbers; each one that fails a check would be
// answered with an ACK to the real peer. Unbounded, that makes this host
// a reflector that floods the peer, and the count of answers leaks
// whether a guess hit the window (CVE-2016-5696). So, as Linux:
//
//   - per connection, at most one such ACK per Config.InvalidACKRateLimit
//     (tcp_invalid_ratelimit, RFC 5961 §7), with an exemption for the data
//     segments an honest peer sends (answerInvalid);
//   - per stack, challenge ACKs within a budget per second drawn at random
//     around Config.ChallengeACKLimit (tcp_challenge_ack_limit), so an
//     attacker cannot count it.

import (
	crand "crypto/rand"
	"math/rand/v2"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// invalidKind says which check a segment failed, for the counter of the
// ACKs the rate limit skips.
type invalidKind uint8

const (
	invalidSeq       invalidKind = iota // sequence check (RFC 9293 §3.10.7.4 first): TCPACKSkippedSeq
	invalidPAWS                         // timestamp check (RFC 7323 §5.3 R1): TCPACKSkippedPAWS
	invalidChallenge                    // RFC 5961 §3.2, §4.2, §5.2: TCPACKSkippedChallenge
)

// answerInvalid answers a segment that failed the sequence or timestamp
// check with a duplicate ACK, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> (numbered
// by ackSeq), within the per-connection rate limit unless plausible (the
// segment's plausibleData). It reports whether the ACK is sent.
func (c *Conn) answerInvalid(now time.Time, plausible bool, kind invalidKind) bool {
	if plausible {
		// Linux (tcp_oow_rate_limited) never limits the answer to a data
		// segment without SYN: an ACK loop needs two ends answering bare
		// ACKs. That would leave every guessed data segment its own ACK;
		// here only the data an honest peer sends goes unlimited: a
		// retransmission of what we hold (its D-SACK tells the sender the
		// retransmission was spurious, RFC 2883), a window probe, text
		// past the right edge of a window the peer saw larger. A blind
		// guess lands there with odds of about 3 windows in 2^32.
		c.env.Stats.OutOfWindowACKs.Add(1)
		c.ackNow = true
		return true
	}
	if c.invalidRateLimited(now, kind) {
		return false
	}
	c.env.Stats.OutOfWindowACKs.Add(1)
	c.ackNow = true
	return true
}

// challengeACK sends the challenge ACK of RFC 5961 (§3.2 for a RST in the
// window but not at RCV.NXT, §4.2 for a SYN, §5.2 for an unacceptable
// SEG.ACK) within the per-connection rate limit and the stack's budget per
// second (§7). Linux's tcp_send_challenge_ack does the same.
func (c *Conn) challengeACK(now time.Time) {
	if c.invalidRateLimited(now, invalidChallenge) {
		return
	}
	if !c.env.challengeBudget(now) {
		c.env.Stats.TCPChallengeACKOverBudget.Add(1)
		return
	}
	c.env.Stats.TCPChallengeACK.Add(1)
	c.ackNow = true
}

// invalidRateLimited is the per-connection limit (Linux's
// __tcp_oow_rate_limited, tcp_invalid_ratelimit): it reports whether an ACK
// answering an invalid segment must be skipped because one was sent less
// than Config.InvalidACKRateLimit ago, counting the skip; else it records
// now as the time of that ACK.
func (c *Conn) invalidRateLimited(now time.Time, kind invalidKind) bool {
	limit := c.cfg.InvalidACKRateLimit
	if limit < 0 {
		return false
	}
	t := monoNanos(now)
	// 0 is "never"; a clock that went back does not hold ACKs back.
	if c.lastInvalidACK != 0 {
		if d := time.Duration(t - c.lastInvalidACK); d >= 0 && d < limit {
			st := c.env.Stats
			switch {
			case c.state == StateSynReceived:
				st.TCPACKSkippedSynRecv.Add(1)
			case c.state == StateTimeWait:
				st.TCPACKSkippedTimeWait.Add(1)
			case kind == invalidSeq:
				st.TCPACKSkippedSeq.Add(1)
			case kind == invalidPAWS:
				st.TCPACKSkippedPAWS.Add(1)
			default:
				st.TCPACKSkippedChallenge.Add(1)
			}
			return true
		}
	}
	c.lastInvalidACK = t
	return false
}

// plausibleData reports whether seg is what an honest peer may send
// outside our window, so that its answer is not rate limited: a probe, or
// text without
// SYN starting between RCV.NXT less the largest window we advertised (a
// retransmission: the sender never has more than one window beyond its
// SND.UNA, which is at least RCV.NXT less that window) and the right edge
// plus one such window (a probe or text sent into a window the peer saw
// wider). The buffer's limit bounds every window advertised (it never
// shrinks), rounded up by one window-scale unit as advertise may.
func (c *Conn) plausibleData(seg *Segment) bool {
	if seg.Flags.Has(wire.FlagSYN) {
		return false
	}
	if len(seg.Payload) == 0 {
		// A zero-window or keepalive probe without text: a bare ACK one
		// below RCV.NXT (RFC 9293 §3.8.6.1, RFC 1122 §4.2.3.6; Linux's
		// tcp_xmit_probe_skb, our sendProbe). Its answer carries the
		// window that ends the peer's wait, so it goes unlimited (Linux
		// limits it); only that exact number, which a guess hits once
		// in 2^32, and no ACK loop can form: our answer is numbered
		// ackSeq (SND.MAX capped at the peer's window edge), inside the
		// peer's window.
		return seg.Flags&(wire.FlagFIN|wire.FlagRST) == 0 && seg.Seq == c.rcvNxt.Sub(1)
	}
	w := seqnum.Size(c.rcvBuf.ring.limit) + 1<<c.rcvShift
	return seg.Seq.InWindow(c.rcvNxt.Sub(w), w+c.rcvWnd()+w+1)
}

// unacceptableACK handles a segment in a synchronized state whose SEG.ACK
// lies outside [SND.UNA - MAX.SND.WND, SND.MAX] (RFC 5961 §5.2). Below, it
// is counted as DropACKTooOld (injected data with a guessed ACK: Linux's
// SKB_DROP_REASON_TCP_TOO_OLD_ACK); beyond, as DropBadACK (it acknowledges
// something not yet sent, RFC 9293 §3.10.7.4 fifth). Either way the
// segment is dropped and answered with a challenge ACK: Linux answers the
// first so, and the second is the other side of the same rule.
func (c *Conn) unacceptableACK(now time.Time, seg *Segment) {
	if seg.Ack.GreaterThan(c.sndMax) {
		c.drop(&c.env.Stats.DropBadACK, "DropBadACK")
	} else {
		c.drop(&c.env.Stats.DropACKTooOld, "DropACKTooOld")
	}
	c.challengeACK(now)
}

// challengeBudget takes one challenge ACK from the stack's budget for the
// current second and reports whether there was one (RFC 5961 §7, Linux's
// tcp_challenge_ack_limit after CVE-2016-5696). Each second the budget is
// drawn anew from [limit/2, limit/2+limit), so an attacker who counts the
// challenge ACKs a connection sends cannot tell how many others took from
// the same budget. The budget is the stack's, shared by the Envs made with
// Share, which may run at once: it is one atomic word, the second, a drawn
// bit and the ACKs left, changed by compare-and-swap only.
func (e *Env) challengeBudget(now time.Time) bool {
	limit := e.Config.ChallengeACKLimit
	if limit < 0 {
		return true
	}
	e.init()
	b := &e.shared.challenge
	sec := uint32(now.Unix())
	for {
		old := b.Load()
		if old&challengeDrawn == 0 || uint32(old>>32) != sec {
			// The first call of a second draws its budget, and takes one.
			if e.ChallengeRand == nil {
				e.ChallengeRand = newChallengeRand()
			}
			n := min(uint64(limit/2)+e.ChallengeRand.Uint64()%uint64(max(limit, 1)), challengeLeftMask)
			if n == 0 {
				// A zero limit gives no budget at all.
				if b.CompareAndSwap(old, uint64(sec)<<32|challengeDrawn) {
					return false
				}
				continue
			}
			if b.CompareAndSwap(old, uint64(sec)<<32|challengeDrawn|(n-1)) {
				return true
			}
			continue
		}
		if old&challengeLeftMask == 0 {
			return false
		}
		if b.CompareAndSwap(old, old-1) {
			return true
		}
	}
}

// The packing of envShared.challenge below the second's 32 bits.
const (
	challengeDrawn    = 1 << 31   // the budget of that second is drawn
	challengeLeftMask = 1<<31 - 1 // the ACKs left in it
)

// newChallengeRand returns a ChaCha8 generator seeded from crypto/rand:
// the budget must not be predictable from outside.
func newChallengeRand() rand.Source {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // crypto/rand.Read never fails (Go 1.24)
	return rand.NewChaCha8(seed)
}
