package bsd

import (
	"encoding/binary"
	"syscall"
	"time"

	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/tcp"
)

// Linger is struct linger: Onoff nonzero turns lingering on; Linger is
// the time in seconds, 0 making Close a reset (RST). A negative Linger is
// a very long one, as Linux takes it (unsigned): see SetsockoptLinger.
type Linger struct {
	Onoff  int32
	Linger int32
}

// options are a socket's settings, inherited by accepted connections.
type options struct {
	reuseAddr, reusePort, keepAlive, noDelay bool
	keepIdle, keepIntvl, keepCnt             int // seconds, seconds, probes
	userTimeout                              int // milliseconds; 0: off
	rcvbuf, sndbuf                           int // as reported (doubled); 0: the default
	maxseg                                   int // TCP_MAXSEG set by the user; 0: none
	notSentLowat                             int // TCP_NOTSENT_LOWAT; 0: no bound
	pmtudisc                                 int // IP_MTU_DISCOVER
	linger                                   Linger
}

func defaultOptions() options {
	return options{keepIdle: 7200, keepIntvl: 75, keepCnt: 9, pmtudisc: IP_PMTUDISC_WANT}
}

// applyConnOpts gives a new connection the socket's options (s.mu held
// or s not yet shared).
func (s *socket) applyConnOpts(c *stack.TCPConn) {
	o := &s.opts
	c.SetNoDelay(o.noDelay) // Linux's default: Nagle on (TCP_NODELAY 0)
	c.SetKeepAlive(tcp.KeepAlive{Enable: o.keepAlive, Idle: time.Duration(o.keepIdle) * time.Second,
		Interval: time.Duration(o.keepIntvl) * time.Second, Count: o.keepCnt})
	c.SetUserTimeout(time.Duration(o.userTimeout) * time.Millisecond)
	if o.maxseg > 0 {
		c.SetMaxSegment(o.maxseg) // lowers only: a connect announced it already
	}
	if o.rcvbuf > 0 {
		c.SetReceiveBufferSize(o.rcvbuf / 2) // the value set; the doubling is Linux's bookkeeping
	}
	if o.sndbuf > 0 {
		c.SetSendBufferSize(o.sndbuf / 2)
	}
	c.SetNotSentLowat(o.notSentLowat) // 0 lifts a bound set before
}

// applyUDPOpts gives a UDP socket the receive buffer set (s.mu held).
func (s *socket) applyUDPOpts(u *stack.UDPSocket) {
	if s.opts.rcvbuf > 0 {
		u.SetReadBuffer(s.opts.rcvbuf)
	}
	// IP_PMTUDISC_DO and PROBE set DF: a datagram the path cannot carry
	// whole is EMSGSIZE. WANT (Linux's default) and DONT fragment it.
	u.SetDontFragment(s.opts.pmtudisc == IP_PMTUDISC_DO || s.opts.pmtudisc == IP_PMTUDISC_PROBE)
}

