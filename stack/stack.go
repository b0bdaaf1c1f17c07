package stack

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// Config describes a stack.
type Config struct {
	// Addr is the stack's IPv4 address and the prefix of its link; a route
	// for the prefix is added.
	Addr netip.Prefix
	// Gateway, when valid, adds a default route through it.
	Gateway netip.Addr
	// Clock drives every protocol timer; nil is the real clock.
	Clock clock.Clock
	// TCP holds the engine settings; zero fields take their defaults and
	// MSS defaults to the link MTU less 40.
	TCP tcp.Config
	// Trace receives every segment and state change; nil for none.
	Trace trace.Sink
	// Host names the stack in traces ("client", "server").
	Host string
	// TTL of packets sent (default 64).
	TTL uint8
	// MaxConnections bounds the connections the stack holds in any state
	// but TIME-WAIT, half-open included (default DefaultMaxConnections):
	// past it a SYN or a SYN cookie ACK opens nothing and a dial fails
	// (limits.go). TIME-WAIT records have their own bound, MaxTimeWait.
	MaxConnections int
	// Shards is the number of parts the connection table is cut into,
	// each with its own lock, timers and output queue, so that
	// connections in different shards run in parallel; it is rounded up
	// to a power of two, at most 4096. 0 is the default: 64, or the power
	// of two at or above twice GOMAXPROCS if that is more (shard.go says
	// why more shards than cores).
	Shards int
	// MaxTimeWait bounds the TIME-WAIT records the stack holds (default
	// DefaultMaxTimeWait; Linux's tcp_max_tw_buckets): a connection that
	// enters TIME-WAIT with the table full closes at once instead,
	// counted in Stats.TCPTimeWaitOverflow and logged (timewait.go).
	MaxTimeWait int
	// Logger, if set, is told of limits reached (connections, buffer
	// memory, out-of-order text, SACK scoreboard), each kind at most once
	// a minute of the stack's clock; nil logs nothing.
	Logger *slog.Logger
}

// Stack is one host: an address on one link, and its sockets. Its
// connections live in shards by 4-tuple (shard.go); the locks and their
// order are in the package doc.
type Stack struct {
	ep          link.Endpoint
	hand        link.HandOff        // ep, when it takes packet buffers over; else nil
	gso         link.GSOEndpoint    // ep, when it carries large segments; else nil (gso.go)
	gsoMax      int                 // the longest packet gso takes
	gather      link.GatherEndpoint // gso, when it takes packets in pieces; else nil (gather.go)
	csumOffload bool                // ep is a link.ChecksumOffloader that leaves checksums out (gso.go)
	share       link.TextSharer     // ep, when large segments' text goes to the far end where it lies; else nil (share.go)
	blocking    bool                // ep is a link.BlockingWriter: shards write through a writer goroutine (flush.go)
	clk         clock.Clock
	epoch       time.Time // what stamps count from (timers.go)
	addr        netip.Addr
	bcast       netip.Addr // the directed broadcast address of the link's prefix
	ttl         uint8
	stats       Stats
	tcp         tcp.Env // the listeners' Env; each shard's is shared from it
	isn         *tcp.ISNGenerator
	ports       portAllocator // its own lock
	udp         udpTable      // UDP sockets, under a lock of their own (udp.go)
	pings       pingTable
	frag        fragTable // IPv4 reassembly, under a lock of its own (frag.go)
	pmtu        pmtuCache // path MTUs learned (pmtu.go), its own leaf lock

	maxConns int          // Config.MaxConnections
	maxTW    int          // Config.MaxTimeWait
	nconns   atomic.Int64 // connections in every shard but TIME-WAIT records, against maxConns
	ntw      atomic.Int64 // TIME-WAIT records in every shard, against maxTW
	limits   limitLog     // its own lock

	shards []*shard // a power of two of them, by hash of the 4-tuple
	closed atomic.Bool

	lmu       sync.Mutex                             // taken to change listeners
	listeners atomic.Pointer[map[uint16]listenGroup] // read without a lock; replaced whole under lmu
	rmu       sync.Mutex                             // taken to change routes
	routes    atomic.Pointer[[]Route]                // read without a lock; replaced whole under rmu
	ipID      atomic.Uint32

	store bufStore // packet buffers the shards' batches share
}

