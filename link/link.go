// Package link is the bottom layer of the stack: a network interface that
// carries raw IPv4 packets, one whole packet per write and per delivery,
// with no link-layer header. It knows nothing of IP or TCP: an Endpoint moves
// opaque byte slices of at most MTU bytes and never looks inside them (an
// offloading one carries longer ones, described by offsets the stack gives;
// see Segmentation offload below).
//
// The stack writes outbound packets with Endpoint.WritePacket and receives
// inbound ones through the Dispatcher it installs with Endpoint.Attach.
// Wrappers that observe or disturb traffic (a pcap writer, a fault injector)
// are themselves Endpoints around another Endpoint, so they plug in without
// special cases in the stack.
//
// # Implementing an Endpoint outside this module
//
// Any program can connect the stack to its own transport (a TUN device, a
// UDP tunnel, a simulator, a channel) by implementing Endpoint. The rules
// are few:
//
//   - MTU returns the largest IP packet the link carries; WritePacket refuses
//     anything longer with ErrTooBig.
//   - WritePacket must not keep pkt after it returns: the stack reuses the
//     buffer at once. Copy what you queue.
//   - WritePacket must never call a Dispatcher synchronously (the stack may
//     hold its own locks while writing). Queue the packet and deliver it
//     from another goroutine.
//   - Attach installs the Dispatcher; deliver nothing before it, and
//     nothing to a Dispatcher after it has been replaced or removed with
//     Attach(nil). Deliver one packet per DeliverPacket call, in the order
//     the packets arrived, from one goroutine at a time.
//   - The slice passed to DeliverPacket belongs to the endpoint again once
//     the call returns, so a buffer may be reused for the next packet; the
//     Dispatcher copies what it keeps and never modifies it.
//   - Close stops delivery; WritePacket after Close returns ErrClosed.
//
// # Segmentation offload
//
// An Endpoint may carry packets longer than its MTU when its far end cuts
// them (GSOEndpoint) and deliver packets its far end glued together
// (GSODispatcher): a TUN device with virtio-net headers does both, and
// takes a packet in pieces (GatherEndpoint), so that a segment's text goes
// from the send buffer to the far end without a copy into a packet. This is
// the one place a link deals in what a packet holds, and only as offsets
// the stack computes and checks: a GSO value says where the headers end,
// how long each cut segment's payload is and where the transport checksum
// lies, and the link copies those numbers into its own descriptor without
// parsing IP or TCP. Building the large segment, and checking an arriving
// one, is the stack's business (gso.go).
//
// # Shared text
//
// Between two stacks in one process the receiver can read a segment's
// text straight from the sender's send buffer: the writer passes the
// headers in a buffer of their own and the text with a hold on its memory
// (TextSharer, Releaser), the link carries both as they are, and the
// receiving Dispatcher (SharedDispatcher) keeps the hold until its reader
// has copied the text out. The text is copied twice on its way, into the
// send buffer and out to the reader, as between two sockets of one
// kernel. The link still only moves bytes and holds: it never looks
// inside either.
//
// # Batches and blocking writes
//
// Two more capabilities change how the stack drives a link, not what it
// carries. A link that has several packets at once hands them over in one
// call when its Dispatcher is a BatchDispatcher, as link/pipe does, and
// the stack then answers a burst of one connection's segments once; a
// Lender that is a BatchLender takes back many lent buffers under one
// lock. A link whose writes wait in the kernel (BlockingWriter, a TUN
// device) is written by a goroutine of the stack's own, so the goroutines
// that make packets need not wait for each system call.
//
// A packet the link cannot carry (a full queue, nobody attached) is dropped
// and counted, not reported as an error: IP is a best-effort service and
// TCP recovers. The example shows a channel-backed Endpoint.
package link

import "errors"

