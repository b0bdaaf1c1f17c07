package bsd

import (
	"net/netip"
	"syscall"

	"github.com/synack-net/synack/stack"
)

// Send sends p on a connected socket with flag MSG_DONTWAIT; on TCP,
// as Linux's TCP, other flags are ignored (MSG_NOSIGNAL, MSG_MORE: see the
// package doc) but MSG_OOB and MSG_FASTOPEN, which synack does not have
// (EOPNOTSUPP); UDP's flags are SendTo's. A blocking TCP send returns once all
// of p is queued; a non-blocking one queues what fits (EAGAIN when
// nothing does). Errors: EPIPE on a TCP socket that is not connected (a
// listener included: what Linux's kernel returns, where send(2) names
// ENOTCONN), after SHUT_WR or once a failed connection's error has been
// reported; EDESTADDRREQ on an unconnected UDP socket; ECONNRESET (once)
// after the peer reset; EMSGSIZE for a datagram too large.
//
// Each queuing is contiguous (stack.TCPConn.TryWrite), but a blocking send
// that waits for room does not keep other sends out while it waits: two
// threads' blocking sends on one socket may interleave at those waits,
// as on Linux, whose tcp_sendmsg lets the socket lock go while it sleeps
// for memory (sk_stream_wait_memory). Package net's one-Write-at-a-time
// lock is stack.TCPConn.Write's, not a socket's.
func (h *Host) Send(fd int, p []byte, flags int) (int, error) {
	s, err := h.get(fd)
	if err != nil {
		return 0, err
	}
	if s.typ == SOCK_DGRAM {
		if err := udpSendFlags(flags); err != nil {
			return 0, err
		}
		return s.sendUDP(p, netip.AddrPort{}, flags)
	}
	done := 0
	for {
		s.mu.Lock()
		c, nb, shutWR, closed := s.conn, s.nb || flags&MSG_DONTWAIT != 0, s.shutWR, s.closed
		s.mu.Unlock()
		switch {
		case closed:
			return done, syscall.EBADF
		case c == nil:
			return done, syscall.EPIPE // Linux's sk_stream_wait_connect: not SYN-SENT, not connected
		case shutWR:
			return done, syscall.EPIPE
		case flags&(MSG_OOB|MSG_FASTOPEN) != 0:
			// Checked once the socket is seen connected, as Linux
			// finds a socket that is not before it looks at the data.
			return done, syscall.EOPNOTSUPP // no urgent data, no Fast Open (Linux has both)
		}
		if c.Readiness().Connecting {
			if nb {
				return done, syscall.EAGAIN
			}
			s.waitFor(fd, POLLOUT)
			continue
		}
		n, err := c.TryWrite(p[done:])
		done += n
		switch {
		case err == nil && done == len(p):
			return done, nil
		case err == nil:
			continue
		case err != stack.ErrWouldBlock:
			return done, s.connErr(err, syscall.EPIPE)
		case nb && done > 0:
			return done, nil
		case nb:
			return 0, syscall.EAGAIN
		}
		s.waitFor(fd, POLLOUT)
	}
}

