package bench

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// queueDepth is the packets each direction of an in-memory link holds:
// link/pipe's default, and the size of gVisor's channel endpoints.
const queueDepth = 4096

// nicID is the one NIC of each gVisor stack.
const nicID tcpip.NICID = 1

// GVisorTarget is gVisor's netstack with default settings: two stacks, each
// on a channel endpoint, and one goroutine per direction moving packets from
// one endpoint's outbound queue into the other's InjectInbound. With copy
// false a packet is handed over as netstack's own loopback does
// (CloneToInbound: the receiver shares the sender's buffer); with copy true
// its bytes are copied into a new buffer, as a link that cannot take
// buffers over must (synack's pipe with WritePacket rather than WriteOwned).
func GVisorTarget(copy bool) Target {
	link := "channel endpoints pumped by a goroutine per direction, queue 4096 packets, buffers shared (CloneToInbound)"
	if copy {
		link = "channel endpoints pumped by a goroutine per direction, queue 4096 packets, each packet copied"
	}
	return Target{
		Name:     GVisor,
		New:      func(mtu int) (Pair, error) { return newGVisorPair(mtu, copy) },
		NewLossy: newGVisorLossyPair,
		Link:     link + "; TCP checksums offloaded as on the kernel's loopback (the endpoints' capabilities RXChecksumOffload and TXChecksumOffload: neither computed nor verified), except on the lossy workloads' links, which compute and verify them",
	}
}

type gvisorPair struct {
	client, server *stack.Stack
	cep, sep       *channel.Endpoint
	up, down       atomic.Uint64
	cancel         context.CancelFunc
	pumps          sync.WaitGroup
	closeOnce      sync.Once
}

var (
	gvClientAddr = tcpip.AddrFrom4(clientPrefix.Addr().As4())
	gvServerAddr = tcpip.AddrFrom4(serverPrefix.Addr().As4())
)

func newGVisorPair(mtu int, copy bool) (Pair, error) {
	p, err := newGVisorStacks(mtu, true)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.pumps.Add(2)
	go p.pump(ctx, p.cep, p.sep, &p.up, copy)
	go p.pump(ctx, p.sep, p.cep, &p.down, copy)
	return p, nil
}

// newGVisorStacks makes the client and the server stack of a pair, not
// yet joined: the caller pumps packets between their endpoints. csum
// offloads the checksums, as loopback does.
func newGVisorStacks(mtu int, csum bool) (*gvisorPair, error) {
	p := &gvisorPair{}
	var err error
	if p.client, p.cep, err = newGVisorStack(mtu, gvClientAddr, csum); err != nil {
		return nil, err
	}
	if p.server, p.sep, err = newGVisorStack(mtu, gvServerAddr, csum); err != nil {
		p.client.Destroy()
		return nil, err
	}
	return p, nil
}

// newGVisorStack makes a stack with IPv4 and TCP on a channel endpoint,
// with addr on it and a route for its /24.
func newGVisorStack(mtu int, addr tcpip.Address, csum bool) (*stack.Stack, *channel.Endpoint, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	ep := channel.New(queueDepth, uint32(mtu), "")
	if csum {
		ep.LinkEPCapabilities = stack.CapabilityRXChecksumOffload | stack.CapabilityTXChecksumOffload
	}
	if err := s.CreateNIC(nicID, ep); err != nil {
		return nil, nil, fmt.Errorf("gvisor CreateNIC: %s", err)
	}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr, PrefixLen: 24}}
	if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		return nil, nil, fmt.Errorf("gvisor AddProtocolAddress: %s", err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: nicID}})
	return s, ep, nil
}

// pump moves packets from's stack sent into to's stack until ctx ends or
// from is closed.
func (p *gvisorPair) pump(ctx context.Context, from, to *channel.Endpoint, n *atomic.Uint64, copy bool) {
	defer p.pumps.Done()
	for {
		pkt := from.ReadContext(ctx)
		if pkt == nil {
			return
		}
		var in *stack.PacketBuffer
		if copy {
			in = stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithView(pkt.ToView())})
		} else {
			in = pkt.CloneToInbound()
		}
		pkt.DecRef()
		n.Add(1)
		to.InjectInbound(header.IPv4ProtocolNumber, in)
		in.DecRef()
	}
}

func (p *gvisorPair) Listen(port uint16) (net.Listener, error) {
	return gonet.ListenTCP(p.server, tcpip.FullAddress{NIC: nicID, Addr: gvServerAddr, Port: port}, ipv4.ProtocolNumber)
}

func (p *gvisorPair) Dial(ctx context.Context, port uint16) (net.Conn, error) {
	c, err := gonet.DialContextTCP(ctx, p.client, tcpip.FullAddress{NIC: nicID, Addr: gvServerAddr, Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (p *gvisorPair) Packets() (up, down uint64, ok bool) {
	return p.up.Load(), p.down.Load(), true
}

func (p *gvisorPair) Retransmits() uint64 {
	return p.client.Stats().TCP.Retransmits.Value() + p.server.Stats().TCP.Retransmits.Value()
}

func (p *gvisorPair) Close() error {
	p.closeOnce.Do(func() {
		p.client.Close()
		p.server.Close()
		p.cancel()
		p.pumps.Wait()
		p.client.Wait() // also removes the NIC, closing its endpoint
		p.server.Wait()
	})
	return nil
}
