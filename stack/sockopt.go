package stack

import (
	"io"
	"math"
	"os"
	"syscall"
	"time"

	"github.com/synack-net/synack/tcp"
)

// This file is the socket options of a TCP socket beyond deadlines and
// keepalive: SO_LINGER, SO_RCVBUF and SO_SNDBUF, TCP_NOTSENT_LOWAT,
// shutdown(SHUT_RD), and reads that hand the received text over without a
// copy (ReadView).

// SetLinger sets what Close does with data not yet acknowledged, as
// SO_LINGER: sec < 0 (the default) returns at once and sends it in the
// background; sec == 0 makes Close an ABORT, a RST with the send buffer
// discarded; sec > 0 makes Close wait, on the stack's clock, until the
// FIN that follows the data is acknowledged or sec seconds pass (Linux's
// tcp_close and sk_stream_wait_close). Values above 32,766 are taken as
// that (about nine hours).
func (c *TCPConn) SetLinger(sec int) {
	v := int16(0)
	if sec >= 0 {
		v = int16(min(sec, math.MaxInt16-1) + 1)
	}
	c.s.mu.Lock()
	c.linger = v
	c.s.mu.Unlock()
}

// lingerWait is a lingering Close: it waits until the FIN is
// acknowledged (or the connection ended otherwise) or the stack's clock
// reaches end. When end comes first, as Linux does, the close goes on in
// the background (the data and FIN are still sent and resent; nothing is
// reset), and the error is EWOULDBLOCK, as the BSDs' close returns (Linux's
// returns 0, which leaves a caller no way to know): its Timeout() is true.
func (c *TCPConn) lingerWait(end time.Time) error {
	s := c.s
	done := make(chan struct{})
	t := s.clk.AfterFunc(end.Sub(s.clk.Now()), func() { close(done) })
	defer t.Stop()
	for {
		s.mu.Lock()
		if !c.finPendingLocked() {
			s.mu.Unlock()
			return nil
		}
		ch := c.wr.add() // woken by the ACK of the FIN (tcp.EventWritable) or CLOSED
		s.mu.Unlock()
		c.wr.block(&s.mu, ch, done, nil)
		if isClosed(done) {
			s.mu.Lock()
			pending := c.finPendingLocked()
			s.mu.Unlock()
			if pending {
				return syscall.EWOULDBLOCK
			}
			return nil
		}
	}
}

// finPendingLocked reports whether a closed socket's FIN is still to be
// acknowledged (s.mu held): Linux's lingering close waits while the state
// is FIN-WAIT-1, CLOSING or LAST-ACK (and here SYN-RECEIVED, whose FIN
// waits for the handshake).
func (c *TCPConn) finPendingLocked() bool {
	if c.tw != nil || c.conn == nil {
		return false
	}
	switch c.conn.State() {
	case tcp.StateSynReceived, tcp.StateFinWait1, tcp.StateClosing, tcp.StateLastAck:
		return true
	}
	return false
}

// CloseRead shuts the reading side (shutdown SHUT_RD; tcp.Conn.CloseRead):
// blocked and later reads return io.EOF, unread and later text is
// discarded, and the peer is not told.
func (c *TCPConn) CloseRead() error {
	return c.setOpt(func(now time.Time) error { return c.conn.CloseRead(now) })
}

// SetReceiveBufferSize fixes the receive buffer at n bytes, autotuning
// off (SO_RCVBUF; tcp.Conn.SetReceiveBufferSize).
func (c *TCPConn) SetReceiveBufferSize(n int) error {
	return c.setOpt(func(now time.Time) error { c.conn.SetReceiveBufferSize(now, n); return nil })
}

// SetSendBufferSize fixes the send buffer at n bytes, growing off
// (SO_SNDBUF; tcp.Conn.SetSendBufferSize).
func (c *TCPConn) SetSendBufferSize(n int) error {
	return c.setOpt(func(now time.Time) error { c.conn.SetSendBufferSize(now, n); return nil })
}

// SetNotSentLowat bounds the connection's bytes written and not yet sent
// at n (Linux's TCP_NOTSENT_LOWAT; tcp.Conn.SetNotSentLowat): Write blocks
// while n or more are unsent, and a blocked Write, like Readiness'
// Writable, waits until fewer than n/2 are. 0 turns the bound off (the
// default); values above 4 GiB - 1 are taken as that; a negative n is
// EINVAL (Linux would take it as a huge bound). A socket accepted from a
// listener starts without a bound, as with every option here: a listener
// keeps none (package bsd gives accepted sockets their listener's, as
// Linux does).
func (c *TCPConn) SetNotSentLowat(n int) error {
	if n < 0 {
		return syscall.EINVAL
	}
	v := uint32(math.MaxUint32)
	if uint64(n) < math.MaxUint32 {
		v = uint32(n)
	}
	return c.setOpt(func(now time.Time) error { c.conn.SetNotSentLowat(now, v); return nil })
}

// setOpt runs f, an engine call, under the shard's lock and carries out
// what it left behind; ErrClosed after Close, and on an ended socket the
// error a call in TIME-WAIT or CLOSED gets.
func (c *TCPConn) setOpt(f func(now time.Time) error) error {
	s := c.s
	s.mu.Lock()
	if c.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if c.tw != nil {
		err := c.endedErr()
		s.mu.Unlock()
		return err
	}
	l := c.lockListener()
	err := f(s.clk.Now())
	s.afterLocked(c)
	unlockListener(l)
	s.unlockAndFlush()
	return err
}

// ReadView takes received text without copying it (tcp.Conn.ReadView),
// blocking as Read does until there is some, the stream ends (io.EOF), the
// connection fails or the read deadline passes. With ok false and no
// error, the text at the front must be read with Read. The caller owns
// the view's memory until it calls Release.
func (c *TCPConn) ReadView() (v tcp.View, ok bool, err error) {
	s := c.s
	for {
		if c.rdl.expired() {
			return v, false, os.ErrDeadlineExceeded
		}
		s.mu.Lock()
		if c.closed {
			s.mu.Unlock()
			return v, false, ErrClosed
		}
		if c.conn == nil {
			s.mu.Unlock()
			return v, false, io.EOF
		}
		v, ok, err = c.conn.ReadView(s.clk.Now())
		if err != tcp.ErrWouldBlock {
			s.afterLocked(c)
			s.unlockAndFlush()
			return v, ok, err
		}
		ch := c.rd.add()
		s.mu.Unlock()
		c.rd.block(&s.mu, ch, c.rdl.wait(), nil)
	}
}

// SetMaxSegment lowers the largest segment payload the connection sends
// to n (TCP_MAXSEG on a connected socket; tcp.Conn.SetMaxSegment). A
// socket that sets it before connect uses StartDialTCPMaxSeg instead, so
// that the SYN announces it too.
func (c *TCPConn) SetMaxSegment(n int) {
	s := c.s
	s.mu.Lock()
	if c.tw == nil {
		c.conn.SetMaxSegment(n)
	}
	s.mu.Unlock()
}
