package bsd

import (
	"errors"
	"io"
	"math"
	"net/netip"
	"os"
	"sync"
	"syscall"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/stack"
)

// Host is a descriptor table on one stack, as a process's is on Linux.
// Its methods are safe for concurrent use.
type Host struct {
	st  *stack.Stack
	clk clock.Clock

	bindMu sync.Mutex // one Bind (or listen's autobind) at a time: taken before any socket's mu

	mu       sync.Mutex
	fds      []*socket // by descriptor; nil: free
	nextPort int       // moves the start of Bind's ephemeral walk

	// noReuse are the connections closed from sockets without both
	// SO_REUSEADDR and SO_REUSEPORT (local, remote), with the options
	// they had, for as long as the stack may still hold them (in
	// TIME-WAIT, mostly): Linux lets a socket with SO_REUSEADDR (or
	// SO_REUSEPORT) bind over a TIME-WAIT only if the old socket had the
	// same option too. Dead entries are pruned when the map doubles, so
	// it holds at most twice what the stack's connections and TIME-WAIT
	// records bound.
	noReuse map[[2]netip.AddrPort]reuse
	pruneAt int
}

// firstFD is the lowest descriptor handed out: 0, 1 and 2 are a
// process's standard streams.
const firstFD = 3

// maxFDs bounds a Host's table, as RLIMIT_NOFILE bounds a process's
// (Linux's default hard limit): past it Socket and Accept fail with EMFILE.
const maxFDs = 1 << 20

// NewHost makes an empty descriptor table on st. Timeouts (Poll's,
// EpollWait's) run on st's clock, so a virtual clock drives them in tests.
func NewHost(st *synack.Stack) *Host { return NewHostOn(st.Internals()) }

// NewHostOn is NewHost on the stack package's view of a stack.
func NewHostOn(st *stack.Stack) *Host { return &Host{st: st, clk: st.Clock()} }

// socket is a descriptor's socket.
type socket struct {
	h   *Host
	typ int // SOCK_STREAM or SOCK_DGRAM

	// wmu guards the pollers watching the socket; the stack's hook takes
	// it (under the socket's stack lock), then each poller's mu.
	wmu      sync.Mutex
	watchers []*watch
	notifyFn func() // the hook given to the stack, made once

	mu     sync.Mutex // guards what follows; never held while blocking
	closed bool
	nb     bool           // O_NONBLOCK
	local  netip.AddrPort // bound address; valid once bound
	bound  bool
	opts   options

	// SOCK_STREAM:
	conn       *stack.TCPConn
	ln         *stack.TCPListener
	connecting bool // a non-blocking connect not yet seen to end
	errTaken   bool // the connection's error was reported once (Linux clears sk_err)
	shutRD     bool
	shutWR     bool

	// SOCK_DGRAM:
	udp  *stack.UDPSocket
	peer netip.AddrPort // connected peer, when valid
}

// Socket makes a socket: domain AF_INET, typ SOCK_STREAM or SOCK_DGRAM
// (with SOCK_NONBLOCK and SOCK_CLOEXEC), proto 0 or the type's protocol.
// Errors: EAFNOSUPPORT, EINVAL for an unknown type or flag,
// EPROTONOSUPPORT, EMFILE.
func (h *Host) Socket(domain, typ, proto int) (int, error) {
	if domain != AF_INET {
		return -1, syscall.EAFNOSUPPORT
	}
	kind := typ &^ (SOCK_NONBLOCK | SOCK_CLOEXEC)
	switch {
	case kind != SOCK_STREAM && kind != SOCK_DGRAM:
		return -1, syscall.EINVAL // Linux: an unknown type is EINVAL
	case proto != 0 && !(kind == SOCK_STREAM && proto == IPPROTO_TCP) && !(kind == SOCK_DGRAM && proto == IPPROTO_UDP):
		return -1, syscall.EPROTONOSUPPORT
	}
	s := &socket{h: h, typ: kind, nb: typ&SOCK_NONBLOCK != 0, opts: defaultOptions()}
	return h.install(s)
}

