package bsd

import (
	"net/netip"
	"syscall"

	"github.com/synack-net/synack/stack"
)

// Bind gives fd its local address (port 0: an ephemeral one, chosen now).
// Errors: EBADF, EINVAL (already bound or connected), EADDRNOTAVAIL (not
// the stack's address), EADDRINUSE (see SO_REUSEADDR in the package doc).
func (h *Host) Bind(fd int, addr netip.AddrPort) error {
	s, err := h.get(fd)
	if err != nil {
		return err
	}
	if !addr.Addr().Is4() {
		return syscall.EAFNOSUPPORT
	}
	if a := addr.Addr(); !a.IsUnspecified() && a != h.st.Addr() {
		return syscall.EADDRNOTAVAIL
	}
	if s.typ == SOCK_DGRAM {
		return s.bindUDP(addr)
	}
	// bindMu makes the check and the binding one step; no socket's mu is
	// held while bindable takes the others'.
	h.bindMu.Lock()
	defer h.bindMu.Unlock()
	s.mu.Lock()
	busy, ro := s.bound || s.conn != nil || s.ln != nil || s.connecting, reuseOf(&s.opts)
	s.mu.Unlock()
	if busy {
		return syscall.EINVAL
	}
	if addr.Port() == 0 {
		p, err := h.ephemeral(s)
		if err != nil {
			return err
		}
		addr = netip.AddrPortFrom(addr.Addr(), p)
	} else if err := h.bindable(s, addr.Port(), ro); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bound || s.conn != nil || s.ln != nil || s.connecting {
		return syscall.EINVAL // connected meanwhile
	}
	s.local, s.bound = addr, true
	return nil
}

// reuse is what a socket set of SO_REUSEADDR and SO_REUSEPORT.
type reuse struct{ addr, port bool }

func reuseOf(o *options) reuse { return reuse{o.reuseAddr, o.reusePort} }

// shares reports whether a socket with r may bind a port a socket with o
// holds that is not listening (Linux's bind conflict test): both set
// SO_REUSEADDR, or both SO_REUSEPORT (Linux also wants the same user:
// one Host is one process).
func (r reuse) shares(o reuse) bool { return r.addr && o.addr || r.port && o.port }

// bindable reports EADDRINUSE when a TCP socket may not bind port: the
// stack's view (listeners, and its groups for SO_REUSEPORT; connections,
// TIME-WAIT) and this table's sockets bound and not yet listening or
// connected, whose options must let them share it (reuse.shares).
func (h *Host) bindable(self *socket, port uint16, r reuse) error {
	if err := h.st.CheckTCPBind(netip.AddrPortFrom(netip.IPv4Unspecified(), port), r.addr, r.port); err != nil {
		return err
	}
	either := r.addr || r.port // the stack let connections and TIME-WAIT pass
	h.mu.Lock()
	others := make([]*socket, 0, 4)
	for _, o := range h.fds {
		if o != nil && o != self && o.typ == SOCK_STREAM {
			others = append(others, o)
		}
	}
	var closed [][2]netip.AddrPort
	if either {
		for k, o := range h.noReuse {
			if k[0].Port() == port && !r.shares(o) {
				closed = append(closed, k)
			}
		}
	}
	h.mu.Unlock()
	for _, o := range others {
		o.mu.Lock()
		shares := r.shares(reuseOf(&o.opts))
		clash := o.bound && o.local.Port() == port && o.conn == nil && o.ln == nil && !shares
		// With SO_REUSEADDR or SO_REUSEPORT the stack let a connection on
		// the port pass; Linux does only if that connection's socket has
		// the same option too (accepted sockets inherit the listener's).
		clash = clash || either && o.conn != nil && !shares && o.conn.LocalAddr().Port() == port
		o.mu.Unlock()
		if clash {
			return syscall.EADDRINUSE
		}
	}
	for _, k := range closed {
		if h.st.TCPTupleInUse(k[0], k[1]) {
			return syscall.EADDRINUSE // its TIME-WAIT came from a socket without SO_REUSEADDR
		}
		h.mu.Lock()
		delete(h.noReuse, k)
		h.mu.Unlock()
	}
	return nil
}

// ephemeral picks a free port of Linux's ephemeral range for s.
func (h *Host) ephemeral(s *socket) (uint16, error) {
	h.mu.Lock()
	h.nextPort++
	start := uint16(32768 + (h.nextPort*7919)%(61000-32768))
	h.mu.Unlock()
	for i := 0; i < 61000-32768; i++ {
		p := 32768 + (start-32768+uint16(i))%(61000-32768)
		if h.bindable(s, p, reuse{}) == nil {
			return p, nil
		}
	}
	return 0, syscall.EADDRINUSE // Linux's bind with no port left
}

// Listen makes fd a listener with an accept queue of backlog (clamped as
// Linux clamps it: see the package doc). An unbound socket is bound to an
// ephemeral port first. Errors: EBADF, EOPNOTSUPP (UDP), EINVAL
// (connected), EADDRINUSE.
func (h *Host) Listen(fd, backlog int) error {
	s, err := h.get(fd)
	if err != nil {
		return err
	}
	if s.typ != SOCK_STREAM {
		return syscall.EOPNOTSUPP
	}
	if err := h.autobind(s); err != nil {
		return err
	}
	s.mu.Lock()
	switch {
	case s.ln != nil:
		s.mu.Unlock()
		return nil // Linux changes the backlog; synack keeps the first
	case s.conn != nil || s.connecting:
		s.mu.Unlock()
		return syscall.EINVAL
	}
	ln, err := h.st.ListenTCPOptions(s.local, clampBacklog(backlog)+1, stack.ListenOptions{ReusePort: s.opts.reusePort})
	if err != nil {
		s.mu.Unlock()
		return errnoOf(err)
	}
	s.ln = ln
	s.mu.Unlock()
	s.attach()
	return nil
}

