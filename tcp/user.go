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
	if err := c.writeErr(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if room := c.lowatRoom(); len(p) > room {
		p = p[:room] // TCP_NOTSENT_LOWAT (sockopt.go)
	}
	n := c.sndBuf.append(p)
	if n == 0 {
		return 0, ErrWouldBlock
	}
	c.output(now)
	c.charge()
	return n, nil
}

// writeErr is why a Write cannot queue data now, or nil if it can: data
// may be queued from SYN-SENT on (sent once the connection is open) until
// the FIN is queued (RFC 9293 §3.10.2).
func (c *Conn) writeErr() error {
	switch c.state {
	case StateSynSent, StateSynReceived, StateEstablished, StateCloseWait:
		if c.finQueued {
			return ErrClosing
		}
		return nil
	case StateClosed, StateListen:
		if c.err != nil {
			return c.err
		}
		return ErrNotConnected
	}
	return ErrClosing // "error: connection closing"
}

// Room is space at the end of the send buffer, for a Write in two halves
// (Reserve, then Commit) that lets a host copy a large write in with its
// lock let go: while one goroutine copies 64 KiB into the buffer, the
// connection's ACKs are processed and its segments built on another. The
// space is A and then B (the rest of the buffer's last chunk, and a new
// one), filled in that order (Fill). The Room holds the memory, so that
// whatever the connection does meanwhile (reset, aborted), it is not
// given to another queue while the host writes to it.
type Room struct {
	A, B     []byte
	stA, stB *storage // the holds on A's chunk and on B's
}

// Len is how many bytes the room takes.
func (r *Room) Len() int { return len(r.A) + len(r.B) }

// Fill copies as much of p as fits into the room, A first, and returns
// how much that was.
func (r *Room) Fill(p []byte) int {
	k := copy(r.A, p)
	return k + copy(r.B, p[k:])
}

// release lets go of the room's holds, but B's when B became the queue's.
func (r *Room) release(usedB bool) {
	if r.stA != nil {
		r.stA.Release()
	}
	if r.stB != nil && !usedB {
		r.stB.Release()
	}
	*r = Room{}
}

// Reserve is the first half of a Write in two: room for up to n bytes at
// the end of the send buffer (within its limit and the TCP_NOTSENT_LOWAT
// bound; fewer when a chunk and a new one do not hold them), or Write's
// errors, ErrWouldBlock when there is none. The host fills the room with
// no lock held (Room.Fill), then calls Commit, exactly once, under the
// lock again. Until then nothing else may be queued: neither another
// Reserve nor a Write (a host's writes are one at a time, as its Write
// calls are); either panics. As Write of nothing, Reserve of n <= 0
// returns an empty room and no error, and its Commit does nothing.
//
// What a room holds is bounded: at most the send buffer's free space, in
// the rest of its last chunk and one new chunk of at most the chunk size
// (min(limit, 2 MiB)), one room a connection; it is charged to the
// stack's memory (Env.Memory) only when committed, so the memory counted
// may lag the memory held by one room a connection, within each send
// buffer's limit.
func (c *Conn) Reserve(now time.Time, n int) (Room, error) {
	c.now = now
	if err := c.writeErr(); err != nil {
		return Room{}, err
	}
	if n <= 0 {
		return Room{}, nil
	}
	r := c.sndBuf.reserve(min(n, c.lowatRoom()))
	if r.Len() == 0 {
		return Room{}, ErrWouldBlock
	}
	return r, nil
}

// Commit is the second half of a Write in two (RFC 9293 §3.10.2): it
// queues the first k bytes of the room, filled since Reserve, sends what
// the windows allow, and lets go of the room, returning what Write would
// have for those bytes. If the send buffer moved on meanwhile (a reset
// emptied it, a FIN was queued, the limit shrank, a TCP_NOTSENT_LOWAT
// bound was set), the bytes are queued as Write queues them, or not at
// all, with its error. k = 0 gives the room up.
func (c *Conn) Commit(now time.Time, r Room, k int) (int, error) {
	return c.commit(now, r, k, false)
}

// CommitPart is Commit for a room that held only part of what the host
// writes, the rest to follow at once: it queues whole segments only, what
// fills the segments unsent so far up to a multiple of the MSS, and leaves
// the rest of the k bytes (less than a segment) for the next room, which
// begins where they lie. A segment sent short where the room ends would
// be a runt in the middle of the stream (RFC 9293 §3.8.6.2.1, the
// sender's side of silly window avoidance), where one Write queued whole
// sends full segments but its last. A room smaller than a segment's
// shortfall is queued whole.
func (c *Conn) CommitPart(now time.Time, r Room, k int) (int, error) {
	return c.commit(now, r, k, true)
}

// commit is Commit, and CommitPart when part is set.
func (c *Conn) commit(now time.Time, r Room, k int, part bool) (int, error) {
	c.now = now
	if r.stA == nil && r.stB == nil { // Reserve of nothing
		return 0, nil
	}
	k = min(max(k, 0), r.Len())
	if err := c.writeErr(); err != nil {
		c.sndBuf.commit(&r, 0)
		r.release(false)
		return 0, err
	}
	if room := c.lowatRoom(); k > room { // a bound set meanwhile, kept as Write keeps it
		if k = room; k == 0 {
			c.sndBuf.commit(&r, 0)
			r.release(false)
			return 0, ErrWouldBlock
		}
	}
	if short := (c.NotSent() + k) % max(c.mss, 1); part && short < k {
		k -= short
	}
	ok, usedB := c.sndBuf.commit(&r, k)
	if !ok {
		// Queued as Write queues them: the room's bytes, in order, from
		// its memory, still held.
		n, err := c.Write(now, r.A[:min(k, len(r.A))])
		if b := k - len(r.A); err == nil && n == len(r.A) && b > 0 {
			var m int
			m, err = c.Write(now, r.B[:b])
			n += m
		}
		r.release(false)
		if n > 0 {
			err = nil
		}
		return n, err
	}
	r.release(usedB)
	c.output(now)
	c.charge()
	return k, nil
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
