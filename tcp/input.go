package tcp

import (
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// HandleSegment processes one arriving segment: the SEGMENT ARRIVES event
// of RFC 9293 §3.10.7. A connection in CLOSED or LISTEN is not given
// segments: the stack answers those with ResetFor and the Listener.
func (c *Conn) HandleSegment(now time.Time, seg *Segment) {
	c.now = now
	c.env.Stats.InSegs.Add(1)
	c.segsIn++
	if c.env.Trace != nil {
		c.traceSegment(trace.KindSegmentReceived, seg.Flags, seg.Seq, seg.Ack, seg.Window, len(seg.Payload), &seg.Options)
		c.env.handling.set(seg) // for the drops' trace (drop.go)
	}
	switch c.state {
	case StateClosed, StateListen:
		return
	case StateSynSent:
		c.synSent(now, seg)
	default:
		c.synchronizedInput(now, seg)
	}
	c.env.handling.ok = false
	if c.state != StateClosed {
		c.flush(now)
	}
	c.charge()
}

// learnPeer records what the peer's SYN says: IRS, RCV.NXT, its MSS
// (RFC 9293 §3.7.1: 536 when absent), the options it agrees to, and the
// window it offers.
func (c *Conn) learnPeer(now time.Time, seg *Segment) {
	// The window our own SYN offered (none yet on the passive side) now
	// starts at RCV.NXT: text on a SYN,ACK that fits it is kept at step six
	// (RFC 9293 §3.10.7.3 fourth) rather than trimmed to a zero window.
	offered := c.rcvWnd()
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq.Add(1)
	c.rcvAdv = c.rcvNxt.Add(offered)
	c.negotiate(now, &seg.Options)
	user := c.userMaxSegment()
	c.user &^= userMSS
	c.mss = min(c.env.peerMSS(seg), c.cfg.MSS)
	if user > 0 {
		c.mss = min(c.mss, user) // TCP_MAXSEG set before the handshake (sockopt.go)
	}
	if f := c.env.PathMTU; f != nil {
		if mtu := f(c.Remote.Addr()); mtu > 0 {
			c.mss = min(c.mss, max(mtu, minPathMTU)-40) // RFC 1191 §3: a path MTU learned before
		}
	}
	if c.tsOK {
		// RFC 6691: the MSS counts no options; a segment carrying the
		// timestamps option carries that much less data.
		c.mss = max(c.mss-tsLen, 1)
	}
	c.sndWnd = c.segWnd(seg) // RFC 7323 §2.2: a SYN's window is never scaled
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = seg.Seq, seg.Ack
}

// synSent is RFC 9293 §3.10.7.3, SYN-SENT.
func (c *Conn) synSent(now time.Time, seg *Segment) {
	st := c.env.Stats
	// First: check the ACK bit.
	ackOK := false
	if seg.Flags.Has(wire.FlagACK) {
		// If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the
		// segment is one) and drop it. This is the client's half of Figure 9.
		if seg.Ack.LessThanEq(c.iss) || seg.Ack.GreaterThan(c.sndNxt) {
			c.drop(&st.DropBadACK, "DropBadACK")
			if !seg.Flags.Has(wire.FlagRST) {
				c.sendReset(seg.Ack)
			}
			return
		}
		ackOK = true // SND.UNA < SEG.ACK =< SND.NXT
	}
	// Second: check the RST bit.
	if seg.Flags.Has(wire.FlagRST) {
		if ackOK {
			c.fail(ErrConnectionRefused, "rcv RST") // "error: connection reset": the port is closed
		} else {
			c.drop(&st.DropBadFlags, "DropBadFlags") // a RST without an acceptable ACK is dropped
		}
		return
	}
	// Fourth: check the SYN bit.
	if !seg.Flags.Has(wire.FlagSYN) {
		c.drop(&st.DropBadFlags, "DropBadFlags")
		return
	}
	c.lastRecv = monoAt(now) // a valid SYN: the peer is there (see peerAlive)
	c.learnPeer(now, seg)
	if ackOK {
		c.synAcked(now, seg.Ack)
		c.establish("rcv SYN,ACK")
		c.ackNow = true // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
		// Data or a FIN that came with the SYN,ACK: continue at step six.
		rest := *seg
		rest.Seq = seg.Seq.Add(1)
		rest.Flags &^= wire.FlagSYN
		c.processText(now, &rest)
		seg.Kept = rest.Kept // the host must know its buffer was kept
		return
	}
	// Simultaneous open (Figure 8): SYN-RECEIVED, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
	c.setState(StateSynReceived, "rcv SYN")
	c.sendSYN(true)
}

// establish enters ESTABLISHED; a close requested during the handshake
// moves straight on to FIN-WAIT-1.
func (c *Conn) establish(cause string) {
	c.setState(StateEstablished, cause)
	if c.listener != nil {
		c.listener.established(c)
	}
	if c.finQueued {
		c.setState(StateFinWait1, "close")
	}
}

// synAcked is the ACK of our SYN (or SYN,ACK): SND.UNA moves past it, the
// SYN gives its RTT sample if it was sent only once (RFC 6298 §3, Karn), and
// the retransmission timer stops.
func (c *Conn) synAcked(now time.Time, ack seqnum.Value) {
	if c.listener != nil {
		c.listener.matured(c) // before retries is reset (synqueue.go)
	}
	c.sndUna = ack
	c.ackRTT(now, ack)
	if !c.hasRTT && c.retries > 0 && c.cfg.InitialRTO < synFallbackRTO {
		// RFC 6298 §5.7: the SYN timed out, an implementation whose initial
		// RTO is below 3 s is in use, and Karn's rule left us without a
		// sample: the RTO is re-initialized to 3 s when data transmission
		// begins (Linux: TCP_TIMEOUT_FALLBACK), not left backed off.
		c.rto = min(synFallbackRTO, c.cfg.MaxRTO)
	}
	c.retries, c.rtoAt = 0, 0
}

// synFallbackRTO is the RTO of RFC 6298 §5.7 after a retransmitted SYN.
const synFallbackRTO = 3 * time.Second

// ackRTT takes an RTT sample if ack covers the timed segment (RFC 6298 §2, §3).
func (c *Conn) ackRTT(now time.Time, ack seqnum.Value) {
	if c.rttTiming && c.rttSeq.LessThanEq(ack) {
		c.rttTiming = false
		c.sampleRTT(time.Duration(monoNanos(now) - c.rttStart))
	}
}
