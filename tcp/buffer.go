package tcp

// byteQueue is a FIFO of bytes with a capacity bound. Its storage is
// allocated when the first byte arrives, not when the connection opens, and
// released when the queue drains, so an idle connection holds no buffer.
type byteQueue struct {
	buf   []byte // buf[off:] holds the queued bytes
	off   int
	limit int // most bytes it may hold
}

// Len is the number of queued bytes.
func (q *byteQueue) Len() int { return len(q.buf) - q.off }

// Free is how many more bytes fit.
func (q *byteQueue) Free() int { return max(q.limit-q.Len(), 0) }

// Bytes returns the queued bytes from position i on; the slice is valid until
// the next change of q.
func (q *byteQueue) Bytes(i int) []byte { return q.buf[q.off+i:] }

// Append queues as much of p as fits and returns how much that was.
func (q *byteQueue) Append(p []byte) int {
	n := min(len(p), q.Free())
	if n <= 0 {
		return 0
	}
	q.Put(p[:n])
	return n
}

// Put queues all of p, even past the limit: for received text the window
// advertised already bounds, which rounding to the window scale may let
// exceed the limit by less than one scale unit.
func (q *byteQueue) Put(p []byte) {
	n := len(p)
	if n == 0 {
		return
	}
	if q.buf == nil {
		q.buf = make([]byte, 0, max(min(max(n, 4096), q.limit), n))
	}
	if len(q.buf)+n > cap(q.buf) {
		if q.Len()+n <= cap(q.buf) {
			// Slide the live bytes to the front rather than grow.
			l := copy(q.buf, q.buf[q.off:])
			q.buf, q.off = q.buf[:l], 0
		} else {
			nb := make([]byte, q.Len(), max(min(2*cap(q.buf), q.limit), q.Len()+n))
			copy(nb, q.buf[q.off:])
			q.buf, q.off = nb, 0
		}
	}
	q.buf = append(q.buf, p...)
}

// Discard drops the first n queued bytes.
func (q *byteQueue) Discard(n int) {
	q.off += n
	if q.off >= len(q.buf) {
		// Empty: keep the storage while it is small, free a large one.
		if cap(q.buf) > 64<<10 {
			q.buf = nil
		} else if q.buf != nil {
			q.buf = q.buf[:0]
		}
		q.off = 0
	}
}

// Read moves up to len(p) bytes from the front of q into p.
func (q *byteQueue) Read(p []byte) int {
	n := copy(p, q.buf[q.off:])
	q.Discard(n)
	return n
}
