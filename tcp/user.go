package tcp

import (
	"errors"
	"io"
	"time"

	"github.com/synack-net/synack/seqnum"
)

var errAlreadyOpen = errors.New("connection already open")

// Connect performs an active OPEN (RFC 9293 §3.10.1): it sends
// <SEQ=ISS><CTL=SYN> and enters SYN-SENT. The stack picks iss with an
// ISNGenerator (RFC 6528).
func (c *Conn) Connect(now time.Time, iss seqnum.Value) error {
	if c.state != StateClosed {
		return errAlreadyOpen
	}
	c.now = now
	c.iss, c.sndUna, c.sndNxt, c.sndMax, c.recover = iss, iss, iss.Add(1), iss.Add(1), iss
	c.rttTiming, c.rttSeq, c.rttStart = true, c.sndNxt, monoNanos(now)
	if !c.cfg.NoWindowScaling {
		c.rcvShift = windowShift(c.cfg.MaxReceiveBufferSize) // offered in the SYN
	}
	c.env.Stats.ActiveOpens.Add(1)
	c.setState(StateSynSent, "connect")
	c.sendSYN(false)
	c.rtoAt = after(now, c.rto)
	return nil
}

// Write queues p for sending (RFC 9293 §3.10.2) and sends what the windows
// allow. It returns how much of p fit in the send buffer, and under the
// TCP_NOTSENT_LOWAT bound if one is set (sockopt.go); ErrWouldBlock when
// none did, so the caller waits for EventWritable.
func (c *Conn) Write(now time.Time, p []byte) (int, error) {
	c.now = now
	switch c.state {
	case StateSynSent, StateSynReceived, StateEstablished, StateCloseWait:
		if c.finQueued {
			return 0, ErrClosing
		}
	case StateClosed, StateListen:
		if c.err != nil {
			return 0, c.err
		}
		return 0, ErrNotConnected
	default:
		return 0, ErrClosing // "error: connection closing"
	}
	if len(p) == 0 {
		return 0, nil
	}
	if room := c.lowatRoom(); len(p) > room {
		p = p[:room] // TCP_NOTSENT_LOWAT (sockopt.go)
	}
	n := c.sndBuf.appendHeld(p, c.env.sendHold())
	if n == 0 {
		return 0, ErrWouldBlock
	}
	c.output(now)
	c.charge()
	return n, nil
}

// SetNoDelay turns Nagle's algorithm (RFC 9293 §3.7.4) off (true, the
// default, as in Go's net package) or on: with it on, a short segment waits
// while earlier data is unacknowledged, so small writes coalesce.
func (c *Conn) SetNoDelay(now time.Time, noDelay bool) {
	c.now = now
	c.noDelay = noDelay
	if noDelay && c.state.sending() {
		c.output(now)
	}
}

// Writable reports whether Write would make progress or fail now: the
// send buffer has room and, with TCP_NOTSENT_LOWAT set, the bytes not yet
// sent are below half the bound (sockopt.go), as Linux's poll reports
// POLLOUT; a Write may queue more while they are below the bound itself.
func (c *Conn) Writable() bool {
	switch c.state {
	case StateSynSent, StateSynReceived:
		return false
	case StateEstablished, StateCloseWait:
		return c.finQueued || c.sndBuf.Free() > 0 && c.lowatWake()
	}
	return true
}

// Read moves received bytes into p (RFC 9293 §3.10.3). It returns io.EOF
// once the peer's FIN has been read up to, the connection's error if it
// failed, and ErrWouldBlock when nothing is there yet.
func (c *Conn) Read(now time.Time, p []byte) (int, error) {
	c.now = now
	if c.user&userReadShut != 0 {
		return 0, io.EOF // CloseRead (sockopt.go)
	}
	if c.rcvBuf.Len() > 0 {
		if len(p) == 0 {
			return 0, nil
		}
		before := c.rcvWnd()
		n := c.rcvBuf.Read(p)
		c.autotune(now, n)
		c.windowUpdate(before)
		c.charge()
		return n, nil
	}
	if c.finRcvd {
		return 0, io.EOF
	}
	if c.err != nil {
		return 0, c.err
	}
	switch c.state {
	case StateClosed:
		return 0, io.EOF
	case StateListen:
		return 0, ErrNotConnected
	}
	return 0, ErrWouldBlock
}

// Readable reports whether Read would return something now.
func (c *Conn) Readable() bool {
	return c.rcvBuf.Len() > 0 || c.finRcvd || c.state == StateClosed || c.user&userReadShut != 0
}

// windowUpdate sends an ACK announcing a larger window after a read, when
// the window as the peer knows it (before) has at least doubled and grown
// by a full step (RFC 9293 §3.8.6.2.2; Linux's rule in tcp_cleanup_rbuf).
func (c *Conn) windowUpdate(before seqnum.Size) {
	if !c.state.synchronized() || c.finRcvd {
		return
	}
	free := seqnum.Size(c.rcvBuf.Free())
	step := seqnum.Size(min(c.rcvBuf.ring.limit/2, c.cfg.MSS))
	if free >= 2*before && free-before >= step {
		c.sendAck()
	}
}

// CloseWrite closes the sending side (half-close, RFC 9293 §3.10.4 CLOSE
// with the receive side still open): a FIN follows the queued data.
func (c *Conn) CloseWrite(now time.Time) error {
	c.now = now
	switch c.state {
	case StateSynSent, StateSynReceived:
		c.finQueued = true // sent once established
	case StateEstablished:
		c.finQueued = true
		c.setState(StateFinWait1, "close")
	case StateCloseWait:
		c.finQueued = true
		c.setState(StateLastAck, "close")
	case StateClosed, StateListen:
		if c.err != nil {
			return c.err
		}
		return ErrNotConnected
	default:
		return ErrClosing
	}
	c.output(now)
	return nil
}

// Close is the user's full CLOSE (RFC 9293 §3.10.4): no more sends and no
// more reads. Queued data is still delivered before the FIN. As Linux does
// (RFC 2525 §2.17), unread received data turns the close into an abort.
func (c *Conn) Close(now time.Time) {
	c.now = now
	c.rdClosed = true
	switch c.state {
	case StateClosed, StateListen:
		c.setState(StateClosed, "close")
	case StateSynSent:
		c.setState(StateClosed, "close") // delete the TCB
	case StateSynReceived, StateEstablished, StateCloseWait, StateFinWait1, StateFinWait2:
		if c.closeUnread(now) {
			return
		}
		if c.state == StateFinWait2 {
			c.closeAt = now.Add(c.cfg.FinWait2Timeout) // orphaned: Linux tcp_fin_timeout
		} else if c.state != StateFinWait1 {
			_ = c.CloseWrite(now)
		}
	}
	c.rcvBuf.Reset()
	c.charge()
}

// Abort is the user's ABORT (RFC 9293 §3.10.5): in a synchronized state (or
// SYN-RECEIVED) it sends <SEQ=SND.NXT><CTL=RST> (numbered from SND.MAX, not
// a rewound SND.NXT: rstSeq), then the connection is CLOSED.
func (c *Conn) Abort(now time.Time) {
	c.now = now
	switch c.state {
	case StateSynReceived, StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		c.sendReset(c.rstSeq())
	}
	c.fail(ErrConnectionAborted, "abort")
	c.rcvBuf.Reset() // nothing will read it: give lent buffers back now
	c.charge()
}