// SetsockoptInt sets an int option (the buffer sizes' bound is Linux's
// default rmem_max and wmem_max, 212,992). SOL_SOCKET: SO_REUSEADDR,
// SO_REUSEPORT, SO_KEEPALIVE, SO_RCVBUF, SO_SNDBUF (the value is doubled,
// as Linux doubles it, within Linux's bounds). IPPROTO_TCP: TCP_NODELAY,
// TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_MAXSEG, TCP_USER_TIMEOUT,
// TCP_NOTSENT_LOWAT (0 for no bound, the default; negative is EINVAL).
// Errors: ENOPROTOOPT for an option or level the socket does not have
// (IPPROTO_TCP on UDP included), EINVAL for a value out of range or an
// option that is not an int (SO_LINGER: SetsockoptLinger).
func (h *Host) SetsockoptInt(fd, level, opt, value int) error {
	s, err := h.get(fd)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.opts
	switch level {
	case SOL_SOCKET:
		switch opt {
		case SO_REUSEADDR:
			o.reuseAddr = value != 0
		case SO_REUSEPORT:
			o.reusePort = value != 0
		case SO_KEEPALIVE:
			o.keepAlive = value != 0
		case SO_RCVBUF:
			return s.setBuf(&o.rcvbuf, value, rmemMax, minRcvbuf, true)
		case SO_SNDBUF:
			return s.setBuf(&o.sndbuf, value, wmemMax, minSndbuf, false)
		case SO_LINGER:
			return syscall.EINVAL // a struct linger: too short
		case SO_TYPE, SO_ERROR, SO_ACCEPTCONN, SO_DOMAIN, SO_PROTOCOL:
			return syscall.ENOPROTOOPT // read-only
		default:
			return syscall.ENOPROTOOPT
		}
	case IPPROTO_IP:
		if opt != IP_MTU_DISCOVER {
			return syscall.ENOPROTOOPT
		}
		if value < IP_PMTUDISC_DONT || value > 5 { // IP_PMTUDISC_OMIT is 5
			return syscall.EINVAL
		}
		o.pmtudisc = value
		if s.udp != nil {
			s.applyUDPOpts(s.udp)
		}
		return nil // TCP: kept and reported; its segments always carry DF here
	case IPPROTO_TCP:
		if s.typ != SOCK_STREAM {
			return syscall.ENOPROTOOPT // UDP hands it to IP, which knows no such level
		}
		switch opt {
		case TCP_NODELAY:
			o.noDelay = value != 0
		case TCP_KEEPIDLE, TCP_KEEPINTVL:
			if value < 1 || value > 32767 { // MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL
				return syscall.EINVAL
			}
			if opt == TCP_KEEPIDLE {
				o.keepIdle = value
			} else {
				o.keepIntvl = value
			}
		case TCP_KEEPCNT:
			if value < 1 || value > 127 { // MAX_TCP_KEEPCNT
				return syscall.EINVAL
			}
			o.keepCnt = value
		case TCP_MAXSEG:
			if value != 0 && (value < 88 || value > 32767) { // TCP_MIN_MSS .. MAX_TCP_WINDOW
				return syscall.EINVAL
			}
			o.maxseg = value // applied at connect, or now to a connected socket
		case TCP_USER_TIMEOUT:
			if value < 0 {
				return syscall.EINVAL
			}
			o.userTimeout = value
		case TCP_NOTSENT_LOWAT:
			if value < 0 {
				return syscall.EINVAL // Linux stores it unsigned: a huge bound
			}
			o.notSentLowat = value
		case TCP_INFO:
			return syscall.ENOPROTOOPT // read-only
		default:
			return syscall.ENOPROTOOPT
		}
	default:
		return syscall.ENOPROTOOPT
	}
	if s.conn != nil {
		s.applyConnOpts(s.conn)
	}
	return nil
}

// setBuf sets SO_RCVBUF or SO_SNDBUF as Linux does: the value is clamped
// to [min/2, max] and stored doubled (the kernel's bookkeeping overhead).
func (s *socket) setBuf(field *int, value, maxv, minv int, rcv bool) error {
	v := maxv * 2 // a negative value is a huge one to Linux (it compares unsigned)
	if value >= 0 {
		v = min(value, maxv) * 2
	}
	*field = max(v, minv)
	switch {
	case s.conn != nil:
		s.applyConnOpts(s.conn)
	case s.udp != nil && rcv:
		s.applyUDPOpts(s.udp)
	}
	return nil
}

