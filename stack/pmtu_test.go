package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link/pipe"
)

// pmtuStack is a stack on one end of a pipe (MTU 1500) with a virtual clock.
func pmtuStack(t *testing.T) (*Stack, *clock.Virtual) {
	t.Helper()
	a, b := pipe.New(1500)
	clk := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := New(b, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); a.Close(); b.Close() })
	return s, clk
}

// TestPathMTUCacheExpires: a learned MTU holds for ten minutes of the
// stack's clock (Linux's mtu_expires), then the link's MTU is back; a
// value no lower than the one in force is ignored.
func TestPathMTUCacheExpires(t *testing.T) {
	s, clk := pmtuStack(t)
	dst := netip.MustParseAddr("10.0.0.1")
	if got := s.pathMTU(dst); got != 1500 {
		t.Fatalf("pathMTU before = %d, want the link's 1500", got)
	}
	if !s.lowerPathMTU(dst, 1280) || s.pathMTU(dst) != 1280 {
		t.Fatalf("lowerPathMTU(1280): pathMTU %d, want 1280", s.pathMTU(dst))
	}
	if s.lowerPathMTU(dst, 1400) || s.lowerPathMTU(dst, 1280) || s.stats.PMTUIgnored.Load() != 2 {
		t.Fatalf("higher or equal MTUs taken (PMTUIgnored %d, want 2)", s.stats.PMTUIgnored.Load())
	}
	clk.Advance(10*time.Minute - time.Nanosecond)
	if got := s.pathMTU(dst); got != 1280 {
		t.Fatalf("pathMTU just before ten minutes = %d, want 1280", got)
	}
	clk.Advance(time.Nanosecond)
	if got := s.pathMTU(dst); got != 1500 {
		t.Fatalf("pathMTU after ten minutes = %d, want 1500 (expired)", got)
	}
	if s.pmtu.n.Load() != 0 {
		t.Fatalf("%d entries left after expiry, want 0", s.pmtu.n.Load())
	}
}

// TestPathMTUCacheBounded: the cache never holds more than maxPMTUEntries;
// past it the entry closest to expiry goes, counted.
func TestPathMTUCacheBounded(t *testing.T) {
	s, clk := pmtuStack(t)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}) }
	for i := range maxPMTUEntries + 10 {
		s.lowerPathMTU(addr(i), 1400)
		clk.Advance(time.Millisecond)
	}
	if n := len(s.pmtu.m); n != maxPMTUEntries {
		t.Fatalf("%d entries, want the bound %d", n, maxPMTUEntries)
	}
	if got := s.stats.PMTUCacheEvictions.Load(); got != 10 {
		t.Fatalf("PMTUCacheEvictions = %d, want 10", got)
	}
	if s.pathMTU(addr(0)) != 1500 || s.pathMTU(addr(maxPMTUEntries+9)) != 1400 {
		t.Fatal("the oldest entry should have gone and the newest stayed")
	}
}

// TestFragNeededMTU: RFC 1191 §5's plateaus for a 0 field, and the
// clamp to 552.
func TestFragNeededMTU(t *testing.T) {
	for _, tc := range []struct {
		field         uint16
		quoted, want  int
		clampedWanted bool
	}{
		{1280, 1500, 1280, false},
		{0, 1500, 1492, false},
		{0, 1492, 1006, false},
		{0, 9000, 8166, false},
		{0, 1006, 552, true}, // 508 is below 552
		{300, 1500, 552, true},
		{0, 40, 552, true},
	} {
		got, clamped := fragNeededMTU(tc.field, tc.quoted)
		if got != tc.want || clamped != tc.clampedWanted {
			t.Errorf("fragNeededMTU(%d, %d) = %d, %v; want %d, %v", tc.field, tc.quoted, got, clamped, tc.want, tc.clampedWanted)
		}
	}
}
