package stack

import (
	"github.com/synack-net/synack/wire"
)

// icmpInput answers echo requests (RFC 792, RFC 1122 §3.2.2.6) and hands
// destination unreachable and time exceeded messages to the connection or
// socket they quote (icmperr.go).
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
		if n > s.pathMTU(ip.Src()) { // a request that came in fragments (frag.go)
			if s.sendEcho(wire.ICMPv4EchoReply, ip.Src(), m.Rest(), m.Payload()) {
				st.ICMPOutEchoReps.Add(1)
			}
			return
		}
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
	case wire.ICMPv4DestUnreachable, wire.ICMPv4TimeExceeded:
		s.icmpErrorInput(m) // icmperr.go
	}
}