// GetsockoptInt reads an int option: those SetsockoptInt sets, and
// SO_ERROR (the pending error, cleared by reading it), SO_TYPE,
// SO_ACCEPTCONN, SO_DOMAIN, SO_PROTOCOL. TCP_MAXSEG is the connection's
// MSS once connected. Errors as SetsockoptInt's.
func (h *Host) GetsockoptInt(fd, level, opt int) (int, error) {
	s, err := h.get(fd)
	if err != nil {
		return 0, err
	}
	if level == SOL_SOCKET && opt == SO_ERROR {
		return s.soError(), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.opts
	switch level {
	case SOL_SOCKET:
		switch opt {
		case SO_REUSEADDR:
			return b2i(o.reuseAddr), nil
		case SO_REUSEPORT:
			return b2i(o.reusePort), nil
		case SO_KEEPALIVE:
			return b2i(o.keepAlive), nil
		case SO_RCVBUF:
			return s.bufSize(o.rcvbuf, true), nil
		case SO_SNDBUF:
			return s.bufSize(o.sndbuf, false), nil
		case SO_TYPE:
			return s.typ, nil
		case SO_ACCEPTCONN:
			return b2i(s.ln != nil), nil
		case SO_DOMAIN:
			return AF_INET, nil
		case SO_PROTOCOL:
			if s.typ == SOCK_DGRAM {
				return IPPROTO_UDP, nil
			}
			return IPPROTO_TCP, nil
		case SO_LINGER:
			// Linux copies what fits of the struct linger: l_onoff.
			return int(o.linger.Onoff), nil
		}
	case IPPROTO_IP:
		if opt == IP_MTU_DISCOVER {
			return o.pmtudisc, nil
		}
	case IPPROTO_TCP:
		if s.typ != SOCK_STREAM {
			return 0, syscall.ENOPROTOOPT
		}
		switch opt {
		case TCP_NODELAY:
			return b2i(o.noDelay), nil
		case TCP_KEEPIDLE:
			return o.keepIdle, nil
		case TCP_KEEPINTVL:
			return o.keepIntvl, nil
		case TCP_KEEPCNT:
			return o.keepCnt, nil
		case TCP_USER_TIMEOUT:
			return o.userTimeout, nil
		case TCP_NOTSENT_LOWAT:
			return o.notSentLowat, nil
		case TCP_MAXSEG:
			if s.conn != nil {
				if mss := s.conn.Info().TCP.MSS; mss > 0 {
					return mss, nil
				}
			}
			if o.maxseg > 0 {
				return o.maxseg, nil
			}
			return tcpMSSDefault, nil
		case TCP_INFO:
			// Linux copies what fits of struct tcp_info: its first four
			// bytes (tcpi_state, ca_state, retransmits, probes).
			s.mu.Unlock()
			ti, err := h.GetsockoptTCPInfo(fd, level, opt)
			s.mu.Lock()
			if err != nil {
				return 0, err
			}
			return int(int32(uint32(ti.State) | uint32(ti.Ca_state)<<8 | uint32(ti.Retransmits)<<16 | uint32(ti.Probes)<<24)), nil
		}
	}
	return 0, syscall.ENOPROTOOPT
}

// bufSize is what SO_RCVBUF or SO_SNDBUF reports: the value set, doubled,
// or Linux's default (tcp_rmem[1], tcp_wmem[1], or UDP's rmem_default).
func (s *socket) bufSize(set int, rcv bool) int {
	switch {
	case set > 0:
		return set
	case s.typ == SOCK_DGRAM:
		return udpMemDef
	case rcv:
		return tcpRmemDef
	}
	return tcpWmemDef
}

// soError is SO_ERROR: the pending error, cleared by reading it.
func (s *socket) soError() int {
	s.mu.Lock()
	c, u, taken := s.conn, s.udp, s.errTaken
	s.mu.Unlock()
	var err error
	switch {
	case c != nil && !taken:
		err = c.Readiness().Err
		if err != nil {
			s.mu.Lock()
			s.errTaken = true
			s.mu.Unlock()
		}
	case u != nil:
		err = u.TakeErr()
	}
	if en, ok := errnoOf(err).(syscall.Errno); ok {
		return int(en)
	}
	return 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SetsockoptLinger sets SO_LINGER: Onoff with Linger 0 makes Close send a
// RST and drop queued data; Onoff with any other Linger makes Close wait
// up to Linger seconds for the data and the FIN to be acknowledged. A
// negative Linger is a very long wait, not a reset: Linux reads l_linger
// as unsigned (here the stack's longest, 32,766 s). Onoff 0 turns
// lingering off and keeps the time set before, as Linux does.
func (h *Host) SetsockoptLinger(fd, level, opt int, l *Linger) error {
	s, err := h.get(fd)
	if err != nil {
		return err
	}
	switch {
	case level != SOL_SOCKET || opt != SO_LINGER:
		return syscall.ENOPROTOOPT
	case l == nil:
		return syscall.EFAULT
	}
	s.mu.Lock()
	s.opts.linger.Onoff = b2i32(l.Onoff != 0)
	if l.Onoff != 0 {
		s.opts.linger.Linger = l.Linger
	}
	s.mu.Unlock()
	return nil
}

func b2i32(b bool) int32 { return int32(b2i(b)) }

// GetsockoptLinger reads SO_LINGER.
func (h *Host) GetsockoptLinger(fd, level, opt int) (Linger, error) {
	s, err := h.get(fd)
	if err != nil {
		return Linger{}, err
	}
	if level != SOL_SOCKET || opt != SO_LINGER {
		return Linger{}, syscall.ENOPROTOOPT
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.linger, nil
}

// Setsockopt is setsockopt with the value as bytes, as C passes it: an
// int option takes 4 bytes or more (less: EINVAL), SO_LINGER 8 (less:
// EINVAL), in the host's order (little-endian, as on x86 and arm64).
func (h *Host) Setsockopt(fd, level, opt int, val []byte) error {
	if level == SOL_SOCKET && opt == SO_LINGER {
		if _, err := h.get(fd); err != nil {
			return err
		}
		if len(val) < 8 {
			return syscall.EINVAL
		}
		return h.SetsockoptLinger(fd, level, opt, &Linger{Onoff: int32(binary.LittleEndian.Uint32(val)),
			Linger: int32(binary.LittleEndian.Uint32(val[4:]))})
	}
	if _, err := h.get(fd); err != nil {
		return err
	}
	if len(val) < 4 {
		// Linux checks the length after the level: an unknown level is
		// ENOPROTOOPT whatever the length.
		if level != SOL_SOCKET && level != IPPROTO_TCP && level != IPPROTO_IP {
			return syscall.ENOPROTOOPT
		}
		return syscall.EINVAL
	}
	return h.SetsockoptInt(fd, level, opt, int(int32(binary.LittleEndian.Uint32(val))))
}
