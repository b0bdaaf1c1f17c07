package main

import (
	"bytes"
	"context"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/internal/quiesce"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// The rigs TestEveryCounterMoves's scenarios run on: two stacks on a pipe
// (lossy when asked), or one stack and a raw peer that writes crafted
// packets; all on a virtual clock, every stack traced.

var (
	rigPeer   = netip.MustParseAddr("10.0.0.1") // the raw peer, or the client stack
	rigServer = netip.MustParseAddr("10.0.0.2")
	rigEpoch  = time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
)

// scenarioEnv is one scenario's test and the stacks it made, each read
// when the scenario ends.
type scenarioEnv struct {
	t      *testing.T
	cv     *coverage
	name   string
	stacks []*synack.Stack
	logs   []*eventLog
	seen   map[string]bool // the counters seen to move, "Section.Name"
}

// newStack makes a traced stack on ep at addr/24.
func (e *scenarioEnv) newStack(ep link.Endpoint, clk clock.Clock, addr netip.Addr, cfg synack.Config) (*synack.Stack, *eventLog) {
	e.t.Helper()
	ev := newEventLog(clk.Now)
	cfg.Addr, cfg.Clock, cfg.Trace = netip.PrefixFrom(addr, 24), clk, ev
	if cfg.Host == "" {
		cfg.Host = addr.String()
	}
	st, err := synack.New(ep, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	e.stacks, e.logs = append(e.stacks, st), append(e.logs, ev)
	return st, ev
}

// takeAll reads every stack of the scenario into the coverage.
func (e *scenarioEnv) takeAll() {
	for i, st := range e.stacks {
		for k := range e.cv.take(e.name, st, e.logs[i]) {
			e.seen[k] = true
		}
	}
}

// pairRig is two stacks on a pipe, the client's end behind a fault link
// when the scenario asks for one.
type pairRig struct {
	t              *testing.T
	clk            *clock.Virtual
	a, b           *pipe.Endpoint
	client, server *synack.Stack
}

func (e *scenarioEnv) pair(ccfg, scfg synack.Config, d *fault.Direction) *pairRig {
	a, b := pipe.New(1500)
	return e.pairOn(a, b, ccfg, scfg, d)
}

// pairOn is pair on the pipe ends a (the client's) and b.
func (e *scenarioEnv) pairOn(a, b *pipe.Endpoint, ccfg, scfg synack.Config, d *fault.Direction) *pairRig {
	p := &pairRig{t: e.t, clk: clock.NewVirtual(rigEpoch)}
	p.a, p.b = a, b
	var ca link.Endpoint = p.a
	if d != nil {
		fa := fault.New(p.a, fault.Config{Clock: p.clk, Seed: 7, Out: *d, In: *d})
		e.t.Cleanup(func() { fa.Close() })
		ca = fa
	}
	e.t.Cleanup(func() { p.a.Close(); p.b.Close() })
	p.client, _ = e.newStack(ca, p.clk, rigPeer, ccfg)
	p.server, _ = e.newStack(p.b, p.clk, rigServer, scfg)
	return p
}

// idle reports whether every packet either end sent has been handled.
func (p *pairRig) idle() bool {
	as, bs := p.a.Stats(), p.b.Stats()
	return as.Sent == bs.Delivered+bs.DroppedQueueFull+bs.DroppedDetached &&
		bs.Sent == as.Delivered+as.DroppedQueueFull+as.DroppedDetached
}

// drive moves the clock from timer to timer, each time the pipe is idle
// and the goroutines had turns, until done; it fails after 20 s of wall
// time.
func (p *pairRig) drive(done func() bool) {
	p.t.Helper()
	start := time.Now()
	for !done() {
		if time.Since(start) > 20*time.Second {
			p.t.Fatalf("not done after 20 s (virtual %v)", p.clk.Now().Sub(rigEpoch))
		}
		for !p.idle() && time.Since(start) < 20*time.Second {
			runtime.Gosched()
		}
		for range 10 {
			runtime.Gosched()
		}
		if done() {
			return
		}
		if quiesce.OthersBusy() {
			continue // an application goroutine can still go on: the clock waits for it
		}
		if next, ok := p.clk.Next(); ok {
			p.clk.AdvanceTo(next)
		}
	}
}

// do runs fn on a goroutine of its own and drives the clock until it
// returns.
func (p *pairRig) do(fn func()) {
	p.t.Helper()
	ended := make(chan struct{})
	go func() { defer close(ended); fn() }()
	p.drive(func() bool {
		select {
		case <-ended:
			return true
		default:
			return false
		}
	})
}

// connect opens a connection from the client to the server's port and
// returns both ends.
func (p *pairRig) connect(l *synack.TCPListener, port uint16) (cc, sc *synack.TCPConn) {
	p.t.Helper()
	p.do(func() {
		accepted := make(chan *synack.TCPConn, 1)
		go func() { c, _ := l.AcceptTCP(); accepted <- c }()
		var err error
		if cc, err = p.client.DialTCP(context.Background(), netip.AddrPortFrom(rigServer, port)); err != nil {
			p.t.Errorf("dial: %v", err)
			l.Close()
		}
		sc = <-accepted
	})
	if cc == nil || sc == nil {
		p.t.FailNow()
	}
	return cc, sc
}

// rawRig is a stack at rigServer and a raw peer at rigPeer that writes
// crafted packets and keeps what the stack sends.
type rawRig struct {
	t    *testing.T
	clk  *clock.Virtual
	a, b *pipe.Endpoint
	st   *synack.Stack
	mu   sync.Mutex
	got  [][]byte
	echo chan struct{}
	seq  uint16
}

const rigPingID = 0xbeef // the raw peer's barrier pings

func (e *scenarioEnv) raw(cfg synack.Config) *rawRig { return e.rawOn(cfg, nil) }

// rawOn is raw with the stack's end of the pipe wrapped by wrap.
func (e *scenarioEnv) rawOn(cfg synack.Config, wrap func(link.Endpoint) link.Endpoint) *rawRig {
	r := &rawRig{t: e.t, clk: clock.NewVirtual(rigEpoch), echo: make(chan struct{}, 1)}
	r.a, r.b = pipe.New(1500)
	r.a.Attach(r)
	e.t.Cleanup(func() { r.a.Close(); r.b.Close() })
	if cfg.TCP.DelayedACK == 0 {
		cfg.TCP.DelayedACK = -1 // ACK at once: each answer comes before the barrier's
	}
	var ep link.Endpoint = r.b
	if wrap != nil {
		ep = wrap(ep)
	}
	r.st, _ = e.newStack(ep, r.clk, rigServer, cfg)
	return r
}

// DeliverPacket keeps a copy of what the stack sent, but for the replies
// to the barrier's pings, which it signals.
func (r *rawRig) DeliverPacket(pkt []byte) {
	if ip, err := wire.ParseIPv4(pkt); err == nil && ip.Protocol() == wire.ProtocolICMPv4 {
		if m, err := wire.ParseICMPv4(ip.Payload()); err == nil && m.Type() == wire.ICMPv4EchoReply && m.Ident() == rigPingID {
			r.echo <- struct{}{}
			return
		}
	}
	r.mu.Lock()
	r.got = append(r.got, bytes.Clone(pkt))
	r.mu.Unlock()
}

// barrier pings the stack and waits for the reply: everything written
// before has been handled, and what it answered collected.
func (r *rawRig) barrier() {
	r.t.Helper()
	r.seq++
	m := make([]byte, wire.ICMPv4HeaderLen+4)
	(&wire.ICMPv4Fields{Type: wire.ICMPv4EchoRequest, Rest: uint32(rigPingID)<<16 | uint32(r.seq)}).Encode(m)
	wire.ICMPv4(m).FillChecksum()
	r.write(ipPacket(wire.ProtocolICMPv4, rigPeer, m))
	select {
	case <-r.echo:
	case <-time.After(10 * time.Second):
		r.t.Fatal("the stack did not answer the barrier's ping")
	}
}

func (r *rawRig) write(pkt []byte) {
	if err := r.a.WritePacket(pkt); err != nil {
		r.t.Fatal(err)
	}
}

// send writes pkts, waits for the stack to have handled them and returns
// what it sent meanwhile.
func (r *rawRig) send(pkts ...[]byte) []wire.TCP {
	r.t.Helper()
	for _, p := range pkts {
		r.write(p)
	}
	r.barrier()
	return r.take()
}

// take returns the TCP segments the stack sent since the last take.
func (r *rawRig) take() []wire.TCP {
	r.mu.Lock()
	got := r.got
	r.got = nil
	r.mu.Unlock()
	var segs []wire.TCP
	for _, p := range got {
		if ip, err := wire.ParseIPv4(p); err == nil && ip.Protocol() == wire.ProtocolTCP {
			if s, err := wire.ParseTCP(ip.Payload()); err == nil {
				segs = append(segs, s)
			}
		}
	}
	return segs
}

// advanceUntil moves the clock from timer to timer until done.
func (r *rawRig) advanceUntil(done func() bool) {
	r.t.Helper()
	start := time.Now()
	for {
		r.barrier()
		if done() {
			return
		}
		if time.Since(start) > 20*time.Second {
			r.t.Fatalf("not done after 20 s (virtual %v)", r.clk.Now().Sub(rigEpoch))
		}
		if next, ok := r.clk.Next(); ok {
			r.clk.AdvanceTo(next)
		}
		runtime.Gosched()
	}
}

// ipPacket wraps payload in an IPv4 header from src to the stack.
func ipPacket(proto uint8, src netip.Addr, payload []byte) []byte {
	p := make([]byte, wire.IPv4MinHeaderLen+len(payload))
	f := wire.IPv4Fields{TotalLength: uint16(len(p)), ID: 1, TTL: 64, Protocol: proto, Src: src, Dst: rigServer}
	f.Encode(p)
	copy(p[wire.IPv4MinHeaderLen:], payload)
	return p
}

// seg is a checksummed TCP segment from the raw peer to the stack.
func seg(h wire.TCPFields, payload []byte) []byte {
	s := make([]byte, h.Len()+len(payload))
	h.Encode(s)
	copy(s[h.Len():], payload)
	wire.TCP(s).FillChecksum(rigPeer, rigServer)
	return ipPacket(wire.ProtocolTCP, rigPeer, s)
}

// rawConn is a connection the raw peer opened to the stack by hand.
type rawConn struct {
	r            *rawRig
	port, dst    uint16
	nxt, una     seqnum.Value // the peer's next sequence number; the stack's next
	ts           bool         // timestamps agreed
	tsVal, tsEcr uint32
}

// open sends a SYN from port to dst (with opts) and the ACK of the
// stack's SYN,ACK; the stack's ISS follows from its answer.
func (r *rawRig) open(port, dst uint16, opts wire.TCPOptions) *rawConn {
	r.t.Helper()
	c := &rawConn{r: r, port: port, dst: dst, nxt: 1000, ts: opts.HasTimestamps, tsVal: 100}
	opts.TSVal = c.tsVal
	var got []wire.TCP // the answers to this SYN, not to other connections
	for _, s := range r.send(seg(wire.TCPFields{SrcPort: port, DstPort: dst, Seq: 999, Flags: wire.FlagSYN, Window: 65535, Options: opts}, nil)) {
		if s.DstPort() == port && s.SrcPort() == dst {
			got = append(got, s)
		}
	}
	if len(got) != 1 || got[0].Flags() != wire.FlagSYN|wire.FlagACK {
		r.t.Fatalf("the SYN from port %d got %d answers, no SYN,ACK", port, len(got))
	}
	c.note(got[0])
	c.una = got[0].SeqNum().Add(1)
	r.send(c.seg(wire.FlagACK, nil))
	return c
}

// note keeps the timestamp of a segment the stack sent.
func (c *rawConn) note(s wire.TCP) {
	var o wire.TCPOptions
	if wire.ParseTCPOptions(s.Options(), &o) == nil && o.HasTimestamps {
		c.tsEcr = o.TSVal
	}
}

// fields is the header of the peer's next segment.
func (c *rawConn) fields(flags wire.TCPFlags) wire.TCPFields {
	f := wire.TCPFields{SrcPort: c.port, DstPort: c.dst, Seq: c.nxt, Ack: c.una, Flags: flags, Window: 65535}
	if c.ts {
		c.tsVal++
		f.Options = wire.TCPOptions{HasTimestamps: true, TSVal: c.tsVal, TSEcr: c.tsEcr}
	}
	return f
}

// seg is the peer's next segment, with payload; it moves the peer's
// sequence number past it.
func (c *rawConn) seg(flags wire.TCPFlags, payload []byte) []byte {
	f := c.fields(flags)
	c.nxt = c.nxt.Add(seqnum.Size(len(payload)))
	if flags.Has(wire.FlagFIN) {
		c.nxt = c.nxt.Add(1)
	}
	return seg(f, payload)
}

// craft is a segment of the connection with f edited by edit.
func (c *rawConn) craft(edit func(f *wire.TCPFields), payload []byte) []byte {
	f := c.fields(wire.FlagACK)
	edit(&f)
	return seg(f, payload)
}

// ackAll acknowledges everything the stack sent that the peer saw.
func (c *rawConn) ackAll(got []wire.TCP) {
	for _, s := range got {
		c.note(s)
		end := s.SeqNum().Add(seqnum.Size(len(s.Payload())))
		if s.Flags().Has(wire.FlagFIN) {
			end = end.Add(1)
		}
		if c.una.LessThan(end) {
			c.una = end
		}
	}
}
