// Package tun connects the stack to the host kernel through a Linux TUN
// device: a network interface whose "wire" is a file descriptor. Every IPv4
// packet the kernel routes to the interface is read from the descriptor and
// delivered to the Dispatcher, and every packet written with WritePacket is
// injected into the kernel as if it had arrived on the interface. Like every
// link, a Device carries raw IPv4 packets (IFF_TUN|IFF_NO_PI: no link header,
// no packet-information prefix) and knows nothing of IP or TCP.
//
// # Offloads
//
// Unless Config.NoOffload is set, the device is opened with IFF_VNET_HDR:
// every packet read and written is prefixed by a virtio-net header (10
// bytes, vnet.go), which lets the kernel and synack pass each other TCP
// segments of up to 64 KB and packets with a partial checksum. Open asks
// the kernel (TUNSETOFFLOAD) for checksum offload, TSO4 and, where the
// kernel has it (Linux 6.2 on), UDP segmentation, dropping what it refuses
// one step at a time; Offloads reports what it took. An old kernel that
// refuses all of them still takes large segments written to it.
//
// The Device implements link.GSOEndpoint: WriteGSO writes a packet with
// the header the stack's description gives, and the kernel takes the large
// segment in whole (its TCP receives it as one; it would cut it only to
// forward it out of a device that cannot carry it). On the way in, the
// kernel hands over large segments and partial checksums only while the
// Dispatcher is a link.GSODispatcher that accepts them: Attach turns the
// offloads on or off accordingly. Such packets go to DeliverGSO; a header
// the kernel should not have sent (a GSO type not asked for, checksum
// offsets outside the packet, headers longer than the packet) drops the
// packet, counted by reason in Stats. The header is link business: the
// Device checks offsets against the packet's length, never what they
// point to, which the stack checks.
//
// Open creates the device (or attaches to an existing one), sets its MTU,
// brings it up and, optionally, gives the kernel's side of the link an
// address, so that the host can reach the stack by routing through it. It
// needs CAP_NET_ADMIN. On platforms other than Linux, Open returns an error
// that matches errors.ErrUnsupported.
//
// A Device runs one reader goroutine per queue, started by the first
// Attach and ended by Close, that reads one packet per read into its own
// reusable buffer and hands it to the Dispatcher: no memory is allocated
// per packet. The descriptors are non-blocking and served by the Go
// runtime's poller, so Close unblocks a pending read at once. If the
// device disappears while in use (deleted with `ip link del` from
// outside), the readers end, and the error is kept for Err and passed to
// Config.OnError, once: a failed read on any queue ends them all.
//
// # Queues
//
// With Config.Queues = n > 1 (at most MaxQueues), Open binds n
// descriptors to the device with IFF_MULTI_QUEUE, each with the same
// virtio-net headers (the offloads and the header size are the device's,
// not a queue's), and Attach starts n readers, which deliver to the
// Dispatcher at once: it must be safe for concurrent calls (synack's
// stack is, see link.Dispatcher). The kernel picks the queue of each
// packet it sends: Linux's automatic steering puts a flow on the queue
// that last wrote a packet of it (it learns the flow from writes, and
// forgets it after a few seconds without one), else on one chosen by a
// hash of its addresses and ports, so a flow's packets arrive in order on
// one queue. Writes go the other way: each packet is written on the
// descriptor chosen by a hash of its bytes 12 to 23, where an IPv4 header
// without options has its addresses and TCP and UDP their ports. The
// Device hashes those bytes without reading them as anything: one flow
// keeps to one descriptor, and with it to one queue on the way in, while
// writers of other flows spread over the other descriptors, each with its
// own lock and its own writer buffers. A flow the kernel has put on one
// queue before synack wrote any of it moves, at synack's first write, to
// the queue written on; packets of it already queued may then be
// delivered out of order with the next ones, which TCP bears. Stats has
// the totals over the queues and the packets each queue delivered and
// wrote.
package tun

