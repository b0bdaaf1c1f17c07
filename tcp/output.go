package tcp

import (
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// sending reports whether the state may send data or a FIN (RFC 9293 §3.10.2).
func (s State) sending() bool {
	switch s {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
		return true
	}
	return false
}

// dataEnd is the sequence number just past the last byte written: where the FIN goes.
func (c *Conn) dataEnd() seqnum.Value {
	return c.sndUna.Add(seqnum.Size(c.sndBuf.Len()))
}

// output sends what the windows allow: new or rewound data from SND.NXT,
// then the FIN once every byte has gone (RFC 9293 §3.10.2, §3.8.6.2.1);
// in SACK recovery, what RFC 6675 §5 step (C) picks. Outside recovery the
// sender never has more than SND.WND beyond SND.UNA, nor more than cwnd
// bytes in flight.
func (c *Conn) output(now time.Time) {
	if !c.state.sending() {
		return
	}
	if (c.inRecovery || c.inLoss()) && c.lossOn() {
		c.recoveryOutput(now)
	} else {
		c.windowOutput(now)
	}
	// RFC 9293 §3.8.6.1: a zero window with data waiting and nothing in
	// flight arms the persist timer, so a lost window update cannot stall
	// us. The same timer is the override of sender SWS avoidance
	// (§3.8.6.2.1) when a small window holds data back.
	if c.sndNxt == c.sndUna && c.sndNxt.LessThan(c.dataEnd()) && c.rtoAt.IsZero() && c.persistAt.IsZero() {
		c.persistAt = after(now, c.rto)
	}
	// New data sent by a Write as much as by an ACK restarts the probe
	// timeout (RFC 8985 §7.2).
	c.rearmProbe(now)
}

// windowOutput is output outside SACK recovery: new data, and, without
// SACK, the go-back-N resend from SND.UNA after a timeout (with SACK a
// timeout resends what RACK marks lost, in recoveryOutput, and SND.NXT
// never goes back).
func (c *Conn) windowOutput(now time.Time) {
	for {
		end := c.dataEnd()
		if !c.sndNxt.LessThan(end) {
			if c.finQueued && c.sndNxt == end {
				c.transmit(now, wire.FlagFIN|wire.FlagACK, end, nil, nil)
			}
			return
		}
		used := c.sndUna.Size(c.sndNxt)
		if used >= c.sndWnd {
			return
		}
		flight := int(used - c.sack.sackedIn(c.sndUna, c.sndNxt))
		if flight >= c.cwnd() {
			return
		}
		room := c.segRoom()
		n := min(c.sndNxt.Size(end), c.sndWnd-used, seqnum.Size(c.cwnd()-flight), seqnum.Size(room))
		if c.sndNxt.LessThan(c.sndMax) {
			n = min(n, c.sndNxt.Size(c.sndMax)) // going back N: resend what was sent, no Nagle
		} else if !c.mayStart(n, end) {
			return
		}
		if c.sndNxt.Add(n) == end {
			n++ // room for the FIN to ride on the last data
		}
		c.sendRange(now, c.sndNxt, n)
	}
}

// segRoom is the most data one segment carries now: the MSS less the room
// SACK blocks take in our ACKs (Linux's tcp_current_mss does the same).
func (c *Conn) segRoom() int {
	return max(c.mss-c.sackOptLen(), 1)
}

// mayStart decides whether n bytes of new data from SND.NXT go now. It is
// sender-side silly window avoidance (RFC 9293 §3.8.6.2.1) and Nagle's
// algorithm (§3.7.4): a full segment always goes; a short one goes when it
// is all there is to send and nothing unacknowledged is in flight (or
// Nagle is off, or a FIN follows), or when it is at least half the largest
// window the peer has offered. Held data waits for an ACK, or for the
// persist timer when nothing is in flight.
func (c *Conn) mayStart(n seqnum.Size, end seqnum.Value) bool {
	if int(n) >= c.segRoom() {
		return true
	}
	if c.sndNxt.Add(n) == end {
		return c.noDelay || c.finQueued || c.sndNxt == c.sndUna
	}
	return n >= c.maxSndWnd/2
}

// recoveryOutput sends during a SACK recovery: the segments RACK found
// lost first, in sequence order, then new data (RFC 6675 §4 NextSeg's
// rules 1 and 2 with RACK's losses, RFC 8985 §6.2). How much goes is
// PRR's choice in fast recovery (prr.go) and cwnd - pipe after a timeout.
// F-RTO's step 2b sends only new data.
func (c *Conn) recoveryOutput(now time.Time) {
	l := c.loss
	for {
		if c.inRecovery {
			if !c.prrAllows() {
				return
			}
		} else if c.cwnd()-c.rackPipe() < c.mss {
			return
		}
		if i := c.nextLost(); i >= 0 && !l.undo.frtoNew {
			if c.resend(now, i) == 0 {
				return
			}
			continue
		}
		seq, n := c.newData()
		if n == 0 || c.sendRange(now, seq, n) == 0 {
			return
		}
	}
}

// resend sends lost segment i again, each part of it the peer has not
// SACKed, and returns the sequence space sent. Beyond the peer's window
// only the segment at SND.UNA goes (as Linux's tcp_retransmit_skb): it
// doubles as a probe of a window that shrank.
func (c *Conn) resend(now time.Time, i int) seqnum.Size {
	q := &c.loss.q
	left, end := q.left(i), q.at(i).end
	if left.LessThan(c.sndUna) {
		left = c.sndUna
	}
	if left != c.sndUna && !left.LessThan(c.sndUna.Add(c.sndWnd)) {
		return 0
	}
	var sent seqnum.Size
	for from := left; from.LessThan(end); {
		h := c.sack.hole(from, end)
		if h.empty() {
			break
		}
		n := c.sendRange(now, h.left, h.left.Size(h.right))
		if n == 0 {
			break
		}
		sent += n
		from = h.left.Add(n)
	}
	if sent == 0 {
		c.setFlags(i, segRetrans, 0) // nothing left to send: do not pick it again
	}
	return sent
}

// newData is NextSeg's rule 2: new data the peer's window allows, or the FIN.
func (c *Conn) newData() (seqnum.Value, seqnum.Size) {
	if end := c.dataEnd(); c.sndNxt.LessThan(end) {
		if used := c.sndUna.Size(c.sndNxt); used < c.sndWnd {
			return c.sndNxt, c.sndWnd - used
		}
	} else if c.finQueued && !c.finSent {
		return end, 1
	}
	return c.sndNxt, 0
}

// sendRange sends one segment starting at seq covering at most n sequence
// numbers: data from the send buffer (up to one segment), then the FIN
// where it falls and it is due. It returns the sequence space sent.
func (c *Conn) sendRange(now time.Time, seq seqnum.Value, n seqnum.Size) seqnum.Size {
	end := c.dataEnd()
	var payload, more []byte // the text: payload, then more where it crosses into the next chunk
	if seq.LessThan(end) {
		k := min(seq.Size(end), n, seqnum.Size(c.segRoom()))
		payload, more = c.sndBuf.Peek(int(c.sndUna.Size(seq)), int(k))
		if len(more) > 0 && c.env.ShareMin > 0 && len(payload)+len(more) >= c.env.ShareMin {
			// End with the chunk (Env.ShareMin): the segment from the
			// crossing on can then be lent whole, and this one too if it
			// is still large enough.
			more = nil
		}
	}
	size := seqnum.Size(len(payload) + len(more))
	flags := wire.FlagACK
	if seq.Add(size) == end {
		if size > 0 {
			flags |= wire.FlagPSH // RFC 9293 §3.9.1: the buffer is empty after this one
		}
		// The FIN rides on the last data: when first sent, and in every
		// retransmission of that data.
		if c.finQueued && (c.finSent || seq == c.sndNxt) && size < n {
			flags |= wire.FlagFIN
		}
	}
	if size == 0 && !flags.Has(wire.FlagFIN) {
		return 0
	}
	c.transmit(now, flags, seq, payload, more)
	sent := size
	if flags.Has(wire.FlagFIN) {
		sent++
	}
	return sent
}

// transmit sends a segment that occupies sequence space (data and/or FIN)
// starting at seq, and moves SND.NXT, SND.MAX, HighRxt, the RTT probe and
// the retransmission timer along (RFC 6298 §5.1).
func (c *Conn) transmit(now time.Time, flags wire.TCPFlags, seq seqnum.Value, payload, more []byte) {
	n := seqnum.Size(len(payload) + len(more))
	if flags.Has(wire.FlagFIN) {
		c.finSent, c.finSeq = true, seq.Add(n)
		n++
	}
	next := seq.Add(n)
	retransmit := seq.LessThan(c.sndMax)
	if retransmit {
		c.env.Stats.RetransSegs.Add(1)
		c.retrans++
		c.undoResent(now, seq, next)
	} else {
		c.lossOf().rearm = true // new data: the probe timeout restarts (RFC 8985 §7.2)
		if !c.rttTiming {
			// RFC 6298 §3 / Karn: time only segments sent once.
			c.rttTiming, c.rttSeq, c.rttStart = true, next, monoNanos(now)
		}
	}
	if c.lossOn() {
		c.recordSent(now, seq, next, retransmit)
	}
	if c.inRecovery && c.lossOn() {
		c.prrSent(int(n))
	}
	c.sendSegment(flags, seq, payload, more, retransmit)
	if seq == c.sndNxt {
		c.sndNxt = next // a retransmission below SND.NXT leaves it
	}
	if c.sndMax.LessThan(next) {
		wasBlocked := c.lowat != 0 && !c.lowatWake()
		c.sndMax = next
		if wasBlocked && c.sndBuf.Free() > 0 {
			c.writeSpace() // sending, not only an ACK, frees a writer TCP_NOTSENT_LOWAT holds (sockopt.go)
		}
	}
	if c.rtoAt.IsZero() {
		c.rtoAt = after(now, c.rto) // RFC 6298 §5.1
	}
}

// retransmitFirst resends the oldest unacknowledged segment, at SND.UNA:
// the fast retransmit of RFC 5681 §3.2 (and RFC 6675 §5 step 4.3) and the
// partial-ACK retransmission of RFC 6582 §3.2 step 5.
func (c *Conn) retransmitFirst(now time.Time) {
	n := c.sndUna.Size(c.sndMax)
	if h := c.sack.hole(c.sndUna, c.sndMax); !h.empty() {
		n = h.left.Size(h.right)
	}
	c.sendRange(now, c.sndUna, n)
}

// sendSYN sends the SYN (SYN-SENT) or SYN,ACK (SYN-RECEIVED) at ISS.
func (c *Conn) sendSYN(retransmit bool) {
	flags := wire.FlagSYN
	if c.state == StateSynReceived {
		flags |= wire.FlagACK
	}
	c.sendSegment(flags, c.iss, nil, nil, retransmit)
}

// sendAck sends <SEQ=ackSeq><ACK=RCV.NXT><CTL=ACK>.
func (c *Conn) sendAck() {
	c.sendSegment(wire.FlagACK, c.ackSeq(), nil, nil, false)
}

// ackSeq numbers a segment that carries no data. RFC 9293 says SND.NXT, but
// a retransmission timeout rewinds SND.NXT to SND.UNA (go-back-N) while the
// peer may already hold everything up to SND.MAX: numbered from the rewound
// SND.NXT, the ACK falls below the peer's RCV.NXT, fails its acceptability
// test (§3.10.7.4) and is dropped with the acknowledgment it carries. Two
// ends that both timed out would then drop each other's ACKs until their
// retries ran out. So SND.MAX, as Linux (whose snd_nxt is never rewound)
// does; capped at the right edge of a send window the peer shrank below it,
// like Linux's tcp_acceptable_seq, but never below SND.NXT.
func (c *Conn) ackSeq() seqnum.Value {
	seq := c.sndMax
	if edge := c.sndUna.Add(c.sndWnd); edge.LessThan(seq) {
		seq = edge
	}
	if seq.LessThan(c.sndNxt) {
		seq = c.sndNxt
	}
	return seq
}

// sendReset sends <SEQ=seq><CTL=RST> on this connection.
func (c *Conn) sendReset(seq seqnum.Value) {
	c.sendSegment(wire.FlagRST, seq, nil, nil, false)
}

// flush sends what output allows and then any ACK still owed.
func (c *Conn) flush(now time.Time) {
	c.output(now)
	c.rearmProbe(now) // an ACK that output did not get to (not sending)
	if c.ackNow {
		c.sendAck()
	}
}

// sendSegment fills in the header and hands the segment to the stack.
func (c *Conn) sendSegment(flags wire.TCPFlags, seq seqnum.Value, payload, more []byte, retransmit bool) {
	// The header is built in the Env's scratch space: a local would escape
	// through the Sender interface and cost an allocation per segment.
	h := &c.env.hdr
	*h = wire.TCPFields{SrcPort: c.Local.Port(), DstPort: c.Remote.Port(), Seq: seq, Flags: flags}
	syn := flags.Has(wire.FlagSYN)
	if flags.Has(wire.FlagACK) {
		h.Ack = c.rcvNxt
		c.ackNow, c.delackAt, c.unacked = false, 0, 0
		c.lastAckSent = c.rcvNxt
	}
	if !flags.Has(wire.FlagRST) {
		h.Window = c.advertise(syn)
	} else {
		c.env.Stats.OutRsts.Add(1)
	}
	switch {
	case syn:
		c.synOptions(&h.Options)
	case c.tsOK:
		// RFC 7323 §3.2: once negotiated, in every segment, RSTs included.
		c.stampTS(&h.Options)
	}
	if !syn && flags.Has(wire.FlagACK) && c.sackOK {
		c.fillSACK(&h.Options, len(payload)+len(more))
	}
	if !retransmit {
		c.env.Stats.OutSegs.Add(1)
	}
	c.segsOut++
	c.env.Out.Send(c, h, payload, more)
	if c.env.Trace != nil {
		c.traceSent(flags, seq, h.Ack, h.Window, len(payload)+len(more), &h.Options, retransmit)
	}
}

// advertise returns the window field of an outgoing segment and records
// its right edge. The right edge never moves left (RFC 9293 §3.8.6.2.2), and
// it moves right only in steps of at least min(buffer/2, MSS): receiver-side
// silly window syndrome avoidance. Outside a SYN the field is the window
// shifted right by Rcv.Wind.Shift (RFC 7323 §2.3), rounded down, or up
// where rounding down would move the edge left (as Linux does).
func (c *Conn) advertise(syn bool) uint16 {
	free := seqnum.Size(c.rcvFree()) // within the stack's memory too (memory.go)
	edge := c.rcvNxt.Add(free)
	if c.rcvAdv.LessThan(c.rcvNxt) {
		c.rcvAdv = c.rcvNxt
	}
	advertised := c.rcvAdv
	step := seqnum.Size(min(c.rcvBuf.ring.limit/2, c.cfg.MSS))
	if c.rcvAdv.LessThan(edge) && (c.rcvAdv.Size(edge) >= step || free == seqnum.Size(c.rcvBuf.ring.limit)) {
		c.rcvAdv = edge
	}
	wnd := c.rcvNxt.Size(c.rcvAdv)
	if syn {
		wnd = min(wnd, 65535) // RFC 7323 §2.2: a SYN's window is never scaled
		c.rcvAdv = c.rcvNxt.Add(wnd)
		return uint16(wnd)
	}
	shift := c.rcvShift
	field := min(wnd>>shift, 65535)
	if field < 65535 && c.rcvNxt.Add(field<<shift).LessThan(advertised) {
		// Keep the edge already advertised: round up.
		field++
	}
	c.rcvAdv = c.rcvNxt.Add(field << shift)
	return uint16(field)
}

// rcvWnd is RCV.WND as last advertised: what the peer may send.
func (c *Conn) rcvWnd() seqnum.Size {
	if c.rcvAdv.LessThan(c.rcvNxt) {
		return 0
	}
	return c.rcvNxt.Size(c.rcvAdv)
}
