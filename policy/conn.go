package policy

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// Conn is a connection a Policy admitted. Its Reads and Writes stamp it
// active; its Close gives its place under the caps back. Every other
// method is the wrapped connection's.
type Conn struct {
	net.Conn
	p      *Policy
	addr   netip.Addr   // remote IP; invalid when not IP (not capped per address)
	last   atomic.Int64 // Policy clock time since epoch of the last successful Read or Write
	closed atomic.Bool  // counted out: by Close or by the reaper

	// Guarded by p.mu.
	idx    int           // place in p.idle; -1 when not in it
	expiry time.Duration // when the reaper looks at it next: last+IdleTimeout or earlier
}

// writeChunk is the most a Write hands the wrapped connection at once, so
// that a long Write to a client that reads slowly, but reads, counts as
// activity every writeChunk bytes and is not taken for idle.
const writeChunk = 64 << 10

// Read reads from the wrapped connection; a Read that returns data counts
// as activity.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.touch()
	}
	return n, err
}

// Write writes to the wrapped connection, at most 64 KiB a call when an
// idle timeout is set; each call that writes something counts as activity.
func (c *Conn) Write(b []byte) (int, error) {
	if c.p.cfg.IdleTimeout <= 0 {
		return c.Conn.Write(b)
	}
	done := 0
	for {
		k := min(len(b)-done, writeChunk)
		n, err := c.Conn.Write(b[done : done+k])
		done += n
		if n > 0 {
			c.touch()
		}
		if err != nil || done == len(b) {
			return done, err
		}
	}
}

// Close closes the wrapped connection and gives its place back (once,
// however often Close is called).
func (c *Conn) Close() error {
	if !c.closed.Swap(true) {
		c.p.release(c, false /* idle */)
	}
	return c.Conn.Close()
}

// CloseWrite shuts the sending side of the wrapped connection, when it
// can (synack's TCPConn, Go's *net.TCPConn: net/http uses it to close
// gracefully), and is errors.ErrUnsupported otherwise. The connection
// keeps its place until Close.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// Unwrap returns the wrapped connection (to reach its own methods, e.g.
// synack's TCPConn.Info or SetKeepAliveConfig).
func (c *Conn) Unwrap() net.Conn { return c.Conn }

func (c *Conn) touch() {
	if c.p.cfg.IdleTimeout > 0 {
		c.last.Store(int64(c.p.since()))
	}
}

// armLocked arms the reaper for the earliest connection in the idle heap,
// unless it is armed already: it then fires no later than that, because
// the heap's head only moves later (a push is now+IdleTimeout, no earlier
// than any entry; a removal leaves a later head). p.mu is held.
func (p *Policy) armLocked() {
	if p.armed || len(p.idle) == 0 {
		return
	}
	d := p.idle[0].expiry - p.since()
	if p.reaper == nil {
		p.reaper = p.clk.AfterFunc(d, p.reap)
	} else {
		p.reaper.Reset(d)
	}
	p.armed = true
}

// reap is the reaper's timer callback: it closes the connections idle for
// IdleTimeout and re-arms for the next. A connection at the heap's head
// that was active since it was pushed is moved to last+IdleTimeout: Reads
// and Writes only stamp the time, the heap is fixed here, lazily.
func (p *Policy) reap() {
	p.mu.Lock()
	p.armed = false
	now := p.since()
	var victims []*Conn
	for len(p.idle) > 0 && p.idle[0].expiry <= now {
		c := p.idle[0]
		if exp := time.Duration(c.last.Load()) + p.cfg.IdleTimeout; exp > now {
			c.expiry = exp
			p.idle.fix(0)
			continue
		}
		p.idle.remove(c)
		victims = append(victims, c)
	}
	p.armLocked()
	p.mu.Unlock()
	for _, c := range victims {
		if c.closed.Swap(true) {
			continue // the application closed it meanwhile
		}
		p.release(c, true /* idle */)
		c.Conn.Close() // a FIN, as the application's own Close would send
	}
}

// idleHeap is a min-heap of open connections by expiry.
type idleHeap []*Conn

func (h *idleHeap) push(c *Conn) {
	c.idx = len(*h)
	*h = append(*h, c)
	h.up(c.idx)
}

// remove takes c, which is in the heap, out.
func (h *idleHeap) remove(c *Conn) {
	i, last := c.idx, len(*h)-1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	c.idx = -1
	if i != last {
		h.fix(i)
	}
}

// fix restores the heap after element i's expiry changed.
func (h idleHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h idleHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}

func (h idleHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].expiry <= h[i].expiry {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts element i toward the leaves and reports whether it moved.
func (h idleHeap) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].expiry < h[l].expiry {
			m = r
		}
		if h[m].expiry >= h[i].expiry {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > start
}
