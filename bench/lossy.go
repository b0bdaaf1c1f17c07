package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/link/pipe"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Impairment is what a lossy in-memory link does to each direction: drop
// a packet with probability Loss and delay every other one by Delay (real
// time). Both in-memory targets apply it with the same code, link/fault's
// Out direction on the real clock, seeded per direction with seedUp and
// seedDown: the n-th packet the client sends is dropped on synack's link
// exactly when the n-th packet the client sends is dropped on gVisor's,
// and likewise for the server's, so both stacks face one sequence of drop
// decisions and one round-trip time.
type Impairment struct {
	Loss  float64
	Delay time.Duration
}

// The seeds of the two directions of every lossy link: fixed, so that
// every run of every target faces the same decisions.
const (
	seedUp   = 0x5eed_0001 // client to server: the data of a bulk run
	seedDown = 0x5eed_0002 // server to client: its ACKs
)

// faultConfig is the link/fault configuration of one direction of im.
func (im Impairment) faultConfig(seed uint64) fault.Config {
	return fault.Config{Seed: seed, Out: fault.Direction{Loss: im.Loss, Delay: im.Delay}}
}

// lossCounter is a Pair whose link drops packets on purpose and whose
// stacks count their retransmission timeouts.
type lossCounter interface {
	// Lost returns the packets the link has dropped so far from client
	// to server (the data direction of a bulk run).
	Lost() uint64
	// Timeouts returns the retransmission-timer expirations of both ends.
	Timeouts() uint64
}

// synackLossyPair is synack's pair with each pipe end wrapped in a
// fault.Endpoint that impairs what its stack sends.
type synackLossyPair struct {
	*synackPair
	up, down *fault.Endpoint
}

func newSynackLossyPair(mtu int, im Impairment) (Pair, error) {
	a, b := pipe.NewWithQueue(mtu, queueDepth)
	up := fault.New(a, im.faultConfig(seedUp))
	down := fault.New(b, im.faultConfig(seedDown))
	client, err := synack.New(up, synack.Config{Addr: clientPrefix, Host: "client"})
	if err != nil {
		return nil, err
	}
	server, err := synack.New(down, synack.Config{Addr: serverPrefix, Host: "server"})
	if err != nil {
		client.Close()
		return nil, err
	}
	p := &synackPair{a: a, b: b, client: client, server: server}
	return &synackLossyPair{synackPair: p, up: up, down: down}, nil
}

func (p *synackLossyPair) Lost() uint64 {
	out, _ := p.up.Stats()
	return out.Dropped
}

func (p *synackLossyPair) Timeouts() uint64 {
	return p.client.Internals().TCPStats().Timeouts.Load() + p.server.Internals().TCPStats().Timeouts.Load()
}

func (p *synackLossyPair) Close() error {
	return errors.Join(p.synackPair.Close(), p.up.Close(), p.down.Close())
}

// gvisorLossyPair is gVisor's pair with each pump writing through a
// fault.Endpoint, configured as synack's, in front of the other stack's
// channel endpoint.
type gvisorLossyPair struct {
	*gvisorPair
	up, down *fault.Endpoint
}

