package udp

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/wire"
)

var (
	srcAddr = netip.MustParseAddr("10.0.0.1")
	dstAddr = netip.MustParseAddr("10.0.0.2")
)

// TestEncodeParseRoundTrip builds a datagram and parses it back: ports and
// payload survive and the checksum verifies over the pseudo-header.
func TestEncodeParseRoundTrip(t *testing.T) {
	b := make([]byte, wire.UDPHeaderLen+5)
	copy(b[wire.UDPHeaderLen:], "hello")
	Encode(b, netip.AddrPortFrom(srcAddr, 1234), netip.AddrPortFrom(dstAddr, 53))
	var st Stats
	d, ok := Parse(&st, srcAddr, dstAddr, b, false)
	if !ok || d.SrcPort != 1234 || d.DstPort != 53 || string(d.Payload) != "hello" {
		t.Fatalf("Parse = %+v, %v", d, ok)
	}
	// The same bytes between other addresses fail the checksum.
	if _, ok := Parse(&st, srcAddr, netip.MustParseAddr("10.0.0.3"), b, false); ok {
		t.Error("checksum passed for another destination")
	}
	if st.InCsumErrors.Load() != 1 || st.InErrors.Load() != 1 {
		t.Errorf("InCsumErrors %d InErrors %d, want 1, 1", st.InCsumErrors.Load(), st.InErrors.Load())
	}
	// A partial checksum (offload) is not verified.
	if _, ok := Parse(&st, srcAddr, netip.MustParseAddr("10.0.0.3"), b, true); !ok {
		t.Error("a partial checksum was verified")
	}
}

// TestQueueBoundsAndOrder fills a queue past its byte budget and its
// datagram count: what does not fit is refused and counted, what fits
// comes out in order, whole or cut to the reader's buffer.
func TestQueueBoundsAndOrder(t *testing.T) {
	var q Queue
	var st Stats
	q.SetSize(1000)
	src := netip.AddrPortFrom(srcAddr, 9)
	for i := range 4 {
		q.Push(&st, src, bytes.Repeat([]byte{byte(i)}, 300))
	}
	if q.Len() != 3 || q.Bytes() != 900 || st.RcvbufErrors.Load() != 1 || st.InDatagrams.Load() != 3 {
		t.Fatalf("Len %d Bytes %d RcvbufErrors %d InDatagrams %d", q.Len(), q.Bytes(), st.RcvbufErrors.Load(), st.InDatagrams.Load())
	}
	p := make([]byte, 100)
	n, full, from, ok := q.Pop(p)
	if !ok || n != 100 || full != 300 || from != src || p[0] != 0 {
		t.Fatalf("Pop = %d, %d, %v, %v", n, full, from, ok)
	}
	// The next push wraps round the ring's end.
	q.Push(&st, src, bytes.Repeat([]byte{7}, 350))
	p = make([]byte, 400)
	for _, want := range []struct {
		b byte
		n int
	}{{1, 300}, {2, 300}, {7, 350}} {
		n, _, _, ok := q.Pop(p)
		if !ok || n != want.n || !bytes.Equal(p[:n], bytes.Repeat([]byte{want.b}, want.n)) {
			t.Fatalf("Pop: %d bytes, %v; want %d bytes of %d", n, ok, want.n, want.b)
		}
	}
	if _, _, _, ok := q.Pop(p); ok {
		t.Error("Pop of an empty queue")
	}
	// Empty datagrams are bounded by count.
	var e Queue
	for range MaxDatagrams + 5 {
		e.Push(&st, src, nil)
	}
	if e.Len() != MaxDatagrams {
		t.Errorf("%d empty datagrams queued, want %d", e.Len(), MaxDatagrams)
	}
}

// TestQueueRingGrowsOnlyAsNeeded: a queue read as fast as it is written
// keeps its first small ring; one filled to its budget grows to it, with
// the payloads queued before the growth intact and in order.
func TestQueueRingGrowsOnlyAsNeeded(t *testing.T) {
	var q Queue
	var st Stats
	src := netip.AddrPortFrom(srcAddr, 9)
	p := make([]byte, 2000)
	for range 1000 {
		q.Push(&st, src, make([]byte, 1400))
		q.Pop(p)
	}
	if len(q.data) != initialRing {
		t.Errorf("ring of %d bytes after a steady flow, want %d", len(q.data), initialRing)
	}
	q.Push(&st, src, []byte{42}) // the head now sits inside the ring
	for i := 0; q.Push(&st, src, bytes.Repeat([]byte{byte(i)}, 1400)); i++ {
	}
	if len(q.data) != DefaultQueueBytes || q.Bytes() <= DefaultQueueBytes-1400 {
		t.Fatalf("ring of %d bytes holding %d, want it grown to the budget %d and full", len(q.data), q.Bytes(), DefaultQueueBytes)
	}
	if n, _, _, _ := q.Pop(p); n != 1 || p[0] != 42 {
		t.Fatalf("first datagram after growth: %d bytes, %d", n, p[0])
	}
	for i := 0; q.Len() > 0; i++ {
		if n, _, _, _ := q.Pop(p); n != 1400 || !bytes.Equal(p[:n], bytes.Repeat([]byte{byte(i)}, 1400)) {
			t.Fatalf("datagram %d after growth: %d bytes of %d", i, n, p[0])
		}
	}
}
