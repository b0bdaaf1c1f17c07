package main

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// TestEveryCounterMoves's scenarios of IP and ICMP: ICMP errors and path
// MTU, fragments, a link that refuses.

// icmpTo is an ICMP message of type typ, code and rest quoting q, from
// the raw peer to the stack.
func icmpTo(typ, code uint8, rest uint32, q []byte) []byte {
	m := make([]byte, wire.ICMPv4HeaderLen+len(q))
	(&wire.ICMPv4Fields{Type: typ, Code: code, Rest: rest}).Encode(m)
	copy(m[wire.ICMPv4HeaderLen:], q)
	wire.ICMPv4(m).FillChecksum()
	return ipPacket(wire.ProtocolICMPv4, rigPeer, m)
}

// quoteOf is the quote of a datagram the stack sent to dst, of protocol
// proto and total length total, whose first 8 bytes of transport header
// are ports sport, dport and (for TCP) the sequence number seq.
func quoteOf(proto uint8, dst netip.Addr, total int, sport, dport uint16, seq seqnum.Value) []byte {
	q := make([]byte, wire.IPv4MinHeaderLen+8)
	f := wire.IPv4Fields{TotalLength: uint16(total), ID: 9, TTL: 64, Protocol: proto, Src: rigServer, Dst: dst}
	f.Encode(q)
	binary.BigEndian.PutUint16(q[20:], sport)
	binary.BigEndian.PutUint16(q[22:], dport)
	binary.BigEndian.PutUint32(q[24:], uint32(seq))
	return q
}

