// Package tun connects the stack to the host kernel through a Linux TUN
// device: a network interface whose "wire" is a file descriptor. Every IPv4
// packet the kernel routes to the interface is read from the descriptor and
// delivered to the Dispatcher, and every packet written with WritePacket is
// injected into the kernel as if it had arrived on the interface. Like every
// link, a Device carries raw IPv4 packets (IFF_TUN|IFF_NO_PI: no link header,
// no packet-information prefix) and knows nothing of IP or TCP.
//
// Open creates the device (or attaches to an existing one), sets its MTU,
// brings it up and, optionally, gives the kernel's side of the link an
// address, so that the host can reach the stack by routing through it. It
// needs CAP_NET_ADMIN. On platforms other than Linux, Open returns an error
// that matches errors.ErrUnsupported.
//
// A Device runs one reader goroutine, started by the first Attach and ended
// by Close, that reads one packet per read into a single reusable buffer and
// hands it to the Dispatcher: no memory is allocated per packet. The
// descriptor is non-blocking and served by the Go runtime's poller, so Close
// unblocks a pending read at once. If the device disappears while in use
// (deleted with `ip link del` from outside), the reader ends, and the error
// is kept for Err and passed to Config.OnError.
package tun

import (
	"errors"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/synack-net/synack/link"
)

// DefaultMTU is the MTU a Device gets when Config.MTU is zero.
const DefaultMTU = 1500

// minMTU and maxMTU bound Config.MTU: every IPv4 link carries 68 bytes
// (RFC 791 §3.2), and no IPv4 packet exceeds 65535.
const (
	minMTU = 68
	maxMTU = 65535
)

// readBufSize is the size of the reader's buffer: the largest IPv4 packet.
// The kernel sends the reader nothing longer than the device MTU, but if
// someone raises the MTU from outside the buffer must still hold a whole
// packet, or the read fails; 64 KiB once per device is cheap.
const readBufSize = maxMTU

// Config describes the device Open creates.
type Config struct {
	// MTU is the device's MTU and the largest packet WritePacket accepts;
	// zero means DefaultMTU. It must be within 68..65535.
	MTU int

	// HostAddr, when valid, is the IPv4 address and prefix the kernel's
	// side of the link gets (10.7.0.1/24, say): the kernel then routes the
	// prefix through the device. The stack uses another address of the
	// prefix. If the device already has it, that is not an error.
	HostAddr netip.Prefix

	// OnError, when set, is called once, from the reader goroutine, with
	// the error that ended the reader (the device was deleted, for
	// instance). It is not called for Close. Err reports the same error.
	OnError func(error)
}

// Stats counts a Device's traffic. The names follow IF-MIB (RFC 2863).
type Stats struct {
	// InPackets counts packets read from the device and delivered to the
	// Dispatcher (the count grows once DeliverPacket has returned).
	InPackets uint64
	// InOctets counts the bytes of the packets in InPackets.
	InOctets uint64
	// InDiscards counts packets read while no Dispatcher was attached.
	InDiscards uint64
	// InErrors counts failed reads; the first one ends the reader.
	InErrors uint64

	// OutPackets counts packets WritePacket handed to the kernel.
	OutPackets uint64
	// OutOctets counts the bytes of the packets in OutPackets.
	OutOctets uint64
	// OutDiscards counts packets WritePacket refused with link.ErrTooBig.
	OutDiscards uint64
	// OutErrors counts writes the kernel refused (a malformed packet, a
	// deleted device).
	OutErrors uint64
}

// Device is an open TUN device. It implements link.Endpoint and is safe for
// concurrent use.
type Device struct {
	name    string
	mtu     int
	f       *os.File // the non-blocking /dev/net/tun descriptor
	onError func(error)

	d atomic.Pointer[dispatcherBox] // nil box: detached

	// mu serializes Attach and Close and guards started and err; closed
	// is also read without it.
	mu      sync.Mutex
	started bool // the reader goroutine has been started
	closed  atomic.Bool
	err     error         // what ended the reader, if not Close
	done    chan struct{} // closed when the reader ends (or at Close if it never started)

	inPackets, inOctets, inDiscards, inErrors     atomic.Uint64
	outPackets, outOctets, outDiscards, outErrors atomic.Uint64
}