// Endpoint is a network interface that carries raw IPv4 packets (no link
// header). Its methods are safe for concurrent use.
type Endpoint interface {
	// MTU returns the largest IP packet, in bytes, the link carries.
	MTU() int

	// Attach installs the receiver of inbound packets; delivery starts
	// after Attach. Attach(nil) detaches: later inbound packets are dropped.
	Attach(d Dispatcher)

	// WritePacket sends one IP packet. It does not keep pkt after it
	// returns (it copies what it queues) and does not modify it. It must
	// not deliver into any Dispatcher synchronously: it queues instead. It
	// returns ErrTooBig if len(pkt) > MTU() and ErrClosed after Close.
	WritePacket(pkt []byte) error

	// Close stops delivery; later writes return ErrClosed.
	Close() error
}

// HandOff is implemented by an Endpoint that can take a packet's buffer
// over instead of copying it, as an in-memory link can: the writer builds
// the packet in a buffer from NewBuffer and gives it away with WriteOwned.
// The stack uses it when its Endpoint has it, and WritePacket otherwise;
// wrappers need not implement it.
type HandOff interface {
	// NewBuffer returns a buffer of length n for an outbound packet. It is
	// the caller's until it passes it to WriteOwned.
	NewBuffer(n int) []byte

	// WriteOwned sends pkt, a buffer from NewBuffer (it may be shortened),
	// and takes it over: the caller must not touch it again, whatever the
	// result. Errors are those of WritePacket.
	WriteOwned(pkt []byte) error
}

// ChecksumOffloader is implemented by an Endpoint that can leave the
// transport checksums out, as Linux's loopback does: one whose packets
// reach the far end byte for byte, never crossing a wire that could
// corrupt them, and whose far end knows it. When ChecksumOffload reports
// true, the stack writes each TCP segment with only the pseudo-header sum
// in its checksum field (the partial checksum a GSOEndpoint's packets
// carry) and takes the TCP segments and UDP datagrams the link delivers
// without verifying their checksums (the IPv4 header checksum is still
// written and verified). A capture of such a link shows the partial sums,
// as a capture on a host with checksum offload shows them. Both ends of
// the link must agree; wrappers that change packets (fault injection)
// must not pass it on.
type ChecksumOffloader interface {
	ChecksumOffload() bool
}

// BlockingWriter is implemented by an Endpoint whose writes wait in the
// kernel, a system call each (a TUN device's), rather than queueing in
// memory as link/pipe's do. A stack writes to such a link from a writer
// goroutine of each shard, as a kernel's qdisc and driver send while the
// application goes on: the goroutines that make packets (an application's
// Write, the link's own deliveries of ACKs) make the next ones while the
// last are written, instead of taking turns with the system call. Wrappers
// need not implement it; the stack then writes as the packets are made.
type BlockingWriter interface {
	// WritesBlock reports whether writes wait in the kernel.
	WritesBlock() bool
}

// Dispatcher receives the packets an Endpoint delivers. The stack is the
// usual Dispatcher. An Endpoint with one receive queue delivers from one
// goroutine at a time; one with several (a multi-queue TUN device, a card
// with receive-side scaling) may deliver from one goroutine per queue at
// once, when its Dispatcher is safe for concurrent calls. synack's stack
// is: its DeliverPacket and DeliverBorrowed may run on several goroutines,
// and packets of different connections then proceed in parallel.
type Dispatcher interface {
	// DeliverPacket hands over one inbound IP packet. pkt is valid only
	// during the call: the receiver never modifies it and copies what it
	// keeps.
	DeliverPacket(pkt []byte)
}

// Lender is implemented by an Endpoint that lends the buffers it delivers,
// as an in-memory link can: when its Dispatcher is a Borrower, it delivers
// with DeliverBorrowed, and a buffer the Dispatcher keeps comes back to it
// through Recycle once the Dispatcher is done with it. A receiver that
// keeps the packets holding a stream's data then never copies them out:
// its reader copies straight from the link's buffers.
type Lender interface {
	// Recycle gives back a buffer a DeliverBorrowed call kept, for the
	// endpoint to reuse. The caller must not touch it again. A kept
	// buffer that is never recycled is left to the collector.
	Recycle(pkt []byte)
}

