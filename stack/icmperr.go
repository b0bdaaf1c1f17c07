package stack

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"syscall"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// ICMP errors about datagrams this stack sent (RFC 792, RFC 1122 §3.2.2.1,
// §4.1.3.3, §4.2.3.9): destination unreachable and time exceeded quote
// the IPv4 header and at least 8 bytes of the datagram that caused them.
// The quote is checked (whole IPv4 header, sent from this stack's address,
// TCP or UDP, first fragment, 8 bytes of its header) and matched to the
// connection or socket it names; for TCP the engine then checks the quoted
// sequence number (RFC 5927 §4.1). Whatever fails a check is dropped and
// counted by reason; nothing is kept but a learned path MTU (pmtu.go).

// icmpUnreachErrno maps a destination unreachable code to the error a
// socket reports, as Linux's icmp_err_convert (RFC 1122 §3.2.2.1; RFC 1812
// §5.2.7.1 for codes 9 to 15), and says whether it also drops a passive
// half-open connection (Linux's tcp_req_err: net and host unreachable).
// Protocol unreachable is ECONNREFUSED, like port unreachable: the peer
// has no such endpoint (Linux says ENOPROTOOPT). 0: not a code of RFC 792
// or RFC 1812, or fragmentation needed (not an error; pmtu.go).
var icmpUnreachErrno = [16]struct {
	errno syscall.Errno
	drop  bool
}{
	0:  {syscall.ENETUNREACH, true},   // net unreachable
	1:  {syscall.EHOSTUNREACH, true},  // host unreachable
	2:  {syscall.ECONNREFUSED, false}, // protocol unreachable
	3:  {syscall.ECONNREFUSED, false}, // port unreachable
	5:  {syscall.EOPNOTSUPP, false},   // source route failed
	6:  {syscall.ENETUNREACH, false},  // destination network unknown
	7:  {syscall.EHOSTDOWN, false},    // destination host unknown
	8:  {syscall.ENONET, false},       // source host isolated
	9:  {syscall.ENETUNREACH, false},  // network administratively prohibited
	10: {syscall.EHOSTUNREACH, false}, // host administratively prohibited
	11: {syscall.ENETUNREACH, false},  // network unreachable for TOS
	12: {syscall.EHOSTUNREACH, false}, // host unreachable for TOS
	13: {syscall.EHOSTUNREACH, false}, // communication administratively prohibited (RFC 1812)
	14: {syscall.EHOSTUNREACH, false}, // host precedence violation
	15: {syscall.EHOSTUNREACH, false}, // precedence cutoff in effect
}

// quote is the datagram an ICMP error quotes, checked.
type quote struct {
	ip     wire.IPv4
	local  netip.AddrPort // its source: this stack
	remote netip.AddrPort // its destination
	seq    seqnum.Value   // the TCP sequence number, for TCP
}

// parseQuote checks the quoted datagram of m and reports false, counted in
// ICMPInErrorsBadQuote, when it cannot be one of ours.
func (s *Stack) parseQuote(m wire.ICMPv4) (quote, bool) {
	ip, err := wire.ParseIPv4Prefix(m.Payload())
	switch {
	case err != nil, ip.Src() != s.addr, ip.FragmentOffset() != 0,
		ip.Protocol() != wire.ProtocolTCP && ip.Protocol() != wire.ProtocolUDP,
		len(ip.Payload()) < 8: // RFC 792: 64 bits of the datagram's data, the ports and TCP's sequence number
		s.stats.ICMPInErrorsBadQuote.Add(1)
		return quote{}, false
	}
	h := ip.Payload()
	return quote{
		ip:     ip,
		local:  netip.AddrPortFrom(ip.Src(), binary.BigEndian.Uint16(h[0:])),
		remote: netip.AddrPortFrom(ip.Dst(), binary.BigEndian.Uint16(h[2:])),
		seq:    seqnum.Value(binary.BigEndian.Uint32(h[4:])),
	}, true
}

