// Package rig is where an example of examples/ runs: a synack stack for
// the example, and its peer. By default both are in the process, two
// stacks on an in-memory link (link/pipe), the peer playing the other
// role of the article's exchange with synack's net API; with --tun the
// example's stack sits on a TUN device and the Linux kernel is the peer
// (curl, nc, Python's socket module run against it), as `synack serve`
// does.
//
// Layer: a test and demo harness above the root package and package bsd;
// it knows addresses, links and stacks, not TCP's internals.
//
// Over the pipe the stacks run on a virtual clock that stands still: the
// examples' exchanges need no timer (no packet is lost on the pipe), so
// every run makes the same segments, and nothing waits for real time.
package rig

import (
	"flag"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/bsd"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/link/tun"
)

// Flags say where an example runs.
type Flags struct {
	// TUN is the TUN device's name; "" runs over the in-memory pipe.
	TUN string
	// Addr is the example's address and prefix; PeerAddr the peer's (over
	// TUN, given to the kernel's side of the device, unless it has it).
	Addr, PeerAddr string
}

// Register adds --tun, --addr and --peer-addr to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.TUN, "tun", "", "run on this TUN device (created if absent; needs root), the Linux kernel being the peer; empty: over an in-memory link, with a synack peer in the process")
	fs.StringVar(&f.Addr, "addr", "10.7.0.2/24", "the example's address and prefix")
	fs.StringVar(&f.PeerAddr, "peer-addr", "10.7.0.1/24", "the peer's address and prefix (over TUN, given to the kernel's side of the device)")
}

// Rig is an example's stack and its peer.
type Rig struct {
	// Host is the example's descriptor table, on Stack.
	Host  *bsd.Host
	Stack *synack.Stack
	// Addr is the example's address, PeerAddr the peer's.
	Addr, PeerAddr netip.Addr
	// Peer is the in-process peer's stack; nil over TUN (the kernel is
	// the peer).
	Peer *synack.Stack

	closers []func() error
	peer    peer
	a, b    *pipe.Endpoint // over the pipe: the example's end and the peer's

	serveMu sync.Mutex
	serveCh chan struct{} // Serving's
	served  bool          // serveCh is closed
}

// Start is the virtual clock's fixed time over the pipe.
var Start = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

// Open makes the rig f describes.
func Open(f Flags) (*Rig, error) {
	addr, err := netip.ParsePrefix(f.Addr)
	if err != nil || !addr.Addr().Is4() {
		return nil, fmt.Errorf("--addr %q is not an IPv4 address with a prefix, such as 10.7.0.2/24", f.Addr)
	}
	peer, err := netip.ParsePrefix(f.PeerAddr)
	if err != nil || !peer.Addr().Is4() || peer.Addr() == addr.Addr() {
		return nil, fmt.Errorf("--peer-addr %q is not an IPv4 address with a prefix, other than --addr", f.PeerAddr)
	}
	if f.TUN != "" {
		return openTUN(f.TUN, addr, peer)
	}
	return openPipe(addr, peer)
}

// openPipe makes two stacks on a pipe, on one still virtual clock.
func openPipe(addr, peer netip.Prefix) (*Rig, error) {
	clk := clock.NewVirtual(Start)
	a, b := pipe.New(1500)
	l := &Rig{Addr: addr.Addr(), PeerAddr: peer.Addr(), a: a, b: b}
	l.closers = append(l.closers, a.Close, b.Close)
	var err error
	if l.Stack, err = synack.New(a, synack.Config{Addr: addr, Clock: clk, Host: "example"}); err != nil {
		l.Close()
		return nil, err
	}
	l.closers = append([]func() error{l.Stack.Close}, l.closers...)
	if l.Peer, err = synack.New(b, synack.Config{Addr: peer, Clock: clk, Host: "peer"}); err != nil {
		l.Close()
		return nil, err
	}
	l.closers = append([]func() error{l.Peer.Close}, l.closers...)
	l.Host = bsd.NewHost(l.Stack)
	return l, nil
}

// openTUN puts the example's stack on the TUN device name, opened in the
// calling thread's network namespace, the kernel's side given peer.
func openTUN(name string, addr, peer netip.Prefix) (*Rig, error) {
	dev, err := tun.Open(name, tun.Config{HostAddr: peer})
	if err != nil {
		return nil, err
	}
	return OnLink(dev, addr, peer)
}

// OnLink runs the example's stack on ep, a point-to-point link whose far
// end (the kernel, over TUN) is the peer at peer, also the stack's
// gateway; the rig closes ep.
func OnLink(ep link.Endpoint, addr, peer netip.Prefix) (*Rig, error) {
	cfg := synack.Config{Addr: addr, Host: "example", Gateway: peer.Addr()}
	st, err := synack.New(ep, cfg)
	if err != nil {
		ep.Close()
		return nil, err
	}
	return &Rig{Host: bsd.NewHost(st), Stack: st, Addr: addr.Addr(), PeerAddr: peer.Addr(),
		closers: []func() error{st.Close, ep.Close}}, nil
}

// Close stops the stacks and closes the links.
func (l *Rig) Close() error {
	for _, c := range l.closers {
		c()
	}
	l.closers = nil
	return nil
}

// Cost is what a stack spent: the TCP connections it opened (each a
// three-way handshake), the segments it sent (retransmissions included)
// and received, and the UDP datagrams it sent and received.
type Cost struct {
	Handshakes, SegsOut, SegsIn uint64
	DatagramsOut, DatagramsIn   uint64
}

// Cost reads the example's stack's counters.
func (l *Rig) Cost() Cost {
	s, u := l.Stack.Internals().TCPStats(), l.Stack.Internals().UDPStats()
	return Cost{Handshakes: s.ActiveOpens.Load(), SegsOut: s.OutSegs.Load() + s.RetransSegs.Load(), SegsIn: s.InSegs.Load(),
		DatagramsOut: u.OutDatagrams.Load(), DatagramsIn: u.InDatagrams.Load()}
}
