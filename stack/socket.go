package stack

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/synack-net/synack/tcp"
)

// ErrClosed is returned by calls on a socket its user has closed.
var ErrClosed = net.ErrClosed

// TCPConn is a TCP socket of the stack: the engine's connection plus what
// blocking calls need. Its methods are safe for concurrent use.
//
// Once the connection has entered TIME-WAIT the socket is ended: tw is
// set, and conn is let go as soon as no unread text keeps it
// (timewait.go); an ended socket answers from tw alone.
type TCPConn struct {
	s        *shard       // the shard of its 4-tuple, for its whole life
	conn     *tcp.Conn    // nil once ended and released (read and written under s.mu)
	tw       *twEntry     // the TIME-WAIT record it ended in, once ended
	listener *TCPListener // the listener it came from, until accepted (changed under s.mu and listener.mu)

	// Under s.mu:
	rd, wr   waiter
	deadline stamp // its engine's next deadline, as in s.timers; 0 for none (a stamp, not a time.Time: see born)
	heapIdx  int32 // in s.timers, -1 when not there (int32, beside closed: the socket stays in the 128-byte size class)
	closed   bool  // the user called Close
	filling  bool  // a Write is copying into the send buffer with s.mu let go (fillUnlocked)
	linger   int16 // SO_LINGER: 0 off, else 1 + the seconds Close waits (sockopt.go)
	// born is when the socket was made: its SYN sent (SYN-SENT), or its
	// peer's SYN received (SYN-RECEIVED), or for a SYN cookie the ACK
	// that completed it; the socket table shows its age. It fits in the
	// 128-byte size class because deadline is a stamp (8 bytes) and not a
	// time.Time (24): TestTimeWaitEntrySize.
	born stamp

	rdl, wrl deadline

	// wmu is held by a Write for its whole call, waits for room included,
	// so that each Write's bytes are contiguous in the stream (Write's
	// doc). Taken before s.mu, never under it. With it the socket is 128
	// bytes, the top of its size class: TestTimeWaitEntrySize.
	wmu sync.Mutex
}

// LocalAddr is the local address and port.
func (c *TCPConn) LocalAddr() netip.AddrPort {
	local, _ := c.addrs()
	return local
}

// RemoteAddr is the peer's address and port.
func (c *TCPConn) RemoteAddr() netip.AddrPort {
	_, remote := c.addrs()
	return remote
}

// addrs are the connection's two endpoints.
func (c *TCPConn) addrs() (local, remote netip.AddrPort) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.tw != nil {
		return c.tw.addrs()
	}
	return c.conn.Local, c.conn.Remote
}

// State is the connection's current TCP state.
func (c *TCPConn) State() tcp.State {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.stateLocked()
}

// stateLocked is State with s.mu held: an ended socket is in TIME-WAIT
// while its record lives, then CLOSED.
func (c *TCPConn) stateLocked() tcp.State {
	switch {
	case c.tw == nil:
		return c.conn.State()
	case c.tw.live():
		return tcp.StateTimeWait
	}
	return tcp.StateClosed
}

// releaseLocked lets an ended socket's tcp.Conn go once it holds no
// unread text (s.mu held).
func (c *TCPConn) releaseLocked() {
	if c.conn != nil && c.conn.RecvQueue() == 0 && !c.filling {
		c.conn = nil
	}
}

// endedErr is what a write or half-close on an ended socket returns: what
// the engine returns in TIME-WAIT, and in CLOSED after it.
func (c *TCPConn) endedErr() error {
	if c.tw.live() {
		return tcp.ErrClosing
	}
	return tcp.ErrNotConnected
}

// SetReadDeadline sets when blocked and future reads fail with os.ErrDeadlineExceeded.
func (c *TCPConn) SetReadDeadline(t time.Time) { c.rdl.set(t); c.kick(&c.rd) }

// SetWriteDeadline sets when blocked and future writes fail with os.ErrDeadlineExceeded.
func (c *TCPConn) SetWriteDeadline(t time.Time) { c.wrl.set(t); c.kick(&c.wr) }

