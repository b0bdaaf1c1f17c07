package stack

import (
	"context"
	"io"
	"net/netip"
	"os"
	"syscall"

	"github.com/synack-net/synack/tcp"
)

// This file is what a descriptor layer (package bsd: poll, epoll,
// non-blocking sockets) needs from the sockets besides their blocking
// calls: attempts that never block (TryRead, TryWrite, TryAccept,
// TryReadFrom), a connect that does not wait for the handshake
// (StartDialTCP), the socket's readiness as poll(2) sees it, and a hook
// each socket calls when that readiness may have changed (SetNotify), so
// one goroutine can wait for many sockets.
//
// A hook runs under the socket's lock (the shard's, the listener's or
// UDP's), on whatever goroutine changed the socket: it must be short,
// must not block and must not call back into the stack.

// ErrWouldBlock is what the Try calls return when the call would block.
var ErrWouldBlock = tcp.ErrWouldBlock

// Readiness is a TCP socket's state as poll(2) reports it.
type Readiness struct {
	// Readable: a read returns data, the end of the stream or an error now.
	Readable bool
	// Writable: a write queues data or fails now (not while connecting).
	Writable bool
	// EOF: the peer's FIN arrived (POLLRDHUP).
	EOF bool
	// Err is the error the connection failed with (reset, refused, timed
	// out, unreachable), nil if none.
	Err error
	// Closed: the connection is over, in CLOSED or TIME-WAIT (POLLHUP).
	Closed bool
	// Connecting: the handshake of an active open is under way.
	Connecting bool
}

// SetNotify sets f, called whenever the socket's readiness may have
// changed (see the file's doc for what f may do); nil removes it.
func (c *TCPConn) SetNotify(f func()) {
	c.s.mu.Lock()
	c.rd.setNotify(f)
	c.wr.setNotify(f)
	c.s.mu.Unlock()
}

// Readiness returns the socket's readiness now.
func (c *TCPConn) Readiness() Readiness {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.tw != nil {
		// Ended: the FIN came (TIME-WAIT follows it), text may be unread.
		return Readiness{Readable: true, Writable: true, EOF: true, Closed: true}
	}
	cn := c.conn
	st := cn.State()
	r := Readiness{Readable: cn.Readable(), Writable: cn.Writable(), EOF: cn.FinReceived(), Err: cn.Err(),
		Closed: st == tcp.StateClosed, Connecting: st == tcp.StateSynSent || st == tcp.StateSynReceived}
	if r.Err == tcp.ErrConnectionAborted && c.closed {
		r.Err = nil // closed by its user: no peer's error
	}
	return r
}

// Err is the error the connection failed with, nil if none.
func (c *TCPConn) Err() error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.tw != nil || c.conn == nil {
		return nil
	}
	return c.conn.Err()
}

// TryRead is Read without blocking: ErrWouldBlock when nothing is there.
// With peek the bytes stay queued (MSG_PEEK).
func (c *TCPConn) TryRead(p []byte, peek bool) (int, error) {
	s := c.s
	if c.rdl.expired() {
		return 0, os.ErrDeadlineExceeded
	}
	s.mu.Lock()
	switch {
	case c.closed:
		s.mu.Unlock()
		return 0, ErrClosed
	case c.conn == nil:
		s.mu.Unlock()
		return 0, io.EOF
	}
	var n int
	var err error
	if peek {
		n, err = c.conn.Peek(s.clk.Now(), p)
	} else {
		n, err = c.conn.Read(s.clk.Now(), p)
	}
	if err == tcp.ErrWouldBlock && len(p) == 0 {
		err = nil
	}
	s.afterLocked(c)
	s.unlockAndFlush()
	return n, err
}

// TryWrite is Write without blocking: it queues what fits and returns
// ErrWouldBlock when nothing did. What it queues is queued under one hold
// of the shard's mu, so it is contiguous; it does not take the write lock
// Write holds through its waits, so its bytes may fall between the parts
// of a Write blocked on another goroutine, as a non-blocking send(2) may
// between those of a blocking one on Linux (its sendmsg lets the socket
// lock go while it waits for memory). Package bsd sends through TryWrite
// alone. It waits for a Write's copy into the send buffer (fillUnlocked),
// never for room.
func (c *TCPConn) TryWrite(p []byte) (int, error) {
	s := c.s
	if c.wrl.expired() {
		return 0, os.ErrDeadlineExceeded
	}
	s.mu.Lock()
	for c.filling {
		// A Write is copying in with mu let go (fillUnlocked): wait for
		// the copy, as Linux's non-blocking send waits for the socket
		// lock another sender holds.
		s.idle.Wait()
	}
	switch {
	case c.closed:
		s.mu.Unlock()
		return 0, ErrClosed
	case c.tw != nil:
		err := c.endedErr()
		s.mu.Unlock()
		return 0, err
	}
	n, err := c.conn.Write(s.clk.Now(), p)
	s.afterLocked(c)
	s.unlockAndFlush()
	return n, err
}

// StartDialTCP is DialTCP without the wait: it sends the SYN and returns
// the socket in SYN-SENT. Readiness says when the handshake ends (Writable,
// or Err), and SetNotify's hook is called then.
func (s *Stack) StartDialTCP(local, remote netip.AddrPort) (*TCPConn, error) {
	return s.dialTCP(local, remote, 0)
}

