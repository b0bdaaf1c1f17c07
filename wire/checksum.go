package wire

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Checksum returns the one's-complement sum of b (RFC 1071), taken as
// big-endian 16-bit words with an odd last byte padded by a zero, added to
// initial and folded to 16 bits. It is not inverted: the value written into
// a header is ^sum, and a packet is valid when the sum over it (plus the
// pseudo header, where there is one) is 0xffff.
func Checksum(b []byte, initial uint16) uint16 {
	return fold(sum64(b, uint64(initial)))
}

// sum64 adds b to acc 8 bytes at a time. The one's-complement sum of 16-bit
// words is the same modulo 2^16-1 when the words are added four at a time as
// 64-bit integers, as long as every carry out of bit 63 is added back in
// (RFC 1071 §2(C): 2^64 ≡ 1 mod 2^16-1). Loads are unaligned-safe on every
// platform Go supports; the byte offset parity is kept because each step
// consumes an even number of bytes.
//
// The words are loaded little-endian, which needs no byte swap on the
// machines that matter: the sum of byte-swapped words is the byte-swapped
// sum (RFC 1071 §2(B)), so acc is swapped in and the result swapped back.
// Two accumulators let the two carry chains run side by side.
func sum64(b []byte, acc uint64) uint64 {
	acc = uint64(bits.ReverseBytes16(fold(acc)))
	var a2, c1, c2 uint64
	for len(b) >= 64 {
		acc, c1 = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), c1)
		a2, c2 = bits.Add64(a2, binary.LittleEndian.Uint64(b[8:16]), c2)
		acc, c1 = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), c1)
		a2, c2 = bits.Add64(a2, binary.LittleEndian.Uint64(b[24:32]), c2)
		acc, c1 = bits.Add64(acc, binary.LittleEndian.Uint64(b[32:40]), c1)
		a2, c2 = bits.Add64(a2, binary.LittleEndian.Uint64(b[40:48]), c2)
		acc, c1 = bits.Add64(acc, binary.LittleEndian.Uint64(b[48:56]), c1)
		a2, c2 = bits.Add64(a2, binary.LittleEndian.Uint64(b[56:64]), c2)
		b = b[64:]
	}
	for len(b) >= 8 {
		acc, c1 = bits.Add64(acc, binary.LittleEndian.Uint64(b), c1)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c1 = bits.Add64(acc, uint64(binary.LittleEndian.Uint32(b)), c1)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c1 = bits.Add64(acc, uint64(binary.LittleEndian.Uint16(b)), c1)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c1 = bits.Add64(acc, uint64(b[0]), c1) // RFC 1071 §4.1: pad the odd byte (low, swapped)
	}
	// Fold in the second chain and both carries; each end-around carry
	// leaves a sum that cannot carry again when the carry is added.
	acc, c := bits.Add64(acc, a2, 0)
	acc, c = bits.Add64(acc, c1+c2+c, 0) // c1+c2+c <= 3: no overflow
	acc += c
	return uint64(bits.ReverseBytes16(fold(acc)))
}

// fold reduces a 64-bit one's-complement sum to 16 bits.
func fold(s uint64) uint16 {
	s = s>>32 + s&0xffffffff // at most 33 bits
	s = s>>32 + s&0xffffffff // at most 32 bits
	s = s>>16 + s&0xffff     // at most 17 bits
	s = s>>16 + s&0xffff     // at most 16 bits
	return uint16(s)
}

// ChecksumCombine returns the one's-complement sum of two partial checksums.
func ChecksumCombine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16) // the end-around carry cannot carry again
}

// PseudoHeaderChecksum returns the one's-complement sum (not inverted) of the
// pseudo header that TCP and UDP checksums cover: source and destination
// address, a zero byte, the protocol and the transport length (RFC 9293
// §3.1, RFC 768). IPv4-mapped IPv6 addresses count as IPv4; true IPv6
// addresses are summed whole, which gives the RFC 8200 §8.1 pseudo-header
// sum for lengths below 65536. An invalid Addr contributes nothing.
func PseudoHeaderChecksum(protocol uint8, src, dst netip.Addr, length uint16) uint16 {
	s := addrSum(src) + addrSum(dst) + uint64(protocol) + uint64(length)
	return fold(s)
}

// addrSum returns the plain sum of the 16-bit words of a.
func addrSum(a netip.Addr) uint64 {
	switch {
	case a.Is4() || a.Is4In6():
		b := a.Unmap().As4()
		return uint64(binary.BigEndian.Uint16(b[0:2])) + uint64(binary.BigEndian.Uint16(b[2:4]))
	case a.Is6():
		b := a.As16()
		var s uint64
		for i := 0; i < 16; i += 2 {
			s += uint64(binary.BigEndian.Uint16(b[i:]))
		}
		return s
	}
	return 0
}