// New creates a stack on ep with the address in cfg and attaches to ep.
// It refuses a configuration that makes no sense, naming each wrong field
// (config.go).
func New(ep link.Endpoint, cfg Config) (*Stack, error) {
	if err := validate(ep, &cfg); err != nil {
		return nil, err
	}
	mtu := ep.MTU()
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.TTL == 0 {
		cfg.TTL = 64
	}
	if cfg.TCP.MSS == 0 {
		cfg.TCP.MSS = mtu - 40 // RFC 9293 §3.7.1: MTU less the IP and TCP headers
	}
	s := &Stack{
		ep:    ep,
		clk:   cfg.Clock,
		epoch: cfg.Clock.Now().Add(-epochSpan),
		addr:  cfg.Addr.Addr(),
		bcast: broadcast(cfg.Addr),
		ttl:   cfg.TTL,
		isn:   tcp.NewISNGenerator(cfg.Clock.Now()),
	}
	s.ports.init()
	s.hand, _ = ep.(link.HandOff)
	s.initGSO(ep)
	s.initShare(ep)
	if b, ok := ep.(link.BlockingWriter); ok && b.WritesBlock() {
		s.blocking = true // flush.go
	}
	s.tcp = tcp.Env{Config: cfg.TCP.WithDefaults(), Host: cfg.Host}
	if s.share != nil {
		s.tcp.ShareMin = minSharedText // share.go
	}
	s.maxConns, s.limits.log = cfg.MaxConnections, cfg.Logger
	if s.maxConns <= 0 {
		s.maxConns = DefaultMaxConnections
	}
	s.maxTW = cfg.MaxTimeWait
	if s.maxTW <= 0 {
		s.maxTW = DefaultMaxTimeWait
	}
	if cfg.Logger != nil {
		s.tcp.LimitHit = s.tcpLimitHit
	}
	s.tcp.PathMTU = s.cachedPathMTU // RFC 1191: new connections start from what was learned (pmtu.go)
	if l, ok := ep.(link.Lender); ok {
		s.tcp.Recycle = recycler(l) // DeliverBorrowed: receive buffers keep the link's
	}
	if cfg.Trace != nil {
		s.tcp.Trace = &stamper{sink: cfg.Trace, clk: cfg.Clock}
	}
	s.listeners.Store(&map[uint16]listenGroup{})
	routes := []Route{{Dst: cfg.Addr.Masked()}}
	if cfg.Gateway.IsValid() {
		routes = append(routes, Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gateway: cfg.Gateway})
	}
	s.routes.Store(&routes)
	s.makeShards(cfg.Shards) // shard.go
	if err := claim(ep, s); err != nil {
		return nil, err
	}
	ep.Attach(s)
	return s, nil
}

// Addr is the stack's address.
func (s *Stack) Addr() netip.Addr { return s.addr }

// Clock is the clock that drives the stack's timers.
func (s *Stack) Clock() clock.Clock { return s.clk }

// Stats returns the stack's IP, ICMP and early TCP counters.
func (s *Stack) Stats() *Stats { return &s.stats }

// TCPStats returns the TCP engine's counters.
func (s *Stack) TCPStats() *tcp.Stats { return s.tcp.Stats }

// TCPMemory is the bytes the stack's connections hold in their buffers.
func (s *Stack) TCPMemory() *tcp.Memory { return s.tcp.Memory }

// TCPConfig is the engine configuration in force, defaults applied.
func (s *Stack) TCPConfig() tcp.Config { return s.tcp.Config }

