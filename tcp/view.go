package tcp

import (
	"io"
	"time"
)

// View is received text taken out of a connection's receive buffer without
// a copy, for a reader that hands it on (WriteTo): the bytes are A then B,
// in memory that belongs to the View's holder until Release, to read and
// not to change: it may be the sending stack's own send buffer, lent
// across an in-memory link (Segment.Shared), whose bytes that sender may
// still retransmit. Taking the text is a read: the window opens as after
// Read.
type View struct {
	A, B []byte

	st      *storage            // the receive ring's storage, taken whole
	buf     [1][]byte           // or a host buffer a segment was kept in
	recycle func(bufs [][]byte) // which gives buf back to the host
	shared  Releaser            // or the hold on a far end's memory it was kept in (Segment.Shared)
}

// Len is the number of bytes in the view.
func (v *View) Len() int { return len(v.A) + len(v.B) }

// Release gives the view's memory back; A and B must not be used after.
// It may be called from any goroutine, without the connection's owner.
func (v *View) Release() {
	if v.st != nil {
		v.st.Release()
	}
	if v.shared != nil {
		v.shared.Release()
	}
	if v.recycle != nil && v.buf[0] != nil {
		v.recycle(v.buf[:]) // the View's own array: nothing is allocated
	}
	*v = View{}
}

// ReadView takes the text at the front of the receive buffer as a View,
// with no copy: all the ring's bytes, its storage with them, when no kept
// segment lies among them; else the first kept segment's text, if it is
// at least MinViewSize bytes. It returns ok false, taking nothing, when
// the text there is ring bytes before a kept segment or a small kept
// segment (Read then copies it, many segments at once), or when nothing
// is queued; then err is
// what Read would return (io.EOF, the connection's error, ErrWouldBlock),
// nil when Read would find text.
func (c *Conn) ReadView(now time.Time) (v View, ok bool, err error) {
	c.now = now
	if c.user&userReadShut != 0 {
		return View{}, false, io.EOF
	}
	if c.rcvBuf.Len() == 0 {
		_, err = c.Read(now, nil)
		if err == nil {
			err = ErrWouldBlock
		}
		return View{}, false, err
	}
	if !c.rcvBuf.takeFront(&v) {
		return View{}, false, nil
	}
	before := c.rcvWnd()
	c.autotune(now, v.Len())
	c.windowUpdate(before)
	c.charge()
	return v, true, nil
}

// MinViewSize is the smallest kept segment ReadView hands over whole: a
// writer called once per 1,460-byte segment costs more (a system call
// each, for a kernel socket or a file) than the copy that gathers many.
// Segments the link coalesced (GRO, 64 KB) pass without a copy.
const MinViewSize = 16 << 10

// takeFront moves the front of q into v without copying (ReadView): the
// whole ring when no view is queued, else the first view when no ring
// bytes come before it and it is not small. It reports whether it took
// anything.
func (q *recvQueue) takeFront(v *View) bool {
	k := q.kept
	if k == nil || k.head == len(k.views) {
		if q.ring.Len() == 0 {
			return false
		}
		v.A, v.B = q.ring.Peek(0, q.ring.Len())
		v.st = q.ring.detach()
		return true
	}
	f := &k.views[k.head]
	if f.before > 0 || len(f.data) < MinViewSize {
		return false
	}
	v.A, v.buf[0], v.recycle, v.shared = f.data, f.buf, k.recycle, f.shared
	k.n -= len(f.data)
	*f = keptView{}
	k.head++
	if k.head == len(k.views) {
		q.dropKept() // the ring bytes after it, if any, stay in the ring
	}
	return true
}

// detach empties q and returns its storage, which the caller now owns
// (its Release gives it back), as Discard of every byte would, bar the
// copy and the freeing.
func (q *byteQueue) detach() *storage {
	st := q.st
	q.last = max(st.high, q.last/2)
	q.st, q.head, q.n = nil, 0, 0
	return st
}