func (c *TCPConn) kick(w *waiter) {
	c.s.mu.Lock()
	w.signal()
	c.s.mu.Unlock()
}

// Read reads received bytes into p, blocking until some arrive, the peer
// closes (io.EOF), the connection fails, or the read deadline passes.
func (c *TCPConn) Read(p []byte) (int, error) {
	s := c.s
	for {
		if c.rdl.expired() {
			return 0, os.ErrDeadlineExceeded
		}
		s.mu.Lock()
		if c.closed {
			s.mu.Unlock()
			return 0, ErrClosed
		}
		if c.conn == nil {
			s.mu.Unlock()
			return 0, io.EOF // ended: the peer's FIN was read up to
		}
		n, err := c.conn.Read(s.clk.Now(), p)
		if err == tcp.ErrWouldBlock && len(p) == 0 {
			err = nil // a zero-byte read returns at once, as package net's does
		}
		if err != tcp.ErrWouldBlock {
			s.afterLocked(c)
			s.unlockAndFlush()
			return n, err
		}
		ch := c.rd.add()
		s.mu.Unlock()
		c.rd.block(&s.mu, ch, c.rdl.wait(), nil)
	}
}

// Write sends p, blocking while the send buffer is full (or the bound of
// SetNotSentLowat reached), until all of p is queued, the connection
// fails, or the write deadline passes.
//
// One Write runs at a time on a socket, as in package net, whose
// descriptor keeps a write lock for the whole call: a Write holds the
// socket's write lock (wmu) from start to return, its waits for room
// included, so the bytes of each Write are contiguous in the stream and
// several goroutines may write framed messages on one connection. A
// second Write waits for the first to return; then it finds what ended
// the first, if anything: ErrClosed after Close or Abort, the
// connection's error after a reset, os.ErrDeadlineExceeded once the
// write deadline has passed, and returns it having written nothing.
// Waiting for the lock does not watch the deadline, as package net's
// does not; but the deadline is the socket's, not the call's, and the
// Write holding the lock watches it, so when it passes the holder returns
// at once and each waiting Write then fails in turn. Close and Abort do
// not take the lock: they end a blocked Write at once (it returns
// ErrClosed with what it queued), and the FIN they queue follows the
// bytes that Write had queued; nothing is queued after it. TryWrite does
// not take the lock either (see its doc).
func (c *TCPConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	s := c.s
	done := 0
	filling := false // this Write has set c.filling (fillUnlocked)
	for {
		if c.wrl.expired() {
			if filling {
				s.mu.Lock()
				c.endFill()
				s.mu.Unlock()
			}
			return done, os.ErrDeadlineExceeded
		}
		s.mu.Lock()
		if c.closed || c.tw != nil {
			err := error(ErrClosed)
			if !c.closed {
				err = c.endedErr()
			}
			if filling {
				c.endFill()
				s.afterLocked(c) // an ended socket's conn, kept while filling, goes now
			}
			s.mu.Unlock()
			return done, err
		}
		var n int
		var err error
		if len(p)-done >= minFillUnlocked {
			filling = true
			n, err = c.fillUnlocked(p[done:])
		} else {
			n, err = c.conn.Write(s.clk.Now(), p[done:])
		}
		done += n
		if err != nil || done == len(p) {
			if filling {
				c.endFill()
				filling = false
			}
			s.afterLocked(c)
			if err != nil && err != tcp.ErrWouldBlock || done == len(p) {
				s.unlockAndFlush()
				return done, err
			}
			ch := c.wr.add() // listed before mu is let go: no wakeup slips past
			s.unlockAndFlush()
			c.wr.block(&s.mu, ch, c.wrl.wait(), nil)
			continue
		}
		s.afterLocked(c)
		s.unlockAndFlush() // the segments go while the next part is copied
	}
}