// BatchLender is a Lender that takes back several buffers in one call,
// as a reader that has read many kept packets gives them back: one lock of
// the endpoint's free list for all of them. The caller must not touch
// them again, and the endpoint must not keep pkts itself.
type BatchLender interface {
	Lender
	RecycleAll(pkts [][]byte)
}

// Borrower is implemented by a Dispatcher that can keep delivered buffers
// (see Lender). Endpoints that do not lend ignore it and call
// DeliverPacket.
type Borrower interface {
	Dispatcher
	// DeliverBorrowed is DeliverPacket for a buffer the Dispatcher may
	// keep past the call. It reports whether it kept pkt: if so the buffer
	// is the Dispatcher's, unmodified, until it gives it back with the
	// endpoint's Recycle; if not, it belongs to the endpoint again once
	// the call returns, as with DeliverPacket.
	DeliverBorrowed(pkt []byte) (kept bool)
}

// BatchDispatcher is a Dispatcher that takes the packets a link has at
// once in one call, as an interrupt hands a driver a ring's worth: it may
// then answer a burst of one connection's segments once, as Linux answers
// the segment GRO merged them into. An Endpoint that collects packets
// before delivering them (link/pipe) uses it when its Dispatcher has it;
// the stack does.
type BatchDispatcher interface {
	Dispatcher
	// DeliverBatch delivers pkts in order, as DeliverPacket would each.
	// With lent true the buffers are lent as to DeliverBorrowed (the
	// Endpoint is a Lender): on return pkts[i] is nil for each packet the
	// Dispatcher kept, to be given back through Recycle; the others, and
	// all of them with lent false, belong to the Endpoint again.
	DeliverBatch(pkts [][]byte, lent bool)
}

// Releaser is a hold on memory that a packet's text lies in and that its
// writer lends to the far end (TextSharer): Release gives the hold back,
// once, when the holder is done with the text. It may be called from any
// goroutine.
type Releaser interface {
	Release()
}

// TextSharer is implemented by an Endpoint whose far end can read a
// packet's text where its writer keeps it, as an in-memory link between
// two stacks of one process can: the writer's send buffer then serves as
// the receiver's buffer too, and the text is never copied into a packet.
// The stack uses it for large TCP segments when its Endpoint has it (and
// leaves checksums out, ChecksumOffloader); wrappers need not implement it.
type TextSharer interface {
	HandOff
	// WriteShared sends the packet whose first bytes are hdr, a buffer
	// from NewBuffer taken over as WriteOwned takes it, and whose last
	// are text: its total length is len(hdr)+len(text), which the MTU
	// bounds. text must not change until ref is released, which the
	// endpoint does exactly once, whatever the result: when the far end's
	// Dispatcher is done with it, or when the packet is dropped. Errors
	// are those of WritePacket.
	WriteShared(hdr, text []byte, ref Releaser) error
}

// SharedDispatcher is a BatchDispatcher that takes packets whose text
// lies apart from their headers (TextSharer). An Endpoint that shares text
// delivers with DeliverShared when its Dispatcher has it, and otherwise
// copies each shared packet whole into a buffer of its own first.
type SharedDispatcher interface {
	BatchDispatcher
	// DeliverShared is DeliverBatch where texts[i], when not nil, is the
	// text of packet i, whose headers are pkts[i], and refs[i] its hold.
	// On return refs[i] is nil for each text the Dispatcher kept, which it
	// releases when done with it; the Endpoint releases the others. pkts
	// are lent or not as DeliverBatch says; a shared packet's header
	// buffer is never kept.
	DeliverShared(pkts, texts [][]byte, refs []Releaser, lent bool)
}

// ErrClosed is returned by WritePacket after the endpoint has been closed.
var ErrClosed = errors.New("link closed")

// ErrTooBig is returned by WritePacket for a packet larger than the MTU.
var ErrTooBig = errors.New("packet larger than MTU")
