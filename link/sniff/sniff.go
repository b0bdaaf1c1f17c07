// Package sniff records the traffic of a link in a pcap file that tcpdump,
// Wireshark and tshark read. An Endpoint wraps any link.Endpoint and passes
// every packet through unchanged, writing a record of each one on the way:
// outbound packets in WritePacket, before the inner endpoint sends them,
// and inbound ones in DeliverPacket, before the Dispatcher sees them. Like
// every link, it treats packets as opaque bytes.
//
// The file is the classic pcap format with nanosecond timestamps (magic
// 0xa1b23c4d, version 2.4, little-endian) and link type LINKTYPE_RAW (101):
// each record is a bare IP packet. It is written by hand, about sixty
// lines, rather than through a pcap library, which would pull a packet
// decoding framework into the core module for a fixed 24-byte header and a
// 16-byte record header.
//
// Timestamps come from a clock that tests replace (WithClock), so captures
// are deterministic. Records are written under a mutex, in the order the
// packets pass, and flushed one by one, so a reader following the file
// sees each packet at once. A write error never reaches the data path:
// traffic goes on, the first error is kept for Err, and the packets that
// could not be recorded are counted in Stats.Lost.
package sniff

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack/link"
)

// The pcap file format (draft-ietf-opsawg-pcap, classic pcap).
const (
	// magicNanoseconds marks a pcap file whose timestamps are seconds and
	// nanoseconds.
	magicNanoseconds = 0xa1b23c4d
	versionMajor     = 2
	versionMinor     = 4
	// SnapLen is the most bytes of a packet a record holds; longer packets
	// are cut, with their original length kept in the record header. No
	// IPv4 packet is that long.
	SnapLen = 262144
	// LinkTypeRaw is LINKTYPE_RAW: each record is an IPv4 or IPv6 packet,
	// with no link header.
	LinkTypeRaw = 101

	fileHeaderLen   = 24
	recordHeaderLen = 16
)

// bufSize holds a whole record of the largest IPv4 packet, so each record
// leaves in one write.
const bufSize = recordHeaderLen + 65535

// Stats counts what an Endpoint recorded.
type Stats struct {
	// InPackets counts inbound packets recorded (delivered by the inner
	// endpoint).
	InPackets uint64
	// OutPackets counts outbound packets recorded (written to the inner
	// endpoint).
	OutPackets uint64
	// Lost counts packets that passed but could not be recorded because
	// the writer failed (see Err).
	Lost uint64
}

// Option changes how New records.
type Option func(*Endpoint)

// WithClock makes the Endpoint take record timestamps from now instead of
// time.Now. now is called with the Endpoint's writer lock held, once per
// packet, and must not call back into the Endpoint.
func WithClock(now func() time.Time) Option {
	return func(e *Endpoint) { e.now = now }
}

// Endpoint is a link.Endpoint that records every packet passing through the
// endpoint it wraps. It is safe for concurrent use.
type Endpoint struct {
	inner  link.Endpoint
	now    func() time.Time
	closer io.Closer // the file Create opened, closed by Close

	// mu guards the writer and everything below it; the writer is only
	// ever used with mu held, and mu is never held while calling the
	// inner endpoint or a Dispatcher.
	mu      sync.Mutex
	bw      *bufio.Writer
	hdr     [recordHeaderLen]byte // scratch record header
	err     error                 // the first write error; nothing is written after it
	stopped bool                  // Close has flushed: nothing is written after it

	closed atomic.Bool

	in, out, lost atomic.Uint64
}

var _ link.Endpoint = (*Endpoint)(nil)

// New returns an Endpoint that wraps inner and records its packets to w,
// starting with the pcap file header. It returns an error, and wraps
// nothing, if writing the header fails. w is used under a lock on the data
// path: it should not block for long (a file or a buffer, not a pipe that
// nobody reads).
func New(inner link.Endpoint, w io.Writer, opts ...Option) (*Endpoint, error) {
	e := &Endpoint{
		inner: inner,
		now:   time.Now,
		bw:    bufio.NewWriterSize(w, bufSize),
	}
	for _, o := range opts {
		o(e)
	}
	var h [fileHeaderLen]byte
	le := binary.LittleEndian
	le.PutUint32(h[0:], magicNanoseconds)
	le.PutUint16(h[4:], versionMajor)
	le.PutUint16(h[6:], versionMinor)
	// h[8:16]: thiszone and sigfigs, zero (timestamps are UTC).
	le.PutUint32(h[16:], SnapLen)
	le.PutUint32(h[20:], LinkTypeRaw)
	e.bw.Write(h[:])
	if err := e.bw.Flush(); err != nil {
		return nil, fmt.Errorf("sniff: writing the pcap header: %w", err)
	}
	return e, nil
}

