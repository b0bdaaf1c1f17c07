package synack

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// This file is TCPConn's socket options and calls of Go's net.TCPConn
// beyond net.Conn: CloseRead, SetLinger, SetReadBuffer, SetWriteBuffer,
// ReadFrom and WriteTo; and Linux's TCP_NOTSENT_LOWAT (SetNotSentLowat).

var (
	_ io.ReaderFrom = (*TCPConn)(nil)
	_ io.WriterTo   = (*TCPConn)(nil)
)

// CloseRead shuts down the reading side only (shutdown SHUT_RD): blocked
// and later reads return io.EOF, text not yet read and text that arrives
// later is discarded (acknowledged, so the peer is not held up), writes
// go on, and the peer is not told. Linux instead keeps queueing what
// arrives and lets reads return it; discarding is the BSDs' way, and what
// a peer sends then costs no memory. Once the writing side is closed too
// (CloseWrite), more text from the peer draws a RST, as on Linux.
func (c *TCPConn) CloseRead() error { return c.opErr("close", c.c.CloseRead()) }

// SetLinger sets what Close does with data not yet sent or acknowledged,
// as net.TCPConn's (SO_LINGER): with sec < 0, the default, Close returns
// at once and the data and FIN are sent in the background. With sec == 0,
// Close resets the connection (a RST; the peer's calls fail with
// ECONNRESET) and discards the data. With sec > 0, Close waits until the
// data and the FIN are acknowledged, or until sec seconds pass on the
// stack's clock, as Linux's close(2) does; if they pass, the close goes on
// in the background as with sec < 0 (Linux resets nothing either) and
// Close returns an error matching syscall.EWOULDBLOCK, whose Timeout() is
// true (the BSDs' close returns it; Linux's returns 0).
func (c *TCPConn) SetLinger(sec int) error {
	c.c.SetLinger(sec)
	return nil
}

// SetReadBuffer sets the connection's receive buffer to bytes, as
// net.TCPConn's (SO_RCVBUF): the window offered follows it, and
// autotuning no longer changes it. Sizes below 2,304 bytes are raised to
// it (about the room Linux's smallest receive buffer leaves), sizes above
// tcp.Config.MaxReceiveBufferSize (65,535 without window scaling) lowered
// to it; a negative size is EINVAL.
func (c *TCPConn) SetReadBuffer(bytes int) error {
	if bytes < 0 {
		return c.setErr(syscall.EINVAL)
	}
	return c.setErr(c.c.SetReceiveBufferSize(bytes))
}

// SetWriteBuffer sets the connection's send buffer to bytes, as
// net.TCPConn's (SO_SNDBUF): Write queues at most that much unacknowledged
// data, and the buffer no longer grows with the window. Sizes are raised
// to 2,304 bytes and capped at tcp.Config.MaxSendBufferSize; a negative
// size is EINVAL.
func (c *TCPConn) SetWriteBuffer(bytes int) error {
	if bytes < 0 {
		return c.setErr(syscall.EINVAL)
	}
	return c.setErr(c.c.SetSendBufferSize(bytes))
}

// SetNotSentLowat bounds the bytes written to the connection and not yet
// sent at bytes, as Linux's TCP_NOTSENT_LOWAT socket option (which Go's
// net package does not offer): Write blocks while that many are unsent,
// and a blocked Write resumes once fewer than half of them are, so the
// application writes little ahead of the window and its bytes are still
// in the caches when they are sent. The send buffer's limit holds as
// well. 0 (the default) turns the bound off; a negative size is EINVAL.
// A listener's accepted connections start without a bound: set it on each.
func (c *TCPConn) SetNotSentLowat(bytes int) error {
	return c.setErr(c.c.SetNotSentLowat(bytes))
}

// setErr wraps an option's error as package net does: a *net.OpError "set"
// with the local address, around an *os.SyscallError "setsockopt" for an
// errno.
func (c *TCPConn) setErr(err error) error {
	if err == nil {
		return nil
	}
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError("setsockopt", errno)
	}
	return &net.OpError{Op: "set", Net: "tcp", Addr: c.LocalAddr(), Err: err}
}

// copyBufs are the buffers ReadFrom and WriteTo copy through when they
// must, shared so that an io.Copy costs no 32 KiB allocation of its own.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// ReadFrom sends what it reads from r until io.EOF, as net.TCPConn's
// (io.ReaderFrom, which io.Copy uses). A reader that can write itself out
// (io.WriterTo: a *bytes.Reader, a *bytes.Buffer, a synack *TCPConn) hands
// its bytes straight to Write, which copies them into the send buffer once;
// other readers are read through a pooled buffer, with no allocation.
// Each buffer read is one Write, so a Write from another goroutine may fall
// between two of them, as in package net's ReadFrom from a reader that is
// not a file or a socket.
func (c *TCPConn) ReadFrom(r io.Reader) (int64, error) {
	if wt, ok := r.(io.WriterTo); ok {
		n, err := wt.WriteTo(writerOnly{c})
		return n, c.copyErr("readfrom", err)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	var n int64
	for {
		m, rerr := r.Read(*bp)
		if m > 0 {
			w, err := c.c.Write((*bp)[:m])
			n += int64(w)
			if err != nil {
				return n, c.copyErr("readfrom", err)
			}
		}
		if rerr != nil {
			return n, c.copyErr("readfrom", rerr)
		}
	}
}

// writerOnly hides ReadFrom, so that a WriteTo that ends in io.Copy does
// not come back to it.
type writerOnly struct{ io.Writer }

// WriteTo writes what the connection receives to w until the peer closes
// (io.EOF, not returned), as net.TCPConn's (io.WriterTo, which io.Copy
// uses before anything else). The received text is handed to w where it
// lies, with no copy of its own: the receive buffer's storage, or the
// link's buffer a segment arrived in, passes to w.Write and comes back
// after it. Text that cannot be taken whole that way is copied once
// through a pooled buffer, as Read would.
func (c *TCPConn) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for {
		v, ok, err := c.c.ReadView()
		if ok {
			m, werr := writeView(w, v.A, v.B)
			v.Release()
			n += int64(m)
			if werr != nil {
				return n, c.copyErr("writeto", werr)
			}
			continue
		}
		if err != nil {
			return n, c.copyErr("writeto", err)
		}
		bp := copyBufs.Get().(*[]byte)
		m, rerr := c.c.Read(*bp)
		var werr error
		if m > 0 {
			m, werr = w.Write((*bp)[:m])
			n += int64(m)
		}
		copyBufs.Put(bp)
		if werr == nil {
			werr = rerr
		}
		if werr != nil {
			return n, c.copyErr("writeto", werr)
		}
	}
}

// writeView writes a, then b, to w.
func writeView(w io.Writer, a, b []byte) (int, error) {
	n, err := w.Write(a)
	if err == nil && n < len(a) {
		err = io.ErrShortWrite
	}
	if err != nil || len(b) == 0 {
		return n, err
	}
	m, err := w.Write(b)
	if err == nil && m < len(b) {
		err = io.ErrShortWrite
	}
	return n + m, err
}

// copyErr is ReadFrom's and WriteTo's error: nil for io.EOF (the copy is
// done), else wrapped as package net wraps it.
func (c *TCPConn) copyErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return nil
	}
	if _, ok := err.(*net.OpError); ok {
		return err
	}
	return c.opErr(op, err)
}
