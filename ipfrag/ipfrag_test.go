package ipfrag

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/synack-net/synack/wire"
)

var (
	t0  = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	src = netip.MustParseAddr("10.0.0.1")
	dst = netip.MustParseAddr("10.0.0.2")
)

// datagramBytes is a payload of n bytes that differs for each id.
func datagramBytes(id uint16, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + int(id))
	}
	return b
}

// frag is the fragment of datagram id carrying data at byte offset off.
func frag(id uint16, off int, data []byte, more bool) wire.IPv4 {
	f := wire.IPv4Fields{TotalLength: uint16(wire.IPv4MinHeaderLen + len(data)), ID: id,
		FragmentOffset: uint16(off), TTL: 64, Protocol: wire.ProtocolUDP, Src: src, Dst: dst}
	if more {
		f.Flags = wire.IPv4FlagMoreFragments
	}
	b := make([]byte, wire.IPv4MinHeaderLen+len(data))
	f.Encode(b)
	copy(b[wire.IPv4MinHeaderLen:], data)
	ip, err := wire.ParseIPv4(b)
	if err != nil {
		panic(err)
	}
	return ip
}

// cut cuts payload into fragments of each bytes (the last shorter).
func cut(id uint16, payload []byte, each int) []wire.IPv4 {
	var fs []wire.IPv4
	for off := 0; off < len(payload); off += each {
		end := min(off+each, len(payload))
		fs = append(fs, frag(id, off, payload[off:end], end < len(payload)))
	}
	return fs
}

// checkWhole checks that whole is the datagram id with payload want.
func checkWhole(t *testing.T, whole wire.IPv4, id uint16, want []byte) {
	t.Helper()
	ip, err := wire.ParseIPv4(whole)
	if err != nil {
		t.Fatalf("reassembled datagram does not parse: %v", err)
	}
	if !ip.IsChecksumValid() {
		t.Error("reassembled header checksum is wrong")
	}
	if ip.FragmentOffset() != 0 || ip.Flags()&wire.IPv4FlagMoreFragments != 0 {
		t.Errorf("reassembled datagram still has offset %d flags %#x", ip.FragmentOffset(), ip.Flags())
	}
	if ip.ID() != id || ip.Src() != src || ip.Dst() != dst || ip.Protocol() != wire.ProtocolUDP {
		t.Errorf("reassembled header: id %d %v -> %v proto %d", ip.ID(), ip.Src(), ip.Dst(), ip.Protocol())
	}
	if !bytes.Equal(ip.Payload(), want) {
		t.Errorf("reassembled payload differs: %d bytes, want %d", len(ip.Payload()), len(want))
	}
}

func TestReassembleInOrder(t *testing.T) {
	r := New(Config{})
	payload := datagramBytes(1, 4000)
	fs := cut(1, payload, 1480)
	for i, f := range fs {
		whole, res, ev := r.Add(t0, f)
		if ev != 0 {
			t.Fatalf("fragment %d evicted %d", i, ev)
		}
		if i < len(fs)-1 {
			if res != Held || whole != nil {
				t.Fatalf("fragment %d: %v, want held", i, res)
			}
			continue
		}
		if res != Done {
			t.Fatalf("last fragment: %v, want done", res)
		}
		checkWhole(t, whole, 1, payload)
		r.Release(whole)
	}
	if r.Len() != 0 || r.Bytes() != 0 {
		t.Errorf("after completion: %d datagrams, %d bytes held", r.Len(), r.Bytes())
	}
}

func TestReassembleOutOfOrder(t *testing.T) {
	for _, order := range [][]int{{2, 1, 0}, {1, 2, 0}, {0, 2, 1}, {2, 0, 1}} {
		r := New(Config{})
		payload := datagramBytes(7, 3001)
		fs := cut(7, payload, 1200)
		var whole wire.IPv4
		for k, i := range order {
			w, res, _ := r.Add(t0, fs[i])
			if want := map[bool]Result{true: Done, false: Held}[k == len(order)-1]; res != want {
				t.Fatalf("order %v: fragment %d: %v, want %v", order, i, res, want)
			}
			whole = w
		}
		checkWhole(t, whole, 7, payload)
	}
}