var _ link.Endpoint = (*Device)(nil)

type dispatcherBox struct{ d link.Dispatcher }

// newDevice wraps an open, configured, non-blocking descriptor.
func newDevice(f *os.File, name string, mtu int, onError func(error)) *Device {
	return &Device{
		name:    name,
		mtu:     mtu,
		f:       f,
		onError: onError,
		done:    make(chan struct{}),
	}
}

// Name returns the interface name the kernel gave the device (tun0, say),
// which differs from the name passed to Open when that was empty or a
// pattern such as "synack%d".
func (d *Device) Name() string { return d.name }

// MTU returns the device's MTU, the largest packet WritePacket accepts.
func (d *Device) MTU() int { return d.mtu }

// Stats returns a snapshot of d's counters.
func (d *Device) Stats() Stats {
	return Stats{
		InPackets:   d.inPackets.Load(),
		InOctets:    d.inOctets.Load(),
		InDiscards:  d.inDiscards.Load(),
		InErrors:    d.inErrors.Load(),
		OutPackets:  d.outPackets.Load(),
		OutOctets:   d.outOctets.Load(),
		OutDiscards: d.outDiscards.Load(),
		OutErrors:   d.outErrors.Load(),
	}
}

// Err returns the error that ended the reader goroutine (the device was
// deleted from outside, for instance), or nil while it runs and after a
// plain Close.
func (d *Device) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Attach installs disp as the receiver of the packets the kernel sends
// through the device and starts the reader goroutine on first use.
// Attach(nil) detaches: packets read while detached are dropped and
// counted in InDiscards. Attach after Close does nothing.
func (d *Device) Attach(disp link.Dispatcher) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return
	}
	if disp == nil {
		d.d.Store(nil)
		return
	}
	d.d.Store(&dispatcherBox{disp})
	if !d.started {
		d.started = true
		go d.readLoop()
	}
}

// readLoop is the reader goroutine: it reads one packet per read into buf
// and hands it to the Dispatcher, until Close or a read error.
func (d *Device) readLoop() {
	defer close(d.done)
	buf := make([]byte, readBufSize)
	for {
		n, err := d.f.Read(buf)
		if err != nil {
			if d.closed.Load() || errors.Is(err, os.ErrClosed) {
				return // Close: not an error
			}
			d.fail(readError(d.name, err))
			return
		}
		box := d.d.Load()
		if box == nil || d.closed.Load() {
			d.inDiscards.Add(1)
			continue
		}
		box.d.DeliverPacket(buf[:n])
		d.inPackets.Add(1)
		d.inOctets.Add(uint64(n))
	}
}

// fail records the error that ended the reader and reports it.
func (d *Device) fail(err error) {
	d.inErrors.Add(1)
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
	if d.onError != nil {
		d.onError(err)
	}
}

// WritePacket hands one IPv4 packet to the kernel, as if it had arrived on
// the device. The write system call consumes pkt, so nothing is copied or
// kept, and WritePacket never calls a Dispatcher. It returns link.ErrTooBig
// if len(pkt) > MTU(), link.ErrClosed after Close, and the kernel's error
// (counted in OutErrors) if it refuses the packet: EINVAL for one that is
// not IP, EBADFD once the device has been deleted.
func (d *Device) WritePacket(pkt []byte) error {
	if d.closed.Load() {
		return link.ErrClosed
	}
	if len(pkt) > d.mtu {
		d.outDiscards.Add(1)
		return link.ErrTooBig
	}
	n, err := d.f.Write(pkt)
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return link.ErrClosed
		}
		d.outErrors.Add(1)
		return writeError(d.name, err)
	}
	d.outPackets.Add(1)
	d.outOctets.Add(uint64(n))
	return nil
}

// Close stops the reader and closes the descriptor, which deletes the
// device unless it was made persistent outside (`ip tuntap add`). A pending
// read is unblocked at once. Later writes return link.ErrClosed. Close does
// not wait for a DeliverPacket call in progress, so a Dispatcher may call
// it. Closing twice does nothing.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed.Load() {
		d.mu.Unlock()
		return nil
	}
	d.closed.Store(true)
	d.d.Store(nil)
	if !d.started {
		close(d.done) // no reader to end
	}
	d.mu.Unlock()
	return d.f.Close()
}