// autobind binds an unbound, unconnected socket to an ephemeral port, as
// Linux's listen does.
func (h *Host) autobind(s *socket) error {
	h.bindMu.Lock()
	defer h.bindMu.Unlock()
	s.mu.Lock()
	skip := s.bound || s.conn != nil || s.ln != nil || s.connecting
	s.mu.Unlock()
	if skip {
		return nil
	}
	p, err := h.ephemeral(s)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if !s.bound {
		s.local, s.bound = netip.AddrPortFrom(netip.IPv4Unspecified(), p), true
	}
	s.mu.Unlock()
	return nil
}

// clampBacklog is Linux's: a backlog above somaxconn, or negative (Linux
// compares it as unsigned), is somaxconn.
func clampBacklog(b int) int {
	if b < 0 || b > SOMAXCONN {
		return SOMAXCONN
	}
	return b
}

// Accept takes the next connection of listener fd and returns its new
// descriptor and the peer's address. Blocking unless fd is non-blocking
// (EAGAIN). Errors: EBADF, EINVAL (not listening), EOPNOTSUPP (UDP).
func (h *Host) Accept(fd int) (int, netip.AddrPort, error) { return h.Accept4(fd, 0) }

// Accept4 is Accept with flags SOCK_NONBLOCK and SOCK_CLOEXEC for the new
// descriptor (EINVAL for others).
func (h *Host) Accept4(fd, flags int) (int, netip.AddrPort, error) {
	s, err := h.get(fd)
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	if flags&^(SOCK_NONBLOCK|SOCK_CLOEXEC) != 0 {
		return -1, netip.AddrPort{}, syscall.EINVAL
	}
	if s.typ != SOCK_STREAM {
		return -1, netip.AddrPort{}, syscall.EOPNOTSUPP
	}
	for {
		s.mu.Lock()
		ln, nb, closed, o := s.ln, s.nb, s.closed, s.opts
		s.mu.Unlock()
		switch {
		case closed:
			return -1, netip.AddrPort{}, syscall.EBADF
		case ln == nil:
			return -1, netip.AddrPort{}, syscall.EINVAL
		}
		c, err := ln.TryAccept()
		if err == nil {
			ns := &socket{h: h, typ: SOCK_STREAM, nb: flags&SOCK_NONBLOCK != 0, opts: o, conn: c, bound: true, local: c.LocalAddr()}
			ns.applyConnOpts(c)
			nfd, err := h.install(ns)
			if err != nil {
				c.Abort()
				return -1, netip.AddrPort{}, err
			}
			return nfd, c.RemoteAddr(), nil
		}
		if err != stack.ErrWouldBlock || nb {
			return -1, netip.AddrPort{}, errnoOf(err)
		}
		s.waitFor(fd, POLLIN)
	}
}

// Connect connects fd to addr. A blocking socket waits for the handshake:
// ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH on failure. A
// non-blocking one returns EINPROGRESS at once; Poll reports POLLOUT when
// the handshake ends and SO_ERROR then tells how; another Connect meanwhile
// is EALREADY, and one after success EISCONN. A UDP socket takes addr as
// its only peer.
func (h *Host) Connect(fd int, addr netip.AddrPort) error {
	s, err := h.get(fd)
	if err != nil {
		return err
	}
	if !addr.Addr().Is4() {
		return syscall.EAFNOSUPPORT
	}
	if s.typ == SOCK_DGRAM {
		return s.connectUDP(addr)
	}
	s.mu.Lock()
	switch {
	case s.connecting:
		// Linux: EALREADY while the handshake runs (a blocking call waits
		// for it); once it has ended, this call reports how (0 or the
		// error) and the next one is EISCONN.
		c, nb := s.conn, s.nb
		s.mu.Unlock()
		if nb && c.Readiness().Connecting {
			return syscall.EALREADY
		}
		return s.finishConnect(fd)
	case s.conn != nil || s.ln != nil:
		s.mu.Unlock()
		return syscall.EISCONN
	}
	if addr.Port() == 0 || addr.Addr().IsUnspecified() {
		s.mu.Unlock()
		return syscall.ECONNREFUSED // Linux: nobody listens on port 0 (or at 0.0.0.0, here)
	}
	local := netip.AddrPort{}
	if s.bound {
		local = s.local
	}
	c, err := h.st.StartDialTCPMaxSeg(local, addr, s.opts.maxseg) // 0: the stack's MSS
	if err != nil {
		s.mu.Unlock()
		return errnoOf(err)
	}
	s.conn, s.connecting, s.errTaken = c, true, false
	s.applyConnOpts(c)
	nb := s.nb
	s.mu.Unlock()
	s.attach()
	if nb {
		return syscall.EINPROGRESS
	}
	return s.finishConnect(fd)
}

// finishConnect waits for a pending connect to end and reports how.
func (s *socket) finishConnect(fd int) error {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return syscall.EBADF
	}
	s.waitFor(fd, POLLOUT)
	return s.connectDone(c)
}

// connectDone records the end of a connect whose handshake is over: its
// error (reported once), or the socket connected.
func (s *socket) connectDone(c *stack.TCPConn) error {
	r := c.Readiness()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return syscall.EBADF
	}
	if r.Connecting {
		return syscall.EALREADY
	}
	s.connecting = false
	if r.Err != nil {
		// Failed: the socket is unconnected again and may connect anew.
		s.conn = nil
		c.Close()
		if s.errTaken {
			return syscall.ECONNABORTED
		}
		s.errTaken = true
		return errnoOf(r.Err)
	}
	s.local, s.bound = c.LocalAddr(), true
	return nil
}