// TestReassembleInterleaved: fragments of two datagrams with the same ID
// from different protocols are kept apart by the key.
func TestReassembleInterleaved(t *testing.T) {
	r := New(Config{})
	a, b := datagramBytes(3, 2000), datagramBytes(4, 2000)
	fa, fb := cut(3, a, 1000), cut(3, b, 1000)
	for _, f := range fb {
		f[9] = wire.ProtocolTCP
		f.FillChecksum()
	}
	r.Add(t0, fa[0])
	r.Add(t0, fb[1])
	if r.Len() != 2 {
		t.Fatalf("%d datagrams in progress, want 2", r.Len())
	}
	w, res, _ := r.Add(t0, fa[1])
	if res != Done {
		t.Fatalf("a: %v", res)
	}
	checkWhole(t, w, 3, a)
	w, res, _ = r.Add(t0, fb[0])
	if res != Done || !bytes.Equal(w.Payload(), b) || w.Protocol() != wire.ProtocolTCP {
		t.Fatalf("b: %v", res)
	}
}

func TestReassembleOverlapDropsDatagram(t *testing.T) {
	payload := datagramBytes(9, 3000)
	for _, tc := range []struct {
		name string
		f    wire.IPv4
	}{
		{"starts inside", frag(9, 1496, payload[1496:2000], true)},
		{"ends inside", frag(9, 992, payload[992:1504], true)},
		{"covers", frag(9, 0, payload[0:2000], true)},
		{"within", frag(9, 8, payload[8:16], true)},
		{"same range, other bytes", frag(9, 0, datagramBytes(10, 1000), true)},
	} {
		r := New(Config{})
		_, r1, _ := r.Add(t0, frag(9, 0, payload[:1000], true))
		_, r2, _ := r.Add(t0, frag(9, 1000, payload[1000:1504], true))
		if r1 != Held || r2 != Held {
			t.Fatalf("%s: fragments held: %v, %v", tc.name, r1, r2)
		}
		if _, res, _ := r.Add(t0, tc.f); res != Overlap {
			t.Errorf("%s: %v, want overlap", tc.name, res)
		}
		if r.Len() != 0 || r.Bytes() != 0 {
			t.Errorf("%s: %d datagrams, %d bytes still held", tc.name, r.Len(), r.Bytes())
		}
		// The rest of the datagram starts a new one, which does not complete.
		if _, res, _ := r.Add(t0, frag(9, 1504, payload[1504:], false)); res != Held {
			t.Errorf("%s: the last fragment after the drop: %v, want held", tc.name, res)
		}
	}
}

func TestReassembleExactDuplicateIgnored(t *testing.T) {
	r := New(Config{})
	payload := datagramBytes(5, 2500)
	fs := cut(5, payload, 1000)
	r.Add(t0, fs[0])
	held := r.Bytes()
	if _, res, _ := r.Add(t0, fs[0]); res != Duplicate {
		t.Fatalf("duplicate: %v", res)
	}
	if r.Bytes() != held || r.Len() != 1 {
		t.Errorf("a duplicate changed what is held: %d bytes, %d datagrams", r.Bytes(), r.Len())
	}
	r.Add(t0, fs[2])
	w, res, _ := r.Add(t0, fs[1])
	if res != Done {
		t.Fatalf("after a duplicate: %v", res)
	}
	checkWhole(t, w, 5, payload)
}

