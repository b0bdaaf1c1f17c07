package bsd

import (
	"sync"
	"syscall"
	"time"
)

// Readiness: every socket carries one hook (socket.notify) that the stack
// calls, under the socket's lock, whenever its readiness may have changed.
// The hook queues the socket on each poller watching it and wakes the
// poller. A poller then asks the socket for its readiness (revents), never
// under its own lock, so the lock order is always stack, socket's wmu,
// poller's mu. A wait with nothing ready sleeps on a channel until a hook
// or the timeout (on the stack's clock) wakes it: no goroutine per socket,
// no polling loop.

// PollFd is one descriptor of a Poll call, as struct pollfd.
type PollFd struct {
	Fd      int
	Events  int16
	Revents int16
}

// EpollEvent is one event of EpollWait, as struct epoll_event: Fd is the
// descriptor (epoll_data's fd).
type EpollEvent struct {
	Events uint32
	Fd     int32
}

// watch is a poller's interest in one socket.
type watch struct {
	p      *waitSet
	fd     int
	s      *socket
	events uint32 // what it asks for (EPOLLIN, EPOLLOUT, EPOLLET, ...)
	queued bool   // in p.ready (p.mu held)
	gone   bool   // removed (p.mu held)
	edge   bool   // EPOLLET: not queued again after a report
	off    bool   // EPOLLONESHOT reported: nothing until EPOLL_CTL_MOD (p.mu held)
}

// waitSet is what Poll and a Poller wait on: the watches whose socket
// may have become ready, and a channel a hook wakes.
type waitSet struct {
	mu    sync.Mutex
	ready []*watch
	wake  chan struct{} // holds one token: a wake while nobody waits is not lost
}

func newWaitSet() *waitSet { return &waitSet{wake: make(chan struct{}, 1)} }

