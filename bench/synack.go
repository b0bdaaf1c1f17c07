package bench

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link/pipe"
)

// The addresses of both in-memory pairs, synack's and gVisor's.
var (
	clientPrefix = netip.MustParsePrefix("10.0.0.1/24")
	serverPrefix = netip.MustParsePrefix("10.0.0.2/24")
)

// backlog is the accept queue every listener asks for: what Go's net asks
// of Linux (somaxconn) and what gVisor's gonet asks of netstack.
const backlog = 4096

// SynackTarget is synack: two stacks on the two ends of a link/pipe, with
// the real clock and default settings.
func SynackTarget() Target {
	return Target{
		Name:     Synack,
		New:      newSynackPair,
		NewLossy: newSynackLossyPair,
		Link:     "link/pipe, queue 4096 packets shared out among one inbound queue per core (GOMAXPROCS), each delivered by its own goroutine, flows steered by a hash of their addresses and ports (as a NIC's receive-side scaling; Linux's loopback processes each sender's packets on its own CPU, and gVisor hands each segment to one of its per-CPU TCP processor goroutines), buffers handed over (link.HandOff: the stack builds each packet in a buffer the pipe then delivers, no copy), what queued while the pipe's goroutine slept delivered at once (link.BatchDispatcher: a burst of one connection's segments is answered once, as Linux answers what GRO merged) and lent to the receiver (link.Lender: a full-sized segment's text stays in that buffer until the application reads it); a segment of 1 KiB of text or more carries it where it lies in the sender's send buffer, which the receiver keeps until the application reads it (link.TextSharer: no copy between the two stacks, as the kernel's loopback passes its socket buffers by reference); TCP checksums offloaded as on the kernel's loopback (pipe.Options.ChecksumOffload: neither computed nor verified), except on the lossy workloads' links, which compute and verify them and have one inbound queue per end",
	}
}

type synackPair struct {
	a, b           *pipe.Endpoint
	client, server *synack.Stack
}

func newSynackPair(mtu int) (Pair, error) {
	a, b := pipe.NewWithOptions(mtu, pipe.Options{QueueDepth: queueDepth, ChecksumOffload: true, Queues: pipeQueues()})
	client, err := synack.New(a, synack.Config{Addr: clientPrefix, Host: "client"})
	if err != nil {
		return nil, err
	}
	server, err := synack.New(b, synack.Config{Addr: serverPrefix, Host: "server"})
	if err != nil {
		client.Close()
		return nil, err
	}
	return &synackPair{a: a, b: b, client: client, server: server}, nil
}

func (p *synackPair) Listen(port uint16) (net.Listener, error) {
	return p.server.ListenTCP(netip.AddrPortFrom(serverPrefix.Addr(), port), backlog)
}

func (p *synackPair) Dial(ctx context.Context, port uint16) (net.Conn, error) {
	c, err := p.client.DialTCP(ctx, netip.AddrPortFrom(serverPrefix.Addr(), port))
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (p *synackPair) Packets() (up, down uint64, ok bool) {
	return p.a.Stats().Sent, p.b.Stats().Sent, true
}

func (p *synackPair) Retransmits() uint64 {
	return p.client.Internals().TCPStats().RetransSegs.Load() + p.server.Internals().TCPStats().RetransSegs.Load()
}

func (p *synackPair) Close() error {
	return errors.Join(p.client.Close(), p.server.Close(), p.a.Close(), p.b.Close())
}

// pipeQueues is how many inbound queues each end of the in-memory link
// has: one per core that may run Go code, as a NIC has a receive queue per
// core. With one, a single goroutine does the receiving stack's work for
// every connection, and many connections move less than one.
func pipeQueues() int {
	return min(runtime.GOMAXPROCS(0), pipe.MaxQueues)
}