// endFill ends what the first fillUnlocked of a Write began: TryWrite
// may queue again (s.mu held).
func (c *TCPConn) endFill() {
	c.filling = false
	c.s.idle.Broadcast() // a TryWrite waiting for the Write
}

// minFillUnlocked is the least a Write queues by copying with the shard's
// mu let go (fillUnlocked): below it, taking mu a second time costs more
// than the copy it takes out from under mu.
const minFillUnlocked = 16 << 10

// testHookFill, set by tests, runs in fillUnlocked after the copy, with
// the shard's mu let go: what a test does there happens "meanwhile".
var testHookFill func(c *TCPConn)

// fillUnlocked queues as much of p as one Reserve gives room for (up to
// the send buffer's free space, in the rest of its last chunk and one
// more), copying it in with s.mu let go, so that the shard's other work
// (this connection's ACKs, segments, other connections) goes on during
// the copy: a 64 KiB write is several microseconds of memmove, which on a
// TUN link held up the reader delivering the ACKs that free the buffer.
// Called and returns with s.mu held. The Write's wmu keeps other Writes
// out, and c.filling, set here and cleared by the Write when it waits for
// room or returns (endFill), keeps TryWrite out: its bytes fall between a
// Write's only where the Write waits for room, as on Linux, whose
// sendmsg holds the socket lock but there. What the connection did
// meanwhile is the engine's to sort out (tcp.Conn.Commit); a socket
// closed meanwhile gives the room up and fails as a Write would have. A
// room smaller than p is committed in whole segments (tcp.Conn.CommitPart):
// the rest of p follows at once, and a short segment sent where the room
// ends would be a runt in the middle of the stream.
func (c *TCPConn) fillUnlocked(p []byte) (int, error) {
	s := c.s
	room, err := c.conn.Reserve(s.clk.Now(), len(p))
	if err != nil {
		return 0, err
	}
	c.filling = true
	s.mu.Unlock()
	k := room.Fill(p)
	if testHookFill != nil {
		testHookFill(c)
	}
	s.mu.Lock()
	switch {
	case c.closed:
		c.conn.Commit(s.clk.Now(), room, 0)
		return 0, ErrClosed
	case c.tw != nil: // ended meanwhile; its conn is kept until the Write ends (releaseLocked)
		c.conn.Commit(s.clk.Now(), room, 0)
		return 0, c.endedErr()
	case k < len(p):
		return c.conn.CommitPart(s.clk.Now(), room, k)
	}
	return c.conn.Commit(s.clk.Now(), room, k)
}

// CloseWrite closes the sending side: a FIN follows the data (half-close).
// It does not wait for a Write under way (package net's shutdown takes no
// write lock either): a Write blocked for room is woken and returns what
// it queued with EPIPE, as Linux's shutdown wakes a sender, so the FIN
// follows exactly the bytes queued before it, and nothing is queued after.
func (c *TCPConn) CloseWrite() error {
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
	err := c.conn.CloseWrite(s.clk.Now())
	c.wr.signal() // a Write blocked for room now fails (tcp.ErrClosing)
	s.afterLocked(c)
	s.unlockAndFlush()
	return err
}

// Close closes the connection: queued data is sent, then a FIN; the stack
// completes the close (FIN-WAIT, TIME-WAIT) on its own. Blocked calls
// return ErrClosed.
// With SetLinger, Close resets instead (0 seconds) or waits for the FIN
// to be acknowledged (sockopt.go).
func (c *TCPConn) Close() error { return c.shut(false) }

// Abort resets the connection at once (RFC 9293 §3.10.5): it is Close
// with SO_LINGER 0, sending a RST where Close sends a FIN. Blocked and later
// calls return ErrClosed.
func (c *TCPConn) Abort() error { return c.shut(true) }