// StartDialTCPMaxSeg is StartDialTCP for a socket whose TCP_MAXSEG was set
// before connect: the SYN announces at most maxSeg and the connection's
// segments carry at most that much (tcp.Conn.SetMaxSegment).
func (s *Stack) StartDialTCPMaxSeg(local, remote netip.AddrPort, maxSeg int) (*TCPConn, error) {
	return s.dialTCP(local, remote, maxSeg)
}

// WaitEstablished blocks until the handshake of a socket StartDialTCP
// opened ends, or ctx is done (the socket is then aborted).
func (c *TCPConn) WaitEstablished(ctx context.Context) error { return c.waitEstablished(ctx) }

// SetNotify sets f, called when a connection is ready to accept or the
// listener closes; nil removes it.
func (l *TCPListener) SetNotify(f func()) {
	l.mu.Lock()
	l.ready.setNotify(f)
	l.mu.Unlock()
}

// TryAccept is Accept without blocking: ErrWouldBlock when no connection
// is ready.
func (l *TCPListener) TryAccept() (*TCPConn, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	tc := l.l.Accept()
	if tc == nil {
		l.mu.Unlock()
		return nil, ErrWouldBlock
	}
	c := l.children[tc]
	delete(l.children, tc)
	l.mu.Unlock()
	sh := c.s
	sh.mu.Lock()
	c.listener = nil
	sh.mu.Unlock()
	return c, nil
}

// CheckTCPBind reports whether a TCP socket may bind to local: EADDRINUSE
// when a listener holds the port, unless reusePort (SO_REUSEPORT) and the
// listener is of a group (ListenOptions.ReusePort), or, unless reuseAddr
// (SO_REUSEADDR) or reusePort, when a connection or a TIME-WAIT record
// has it as its local port, as Linux's bind does (with either option the
// caller judges those by the options of the sockets they came from);
// EADDRNOTAVAIL for an address not the stack's. It walks every shard's
// tables: a bind is rare, a packet never does this.
func (s *Stack) CheckTCPBind(local netip.AddrPort, reuseAddr, reusePort bool) error {
	if a := local.Addr(); !a.Is4() || (!a.IsUnspecified() && a != s.addr) {
		return syscall.EADDRNOTAVAIL
	}
	port := local.Port()
	if port == 0 {
		return nil
	}
	if g := (*s.listeners.Load())[port]; len(g) > 0 && !(reusePort && g[0].reusePort) {
		return syscall.EADDRINUSE
	}
	if reuseAddr || reusePort {
		return nil
	}
	for _, sh := range s.shards {
		sh.mu.Lock()
		busy := false
		for k := range sh.conns {
			if k.lport == port {
				busy = true
				break
			}
		}
		for k := range sh.tws {
			if busy || k.lport == port {
				busy = true
				break
			}
		}
		sh.mu.Unlock()
		if busy {
			return syscall.EADDRINUSE
		}
	}
	return nil
}

// SetNotify sets f, called when a datagram or an ICMP error arrives or the
// socket closes; nil removes it.
func (sk *UDPSocket) SetNotify(f func()) {
	sk.s.udp.mu.Lock()
	sk.rd.setNotify(f)
	sk.s.udp.mu.Unlock()
}

// TryReadFrom is ReadFrom without blocking: ErrWouldBlock when no datagram
// is queued. With peek the datagram stays queued (MSG_PEEK).
func (sk *UDPSocket) TryReadFrom(p []byte, peek bool) (n, full int, src netip.AddrPort, err error) {
	t := &sk.s.udp
	t.mu.Lock()
	defer t.mu.Unlock()
	if sk.closed {
		return 0, 0, netip.AddrPort{}, ErrClosed
	}
	if err := sk.softErr; err != nil {
		sk.softErr = nil
		return 0, 0, netip.AddrPort{}, err
	}
	var ok bool
	if peek {
		n, full, src, ok = sk.q.Peek(p)
	} else {
		n, full, src, ok = sk.q.Pop(p)
	}
	if !ok {
		return 0, 0, netip.AddrPort{}, ErrWouldBlock
	}
	return n, full, src, nil
}

// UDPReadiness is a UDP socket's state for poll(2): Readable when a
// datagram or an error is waiting; Err the pending ICMP error, if any.
func (sk *UDPSocket) Readiness() (readable bool, err error) {
	sk.s.udp.mu.Lock()
	defer sk.s.udp.mu.Unlock()
	return sk.q.Len() > 0 || sk.softErr != nil || sk.closed, sk.softErr
}

// TakeErr returns and clears the pending ICMP error (SO_ERROR).
func (sk *UDPSocket) TakeErr() error {
	sk.s.udp.mu.Lock()
	defer sk.s.udp.mu.Unlock()
	err := sk.softErr
	sk.softErr = nil
	return err
}

// TCPTupleInUse reports whether a connection or a TIME-WAIT record holds
// the 4-tuple local, remote.
func (s *Stack) TCPTupleInUse(local, remote netip.AddrPort) bool {
	return s.inUse(keyOf(local, remote))
}
