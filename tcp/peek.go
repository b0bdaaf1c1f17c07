package tcp

import (
	"io"
	"time"
)

// Peek copies received bytes into p as Read does, but leaves them queued:
// the next Read or Peek returns them again (recv with MSG_PEEK). The
// window does not move. At the end of the stream, on a failed connection
// and with nothing queued it returns what Read would.
func (c *Conn) Peek(now time.Time, p []byte) (int, error) {
	c.now = now
	if c.rcvBuf.Len() > 0 {
		return c.rcvBuf.Peek(p), nil
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

// Failed reports whether the connection ended with an error (reset,
// timeout, refused, unreachable) rather than by the peer's FIN.
func (c *Conn) Failed() bool { return c.err != nil }

// FinReceived reports whether the peer's FIN has arrived: after the queued
// text, the stream ends.
func (c *Conn) FinReceived() bool { return c.finRcvd }

// Peek copies up to len(p) bytes from the front of q into p without
// taking them: the ring's bytes and the kept views, in stream order.
func (q *recvQueue) Peek(p []byte) int {
	n, ringAt := 0, 0
	fromRing := func(m int) {
		a, b := q.ring.Peek(ringAt, m)
		c := copy(p[n:], a)
		c += copy(p[n+c:], b)
		n += c
		ringAt += c
	}
	if k := q.kept; k != nil {
		for i := k.head; i < len(k.views) && n < len(p); i++ {
			v := &k.views[i]
			fromRing(min(len(p)-n, int(v.before)))
			n += copy(p[n:], v.data)
		}
	}
	fromRing(min(len(p)-n, q.ring.Len()-ringAt))
	return n
}