// queue puts w on its set's ready list and wakes a waiter.
func (p *waitSet) queue(w *watch) {
	p.mu.Lock()
	if !w.queued && !w.gone {
		w.queued = true
		p.ready = append(p.ready, w)
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// take empties the ready list and returns what was on it.
func (p *waitSet) take(buf []*watch) []*watch {
	p.mu.Lock()
	buf = append(buf[:0], p.ready...)
	clear(p.ready)
	p.ready = p.ready[:0]
	for _, w := range buf {
		w.queued = false
	}
	p.mu.Unlock()
	return buf
}

// sleep waits for a wake or the timeout (ms; negative: none) and reports
// whether the timeout passed.
func (p *waitSet) sleep(h *Host, timer <-chan struct{}) bool {
	select {
	case <-p.wake:
		return false
	case <-timer:
		return true
	}
}

// timeoutChan returns a channel closed after ms milliseconds on h's
// clock, and a function that stops its timer; nil for ms < 0 (never).
func (h *Host) timeoutChan(ms int) (<-chan struct{}, func()) {
	if ms < 0 {
		return nil, func() {}
	}
	c := make(chan struct{})
	t := h.clk.AfterFunc(time.Duration(ms)*time.Millisecond, func() { close(c) })
	return c, func() { t.Stop() }
}

// watchBy adds w to the socket's watchers.
func (s *socket) watchBy(w *watch) {
	s.wmu.Lock()
	s.watchers = append(s.watchers, w)
	first := len(s.watchers) == 1
	s.wmu.Unlock()
	if first {
		s.hook(s.notifyFn)
	}
}

// unwatch removes w from the socket's watchers.
func (s *socket) unwatch(w *watch) {
	s.wmu.Lock()
	for i, x := range s.watchers {
		if x == w {
			last := len(s.watchers) - 1
			s.watchers[i] = s.watchers[last]
			s.watchers[last] = nil
			s.watchers = s.watchers[:last]
			break
		}
	}
	s.wmu.Unlock()
}

// hook gives f to the stack's socket under s (or the socket made later:
// see attach).
func (s *socket) hook(f func()) {
	s.mu.Lock()
	conn, ln, u := s.conn, s.ln, s.udp
	s.mu.Unlock()
	switch {
	case conn != nil:
		conn.SetNotify(f)
	case ln != nil:
		ln.SetNotify(f)
	case u != nil:
		u.SetNotify(f)
	}
}

// notify is the stack's hook: every watcher's set is told.
func (s *socket) notify() {
	s.wmu.Lock()
	for _, w := range s.watchers {
		w.p.queue(w)
	}
	s.wmu.Unlock()
}

// revents is the socket's readiness as poll(2) reports it, every bit
// (callers mask it by interest, POLLERR and POLLHUP always kept).
func (s *socket) revents() uint32 {
	s.mu.Lock()
	closed, conn, ln, u, typ := s.closed, s.conn, s.ln, s.udp, s.typ
	errTaken, shutRD, shutWR := s.errTaken, s.shutRD, s.shutWR
	s.mu.Unlock()
	switch {
	case closed:
		return POLLNVAL
	case ln != nil:
		if ln.Ready() > 0 {
			return POLLIN
		}
		return 0
	case conn != nil:
		r := conn.Readiness()
		var ev uint32
		if r.Readable || shutRD {
			ev |= POLLIN
		}
		if r.EOF || shutRD {
			ev |= POLLIN | POLLRDHUP
		}
		if !r.Connecting && (r.Writable || shutWR) {
			ev |= POLLOUT
		}
		if r.Err != nil {
			ev |= POLLIN | POLLRDHUP // Linux's tcp_done shuts both ways
			if !errTaken {
				ev |= POLLERR
			}
		}
		if r.Closed || (shutWR && (r.EOF || shutRD)) {
			ev |= POLLHUP
		}
		return ev
	case typ == SOCK_STREAM:
		return POLLOUT | POLLHUP // a fresh TCP socket is CLOSED: Linux says so
	case u != nil:
		readable, err := u.Readiness()
		ev := uint32(POLLOUT)
		if readable {
			ev |= POLLIN
		}
		if err != nil {
			ev |= POLLERR
		}
		return ev
	}
	return POLLOUT // an unbound UDP socket can send (it binds on the way)
}

// attach hands the socket's hook to a stack socket just made for it, if
// anyone watches, and wakes the watchers: readiness changed.
func (s *socket) attach() {
	s.wmu.Lock()
	n := len(s.watchers)
	s.wmu.Unlock()
	if n > 0 {
		s.hook(s.notifyFn)
	}
	s.notify()
}

// waitFor blocks until s reports one of events (or an error, hang-up or
// its closing), for the blocking calls.
func (s *socket) waitFor(fd int, events uint32) {
	p := newWaitSet()
	w := &watch{p: p, fd: fd, s: s, events: events}
	s.watchBy(w)
	defer s.unwatch(w)
	for s.revents()&(events|POLLERR|POLLHUP|POLLNVAL) == 0 {
		p.sleep(s.h, nil)
	}
}

// Poll waits, as poll(2), until one of fds is ready for what its Events
// ask (POLLERR, POLLHUP and POLLNVAL are always reported), or timeout
// milliseconds pass (negative: no limit; 0: do not wait), on the stack's
// clock. It sets each Revents and returns how many are nonzero. A
// descriptor that is not open gets POLLNVAL; a negative one is skipped.
func (h *Host) Poll(fds []PollFd, timeout int) (int, error) {
	p := newWaitSet()
	ws := make([]*watch, len(fds))
	for i := range fds {
		fds[i].Revents = 0
		if fds[i].Fd < 0 {
			continue
		}
		if s, err := h.get(fds[i].Fd); err == nil {
			ws[i] = &watch{p: p, fd: fds[i].Fd, s: s, events: uint32(uint16(fds[i].Events))}
			s.watchBy(ws[i])
		}
	}
	defer func() {
		for _, w := range ws {
			if w != nil {
				w.s.unwatch(w)
			}
		}
	}()
	timer, stop := h.timeoutChan(timeout)
	defer stop()
	for {
		n := 0
		for i := range fds {
			var ev uint32 = POLLNVAL
			if w := ws[i]; w != nil {
				ev = w.s.revents() & (w.events | POLLERR | POLLHUP | POLLNVAL)
			} else if fds[i].Fd < 0 {
				ev = 0
			}
			fds[i].Revents = int16(ev)
			if ev != 0 {
				n++
			}
		}
		if n > 0 || timeout == 0 {
			return n, nil
		}
		if p.sleep(h, timer) {
			return 0, nil
		}
	}
}

// Poller is an epoll instance: an interest set of descriptors, each
// watched through its socket's hook, so that EpollWait costs what is
// ready, not what is watched.
type Poller struct {
	h   *Host
	set *waitSet

	mu       sync.Mutex // guards interest; taken before set.mu, never with a socket's wmu
	interest map[int]*watch
	buf      []*watch
}

// EpollCreate makes a Poller (epoll_create1).
func (h *Host) EpollCreate() *Poller {
	return &Poller{h: h, set: newWaitSet(), interest: make(map[int]*watch)}
}

// EpollCtl adds (EPOLL_CTL_ADD), changes (EPOLL_CTL_MOD) or removes
// (EPOLL_CTL_DEL) fd's interest: events are EPOLLIN, EPOLLOUT, EPOLLRDHUP
// with EPOLLET (edge-triggered) or EPOLLONESHOT. Errors as epoll_ctl's:
// EBADF, EEXIST, ENOENT, EINVAL.
func (p *Poller) EpollCtl(op, fd int, events uint32) error {
	s, err := p.h.get(fd)
	if err != nil {
		return err
	}
	p.mu.Lock()
	old := p.interest[fd]
	if old != nil && old.s != s { // a descriptor closed and reused: forget the old socket
		p.drop(old)
		old = nil
	}
	switch op {
	case EPOLL_CTL_ADD:
		if old != nil {
			p.mu.Unlock()
			return syscall.EEXIST
		}
		w := &watch{p: p.set, fd: fd, s: s, events: events, edge: events&EPOLLET != 0}
		p.interest[fd] = w
		p.mu.Unlock()
		s.watchBy(w)
		p.set.queue(w) // look at it on the next wait
		return nil
	case EPOLL_CTL_MOD:
		if old == nil {
			p.mu.Unlock()
			return syscall.ENOENT
		}
		p.set.mu.Lock()
		old.events, old.edge, old.off = events, events&EPOLLET != 0, false
		p.set.mu.Unlock()
		p.mu.Unlock()
		p.set.queue(old)
		return nil
	case EPOLL_CTL_DEL:
		if old == nil {
			p.mu.Unlock()
			return syscall.ENOENT
		}
		p.drop(old)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	return syscall.EINVAL
}

// drop forgets w (p.mu held).
func (p *Poller) drop(w *watch) {
	if p.interest[w.fd] == w { // not a reused descriptor's new watch
		delete(p.interest, w.fd)
	}
	p.set.mu.Lock()
	w.gone = true
	p.set.mu.Unlock()
	w.s.unwatch(w)
}

// EpollWait fills events with ready descriptors, as epoll_wait, waiting
// up to timeout milliseconds (negative: no limit) on the stack's clock; it
// returns how many it filled. Level-triggered interest stays listed while
// ready; EPOLLET reports again only after the socket's next change;
// EPOLLONESHOT reports once, until EPOLL_CTL_MOD. A descriptor closed
// while listed is forgotten, as Linux forgets a closed file.
func (p *Poller) EpollWait(events []EpollEvent, timeout int) (int, error) {
	if len(events) == 0 {
		return 0, syscall.EINVAL
	}
	timer, stop := p.h.timeoutChan(timeout)
	defer stop()
	for {
		p.mu.Lock()
		list := p.set.take(p.buf)
		n := 0
		for i, w := range list {
			if w.gone {
				continue
			}
			if n == len(events) {
				for _, x := range list[i:] {
					p.set.queue(x) // not looked at: next time
				}
				break
			}
			ev := w.s.revents()
			if ev&POLLNVAL != 0 {
				p.drop(w) // closed: Linux takes a closed file out of every epoll set
				continue
			}
			p.set.mu.Lock()
			want, off := w.events, w.off
			p.set.mu.Unlock()
			if ev &= want&(EPOLLIN|EPOLLOUT|EPOLLRDHUP) | EPOLLERR | EPOLLHUP; ev == 0 || off {
				continue // not ready: its hook lists it again when that changes
			}
			events[n] = EpollEvent{Events: ev, Fd: int32(w.fd)}
			n++
			switch {
			case want&EPOLLONESHOT != 0:
				p.set.mu.Lock()
				w.off = true // disabled until EPOLL_CTL_MOD
				p.set.mu.Unlock()
			case !w.edge:
				p.set.queue(w) // level-triggered: looked at again next time
			}
		}
		p.buf = list[:0]
		p.mu.Unlock()
		if n > 0 || timeout == 0 {
			return n, nil
		}
		if p.set.sleep(p.h, timer) {
			return 0, nil
		}
	}
}

// Close releases the Poller's interest in every descriptor.
func (p *Poller) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.interest {
		p.drop(w)
	}
	return nil
}
