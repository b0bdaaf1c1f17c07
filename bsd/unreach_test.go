package bsd

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"

	"github.com/synack-net/synack/wire"
)

// TestConnectHostUnreachable: an ICMP host unreachable about the SYN ends
// a blocking connect with EHOSTUNREACH (RFC 1122 §4.2.3.9, as Linux does
// in SYN-SENT).
func TestConnectHostUnreachable(t *testing.T) {
	h := newHosts(t)
	fd, _ := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	dst := netip.MustParseAddrPort("10.0.0.3:80") // nobody: the SYN goes unanswered
	res := make(chan error)
	go func() { res <- h.c.Connect(fd, dst) }()
	var local netip.AddrPort
	waitFor(t, "the connect to start", func() bool {
		local, _ = h.c.Getsockname(fd)
		return local.Port() != 0
	})
	h.cst.Internals().DeliverPacket(hostUnreachable(local, dst))
	wantErr(t, "connect answered by host unreachable", <-res, syscall.EHOSTUNREACH)
}

// hostUnreachable is an ICMP host unreachable from the server's address
// quoting a segment from local to dst: its IP header and the first 8
// bytes of TCP (the ports and sequence number).
func hostUnreachable(local, dst netip.AddrPort) []byte {
	quote := make([]byte, wire.IPv4MinHeaderLen+8)
	(&wire.IPv4Fields{TotalLength: uint16(wire.IPv4MinHeaderLen + 20), ID: 1, TTL: 64, Protocol: wire.ProtocolTCP,
		Src: local.Addr(), Dst: dst.Addr()}).Encode(quote)
	binary.BigEndian.PutUint16(quote[wire.IPv4MinHeaderLen:], local.Port())
	binary.BigEndian.PutUint16(quote[wire.IPv4MinHeaderLen+2:], dst.Port())
	m := make([]byte, wire.ICMPv4HeaderLen+len(quote))
	(&wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: wire.ICMPv4HostUnreachable}).Encode(m)
	copy(m[wire.ICMPv4HeaderLen:], quote)
	wire.ICMPv4(m).FillChecksum()
	p := make([]byte, wire.IPv4MinHeaderLen+len(m))
	(&wire.IPv4Fields{TotalLength: uint16(len(p)), ID: 2, TTL: 64, Protocol: wire.ProtocolICMPv4,
		Src: serverIP, Dst: local.Addr()}).Encode(p)
	copy(p[wire.IPv4MinHeaderLen:], m)
	return p
}