import (
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

// readBufSize is the size of the reader's buffer (after the virtio-net
// header, if any): the largest IPv4 packet. With TSO the kernel hands over
// segments of up to 64 KB; without, nothing longer than the device MTU,
// but if someone raises the MTU from outside the buffer must still hold a
// whole packet, or the read fails. 64 KiB once per device is cheap.
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

	// NoOffload opens the device without virtio-net headers: one packet
	// of at most the MTU per read and per write, checksums complete both
	// ways, no link.GSOEndpoint. By default the offloads are on where the
	// kernel has them.
	NoOffload bool

	// Queues is how many queues the device is opened with: 0 or 1 for
	// one descriptor (the device as always), n > 1 for n descriptors
	// bound to it with IFF_MULTI_QUEUE, each served by a reader goroutine
	// of its own, at most MaxQueues. A persistent device attached to must
	// have been made multi-queue (`ip tuntap add ... multi_queue`) for
	// n > 1, and single-queue otherwise.
	Queues int

	// OnError, when set, is called once, from a reader goroutine, with
	// the error that ended the readers (the device was deleted, for
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
	// InErrors counts the failed read that ended the readers (one at
	// most: a failure on one queue ends them all).
	InErrors uint64
	// InGSOPackets counts packets delivered with DeliverGSO as the
	// kernel's virtio-net header described them: segments glued together
	// (GSO type TCPv4 or UDPv4) or with a partial checksum.
	InGSOPackets uint64
	// InLongest is the length of the longest packet delivered.
	InLongest uint64
	// InBadGSOType counts packets dropped for a virtio-net header with a
	// GSO type that was not asked for or is unknown, or that came when
	// the Dispatcher no longer takes offloaded packets.
	InBadGSOType uint64
	// InBadCsum counts packets dropped for a virtio-net header whose
	// checksum offsets lie outside the packet, or a GSO packet whose
	// checksum is not partial.
	InBadCsum uint64
	// InBadHdrLen counts packets dropped for a virtio-net header whose
	// header length exceeds the packet, or a GSO packet with no segment
	// size, or a read too short to hold the header.
	InBadHdrLen uint64

	// OutPackets counts packets WritePacket handed to the kernel.
	OutPackets uint64
	// OutOctets counts the bytes of the packets in OutPackets.
	OutOctets uint64
	// OutDiscards counts packets WritePacket refused with link.ErrTooBig.
	OutDiscards uint64
	// OutErrors counts writes the kernel refused (a malformed packet, a
	// deleted device).
	OutErrors uint64
	// OutGSOPackets counts packets written with WriteGSO with a GSO type
	// (segments for the kernel to take whole or cut); they are also in
	// OutPackets.
	OutGSOPackets uint64
	// OutLongest is the length of the longest packet written.
	OutLongest uint64

	// QueueDelivered counts, for each queue, the packets its reader
	// delivered; they add up to InPackets. It has Queues() entries, one
	// for a one-queue device, so that stack.StructCounters shows the
	// queues the device has and no more (QueueDelivered[1], on /metrics
	// synack_LinkTun_QueueDelivered{queue="1"}).
	QueueDelivered []uint64 `label:"queue"`
	// QueueWritten counts, for each queue, the packets written on its
	// descriptor; they add up to OutPackets. It has Queues() entries.
	QueueWritten []uint64 `label:"queue"`
}

// Offloads are the offloads the kernel took (TUNSETOFFLOAD).
type Offloads uint8

const (
	// OffloadCsum: packets may carry a partial checksum (TUN_F_CSUM).
	OffloadCsum Offloads = 1 << iota
	// OffloadTSO4: TCP segments over IPv4 up to 64 KB (TUN_F_TSO4).
	OffloadTSO4
	// OffloadUSO4: UDP datagrams over IPv4 to be cut (TUN_F_USO4, with
	// TUN_F_USO6, which the kernel takes only together).
	OffloadUSO4
)

// String lists the offloads, as "csum|tso4", or "none".
func (o Offloads) String() string {
	if o == 0 {
		return "none"
	}
	s := ""
	for _, x := range []struct {
		o    Offloads
		name string
	}{{OffloadCsum, "csum"}, {OffloadTSO4, "tso4"}, {OffloadUSO4, "uso4"}} {
		if o&x.o != 0 {
			if s != "" {
				s += "|"
			}
			s += x.name
		}
	}
	return s
}