// Close aborts every connection, closes every listener and detaches from
// the link (the link itself stays open; its owner closes it).
func (s *Stack) Close() error {
	s.lmu.Lock() // no listener is added after closed is set
	if s.closed.Swap(true) {
		s.lmu.Unlock()
		return nil
	}
	ls := s.allListeners()
	s.lmu.Unlock()
	now := s.clk.Now()
	for _, l := range ls {
		l.close(now)
	}
	for _, sh := range s.shards {
		sh.mu.Lock()
		sh.closed = true
		for _, c := range sh.conns {
			l := c.lockListener()
			c.conn.Abort(now)
			sh.afterLocked(c)
			unlockListener(l)
		}
		for _, e := range sh.tws {
			local, remote := e.addrs()
			e.rec.End(local, remote, "stack closed")
			sh.removeTWLocked(e)
		}
		if sh.timer != nil {
			sh.timer.Stop()
		}
		// A deliverer or the writer goroutine may be writing what was
		// queued before the close (the ACK of a FIN its reader has already
		// seen as EOF): the link is detached below, so those writes end
		// first (flush.go).
		sh.stopWriter()
		sh.unlockAndFlush()
	}
	s.closeUDP()
	s.pings.close()
	s.closeFrag()
	s.ep.Attach(nil)
	release(s.ep, s)
	return nil
}

// spareBatch returns an empty batch for outq: the one last written, if
// any (mu held).
func (s *shard) spareBatch() *batch {
	if b := s.spare; b != nil {
		s.spare = nil
		return b
	}
	return s.newBatch()
}

func (s *Stack) newBatch() *batch {
	return &batch{store: &s.store, keep: batchKeep(len(s.shards)), handoff: s.hand, gso: s.gso != nil, share: s.share != nil}
}

// packet queues an outgoing packet of n bytes and returns it to be filled
// (mu held): it goes to the link, in order, once mu is released.
func (s *shard) packet(n int) []byte {
	s.stats.OutRequests.Add(1)
	return s.outq.add(n)
}

// ipv4Header writes the IPv4 header for a packet of total length n.
func (s *Stack) ipv4Header(b []byte, proto uint8, src, dst netip.Addr, n int) {
	f := wire.IPv4Fields{TotalLength: uint16(n), ID: uint16(s.ipID.Add(1)), Flags: wire.IPv4FlagDontFragment,
		TTL: s.ttl, Protocol: proto, Src: src, Dst: dst}
	f.Encode(b)
}

// DeliverPacket is the link's way in: IPv4 input (RFC 791, RFC 1122 §3.2.1).
// pkt is only read, and only during the call (DeliverBorrowed may keep it).
// It may be called from several goroutines at once (a link with several
// queues): packets of different connections then run in parallel.
func (s *Stack) DeliverPacket(pkt []byte) {
	s.deliver(pkt, nil)
}

// deliver is IPv4 input; lent is pkt when the link lends it. It reports
// whether pkt was kept.
func (s *Stack) deliver(pkt, lent []byte) (kept bool) {
	return s.deliverOffload(pkt, lent, link.GSO{})
}

// DeliverBorrowed is DeliverPacket from a link that lends its buffers
// (link.Borrower): a connection may keep pkt in its receive buffer and
// give it back through the link's Recycle once the data is read. It
// reports whether pkt was kept.
func (s *Stack) DeliverBorrowed(pkt []byte) bool {
	if s.tcp.Recycle == nil {
		s.deliver(pkt, nil) // not our link's: nowhere to give it back to
		return false
	}
	return s.deliver(pkt, pkt)
}

// deliverOffload is IPv4 input for a packet the link describes with g
// (zero for an ordinary one; gso.go).
func (s *Stack) deliverOffload(pkt, lent []byte, g link.GSO) (kept bool) {
	ip, ok := s.acceptIPv4(pkt)
	if !ok {
		return
	}
	st := &s.stats
	if ip.FragmentOffset() != 0 || ip.Flags()&wire.IPv4FlagMoreFragments != 0 {
		if g != (link.GSO{}) {
			st.GSOInErrors.Add(1) // a fragment is never offloaded (gso.go)
			return
		}
		s.reassemble(ip) // frag.go
		return
	}
	if g != (link.GSO{}) {
		if !offloadMatches(ip, g) {
			st.GSOInErrors.Add(1)
			return
		}
		st.GSOInPackets.Add(1)
	}
	return s.transportInput(ip, lent, g)
}

// acceptIPv4 counts pkt received and parses its header, and reports
// whether it is a datagram for this host (RFC 791, RFC 1122 §3.2.1); if
// not, it was dropped and counted.
func (s *Stack) acceptIPv4(pkt []byte) (wire.IPv4, bool) {
	return s.acceptIPv4Apart(pkt, 0)
}