// icmpErrorInput handles a destination unreachable or time exceeded m.
func (s *Stack) icmpErrorInput(m wire.ICMPv4) {
	st := &s.stats
	var errno syscall.Errno
	drop := true
	fragNeeded := false
	if m.Type() == wire.ICMPv4TimeExceeded {
		st.ICMPInTimeExcds.Add(1)
		errno = syscall.EHOSTUNREACH // as Linux's tcp_v4_err, for both codes
	} else {
		st.ICMPInDestUnreachs.Add(1)
		if m.Code() == wire.ICMPv4FragmentationNeeded {
			fragNeeded = true
		} else if int(m.Code()) < len(icmpUnreachErrno) {
			errno, drop = icmpUnreachErrno[m.Code()].errno, icmpUnreachErrno[m.Code()].drop
		}
		if !fragNeeded && errno == 0 {
			st.ICMPInErrorsBadCode.Add(1)
			return
		}
	}
	q, ok := s.parseQuote(m)
	if !ok {
		return
	}
	if fragNeeded {
		// RFC 1191 §4: the next-hop MTU is the low 16 bits of the header's
		// second word.
		mtu, clamped := fragNeededMTU(uint16(m.Rest()), int(q.ip.TotalLength()))
		matched := false
		if q.ip.Protocol() == wire.ProtocolTCP {
			matched = s.tcpFragNeeded(q, mtu)
		} else if matched = s.udpQuoteMatches(q); matched {
			s.lowerPathMTU(q.remote.Addr(), mtu)
		}
		if matched && clamped {
			st.PMTUClamped.Add(1)
		}
		return
	}
	if q.ip.Protocol() == wire.ProtocolUDP {
		if m.Type() == wire.ICMPv4TimeExceeded {
			return // Linux reports it to no UDP socket (not a hard error); counted above
		}
		s.udpICMPError(q.local, q.remote, errno)
		return
	}
	s.tcpICMPError(q, errno, drop)
}

// tcpICMPError hands an error to the connection whose segment it quotes.
func (s *Stack) tcpICMPError(q quote, errno syscall.Errno, drop bool) {
	k := keyOf(q.local, q.remote)
	sh := s.shardOf(k)
	sh.mu.Lock()
	c := sh.conns[k]
	if c == nil {
		sh.mu.Unlock()
		s.stats.ICMPInErrorsNoSocket.Add(1)
		return
	}
	l := c.lockListener()
	v := c.conn.ICMPError(s.clk.Now(), q.seq, errno, drop)
	s.countVerdict(v)
	sh.afterLocked(c)
	unlockListener(l)
	sh.unlockAndFlush()
}

// tcpFragNeeded is RFC 1191 for TCP: the quote is checked by the
// connection, and only then is the MTU learned for its destination (under
// the shard's mu, so that a SYN,ACK handled next already finds it). It
// reports whether the quote matched the connection.
func (s *Stack) tcpFragNeeded(q quote, mtu int) bool {
	k := keyOf(q.local, q.remote)
	sh := s.shardOf(k)
	sh.mu.Lock()
	c := sh.conns[k]
	if c == nil {
		sh.mu.Unlock()
		s.stats.ICMPInErrorsNoSocket.Add(1)
		return false
	}
	l := c.lockListener()
	v := c.conn.SetPathMTU(s.clk.Now(), q.seq, mtu)
	if v != tcp.ICMPOutOfWindow {
		s.lowerPathMTU(q.remote.Addr(), mtu)
	}
	s.countVerdict(v)
	sh.afterLocked(c)
	unlockListener(l)
	sh.unlockAndFlush()
	return v != tcp.ICMPOutOfWindow
}

// countVerdict counts what a connection made of an ICMP error.
func (s *Stack) countVerdict(v tcp.ICMPVerdict) {
	switch v {
	case tcp.ICMPOutOfWindow:
		s.stats.ICMPInErrorsOutOfWindow.Add(1)
	case tcp.ICMPSoft:
		s.stats.ICMPSoftErrors.Add(1)
	case tcp.ICMPHard:
		s.stats.ICMPHardErrors.Add(1)
	case tcp.ICMPMTULowered:
		s.stats.PMTUMSSLowered.Add(1)
	}
}

// udpQuoteMatches reports whether a UDP socket of ours sent the quoted
// datagram: one bound to its source port, connected to its destination if
// connected at all; else it counts ICMPInErrorsNoSocket.
func (s *Stack) udpQuoteMatches(q quote) bool {
	t := &s.udp
	t.mu.Lock()
	ok := slices.ContainsFunc(t.socks[q.local.Port()], func(sk *UDPSocket) bool {
		return !sk.remote.IsValid() || sk.remote == q.remote
	})
	t.mu.Unlock()
	if !ok {
		s.stats.ICMPInErrorsNoSocket.Add(1)
	}
	return ok
}
