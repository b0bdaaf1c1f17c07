package stack

import (
	"syscall"

	"github.com/synack-net/synack/wire"
)

// icmpInput answers echo requests (RFC 792, RFC 1122 §3.2.2.6) and hands
// destination-unreachable messages to the connection they are about.
func (s *Stack) icmpInput(ip wire.IPv4) {
	st := &s.stats
	st.ICMPInMsgs.Add(1)
	m, err := wire.ParseICMPv4(ip.Payload())
	if err != nil || !m.IsChecksumValid() {
		st.ICMPInErrors.Add(1)
		return
	}
	switch m.Type() {
	case wire.ICMPv4EchoRequest:
		n := wire.IPv4MinHeaderLen + len(m)
		// Any shard's output queue will do; the peer's address spreads
		// the replies over them.
		sh := s.shardOf(connKey{raddr: ip.Src().As4()})
		sh.mu.Lock()
		p := sh.packet(n)
		s.ipv4Header(p, wire.ProtocolICMPv4, s.addr, ip.Src(), n)
		r := wire.ICMPv4(p[wire.IPv4MinHeaderLen:])
		(&wire.ICMPv4Fields{Type: wire.ICMPv4EchoReply, Rest: m.Rest()}).Encode(r)
		copy(r[wire.ICMPv4HeaderLen:], m.Payload())
		r.FillChecksum()
		st.ICMPOutEchoReps.Add(1)
		sh.unlockAndFlush()
	case wire.ICMPv4EchoReply:
		st.ICMPInEchoReps.Add(1)
		s.pings.reply(m, s.clk.Now())
	case wire.ICMPv4DestUnreachable:
		// The payload holds the IP header and first 8 bytes of our segment.
		inner, err := wire.ParseIPv4Prefix(m.Payload())
		if err != nil || (inner.Protocol() != wire.ProtocolTCP && inner.Protocol() != wire.ProtocolUDP) || len(inner.Payload()) < 8 {
			st.ICMPInErrors.Add(1)
			return
		}
		var e error = syscall.EHOSTUNREACH
		switch m.Code() {
		case wire.ICMPv4NetUnreachable:
			e = syscall.ENETUNREACH
		case wire.ICMPv4PortUnreachable, wire.ICMPv4ProtoUnreachable:
			e = syscall.ECONNREFUSED
		case wire.ICMPv4FragmentationNeeded:
			return // path MTU discovery is not done yet; the MSS keeps us under the MTU
		}
		h := inner.Payload()
		if inner.Protocol() == wire.ProtocolUDP {
			s.udpICMPError(inner, h, e)
			return
		}
		s.icmpError(inner.Src(), inner.Dst(), uint16(h[0])<<8|uint16(h[1]), uint16(h[2])<<8|uint16(h[3]), e)
	}
}