// icmpErrors sends an established connection with data in flight every
// kind of ICMP error the stack checks.
func icmpErrors(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	l := r.listen(80, 8)
	c := r.open(44000, 80, wire.TCPOptions{HasMSS: true, MSS: 1460})
	srv, err := l.AcceptTCP()
	if err != nil {
		e.t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Write(make([]byte, 4000)); err != nil {
		e.t.Fatal(err)
	}
	r.send()
	q := func(seq seqnum.Value) []byte { return quoteOf(wire.ProtocolTCP, rigPeer, 1500, 80, 44000, seq) }
	const unreach, exceeded = wire.ICMPv4DestUnreachable, wire.ICMPv4TimeExceeded
	r.send(
		icmpTo(unreach, 99, 0, q(c.una)),                                              // a code no RFC defines
		icmpTo(unreach, 1, 0, q(c.una)[:24]),                                          // a quote cut short
		icmpTo(unreach, 1, 0, quoteOf(wire.ProtocolTCP, rigPeer, 1500, 80, 44999, 0)), // no such connection
		icmpTo(exceeded, 0, 0, q(c.una.Add(1<<30))),                                   // out of the window
		icmpTo(unreach, 1, 0, q(c.una)),                                               // host unreachable: a soft error
		icmpTo(unreach, wire.ICMPv4FragmentationNeeded, 1000, q(c.una)),               // lowers the path MTU and the MSS
		icmpTo(unreach, wire.ICMPv4FragmentationNeeded, 1400, q(c.una)),               // above the path MTU: ignored
		icmpTo(unreach, wire.ICMPv4FragmentationNeeded, 100, q(c.una)),                // below 552: clamped
	)
}

// notIPv4 sends a packet whose version nibble says IPv6, as a TUN device
// hands the kernel's IPv6 to the stack.
func notIPv4(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	p := make([]byte, 40)
	p[0] = 0x60
	r.write(p)
	r.barrier()
}

// icmpHardError answers a dial's SYN with port unreachable.
func icmpHardError(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	failed := make(chan error, 1)
	go func() {
		c, err := r.st.DialTCP(e.t.Context(), netip.AddrPortFrom(rigPeer, 9999))
		if err == nil {
			c.Close()
		}
		failed <- err
	}()
	var syn wire.TCP
	start := time.Now()
	for syn == nil {
		if time.Since(start) > 10*time.Second {
			e.t.Fatal("the dial sent no SYN")
		}
		r.barrier()
		for _, s := range r.take() {
			if s.Flags() == wire.FlagSYN {
				syn = s
			}
		}
	}
	r.send(icmpTo(wire.ICMPv4DestUnreachable, 3, 0, quoteOf(wire.ProtocolTCP, rigPeer, 60, syn.SrcPort(), 9999, syn.SeqNum())))
	if err := <-failed; err == nil {
		e.t.Error("the dial succeeded despite port unreachable")
	}
}

// pmtuEvictions sends "fragmentation needed" for UDP datagrams to more
// destinations than the path MTU cache holds (1024).
func pmtuEvictions(e *scenarioEnv) {
	r := e.raw(synack.Config{Gateway: rigPeer})
	u, err := r.st.ListenUDP(netip.MustParseAddrPort("0.0.0.0:5353"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer u.Close()
	for i := range 1030 {
		dst := netip.AddrFrom4([4]byte{11, 0, byte(i >> 8), byte(i)})
		r.write(icmpTo(wire.ICMPv4DestUnreachable, wire.ICMPv4FragmentationNeeded, 1200, quoteOf(wire.ProtocolUDP, dst, 1400, 5353, 53, 0)))
	}
	r.barrier()
}

// frag is a fragment of a UDP datagram to the stack: id, offset in
// bytes, more fragments, payload.
func frag(id, off uint16, more bool, payload []byte) []byte {
	p := make([]byte, wire.IPv4MinHeaderLen+len(payload))
	f := wire.IPv4Fields{TotalLength: uint16(len(p)), ID: id, FragmentOffset: off, TTL: 64, Protocol: wire.ProtocolUDP, Src: rigPeer, Dst: rigServer}
	if more {
		f.Flags = 1
	}
	f.Encode(p)
	copy(p[wire.IPv4MinHeaderLen:], payload)
	return p
}

// reassembly sends fragments that reassemble, repeat, overlap, claim too
// much, have a bad length, are too many, and one left to time out.
func reassembly(e *scenarioEnv) {
	r := e.raw(synack.Config{})
	udpHdr := []byte{0, 9, 0, 9, 0, 24, 0, 0} // port 9 to 9, no checksum
	first := append(append([]byte(nil), udpHdr...), make([]byte, 8)...)
	r.send(frag(1, 0, true, first), frag(1, 16, false, make([]byte, 8))) // reassembled
	r.send(frag(2, 0, true, first), frag(2, 0, true, first))             // a duplicate; left to time out
	r.send(frag(3, 0, true, first), frag(3, 8, true, make([]byte, 16)))  // overlapping
	r.send(frag(4, 65528, false, make([]byte, 16)))                      // past 65,535
	r.send(frag(5, 0, true, make([]byte, 12)))                           // not a multiple of 8
	for i := range uint16(70) {                                          // more fragments than a datagram may have
		r.write(frag(6, 8+16*i, true, make([]byte, 8)))
	}
	r.barrier()
	st := r.st.Internals().Stats()
	r.advanceUntil(func() bool { return st.ReasmTimeout.Load() > 0 })
}

// refusingLink refuses every packet but ICMP while refuse is set.
type refusingLink struct {
	link.Endpoint
	refuse atomic.Bool
}

func (l *refusingLink) WritePacket(p []byte) error {
	if l.refuse.Load() && len(p) > 9 && p[9] != wire.ProtocolICMPv4 {
		return link.ErrClosed
	}
	return l.Endpoint.WritePacket(p)
}

// refusingLinkScenario sends through a link that refuses: a datagram, a
// datagram in fragments, a RST; and datagrams in fragments through one
// that takes them.
func refusingLinkScenario(e *scenarioEnv) {
	var rl *refusingLink
	r := e.rawOn(synack.Config{}, func(ep link.Endpoint) link.Endpoint { rl = &refusingLink{Endpoint: ep}; return rl })
	u, err := r.st.ListenUDP(netip.MustParseAddrPort("0.0.0.0:5353"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer u.Close()
	dst := netip.AddrPortFrom(rigPeer, 53)
	if _, err := u.WriteToUDPAddrPort(make([]byte, 3000), dst); err != nil { // fragments
		e.t.Fatal(err)
	}
	rl.refuse.Store(true)
	u.WriteToUDPAddrPort([]byte("x"), dst)
	u.WriteToUDPAddrPort(make([]byte, 3000), dst)
	r.send(seg(wire.TCPFields{SrcPort: 45000, DstPort: 81, Seq: 1, Flags: wire.FlagSYN, Window: 1000}, nil)) // its RST is refused
	rl.refuse.Store(false)
}