// TestReassembleTimeoutQuotesFirstFragment: a datagram missing a fragment
// is dropped when the timeout passes on the clock the caller gives, not
// before, and its first fragment is quoted only if it came.
func TestReassembleTimeoutQuotesFirstFragment(t *testing.T) {
	r := New(Config{})
	a := cut(1, datagramBytes(1, 3000), 1000)
	b := cut(2, datagramBytes(2, 3000), 1000)
	r.Add(t0, a[0]) // fragment 0 came, fragment 1 never will
	r.Add(t0, a[2])
	r.Add(t0.Add(time.Second), b[1]) // fragment 0 never came
	if got := r.Deadline(); !got.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("deadline %v, want 30 s after the first fragment", got)
	}
	if _, ok := r.Expire(t0.Add(30*time.Second - 1)); ok {
		t.Fatal("expired before 30 s")
	}
	q, ok := r.Expire(t0.Add(30 * time.Second))
	if !ok {
		t.Fatal("not expired at 30 s")
	}
	if len(q) != 28 || !bytes.Equal(q, a[0][:28]) {
		t.Errorf("quote %x, want the first fragment's header and 8 bytes %x", q, a[0][:28])
	}
	if _, ok := r.Expire(t0.Add(30 * time.Second)); ok {
		t.Fatal("the second datagram expired a second early")
	}
	if got := r.Deadline(); !got.Equal(t0.Add(31 * time.Second)) {
		t.Fatalf("deadline %v, want 31 s", got)
	}
	q, ok = r.Expire(t0.Add(31 * time.Second))
	if !ok || q != nil {
		t.Errorf("second datagram: expired %v, quote %x; want expired with no quote (no fragment 0)", ok, q)
	}
	if r.Len() != 0 || r.Bytes() != 0 || !r.Deadline().IsZero() {
		t.Errorf("after expiry: %d datagrams, %d bytes", r.Len(), r.Bytes())
	}
	// A late fragment of the first begins a new datagram, which does not complete.
	if _, res, _ := r.Add(t0.Add(40*time.Second), a[1]); res != Held {
		t.Errorf("late fragment: %v", res)
	}
}

// TestReassembleFloodStaysBounded: incomplete datagrams from many IDs
// never take the reassembler past its bounds; the oldest are evicted and
// counted, and a datagram sent after the flood still completes.
func TestReassembleFloodStaysBounded(t *testing.T) {
	cfg := Config{MaxBytes: 256 << 10, MaxDatagrams: 100}
	r := New(cfg)
	evicted := 0
	for id := range 5000 {
		f := frag(uint16(id), 0, datagramBytes(uint16(id), 1480), true) // never a last fragment
		_, res, ev := r.Add(t0, f)
		if res != Held {
			t.Fatalf("datagram %d: %v", id, res)
		}
		evicted += ev
		if r.Bytes() > cfg.MaxBytes || r.Len() > cfg.MaxDatagrams {
			t.Fatalf("after %d datagrams: %d bytes, %d datagrams held; bounds %d, %d", id+1, r.Bytes(), r.Len(), cfg.MaxBytes, cfg.MaxDatagrams)
		}
	}
	if evicted != 5000-r.Len() {
		t.Errorf("evicted %d, want %d", evicted, 5000-r.Len())
	}
	// Many fragments of one datagram (8 bytes each, at most MaxFragments).
	r = New(Config{MaxBytes: 64 << 10})
	var last Result
	n := 0
	for off := 0; off < 8*200; off += 8 {
		_, last, _ = r.Add(t0, frag(1, off, make([]byte, 8), true))
		n++
		if last != Held || r.Bytes() > 64<<10 {
			break
		}
	}
	if last != OverLimit || n != DefaultMaxFragments+1 || r.Len() != 0 {
		t.Errorf("fragment %d: %v, %d datagrams held; want the 65th over the limit and nothing held", n, last, r.Len())
	}
	payload := datagramBytes(9, 3000)
	var w wire.IPv4
	for _, f := range cut(9, payload, 1480) {
		w, last, _ = r.Add(t0, f)
	}
	if last != Done {
		t.Fatalf("a datagram after the flood: %v", last)
	}
	checkWhole(t, w, 9, payload)
}

