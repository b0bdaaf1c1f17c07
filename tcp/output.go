package tcp

import (
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/trace"
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
// then the FIN once every byte has gone (RFC 9293 §3.10.2, §3.8.6.2.1).
// The sender never has more than min(SND.WND, cwnd) beyond SND.UNA.
func (c *Conn) output(now time.Time) {
	if !c.state.sending() {
		return
	}
	for {
		end := c.dataEnd()
		if c.sndNxt.LessThan(end) {
			inFlight := c.sndUna.Size(c.sndNxt)
			wnd := min(c.sndWnd, seqnum.Size(c.cwnd()))
			if wnd <= inFlight {
				break
			}
			n := min(c.sndNxt.Size(end), wnd-inFlight, seqnum.Size(c.mss))
			off := int(c.sndUna.Size(c.sndNxt))
			payload := c.sndBuf.Bytes(off)[:n]
			flags := wire.FlagACK
			next := c.sndNxt.Add(n)
			if next == end {
				flags |= wire.FlagPSH // RFC 9293 §3.9.1: the buffer is empty after this one
				if c.finQueued {
					flags |= wire.FlagFIN // the FIN rides on the last data
				}
			}
			c.transmit(now, flags, c.sndNxt, payload)
			continue
		}
		if c.finQueued && c.sndNxt == end {
			c.transmit(now, wire.FlagFIN|wire.FlagACK, end, nil)
		}
		break
	}
	// RFC 9293 §3.8.6.1: a zero window with data waiting and nothing in
	// flight arms the persist timer, so a lost window update cannot stall us.
	if c.sndWnd == 0 && c.sndNxt == c.sndUna && c.sndNxt.LessThan(c.dataEnd()) &&
		c.rtoAt.IsZero() && c.persistAt.IsZero() {
		c.persistAt = now.Add(c.rto)
	}
}

// transmit sends a segment that occupies sequence space (data and/or FIN)
// starting at seq, and moves SND.NXT, SND.MAX, the RTT probe and the
// retransmission timer along (RFC 6298 §5.1).
func (c *Conn) transmit(now time.Time, flags wire.TCPFlags, seq seqnum.Value, payload []byte) {
	n := seqnum.Size(len(payload))
	if flags.Has(wire.FlagFIN) {
		c.finSent, c.finSeq = true, seq.Add(n)
		n++
	}
	next := seq.Add(n)
	retransmit := seq.LessThan(c.sndMax)
	if retransmit {
		c.env.Stats.RetransSegs.Add(1)
	} else if !c.rttTiming {
		// RFC 6298 §3 / Karn: time only segments sent once.
		c.rttTiming, c.rttSeq, c.rttStart = true, next, now
	}
	c.sendSegment(flags, seq, payload, retransmit)
	if seq == c.sndNxt {
		c.sndNxt = next // a fast retransmission below SND.NXT leaves it
	}
	if c.sndMax.LessThan(next) {
		c.sndMax = next
	}
	if c.rtoAt.IsZero() {
		c.rtoAt = now.Add(c.rto) // RFC 6298 §5.1
	}
}

// retransmitFirst resends the oldest unacknowledged segment, at SND.UNA:
// the fast retransmit of RFC 5681 §3.2 and the partial-ACK retransmission
// of RFC 6582 §3.2 step 5.
func (c *Conn) retransmitFirst(now time.Time) {
	end := c.dataEnd()
	if c.sndUna == end {
		if c.finSent {
			c.transmit(now, wire.FlagFIN|wire.FlagACK, end, nil)
		}
		return
	}
	n := min(c.sndUna.Size(end), seqnum.Size(c.mss))
	flags := wire.FlagACK
	if c.sndUna.Add(n) == end {
		flags |= wire.FlagPSH
		if c.finSent {
			flags |= wire.FlagFIN
		}
	}
	c.transmit(now, flags, c.sndUna, c.sndBuf.Bytes(0)[:n])
}

// sendSYN sends the SYN (SYN-SENT) or SYN,ACK (SYN-RECEIVED) at ISS.
func (c *Conn) sendSYN(retransmit bool) {
	flags := wire.FlagSYN
	if c.state == StateSynReceived {
		flags |= wire.FlagACK
	}
	c.sendSegment(flags, c.iss, nil, retransmit)
}

// sendAck sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
func (c *Conn) sendAck() {
	c.sendSegment(wire.FlagACK, c.sndNxt, nil, false)
}

// sendReset sends <SEQ=seq><CTL=RST> on this connection.
func (c *Conn) sendReset(seq seqnum.Value) {
	c.sendSegment(wire.FlagRST, seq, nil, false)
}

// flush sends what output allows and then any ACK still owed.
func (c *Conn) flush(now time.Time) {
	c.output(now)
	if c.ackNow {
		c.sendAck()
	}
}

// sendSegment fills in the header and hands the segment to the stack.
func (c *Conn) sendSegment(flags wire.TCPFlags, seq seqnum.Value, payload []byte, retransmit bool) {
	h := wire.TCPFields{SrcPort: c.Local.Port(), DstPort: c.Remote.Port(), Seq: seq, Flags: flags}
	if flags.Has(wire.FlagACK) {
		h.Ack = c.rcvNxt
		c.ackNow = false
	}
	if !flags.Has(wire.FlagRST) {
		h.Window = c.advertise()
	} else {
		c.env.Stats.OutRsts.Add(1)
	}
	if flags.Has(wire.FlagSYN) {
		h.Options.HasMSS, h.Options.MSS = true, uint16(min(c.cfg.MSS, 65535)) // RFC 9293 §3.7.1
	}
	if !retransmit {
		c.env.Stats.OutSegs.Add(1)
	}
	c.segsOut++
	c.env.Out.Send(c, &h, payload)
	if c.tracer != nil {
		c.traceSegment(trace.KindSegmentSent, flags, seq, h.Ack, h.Window, len(payload))
	}
}

// advertise returns the window to put in an outgoing segment and records
// its right edge. The right edge never moves left (RFC 9293 §3.8.6.2.2), and
// it moves right only in steps of at least min(buffer/2, MSS): receiver-side
// silly window syndrome avoidance.
func (c *Conn) advertise() uint16 {
	free := seqnum.Size(c.rcvBuf.Free())
	edge := c.rcvNxt.Add(free)
	if c.rcvAdv.LessThan(c.rcvNxt) {
		c.rcvAdv = c.rcvNxt
	}
	step := seqnum.Size(min(c.rcvBuf.limit/2, c.cfg.MSS))
	if c.rcvAdv.LessThan(edge) && (c.rcvAdv.Size(edge) >= step || free == seqnum.Size(c.rcvBuf.limit)) {
		c.rcvAdv = edge
	}
	return uint16(min(c.rcvNxt.Size(c.rcvAdv), 65535))
}

// rcvWnd is RCV.WND as last advertised: what the peer may send.
func (c *Conn) rcvWnd() seqnum.Size {
	if c.rcvAdv.LessThan(c.rcvNxt) {
		return 0
	}
	return c.rcvNxt.Size(c.rcvAdv)
}