// connErr maps a failed connection's error as Linux reports it: the
// error itself the first time (sk_err, read and cleared), then after.
func (s *socket) connErr(err error, after error) error {
	e := errnoOf(err)
	switch e {
	case syscall.ECONNRESET, syscall.ETIMEDOUT, syscall.ECONNREFUSED, syscall.EHOSTUNREACH,
		syscall.ENETUNREACH, syscall.ECONNABORTED:
	default:
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errTaken {
		return after
	}
	s.errTaken = true
	return e
}

// Recv reads into p from a connected socket, with flags MSG_PEEK (the
// bytes stay queued), MSG_DONTWAIT and MSG_WAITALL (wait for all of p,
// the end of the stream or an error). It returns 0 at the end of the
// stream. Errors: ENOTCONN before connect, EAGAIN, ECONNRESET (once; then
// 0 as Linux does, after SHUT_RD too), ETIMEDOUT. Other flags are as
// Linux's TCP takes them: MSG_OOB is EINVAL (there is never urgent data),
// MSG_ERRQUEUE EAGAIN (the error queue is always empty), MSG_TRUNC reads
// (Linux discards the bytes without copying them), the rest is ignored.
func (h *Host) Recv(fd int, p []byte, flags int) (int, error) {
	s, err := h.get(fd)
	if err != nil {
		return 0, err
	}
	if s.typ == SOCK_DGRAM {
		n, _, err := h.RecvFrom(fd, p, flags)
		return n, err
	}
	s.mu.Lock()
	listening := s.ln != nil
	s.mu.Unlock()
	switch {
	case flags&MSG_ERRQUEUE != 0:
		return 0, syscall.EAGAIN
	case listening:
		return 0, syscall.ENOTCONN // Linux's tcp_recvmsg looks for a listener before MSG_OOB
	case flags&MSG_OOB != 0:
		return 0, syscall.EINVAL // Linux's tcp_recv_urg with no urgent byte pending
	}
	peek := flags&MSG_PEEK != 0
	waitAll := flags&MSG_WAITALL != 0 && !peek
	done := 0
	for {
		s.mu.Lock()
		c, nb, shutRD, closed, errTaken := s.conn, s.nb || flags&MSG_DONTWAIT != 0, s.shutRD, s.closed, s.errTaken
		s.mu.Unlock()
		switch {
		case closed:
			return done, syscall.EBADF
		case c == nil:
			return done, syscall.ENOTCONN
		}
		n, err := c.TryRead(p[done:], peek)
		if shutRD && (err == stack.ErrWouldBlock || err == nil && n == 0) {
			// Linux: after SHUT_RD what is queued is still read, then
			// reads end (0) instead of waiting; a pending error (a reset)
			// is still reported first, as Linux reads sk_err first.
			return done, nil
		}
		done += n
		switch {
		case err == nil && n == 0:
			return done, nil // end of the stream (io.EOF maps to nil), or an empty p
		case err == nil && (!waitAll || done == len(p)):
			return done, nil
		case err == nil:
			continue
		case err != stack.ErrWouldBlock:
			if done > 0 {
				return done, nil // the error comes with the next call
			}
			if errTaken {
				return 0, nil // reported once; then reads end as at EOF
			}
			return 0, s.connErr(err, nil)
		case done > 0 && !waitAll:
			return done, nil
		case nb:
			if done > 0 {
				return done, nil
			}
			return 0, syscall.EAGAIN
		}
		s.waitFor(fd, POLLIN)
	}
}

// Shutdown shuts down reading (SHUT_RD: reads return what is queued,
// then 0 instead of waiting), writing
// (SHUT_WR: a FIN after the queued data; later sends EPIPE) or both.
// Errors: EBADF, EINVAL (how), ENOTCONN (not connected, or the
// connection is over: reset, or closed).
func (h *Host) Shutdown(fd, how int) error {
	s, err := h.get(fd)
	if err != nil {
		return err
	}
	if how < SHUT_RD || how > SHUT_RDWR {
		return syscall.EINVAL
	}
	s.mu.Lock()
	c, ln, u := s.conn, s.ln, s.udp
	if s.typ == SOCK_DGRAM {
		if !s.peer.IsValid() {
			s.mu.Unlock()
			return syscall.ENOTCONN
		}
		s.shutRD = s.shutRD || how != SHUT_WR
		s.shutWR = s.shutWR || how != SHUT_RD
		s.mu.Unlock()
		if u != nil {
			s.notify()
		}
		return nil
	}
	if ln != nil {
		s.mu.Unlock()
		if how != SHUT_WR {
			// Linux disconnects a listener shut for reading: accept
			// then fails with EINVAL.
			ln.Close()
			s.mu.Lock()
			s.ln = nil
			s.mu.Unlock()
			s.notify()
		}
		return nil // Linux: SHUT_WR alone does nothing to a listener
	}
	if c == nil {
		s.mu.Unlock()
		return syscall.ENOTCONN
	}
	if c.Readiness().Closed {
		// Linux: a connection over (reset, or closed into TIME-WAIT) is
		// in CLOSE: ENOTCONN, though the shutdown is still recorded.
		s.shutRD = s.shutRD || how != SHUT_WR
		s.shutWR = s.shutWR || how != SHUT_RD
		s.mu.Unlock()
		s.notify()
		return syscall.ENOTCONN
	}
	wr := how != SHUT_RD && !s.shutWR
	s.shutRD = s.shutRD || how != SHUT_WR
	s.shutWR = s.shutWR || how != SHUT_RD
	s.mu.Unlock()
	// SHUT_RD is bsd's alone: Linux leaves the queued text readable (and
	// goes on queueing), which the stack's CloseRead, discarding it, would
	// not.
	if wr {
		if err := c.CloseWrite(); err != nil && errnoOf(err) != syscall.EPIPE {
			return errnoOf(err)
		}
	}
	s.notify()
	return nil
}

// Getsockname is fd's local address: 0.0.0.0:0 before bind.
func (h *Host) Getsockname(fd int) (netip.AddrPort, error) {
	s, err := h.get(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.conn != nil:
		return s.conn.LocalAddr(), nil
	case s.ln != nil:
		return netip.AddrPortFrom(s.local.Addr(), s.ln.Addr().Port()), nil
	case s.udp != nil:
		return s.udp.LocalAddr(), nil
	case s.bound:
		return s.local, nil
	}
	return netip.AddrPortFrom(netip.IPv4Unspecified(), 0), nil
}

// Getpeername is the peer's address of a connected socket; ENOTCONN
// otherwise (a connect still under way included).
func (h *Host) Getpeername(fd int) (netip.AddrPort, error) {
	s, err := h.get(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	s.mu.Lock()
	c, peer := s.conn, s.peer
	s.mu.Unlock()
	switch {
	case s.typ == SOCK_DGRAM && peer.IsValid():
		return peer, nil
	case c == nil:
		return netip.AddrPort{}, syscall.ENOTCONN
	}
	if r := c.Readiness(); r.Connecting || (r.Err != nil && r.Closed) {
		return netip.AddrPort{}, syscall.ENOTCONN
	}
	return c.RemoteAddr(), nil
}
