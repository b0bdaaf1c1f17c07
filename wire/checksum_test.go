package wire_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/wire"
)

// refChecksum is the RFC 1071 §4.1 reference: add 16-bit big-endian words
// one at a time into a 32-bit accumulator, pad an odd byte, fold.
func refChecksum(b []byte, initial uint16) uint16 {
	sum := uint32(initial)
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
		sum = sum&0xffff + sum>>16
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 300+8)
	for n := 0; n <= 300; n++ { // past several rounds of the 64-byte loop
		for trial := 0; trial < 20; trial++ {
			for i := range buf {
				buf[i] = byte(r.Uint32())
			}
			off := r.IntN(8) // odd and even alignment
			b := buf[off : off+n]
			initial := uint16(r.Uint32())
			if got, want := wire.Checksum(b, initial), refChecksum(b, initial); got != want {
				t.Fatalf("len %d off %d initial %#04x: Checksum = %#04x, want %#04x", n, off, initial, got, want)
			}
		}
	}
}

func TestChecksumCarries(t *testing.T) {
	// All-ones words make every 64-bit addition carry.
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 1460, 65535, 65536, 1 << 20} {
		b := bytes.Repeat([]byte{0xff}, n)
		for _, initial := range []uint16{0, 1, 0xfffe, 0xffff} {
			if got, want := wire.Checksum(b, initial), refChecksum(b, initial); got != want {
				t.Errorf("len %d of 0xff, initial %#04x: Checksum = %#04x, want %#04x", n, initial, got, want)
			}
		}
	}
}

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := wire.Checksum(b, 0); got != 0xddf2 {
		t.Fatalf("Checksum = %#04x, want 0xddf2", got)
	}
	if got := wire.Checksum(nil, 0x1234); got != 0x1234 {
		t.Fatalf("Checksum(nil, 0x1234) = %#04x, want the initial value", got)
	}
}

func TestChecksumCombine(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1000; i++ {
		a := make([]byte, 2*r.IntN(50)) // the split must be at an even offset
		b := make([]byte, r.IntN(100))
		for j := range a {
			a[j] = byte(r.Uint32())
		}
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		whole := wire.Checksum(append(append([]byte{}, a...), b...), 0)
		if got := wire.ChecksumCombine(wire.Checksum(a, 0), wire.Checksum(b, 0)); got != whole {
			t.Fatalf("ChecksumCombine of halves = %#04x, checksum of whole = %#04x", got, whole)
		}
	}
	if got := wire.ChecksumCombine(0xffff, 0xffff); got != 0xffff {
		t.Fatalf("ChecksumCombine(0xffff, 0xffff) = %#04x, want 0xffff", got)
	}
	if got := wire.ChecksumCombine(0x8000, 0x8001); got != 0x0002 {
		t.Fatalf("ChecksumCombine(0x8000, 0x8001) = %#04x, want 0x0002", got)
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.200")
	// The pseudo header written out (RFC 9293 §3.1): src, dst, zero, PTCL, length.
	ph := make([]byte, 12)
	copy(ph[0:4], src.AsSlice())
	copy(ph[4:8], dst.AsSlice())
	ph[9] = wire.ProtocolTCP
	binary.BigEndian.PutUint16(ph[10:], 1234)
	want := refChecksum(ph, 0)
	if got := wire.PseudoHeaderChecksum(wire.ProtocolTCP, src, dst, 1234); got != want {
		t.Fatalf("PseudoHeaderChecksum = %#04x, want %#04x", got, want)
	}
	mapped := netip.AddrFrom16(src.As16())
	if got := wire.PseudoHeaderChecksum(wire.ProtocolTCP, mapped, dst, 1234); got != want {
		t.Fatalf("PseudoHeaderChecksum with an IPv4-mapped source = %#04x, want %#04x", got, want)
	}
	// An invalid address must not panic and contributes nothing.
	if got, want := wire.PseudoHeaderChecksum(wire.ProtocolUDP, netip.Addr{}, netip.Addr{}, 8), uint16(17+8); got != want {
		t.Fatalf("PseudoHeaderChecksum of zero addresses = %#04x, want %#04x", got, want)
	}
}
