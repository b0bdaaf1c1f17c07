package link_test

import (
	"fmt"
	"net/netip"
	"sync"

	"github.com/synack-net/synack/link"
)

// chanEndpoint is a link.Endpoint backed by two channels: packets the
// program sends on in are delivered to the stack, and packets the stack
// writes come out on out.
type chanEndpoint struct {
	mtu  int
	in   chan []byte   // from the program to the stack
	out  chan []byte   // from the stack to the program
	done chan struct{} // closed by Close

	mu      sync.Mutex
	d       link.Dispatcher
	started bool
	closed  bool
}

var _ link.Endpoint = (*chanEndpoint)(nil)

func newChanEndpoint(mtu, depth int) *chanEndpoint {
	return &chanEndpoint{
		mtu:  mtu,
		in:   make(chan []byte, depth),
		out:  make(chan []byte, depth),
		done: make(chan struct{}),
	}
}

func (e *chanEndpoint) MTU() int { return e.mtu }

// Attach installs d and starts the one delivery goroutine on first use.
func (e *chanEndpoint) Attach(d link.Dispatcher) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.d = d
	if d != nil && !e.started && !e.closed {
		e.started = true
		go e.deliver()
	}
}

// deliver hands inbound packets to the dispatcher, in order, one at a time.
func (e *chanEndpoint) deliver() {
	for {
		select {
		case <-e.done:
			return
		case pkt := <-e.in:
			e.mu.Lock()
			d := e.d
			e.mu.Unlock()
			if d != nil { // detached: the packet is lost, as on a real link
				d.DeliverPacket(pkt)
			}
		}
	}
}

// WritePacket copies pkt (the stack reuses its buffer) and queues the copy;
// it never calls the dispatcher and never blocks.
func (e *chanEndpoint) WritePacket(pkt []byte) error {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return link.ErrClosed
	}
	if len(pkt) > e.mtu {
		return link.ErrTooBig
	}
	select {
	case e.out <- append([]byte(nil), pkt...):
	default: // the program is not keeping up: drop, IP is best effort
	}
	return nil
}

func (e *chanEndpoint) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		close(e.done)
	}
	return nil
}

// printer stands in for the stack: in a real program the Dispatcher is the
// synack stack, which attaches itself when it is given the endpoint.
type printer struct{ got chan struct{} }

func (p printer) DeliverPacket(pkt []byte) {
	if len(pkt) >= 20 { // never trust input bytes: check before indexing
		src := netip.AddrFrom4([4]byte(pkt[12:16]))
		dst := netip.AddrFrom4([4]byte(pkt[16:20]))
		fmt.Printf("stack got %d bytes: %v -> %v, protocol %d\n", len(pkt), src, dst, pkt[9])
	}
	p.got <- struct{}{}
}

// ipv4Header returns a 20-byte IPv4 header with no payload (checksum left
// zero: the link never looks at it).
func ipv4Header(src, dst netip.Addr, protocol byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45 // version 4, IHL 5
	h[3] = 20   // total length
	h[8] = 64   // TTL
	h[9] = protocol
	s, d := src.As4(), dst.As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	return h
}

// Example shows a program outside the module connecting its own transport
// to the stack: it feeds raw IPv4 packets in through a channel and reads the
// packets the stack sends from another.
func Example() {
	ep := newChanEndpoint(1500, 16)
	defer ep.Close()

	stack := printer{got: make(chan struct{})}
	ep.Attach(stack)

	// Inbound: a packet from the program's transport reaches the stack.
	host, peer := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	ep.in <- ipv4Header(peer, host, 6)
	<-stack.got

	// Outbound: what the stack writes comes out of the channel, and the
	// stack may reuse its buffer as soon as WritePacket returns.
	buf := ipv4Header(host, peer, 6)
	if err := ep.WritePacket(buf); err != nil {
		fmt.Println(err)
	}
	clear(buf)
	pkt := <-ep.out
	fmt.Printf("program got %d bytes for %v\n", len(pkt), netip.AddrFrom4([4]byte(pkt[16:20])))

	// The link refuses what it cannot carry.
	fmt.Println(ep.WritePacket(make([]byte, 1501)))
	ep.Close()
	fmt.Println(ep.WritePacket(buf))

	// Output:
	// stack got 20 bytes: 10.0.0.2 -> 10.0.0.1, protocol 6
	// program got 20 bytes for 10.0.0.2
	// packet larger than MTU
	// link closed
}
