package lab

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// cable is the lab's link: every packet written at either end waits in one
// queue, in order, until the scenario's goroutine delivers it to the end
// that owns its destination address. Nothing moves on its own, so the
// order of events is the scenario's.
type cable struct {
	mtu int

	mu      sync.Mutex
	queue   [][]byte           // packets written, not yet delivered, oldest first
	plugs   []*plug            // the ends, by address
	drop    func(*tcpSeg) bool // the scenario's choice of segments to lose; nil for none
	hold    func(*tcpSeg) bool // the scenario's choice of segments to hold back; nil for none
	held    [][]byte           // the packets hold took, oldest first
	dropped int                // packets drop took
	nowhere int                // packets for an address no end has
}

// plug is one end of the cable: a link.Endpoint with an address.
type plug struct {
	c    *cable
	addr netip.Addr
	d    atomic.Pointer[dispatcherBox]
}

type dispatcherBox struct{ d link.Dispatcher }

// newCable returns a cable of the given MTU.
func newCable(mtu int) *cable { return &cable{mtu: mtu} }

// plug returns a new end for addr.
func (c *cable) plug(addr netip.Addr) *plug {
	p := &plug{c: c, addr: addr}
	c.mu.Lock()
	c.plugs = append(c.plugs, p)
	c.mu.Unlock()
	return p
}

func (p *plug) MTU() int { return p.c.mtu }

func (p *plug) Attach(d link.Dispatcher) { p.d.Store(&dispatcherBox{d}) }

// WritePacket queues a copy of pkt, unless the scenario chose to lose it.
func (p *plug) WritePacket(pkt []byte) error {
	if len(pkt) > p.c.mtu {
		return link.ErrTooBig
	}
	p.c.write(pkt)
	return nil
}

func (p *plug) Close() error { p.d.Store(nil); return nil }

// inject queues pkt, the scenario's own segment (an old duplicate, a
// flood), behind what is queued; the scenario's drops and holds do not
// apply to it.
func (c *cable) inject(pkt []byte) {
	c.mu.Lock()
	c.queue = append(c.queue, pkt)
	c.mu.Unlock()
}

// write queues a copy of pkt, written by an end, unless the scenario
// chose to lose it or hold it back.
func (c *cable) write(pkt []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.drop != nil {
		if s, ok := parseSeg(pkt); ok && c.drop(&s) {
			c.dropped++
			return
		}
	}
	if c.hold != nil {
		if s, ok := parseSeg(pkt); ok && c.hold(&s) {
			c.held = append(c.held, append([]byte(nil), pkt...))
			return
		}
	}
	c.queue = append(c.queue, append([]byte(nil), pkt...))
}

// setHold makes the cable hold back the segments f chooses from now on,
// as a slow path would, until release; nil holds none.
func (c *cable) setHold(f func(*tcpSeg) bool) {
	c.mu.Lock()
	c.hold = f
	c.mu.Unlock()
}

// heldCount returns how many packets are held back.
func (c *cable) heldCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held)
}

// release stops holding and queues the held packets, in order.
func (c *cable) release() {
	c.mu.Lock()
	c.hold = nil
	c.queue = append(c.queue, c.held...)
	c.held = nil
	c.mu.Unlock()
}

// setDrop makes the cable lose the segments f chooses from now on; nil
// loses none. f runs under the cable's lock, in the writer's goroutine.
func (c *cable) setDrop(f func(*tcpSeg) bool) {
	c.mu.Lock()
	c.drop = f
	c.mu.Unlock()
}

// deliverOne hands the oldest queued packet to the end that owns its
// destination, in the caller's goroutine; it reports false when the queue
// is empty.
func (c *cable) deliverOne() bool {
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.mu.Unlock()
		return false
	}
	pkt := c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:]
	var to *plug
	if ip, err := wire.ParseIPv4(pkt); err == nil {
		for _, p := range c.plugs {
			if p.addr == ip.Dst() {
				to = p
			}
		}
	}
	if to == nil {
		c.nowhere++
	}
	c.mu.Unlock()
	if to != nil {
		if b := to.d.Load(); b != nil && b.d != nil {
			b.d.DeliverPacket(pkt)
		}
	}
	return true
}

// tcpSeg is what a drop filter sees of a packet: its addresses and TCP
// header fields (zero for a packet that is not TCP).
type tcpSeg struct {
	src, dst netip.AddrPort
	flags    wire.TCPFlags
	seq, ack seqnum.Value
	window   uint16
	n        int // payload bytes
}

// parseSeg reads pkt's IPv4 and TCP headers.
func parseSeg(pkt []byte) (tcpSeg, bool) {
	ip, err := wire.ParseIPv4(pkt)
	if err != nil || ip.Protocol() != wire.ProtocolTCP {
		return tcpSeg{}, false
	}
	t, err := wire.ParseTCP(ip.Payload())
	if err != nil {
		return tcpSeg{}, false
	}
	return tcpSeg{src: netip.AddrPortFrom(ip.Src(), t.SrcPort()), dst: netip.AddrPortFrom(ip.Dst(), t.DstPort()),
		flags: t.Flags(), seq: t.SeqNum(), ack: t.AckNum(), window: t.Window(), n: len(t.Payload())}, true
}

// counter sits between a stack and its link and counts the packets the
// stack writes, so that the scenario can wait for a write made on another
// goroutine (a dial's SYN).
type counter struct {
	link.Endpoint
	mu     sync.Mutex
	writes int
	more   chan struct{} // closed and replaced at each write
}

func newCounter(inner link.Endpoint) *counter {
	return &counter{Endpoint: inner, more: make(chan struct{})}
}

func (c *counter) WritePacket(pkt []byte) error {
	err := c.Endpoint.WritePacket(pkt)
	c.mu.Lock()
	c.writes++
	close(c.more)
	c.more = make(chan struct{})
	c.mu.Unlock()
	return err
}

// count returns the packets written so far.
func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// waitFor blocks until n packets have been written. The limit, in real
// time, only catches a scenario that waits for a write that never comes.
func (c *counter) waitFor(n int) error {
	limit := time.NewTimer(10 * time.Second)
	defer limit.Stop()
	for {
		c.mu.Lock()
		got, more := c.writes, c.more
		c.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-more:
		case <-limit.C:
			return errors.New("lab: a packet the scenario waited for was never written")
		}
	}
}
