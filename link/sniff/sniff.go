// Package sniff records the traffic of a link in a pcap file that tcpdump,
// Wireshark and tshark read. An Endpoint wraps any link.Endpoint and passes
// every packet through unchanged, writing a record of each one on the way:
// outbound packets in WritePacket, before the inner endpoint sends them,
// and inbound ones in DeliverPacket, before the Dispatcher sees them. Like
// every link, it treats packets as opaque bytes (a partial checksum is
// completed at the offsets an offload description gives, not by parsing).
//
// The file is the classic pcap format with nanosecond timestamps (magic
// 0xa1b23c4d, version 2.4, little-endian) and link type LINKTYPE_RAW (101):
// each record is a bare IP packet. It is written by hand, about sixty
// lines, rather than through a pcap library, which would pull a packet
// decoding framework into the core module for a fixed 24-byte header and a
// 16-byte record header.
//
// # Offloads
//
// When the inner endpoint offloads segmentation (link.GSOEndpoint), so does
// the wrapper, and when the Dispatcher takes offloaded packets
// (link.GSODispatcher), the wrapper passes them on: a capture never turns
// the offloads off. The capture then shows the packets as they pass, that
// is the large segments BEFORE the far end cuts them (synack's, up to 64
// KB) and AFTER it glued them together (the kernel's), as tcpdump on a
// device with TSO and GRO shows them; it does not show the MTU-sized
// segments on the far side. A packet with a partial checksum is recorded
// with the checksum completed (link.CompleteChecksum, the checksum of the
// whole before cutting), so that tools verifying checksums find them
// right; the packet passed on is untouched.
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
	scratch []byte                // a copy whose checksum is completed, made on first use
	err     error                 // the first write error; nothing is written after it
	stopped bool                  // Close has flushed: nothing is written after it

	closed atomic.Bool

	in, out, lost atomic.Uint64
}

var (
	_ link.Endpoint      = (*Endpoint)(nil)
	_ link.GSOEndpoint   = (*Endpoint)(nil)
	_ link.GSODispatcher = (*dispatcher)(nil)
)

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

// AcceptsGSO answers for the wrapped Dispatcher.
func (x *dispatcher) AcceptsGSO() bool {
	g, ok := x.d.(link.GSODispatcher)
	return ok && g.AcceptsGSO()
}

// DeliverGSO records pkt, its checksum completed, then hands it to the
// wrapped Dispatcher. The inner endpoint uses it only when AcceptsGSO
// said yes; should it anyway, the packet is dropped after the record.
func (x *dispatcher) DeliverGSO(pkt []byte, g link.GSO) {
	x.e.recordGSO(pkt, g, &x.e.in)
	if d, ok := x.d.(link.GSODispatcher); ok {
		d.DeliverGSO(pkt, g)
	}
}

// GSOMaxSize returns the inner endpoint's, or zero if it offloads nothing.
func (e *Endpoint) GSOMaxSize() int {
	if g, ok := e.inner.(link.GSOEndpoint); ok {
		return g.GSOMaxSize()
	}
	return 0
}

// WriteGSO records pkt, its checksum completed, and hands it to the inner
// endpoint as g describes it, returning what that returns; without an
// offloading inner endpoint it returns link.ErrTooBig and records nothing.
func (e *Endpoint) WriteGSO(pkt []byte, g link.GSO) error {
	if e.closed.Load() {
		return link.ErrClosed
	}
	in, ok := e.inner.(link.GSOEndpoint)
	if !ok || len(pkt) > in.GSOMaxSize() {
		return link.ErrTooBig
	}
	e.recordGSO(pkt, g, &e.out)
	return in.WriteGSO(pkt, g)
}

// recordGSO records pkt with its partial checksum, if any, completed.
func (e *Endpoint) recordGSO(pkt []byte, g link.GSO, n *atomic.Uint64) {
	if !g.NeedsCsum {
		e.record(pkt, n)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.scratch == nil {
		e.scratch = make([]byte, link.MaxGSOSize)
	}
	c := e.scratch[:copy(e.scratch, pkt)]
	link.CompleteChecksum(c, g)
	e.recordLocked(c, n)
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
	e.recordLocked(pkt, n)
}

// recordLocked is record with mu held.
func (e *Endpoint) recordLocked(pkt []byte, n *atomic.Uint64) {
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
