package stack

import (
	"net/netip"
	"testing"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/wire"
)

// routerSolicitation is what Linux sends on a TUN device as it comes up:
// an IPv6 header (fe80::1 to ff02::2, ICMPv6) and an ICMPv6 router
// solicitation (RFC 4861 §4.1), its checksum left zero.
func routerSolicitation() []byte {
	p := make([]byte, 40+8)
	p[0] = 0x60          // version 6, traffic class 0
	p[5] = 8             // payload length
	p[6], p[7] = 58, 255 // next header ICMPv6, hop limit
	copy(p[8:24], netip.MustParseAddr("fe80::1").AsSlice())
	copy(p[24:40], netip.MustParseAddr("ff02::2").AsSlice())
	p[40] = 133 // router solicitation
	return p
}

// TestNotIPv4CountedApart: a packet whose version nibble is not 4 (the
// IPv6 the kernel sends on a TUN device, or a byte of junk) is dropped and
// counted as InNotIPv4, not as InHdrErrors (which the kernel would take
// for broken IPv4), by every way in; the counter is the last of the Ip
// section. A truncated IPv4 header is still InHdrErrors.
func TestNotIPv4CountedApart(t *testing.T) {
	s := stackOnPipe(t, 1500)
	rs := routerSolicitation()
	s.DeliverPacket(rs)
	s.DeliverPacket([]byte{0x60})                              // one byte, version 6
	s.DeliverPacket(append([]byte{0x05}, make([]byte, 39)...)) // version 0
	s.DeliverBatch([][]byte{routerSolicitation()}, false)
	s.DeliverGSO(routerSolicitation(), link.GSO{})
	st := s.Stats()
	if got := st.InNotIPv4.Load(); got != 5 {
		t.Errorf("InNotIPv4 = %d; want 5", got)
	}
	if got := st.InHdrErrors.Load(); got != 0 {
		t.Errorf("InHdrErrors = %d; want 0: a packet that is not IPv4 is no bad IPv4 header", got)
	}
	if got := st.InReceives.Load(); got != 5 {
		t.Errorf("InReceives = %d; want 5", got)
	}
	if got := st.OutRequests.Load(); got != 0 {
		t.Errorf("OutRequests = %d; want 0: nothing answers a packet that is not IPv4", got)
	}

	syn := make([]byte, wire.IPv4MinHeaderLen)
	syn[0] = 0x45
	s.DeliverPacket(syn[:19]) // IPv4, truncated
	if st.InHdrErrors.Load() != 1 || st.InNotIPv4.Load() != 5 {
		t.Errorf("a truncated IPv4 header: InHdrErrors %d, InNotIPv4 %d; want 1 and 5", st.InHdrErrors.Load(), st.InNotIPv4.Load())
	}

	for _, sec := range s.Counters() {
		if sec.Name != "Ip" {
			continue
		}
		last := sec.Counters[len(sec.Counters)-1]
		if last.Name != "InNotIPv4" || last.Value != 5 {
			t.Errorf("the Ip section ends with %s = %d; want InNotIPv4 = 5", last.Name, last.Value)
		}
	}
}

// stackOnPipe is a stack at 10.0.0.2 on one end of a pipe of the given
// MTU whose other end nobody reads, all closed with the test.
func stackOnPipe(t *testing.T, mtu int) *Stack {
	t.Helper()
	a, b := pipe.New(mtu)
	t.Cleanup(func() { a.Close(); b.Close() })
	s, err := New(a, Config{Addr: netip.MustParsePrefix("10.0.0.2/24")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