// Device is an open TUN device. It implements link.Endpoint and is safe for
// concurrent use.
type Device struct {
	name    string
	mtu     int
	queues  []*queue // one, or Config.Queues, each with its descriptor
	onError func(error)

	// vnet says every packet read and written carries a virtio-net
	// header (IFF_VNET_HDR); offloads is what the kernel took at Open,
	// and inOffloads what it is asked for now (Attach sets it), which
	// the reader reads.
	vnet        bool
	offloads    Offloads
	inOffloads  atomic.Uint32
	setOffloads func(*os.File, Offloads) error // TUNSETOFFLOAD; tests replace it

	d atomic.Pointer[dispatcherBox] // nil box: detached

	// mu serializes Attach, Close and fail and guards started and err;
	// closed and stopped are also read without it.
	mu      sync.Mutex
	started bool // the reader goroutines have been started
	closed  atomic.Bool
	stopped atomic.Bool   // a reader failed, which ended them all (fail)
	err     error         // what ended the readers, if not Close
	running atomic.Int32  // reader goroutines not yet ended
	done    chan struct{} // closed when the last reader ends (or at Close if none started)

	// The per-packet counters are the queues'; these are the Device's.
	inErrors, outDiscards atomic.Uint64
}

var (
	_ link.Endpoint    = (*Device)(nil)
	_ link.GSOEndpoint = (*Device)(nil)
)

type dispatcherBox struct {
	d   link.Dispatcher
	gso link.GSODispatcher // d, when it takes offloaded packets; else nil
}

// setInOffloads asks the kernel for the offloads o on the packets it sends
// (mu held). The reader checks headers against what was asked last: a
// packet the kernel queued before a change that turned an offload off is
// dropped as one not asked for.
func (d *Device) setInOffloads(o Offloads) {
	if !d.vnet || Offloads(d.inOffloads.Load()) == o {
		return
	}
	// The kernel keeps the offloads per device, not per queue.
	if err := d.setOffloads(d.queues[0].f, o); err != nil {
		o = 0 // the kernel took these at Open: not expected
	}
	d.inOffloads.Store(uint32(o))
}

// newDevice wraps open, configured, non-blocking descriptors, one per
// queue, all bound to the interface name; vnet says they were opened with
// IFF_VNET_HDR and offloads what the kernel took.
func newDevice(files []*os.File, name string, mtu int, onError func(error), vnet bool, offloads Offloads) *Device {
	d := &Device{
		name:     name,
		mtu:      mtu,
		onError:  onError,
		vnet:     vnet,
		offloads: offloads,
		done:     make(chan struct{}),

		setOffloads: setOffloads,
	}
	for i, f := range files {
		q := &queue{d: d, i: i, f: f}
		if vnet {
			q.w.init(f)
		}
		d.queues = append(d.queues, q)
	}
	return d
}

// Queues returns how many queues (descriptors, reader goroutines) the
// Device has: one, or Config.Queues.
func (d *Device) Queues() int { return len(d.queues) }

// Offloads returns the offloads the kernel took at Open (none with
// Config.NoOffload). The kernel uses them on the way in only while the
// Dispatcher accepts offloaded packets.
func (d *Device) Offloads() Offloads { return d.offloads }

// Name returns the interface name the kernel gave the device (tun0, say),
// which differs from the name passed to Open when that was empty or a
// pattern such as "synack%d".
func (d *Device) Name() string { return d.name }

// MTU returns the device's MTU, the largest packet WritePacket accepts.
func (d *Device) MTU() int { return d.mtu }

// Stats returns a snapshot of d's counters: the sums over its queues,
// and each queue's packets delivered and written. It allocates the
// per-queue slices (one allocation), so it is for scrapes and logs, not
// for each packet.
func (d *Device) Stats() Stats {
	n := len(d.queues)
	per := make([]uint64, 2*n)
	s := Stats{
		InErrors:       d.inErrors.Load(),
		OutDiscards:    d.outDiscards.Load(),
		QueueDelivered: per[:n:n],
		QueueWritten:   per[n:],
	}
	for i, q := range d.queues {
		s.QueueDelivered[i] = q.inPackets.Load()
		s.QueueWritten[i] = q.outPackets.Load()
		s.InPackets += s.QueueDelivered[i]
		s.InOctets += q.inOctets.Load()
		s.InDiscards += q.inDiscards.Load()
		s.InGSOPackets += q.inGSO.Load()
		s.InLongest = max(s.InLongest, q.inLongest.Load())
		s.InBadGSOType += q.inBadGSOType.Load()
		s.InBadCsum += q.inBadCsum.Load()
		s.InBadHdrLen += q.inBadHdrLen.Load()
		s.OutPackets += s.QueueWritten[i]
		s.OutOctets += q.outOctets.Load()
		s.OutErrors += q.outErrors.Load()
		s.OutGSOPackets += q.outGSO.Load()
		s.OutLongest = max(s.OutLongest, q.outLongest.Load())
	}
	return s
}