// acceptIPv4Apart is acceptIPv4 for a datagram whose last apart bytes lie
// apart from pkt, which holds the rest (share.go).
func (s *Stack) acceptIPv4Apart(pkt []byte, apart int) (wire.IPv4, bool) {
	st := &s.stats
	st.InReceives.Add(1)
	if len(pkt) > 0 && pkt[0]>>4 != 4 {
		// Not an IPv4 datagram at all (the kernel sends IPv6 on a TUN
		// device, such as its link-local router solicitations): not a
		// bad IPv4 header, and counted apart (InNotIPv4).
		st.InNotIPv4.Add(1)
		return nil, false
	}
	ip, err := wire.ParseIPv4(pkt)
	if apart > 0 {
		ip, err = wire.ParseIPv4Prefix(pkt)
		if err == nil && int(ip.TotalLength()) != len(ip)+apart {
			err = wire.ErrBadLength
		}
	}
	if err != nil || !ip.IsChecksumValid() {
		st.InHdrErrors.Add(1)
		return nil, false
	}
	if ip.Dst() != s.addr {
		st.InAddrErrors.Add(1) // not ours, and this host does not forward
		return nil, false
	}
	if !s.validSource(ip.Src()) {
		st.InAddrErrors.Add(1) // RFC 1122 §3.2.1.3: silently discard an invalid source
		return nil, false
	}
	return ip, true
}

// transportInput hands a datagram, whole or reassembled, to its protocol.
func (s *Stack) transportInput(ip wire.IPv4, lent []byte, g link.GSO) (kept bool) {
	st := &s.stats
	switch ip.Protocol() {
	case wire.ProtocolTCP:
		st.InDelivers.Add(1)
		return s.tcpInput(ip, lent, nil, g.NeedsCsum || s.csumOffload, nil)
	case wire.ProtocolICMPv4:
		st.InDelivers.Add(1)
		s.icmpInput(ip)
	case wire.ProtocolUDP:
		st.InDelivers.Add(1)
		if s.csumOffload {
			g.NeedsCsum = true // link.ChecksumOffloader: nothing to verify
		}
		s.udpInput(ip, g)
	default:
		st.InUnknownProtos.Add(1)
	}
	return false
}

// validSource reports whether src may be the source of a datagram this
// host accepts (RFC 1122 §3.2.1.3): not 0.0.0.0, a broadcast or multicast
// address, a loopback address, or this host's own address arriving from
// the link (Linux's "martian source"). Answering such a source, with a RST
// or an echo reply, would go to many hosts or to none.
func (s *Stack) validSource(src netip.Addr) bool {
	return !src.IsUnspecified() && !src.IsMulticast() && !src.IsLoopback() &&
		src != limitedBroadcast && src != s.bcast && src != s.addr
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// broadcast returns the directed broadcast address of p (all host bits
// set); for a /31 or /32, which have none, the invalid Addr.
func broadcast(p netip.Prefix) netip.Addr {
	if p.Bits() >= 31 {
		return netip.Addr{}
	}
	a := p.Masked().Addr().As4()
	host := ^uint32(0) >> p.Bits()
	for i := range 4 {
		a[i] |= byte(host >> (24 - 8*i))
	}
	return netip.AddrFrom4(a)
}

// stamper gives each trace event the stack's time: the engine passes time
// in but does not stamp what it reports. Shards trace at the same time,
// and a sink need not be safe for that: stamper hands it one event at a
// time.
type stamper struct {
	mu   sync.Mutex
	sink trace.Sink
	clk  clock.Clock
}

func (st *stamper) Event(e *trace.Event) {
	if e.Time.IsZero() {
		e.Time = st.clk.Now()
	}
	st.mu.Lock()
	st.sink.Event(e)
	st.mu.Unlock()
}

// recycler is how the engine gives l's buffers back: all at once when l
// takes a batch (link.BatchLender), else one by one.
func recycler(l link.Lender) func([][]byte) {
	if b, ok := l.(link.BatchLender); ok {
		return b.RecycleAll
	}
	return func(bufs [][]byte) {
		for _, b := range bufs {
			l.Recycle(b)
		}
	}
}
