package bsd

import (
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/wire"
)

// firstPacket keeps a copy of the first packet written through it.
type firstPacket struct {
	link.Endpoint
	mu    sync.Mutex
	first []byte
}

func (e *firstPacket) WritePacket(p []byte) error {
	e.mu.Lock()
	if e.first == nil {
		e.first = append([]byte(nil), p...)
	}
	e.mu.Unlock()
	return e.Endpoint.WritePacket(p)
}

func (e *firstPacket) get() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.first
}

// TestConnectHostUnreachable: an ICMP host unreachable about the SYN ends
// a blocking connect with EHOSTUNREACH (RFC 1122 §4.2.3.9, as Linux does
// in SYN-SENT).
func TestConnectHostUnreachable(t *testing.T) {
	a, b := pipe.New(1500)
	tap := &firstPacket{Endpoint: a}
	clk := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cst, err := synack.New(tap, synack.Config{Addr: netip.PrefixFrom(clientIP, 24), Clock: clk})
	must(t, err)
	defer cst.Close()
	defer a.Close()
	defer b.Close()
	h := NewHost(cst)
	fd, _ := h.Socket(AF_INET, SOCK_STREAM, 0)
	dst := netip.MustParseAddrPort("10.0.0.3:80") // nobody: the SYN goes unanswered
	res := make(chan error)
	go func() { res <- h.Connect(fd, dst) }()
	waitFor(t, "the SYN", func() bool { return tap.get() != nil })
	cst.Internals().DeliverPacket(unreachableFor(tap.get()))
	wantErr(t, "connect answered by host unreachable", <-res, syscall.EHOSTUNREACH)
}

// unreachableFor is an ICMP host unreachable from the link's 10.0.0.2
// quoting pkt's IP header and first 8 bytes (ports and sequence number).
func unreachableFor(pkt []byte) []byte {
	quote := pkt[:wire.IPv4MinHeaderLen+8]
	m := make([]byte, wire.ICMPv4HeaderLen+len(quote))
	(&wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: wire.ICMPv4HostUnreachable}).Encode(m)
	copy(m[wire.ICMPv4HeaderLen:], quote)
	wire.ICMPv4(m).FillChecksum()
	p := make([]byte, wire.IPv4MinHeaderLen+len(m))
	(&wire.IPv4Fields{TotalLength: uint16(len(p)), ID: 2, TTL: 64, Protocol: wire.ProtocolICMPv4,
		Src: serverIP, Dst: clientIP}).Encode(p)
	copy(p[wire.IPv4MinHeaderLen:], m)
	return p
}