// Err returns the error that ended the reader goroutines (the device was
// deleted from outside, for instance), or nil while they run and after a
// plain Close.
func (d *Device) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Attach installs disp as the receiver of the packets the kernel sends
// through the device and starts the reader goroutines on first use; with
// several queues, disp must be safe for concurrent calls.
// Attach(nil) detaches: packets read while detached are dropped and
// counted in InDiscards. Attach after Close does nothing. With offloads,
// Attach asks the kernel for them if disp is a link.GSODispatcher that
// accepts them, and stops them otherwise.
func (d *Device) Attach(disp link.Dispatcher) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return
	}
	if disp == nil {
		d.d.Store(nil)
		d.setInOffloads(0)
		return
	}
	box := &dispatcherBox{d: disp}
	if g, ok := disp.(link.GSODispatcher); ok && d.offloads != 0 && g.AcceptsGSO() {
		box.gso = g
		d.setInOffloads(d.offloads)
	} else {
		d.setInOffloads(0)
	}
	d.d.Store(box)
	if !d.started {
		d.started = true
		d.running.Store(int32(len(d.queues)))
		for _, q := range d.queues {
			go q.readLoop()
		}
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
	q := d.queueOf(pkt)
	if d.vnet {
		return q.writeVnet(pkt, link.GSO{})
	}
	n, err := q.f.Write(pkt)
	return q.wrote(n, err)
}

// WritesBlock reports true: each write is a system call into the kernel,
// which takes the packet up its own stack before it returns, so a stack
// writes to the device from writer goroutines (link.BlockingWriter).
func (d *Device) WritesBlock() bool { return true }

// GSOMaxSize returns link.MaxGSOSize when the device has virtio-net headers
// (the kernel takes large segments written to it whatever offloads it took
// for the way out), else zero.
func (d *Device) GSOMaxSize() int {
	if d.vnet {
		return link.MaxGSOSize
	}
	return 0
}

// WriteGSO writes pkt with a virtio-net header that g describes: a segment
// of up to link.MaxGSOSize bytes, or a packet of at most the MTU with a
// partial checksum. Like WritePacket, it neither keeps nor modifies pkt.
// It returns link.ErrTooBig for a packet too long, or for any packet if
// the device has no virtio-net headers (GSOMaxSize is zero).
func (d *Device) WriteGSO(pkt []byte, g link.GSO) error {
	if d.closed.Load() {
		return link.ErrClosed
	}
	if !d.vnet || len(pkt) > link.MaxGSOSize || (g.Type == link.GSONone && len(pkt) > d.mtu) {
		d.outDiscards.Add(1)
		return link.ErrTooBig
	}
	return d.queueOf(pkt).writeVnet(pkt, g)
}

// WriteGSOGather is WriteGSO for the packet made of parts (at most
// link.MaxGatherParts), written with one writev behind the virtio-net
// header: the kernel copies the pieces straight into its packet.
func (d *Device) WriteGSOGather(parts [][]byte, g link.GSO) error {
	if d.closed.Load() {
		return link.ErrClosed
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if !d.vnet || len(parts) > link.MaxGatherParts || n > link.MaxGSOSize || (g.Type == link.GSONone && n > d.mtu) {
		d.outDiscards.Add(1)
		return link.ErrTooBig
	}
	q := d.queues[0]
	if len(d.queues) > 1 {
		k := flowKey(parts...)
		q = d.queueFor(&k)
	}
	m, err := q.w.writeParts(parts, g)
	if err == nil && g.Type != link.GSONone {
		q.outGSO.Add(1)
	}
	return q.wrote(m, err)
}

// Close stops the readers and closes the descriptors, which deletes the
// device unless it was made persistent outside (`ip tuntap add`). Pending
// reads are unblocked at once. Later writes return link.ErrClosed. Close does
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
	var err error
	for _, q := range d.queues {
		if e := q.f.Close(); err == nil {
			err = e
		}
	}
	return err
}