// Create creates (or truncates) the file path and returns an Endpoint that
// wraps inner and records its packets there; Close closes the file.
func Create(inner link.Endpoint, path string, opts ...Option) (*Endpoint, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("sniff: %w", err)
	}
	e, err := New(inner, f, opts...)
	if err != nil {
		f.Close()
		return nil, err
	}
	e.closer = f
	return e, nil
}

// MTU returns the inner endpoint's MTU.
func (e *Endpoint) MTU() int { return e.inner.MTU() }

// Stats returns a snapshot of e's counters.
func (e *Endpoint) Stats() Stats {
	return Stats{InPackets: e.in.Load(), OutPackets: e.out.Load(), Lost: e.lost.Load()}
}

// Err returns the first error writing the capture, or nil. After it,
// packets still pass but are no longer recorded.
func (e *Endpoint) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// Attach installs d as the receiver of the inner endpoint's packets, each
// recorded before d sees it. Attach(nil) detaches the inner endpoint.
func (e *Endpoint) Attach(d link.Dispatcher) {
	if d == nil {
		e.inner.Attach(nil)
		return
	}
	e.inner.Attach(&dispatcher{e: e, d: d})
}

// dispatcher records each inbound packet and passes it on.
type dispatcher struct {
	e *Endpoint
	d link.Dispatcher
}

// DeliverPacket records pkt, then hands it to the wrapped Dispatcher.
func (x *dispatcher) DeliverPacket(pkt []byte) {
	x.e.record(pkt, &x.e.in)
	x.d.DeliverPacket(pkt)
}

// WritePacket records pkt and hands it to the inner endpoint, returning
// what that returns. A packet longer than the MTU is not recorded (the
// inner endpoint refuses it with link.ErrTooBig). pkt is neither kept nor
// modified. It returns link.ErrClosed after Close.
func (e *Endpoint) WritePacket(pkt []byte) error {
	if e.closed.Load() {
		return link.ErrClosed
	}
	if len(pkt) <= e.inner.MTU() {
		e.record(pkt, &e.out)
	}
	return e.inner.WritePacket(pkt)
}

// record writes one pcap record for pkt and counts it in n.
func (e *Endpoint) record(pkt []byte, n *atomic.Uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	if e.err != nil {
		e.lost.Add(1)
		return
	}
	t := e.now()
	caplen := min(len(pkt), SnapLen)
	le := binary.LittleEndian
	le.PutUint32(e.hdr[0:], uint32(t.Unix()))
	le.PutUint32(e.hdr[4:], uint32(t.Nanosecond()))
	le.PutUint32(e.hdr[8:], uint32(caplen))
	le.PutUint32(e.hdr[12:], uint32(len(pkt)))
	e.bw.Write(e.hdr[:]) // a bufio.Writer's error is sticky: Flush reports it
	e.bw.Write(pkt[:caplen])
	if err := e.bw.Flush(); err != nil {
		e.err = fmt.Errorf("sniff: writing a record: %w", err)
		e.lost.Add(1)
		return
	}
	n.Add(1)
}

// Close closes the inner endpoint, flushes the capture and closes the file
// if Create opened it; it returns the first error of these, joined. Later
// writes return link.ErrClosed and nothing more is recorded. Closing twice
// does nothing.
func (e *Endpoint) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	errInner := e.inner.Close()

	e.mu.Lock()
	e.stopped = true
	var errFlush error
	if e.err == nil {
		if err := e.bw.Flush(); err != nil {
			e.err = fmt.Errorf("sniff: flushing: %w", err)
			errFlush = e.err
		}
	}
	e.mu.Unlock()

	var errFile error
	if e.closer != nil {
		if err := e.closer.Close(); err != nil {
			errFile = fmt.Errorf("sniff: %w", err)
		}
	}
	return errors.Join(errInner, errFlush, errFile)
}