// install gives s the lowest free descriptor.
func (h *Host) install(s *socket) (int, error) {
	s.notifyFn = s.notify
	h.mu.Lock()
	defer h.mu.Unlock()
	for fd := firstFD; fd < len(h.fds); fd++ {
		if h.fds[fd] == nil {
			h.fds[fd] = s
			return fd, nil
		}
	}
	if len(h.fds) >= maxFDs {
		return -1, syscall.EMFILE
	}
	if len(h.fds) < firstFD {
		h.fds = make([]*socket, firstFD, 64)
	}
	h.fds = append(h.fds, s)
	return len(h.fds) - 1, nil
}

// get returns fd's socket, or EBADF.
func (h *Host) get(fd int) (*socket, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if fd < 0 || fd >= len(h.fds) || h.fds[fd] == nil {
		return nil, syscall.EBADF
	}
	return h.fds[fd], nil
}

// SetNonblock sets or clears O_NONBLOCK (fcntl F_SETFL).
func (h *Host) SetNonblock(fd int, nonblocking bool) error {
	s, err := h.get(fd)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.nb = nonblocking
	s.mu.Unlock()
	return nil
}

// Close closes fd: a connection is closed (with SO_LINGER 0, reset), a
// listener stops and resets the connections not yet accepted, a UDP port
// is freed; the descriptor is free for reuse and pollers forget it.
// Calls blocked on fd in other goroutines return EBADF.
func (h *Host) Close(fd int) error {
	h.mu.Lock()
	if fd < 0 || fd >= len(h.fds) || h.fds[fd] == nil {
		h.mu.Unlock()
		return syscall.EBADF
	}
	s := h.fds[fd]
	h.fds[fd] = nil
	h.mu.Unlock()

	s.mu.Lock()
	s.closed = true
	conn, ln, u, lg := s.conn, s.ln, s.udp, s.opts.linger
	ro := reuseOf(&s.opts)
	s.mu.Unlock()
	if conn != nil && !(ro.addr && ro.port) {
		h.remember(conn.LocalAddr(), conn.RemoteAddr(), ro)
	}
	var err error
	switch {
	case conn != nil && lg.Onoff != 0 && lg.Linger == 0:
		conn.Abort() // RFC 9293 §3.10.5: SO_LINGER 0 closes with a RST
	case conn != nil && lg.Onoff != 0:
		sec := int(lg.Linger)
		if sec < 0 {
			sec = math.MaxInt32 // Linux reads l_linger unsigned: a long wait, not a reset
		}
		conn.SetLinger(sec)
		err = errnoOf(conn.Close())
	case conn != nil:
		err = errnoOf(conn.Close())
	case ln != nil:
		ln.Close()
	case u != nil:
		u.Close()
	}
	if err == syscall.EBADF {
		err = nil // closed underneath already (the stack closed)
	}
	s.notify() // wake blocked calls and pollers: they see the descriptor gone
	return err
}

// remember records a connection closed without both SO_REUSEADDR and
// SO_REUSEPORT, and which of them its socket had.
func (h *Host) remember(local, remote netip.AddrPort, r reuse) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.noReuse == nil {
		h.noReuse = make(map[[2]netip.AddrPort]reuse)
	}
	h.noReuse[[2]netip.AddrPort{local, remote}] = r
	if len(h.noReuse) > max(h.pruneAt, 1024) {
		for k := range h.noReuse {
			if !h.st.TCPTupleInUse(k[0], k[1]) {
				delete(h.noReuse, k)
			}
		}
		h.pruneAt = 2 * len(h.noReuse)
	}
}

// errnoOf maps an error of the stack to the errno Linux returns.
func errnoOf(err error) error {
	if err == nil {
		return nil
	}
	var en syscall.Errno
	switch {
	case errors.As(err, &en):
		return en
	case err == stack.ErrWouldBlock, errors.Is(err, os.ErrDeadlineExceeded):
		return syscall.EAGAIN
	case errors.Is(err, stack.ErrClosed):
		return syscall.EBADF
	case err == io.EOF:
		return nil
	}
	return syscall.EINVAL
}