// TestReassembleOversizeDropped: fragments claiming a datagram over
// 65,535 bytes drop it.
func TestReassembleOversizeDropped(t *testing.T) {
	r := New(Config{})
	r.Add(t0, frag(1, 0, make([]byte, 1480), true))
	if _, res, _ := r.Add(t0, frag(1, 65512, make([]byte, 8), false)); res != Oversize {
		t.Errorf("fragment ending at 65,520: %v, want oversize", res)
	}
	if r.Len() != 0 {
		t.Errorf("%d datagrams held after an oversize fragment", r.Len())
	}
	// The largest offset and length there are.
	if _, res, _ := r.Add(t0, frag(2, 65528, make([]byte, 1480), false)); res != Oversize {
		t.Errorf("fragment at 65,528: %v, want oversize", res)
	}
	// Exactly 65,535 with a 20-byte header completes.
	payload := datagramBytes(3, 65515)
	var w wire.IPv4
	var res Result
	for _, f := range cut(3, payload, 8192) {
		w, res, _ = r.Add(t0, f)
	}
	if res != Done || len(w) != 65535 {
		t.Fatalf("65,535-byte datagram: %v, %d bytes", res, len(w))
	}
	checkWhole(t, w, 3, payload)
	// A first fragment with 40 bytes of options makes 65,515 bytes of
	// payload too many.
	fs := cut(4, payload, 8192)
	opt := make([]byte, 60+8192)
	copy(opt, fs[0][:20])
	opt[0] = 0x4f // IHL 15
	copy(opt[60:], fs[0][20:])
	opt[2], opt[3] = byte(len(opt)>>8), byte(len(opt))
	wire.IPv4(opt).FillChecksum()
	fs[0] = wire.IPv4(opt)
	for _, f := range fs {
		_, res, _ = r.Add(t0, f)
	}
	if res != Oversize || r.Len() != 0 {
		t.Errorf("options making 65,575 bytes: %v, %d held", res, r.Len())
	}
}

func TestReassembleBadLengths(t *testing.T) {
	r := New(Config{})
	if _, res, _ := r.Add(t0, frag(1, 0, make([]byte, 1001), true)); res != BadFragment {
		t.Errorf("MF with 1,001 bytes: %v", res)
	}
	if _, res, _ := r.Add(t0, frag(1, 8, nil, true)); res != BadFragment {
		t.Errorf("empty fragment: %v", res)
	}
	if r.Len() != 0 {
		t.Errorf("bad fragments began %d datagrams", r.Len())
	}
	// Fragments that disagree on the end drop the datagram.
	r.Add(t0, frag(2, 0, make([]byte, 1000), true))
	r.Add(t0, frag(2, 2000, make([]byte, 100), false))
	if _, res, _ := r.Add(t0, frag(2, 2000, make([]byte, 200), false)); res != BadFragment || r.Len() != 0 {
		t.Errorf("a second end: %v, %d held", res, r.Len())
	}
	r.Add(t0, frag(3, 0, make([]byte, 1000), true))
	r.Add(t0, frag(3, 2000, make([]byte, 100), false))
	if _, res, _ := r.Add(t0, frag(3, 2096, make([]byte, 8), true)); res != BadFragment || r.Len() != 0 {
		t.Errorf("past the end: %v, %d held", res, r.Len())
	}
	r.Add(t0, frag(4, 3000, make([]byte, 8), true))
	if _, res, _ := r.Add(t0, frag(4, 1000, make([]byte, 8), false)); res != BadFragment || r.Len() != 0 {
		t.Errorf("an end before a fragment held: %v, %d held", res, r.Len())
	}
}

// TestReassembleAllocs: once warm, reassembling a datagram allocates
// nothing.
func TestReassembleAllocs(t *testing.T) {
	r := New(Config{})
	fs := cut(1, datagramBytes(1, 4000), 1480)
	run := func() {
		for _, f := range fs {
			if w, res, _ := r.Add(t0, f); res == Done {
				r.Release(w)
			}
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%.1f allocations per datagram, want 0", n)
	}
}

func TestFragmentPayload(t *testing.T) {
	for _, tc := range []struct{ mtu, hlen, want int }{
		{1500, 20, 1480}, {1500, 24, 1472}, {576, 20, 552}, {68, 60, 8}, {67, 60, 0}, {1006, 20, 984},
	} {
		if got := FragmentPayload(tc.mtu, tc.hlen); got != tc.want {
			t.Errorf("FragmentPayload(%d, %d) = %d, want %d", tc.mtu, tc.hlen, got, tc.want)
		}
	}
	if n := Count(65507+8, 1480); n != 45 {
		t.Errorf("Count = %d, want 45", n)
	}
}

// BenchmarkReassemble4000 reassembles a 4,000-byte datagram from three
// fragments (the copies in and out included).
func BenchmarkReassemble4000(b *testing.B) {
	r := New(Config{})
	fs := cut(1, datagramBytes(1, 4000), 1480)
	b.SetBytes(4000)
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range fs {
			if w, res, _ := r.Add(t0, f); res == Done {
				r.Release(w)
			}
		}
	}
}