// shut is Close and Abort: the user is done with the socket; the engine
// closes or aborts it and every blocked call is woken to see ErrClosed.
// Closing an ended socket leaves its record to run out; aborting it ends
// the record too.
func (c *TCPConn) shut(abort bool) error {
	s := c.s
	s.mu.Lock()
	if c.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	now := s.clk.Now()
	var lingerEnd time.Time // SO_LINGER > 0: Close waits until then at most
	switch {
	case c.linger == 1:
		abort = true // SO_LINGER 0: Close is ABORT
	case c.linger > 1 && !abort:
		lingerEnd = now.Add(time.Duration(c.linger-1) * time.Second)
	}
	switch {
	case c.tw != nil:
		if c.conn != nil {
			c.conn.Close(now) // drops the unread text; the Conn stays in TIME-WAIT
		}
		if abort && c.tw.live() {
			// Abort leaves nothing in TIME-WAIT, as it did when the
			// Conn held it (Linux would leave its time-wait socket).
			local, remote := c.tw.addrs()
			c.tw.rec.End(local, remote, "abort")
			s.removeTWLocked(c.tw)
		}
	case abort:
		c.conn.Abort(now)
	default:
		c.conn.Close(now)
	}
	c.rd.signal()
	c.wr.signal()
	s.afterLocked(c)
	s.unlockAndFlush()
	c.rdl.set(time.Time{})
	c.wrl.set(time.Time{})
	if !lingerEnd.IsZero() {
		return c.lingerWait(lingerEnd)
	}
	return nil
}

// SetKeepAlive sets the connection's keepalive (zero fields: defaults).
func (c *TCPConn) SetKeepAlive(k tcp.KeepAlive) {
	s := c.s
	s.mu.Lock()
	if c.tw != nil {
		s.mu.Unlock()
		return // ended: nothing left to set
	}
	c.conn.SetKeepAlive(s.clk.Now(), k)
	s.afterLocked(c)
	s.unlockAndFlush()
}

// SetNoDelay turns Nagle's algorithm off (true, the default) or on.
func (c *TCPConn) SetNoDelay(noDelay bool) {
	s := c.s
	s.mu.Lock()
	if c.tw != nil {
		s.mu.Unlock()
		return // ended: nothing left to set
	}
	c.conn.SetNoDelay(s.clk.Now(), noDelay)
	s.afterLocked(c)
	s.unlockAndFlush()
}

// SetUserTimeout sets the connection's user timeout (RFC 5482; Linux's
// TCP_USER_TIMEOUT): how long sent data may stay unacknowledged, or probes
// unanswered, before the connection fails with ETIMEDOUT. 0 turns it off.
func (c *TCPConn) SetUserTimeout(d time.Duration) {
	s := c.s
	s.mu.Lock()
	if c.tw != nil {
		s.mu.Unlock()
		return // ended: nothing left to set
	}
	c.conn.SetUserTimeout(s.clk.Now(), d)
	s.afterLocked(c)
	s.unlockAndFlush()
}

// UserTimeout is the connection's user timeout, 0 when off.
func (c *TCPConn) UserTimeout() time.Duration {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.conn == nil {
		return 0
	}
	return c.conn.UserTimeout()
}

// KeepAlive is the connection's keepalive setting.
func (c *TCPConn) KeepAlive() tcp.KeepAlive {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.conn == nil {
		return tcp.KeepAlive{}
	}
	return c.conn.KeepAliveSetting()
}

// waitEstablished blocks until the handshake of an active open ends.
func (c *TCPConn) waitEstablished(ctx context.Context) error {
	s := c.s
	for {
		s.mu.Lock()
		switch st := c.stateLocked(); {
		case c.tw != nil:
			s.mu.Unlock()
			return nil // established, and already closed down to TIME-WAIT
		case st == tcp.StateClosed:
			err := c.conn.Err()
			s.mu.Unlock()
			if err == nil {
				err = tcp.ErrConnectionAborted
			}
			return err
		case st != tcp.StateSynSent && st != tcp.StateSynReceived:
			s.mu.Unlock()
			return nil
		}
		ch := c.wr.add()
		s.mu.Unlock()
		if c.wr.block(&s.mu, ch, nil, ctx.Done()) {
			c.Abort()
			return ctx.Err()
		}
	}
}