func newGVisorLossyPair(mtu int, im Impairment) (Pair, error) {
	p, err := newGVisorStacks(mtu, false)
	if err != nil {
		return nil, err
	}
	lp := &gvisorLossyPair{
		gvisorPair: p,
		up:         fault.New(&injector{to: p.sep, mtu: mtu}, im.faultConfig(seedUp)),
		down:       fault.New(&injector{to: p.cep, mtu: mtu}, im.faultConfig(seedDown)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.pumps.Add(2)
	go lp.pump(ctx, p.cep, lp.up, &p.up)
	go lp.pump(ctx, p.sep, lp.down, &p.down)
	return lp, nil
}

// pump moves the packets from's stack sends through f, which drops or
// delays them on their way into the other stack.
func (lp *gvisorLossyPair) pump(ctx context.Context, from *channel.Endpoint, f *fault.Endpoint, n *atomic.Uint64) {
	defer lp.pumps.Done()
	for {
		pkt := from.ReadContext(ctx)
		if pkt == nil {
			return
		}
		v := pkt.ToView()
		n.Add(1)
		_ = f.WritePacket(v.AsSlice()) // what f drops or refuses, its Stats count
		v.Release()
		pkt.DecRef()
	}
}

func (lp *gvisorLossyPair) Lost() uint64 {
	out, _ := lp.up.Stats()
	return out.Dropped
}

func (lp *gvisorLossyPair) Timeouts() uint64 {
	return lp.client.Stats().TCP.Timeouts.Value() + lp.server.Stats().TCP.Timeouts.Value()
}

// Close stops the fault endpoints first, so that no packet they hold is
// injected into a stack being torn down.
func (lp *gvisorLossyPair) Close() error {
	err := errors.Join(lp.up.Close(), lp.down.Close())
	lp.gvisorPair.Close()
	return err
}

// injector is the link.Endpoint at the far end of a gVisor pump's
// fault.Endpoint: each packet written to it is copied into a new packet
// buffer and injected into the receiving stack's channel endpoint.
type injector struct {
	to     *channel.Endpoint
	mtu    int
	closed atomic.Bool
}

var _ link.Endpoint = (*injector)(nil)

func (in *injector) MTU() int { return in.mtu }

// Attach does nothing: nothing comes back through an injector.
func (in *injector) Attach(link.Dispatcher) {}

func (in *injector) WritePacket(pkt []byte) error {
	if in.closed.Load() {
		return link.ErrClosed
	}
	if len(pkt) > in.mtu {
		return fmt.Errorf("%d-byte packet on a %d-byte link: %w", len(pkt), in.mtu, link.ErrTooBig)
	}
	b := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(pkt)})
	in.to.InjectInbound(header.IPv4ProtocolNumber, b)
	b.DecRef()
	return nil
}

func (in *injector) Close() error {
	in.closed.Store(true)
	return nil
}

// lossy reports whether w is a loss workload, in memory or on a real path.
func (w *Workload) lossy() bool { return w.Impair != nil || w.path != nil }

// lossDelay is the one-way delay of the in-memory loss workloads: 2 ms
// round trips, the same for both stacks.
const lossDelay = time.Millisecond

// lossWorkload is bulk-loss-PCT: one bulk connection over an in-memory
// link that drops pct% of the packets each way, with the same seeded
// decisions for both stacks, and delays the rest by lossDelay.
func lossWorkload(sz Sizes, pct int) Workload {
	im := &Impairment{Loss: float64(pct) / 100, Delay: lossDelay}
	return Workload{
		Name: fmt.Sprintf("bulk-loss-%d", pct), MTU: 1500, Only: []string{Synack, GVisor}, Impair: im,
		About: fmt.Sprintf("one connection, %d MiB in 64 KiB writes, MTU 1500, on an in-memory link that drops %d%% of the packets each way "+
			"(link/fault on the real clock, the same seeded decisions for both stacks) and delays the rest %v each way", sz.LossBytes>>20, pct, lossDelay),
		Metrics: []Metric{
			{Key: "mbps", Label: "goodput Mbit/s", Higher: true, Prec: 1},
			{Key: "retrans_per_lost", Label: "retransmitted segments/segment lost", Prec: 2},
			{Key: "timeouts_per_gib", Label: "retransmission timeouts/GiB", Prec: 0},
			{Key: "retrans_per_gib", Label: "retransmitted segments/GiB", Prec: 0},
		},
		run: func(e *env) (Sample, error) {
			s, err := bulk(e, 1, sz.LossBytes)
			if err != nil {
				return nil, err
			}
			s["mbps"] = s["gbps"] * 1000
			return s, nil
		},
	}
}
