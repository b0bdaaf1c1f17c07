package tun

import (
	"encoding/binary"
	"testing"

	"github.com/synack-net/synack/link"
)

// vnetHdr builds a raw header as the kernel would.
func vnetHdr(flags, typ uint8, hdrLen, size, start, off uint16) []byte {
	b := make([]byte, vnetHdrLen)
	b[0], b[1] = flags, typ
	ne := binary.NativeEndian
	ne.PutUint16(b[2:], hdrLen)
	ne.PutUint16(b[4:], size)
	ne.PutUint16(b[6:], start)
	ne.PutUint16(b[8:], off)
	return b
}

const allOffloads = OffloadCsum | OffloadTSO4 | OffloadUSO4

func TestVnetEncode(t *testing.T) {
	var b [vnetHdrLen]byte
	encodeVnet(b[:], link.GSO{Type: link.GSOTCPv4, NeedsCsum: true, HdrLen: 52, Size: 1448, CsumStart: 20, CsumOffset: 16})
	if want := vnetHdr(1, 1, 52, 1448, 20, 16); string(b[:]) != string(want) {
		t.Fatalf("TCPv4 header % x, want % x", b, want)
	}
	encodeVnet(b[:], link.GSO{Type: link.GSOUDPv4, NeedsCsum: true, HdrLen: 28, Size: 1000, CsumStart: 20, CsumOffset: 6})
	if want := vnetHdr(1, 5, 28, 1000, 20, 6); string(b[:]) != string(want) {
		t.Fatalf("UDPv4 header % x, want % x", b, want)
	}
	b = [vnetHdrLen]byte{9, 9, 9, 9, 9, 9, 9, 9, 9, 9}
	encodeVnet(b[:], link.GSO{})
	if b != [vnetHdrLen]byte{} {
		t.Fatalf("plain header % x, want zeros", b)
	}
}

func TestVnetDecodeRoundTrip(t *testing.T) {
	for _, g := range []link.GSO{
		{},
		{NeedsCsum: true, CsumStart: 20, CsumOffset: 16},
		{Type: link.GSOTCPv4, NeedsCsum: true, HdrLen: 52, Size: 1448, CsumStart: 20, CsumOffset: 16},
		{Type: link.GSOUDPv4, NeedsCsum: true, HdrLen: 28, Size: 1472, CsumStart: 20, CsumOffset: 6},
	} {
		var b [vnetHdrLen]byte
		encodeVnet(b[:], g)
		got, why := decodeVnet(b[:], 9000, allOffloads)
		if why != vnetOK || got != g {
			t.Errorf("decode(encode(%+v)) = %+v, %d", g, got, why)
		}
	}
}

func TestVnetDecodeDataValidIsPlain(t *testing.T) {
	g, why := decodeVnet(vnetHdr(vnetFlagDataValid, 0, 0, 0, 0, 0), 100, allOffloads)
	if why != vnetOK || g != (link.GSO{}) {
		t.Fatalf("DATA_VALID header: %+v, %d; want a plain packet", g, why)
	}
}

func TestVnetDecodePartialWithoutGSODropsSize(t *testing.T) {
	// The kernel fills hdr_len and gso_size with whatever for a non-GSO
	// packet; they mean nothing and must not reach the stack.
	g, why := decodeVnet(vnetHdr(1, 0, 54, 1448, 20, 16), 100, allOffloads)
	want := link.GSO{NeedsCsum: true, CsumStart: 20, CsumOffset: 16}
	if why != vnetOK || g != want {
		t.Fatalf("got %+v, %d; want %+v", g, why, want)
	}
}

func TestVnetDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hdr      []byte
		n        int
		offloads Offloads
		want     vnetReason
	}{
		{"TCPv6", vnetHdr(1, vnetGSOTCPv6, 60, 1440, 40, 16), 9000, allOffloads, vnetBadGSOType},
		{"UDP fragmentation", vnetHdr(1, vnetGSOUDP, 28, 1472, 20, 6), 9000, allOffloads, vnetBadGSOType},
		{"ECN", vnetHdr(1, vnetGSOTCPv4|vnetGSOECN, 52, 1448, 20, 16), 9000, allOffloads, vnetBadGSOType},
		{"unknown type", vnetHdr(1, 9, 52, 1448, 20, 16), 9000, allOffloads, vnetBadGSOType},
		{"TSO4 not asked", vnetHdr(1, 1, 52, 1448, 20, 16), 9000, OffloadCsum, vnetBadGSOType},
		{"USO4 not asked", vnetHdr(1, 5, 28, 1472, 20, 6), 9000, OffloadCsum | OffloadTSO4, vnetBadGSOType},
		{"partial csum not asked", vnetHdr(1, 0, 0, 0, 20, 16), 100, 0, vnetBadCsum},
		{"csum field past end", vnetHdr(1, 1, 52, 1448, 20, 16), 37, allOffloads, vnetBadCsum},
		{"csum start past end", vnetHdr(1, 0, 0, 0, 0xffff, 0xffff), 100, allOffloads, vnetBadCsum},
		{"GSO without partial csum", vnetHdr(vnetFlagDataValid, 1, 52, 1448, 20, 16), 9000, allOffloads, vnetBadCsum},
		{"hdr_len past end", vnetHdr(1, 1, 9001, 1448, 20, 16), 9000, allOffloads, vnetBadHdrLen},
		{"zero gso_size", vnetHdr(1, 1, 52, 0, 20, 16), 9000, allOffloads, vnetBadHdrLen},
	} {
		g, why := decodeVnet(tc.hdr, tc.n, tc.offloads)
		if why != tc.want || g != (link.GSO{}) {
			t.Errorf("%s: got %+v, reason %d; want reason %d and nothing", tc.name, g, why, tc.want)
		}
	}
}

func FuzzDecodeVnet(f *testing.F) {
	f.Add(vnetHdr(1, 1, 52, 1448, 20, 16), 9000)
	f.Add(vnetHdr(1, 0, 0, 0, 20, 16), 40)
	f.Fuzz(func(t *testing.T, hdr []byte, n int) {
		if len(hdr) < vnetHdrLen || n < 0 || n > readBufSize {
			return
		}
		g, why := decodeVnet(hdr, n, allOffloads)
		if why != vnetOK {
			return
		}
		if g.NeedsCsum && int(g.CsumStart)+int(g.CsumOffset)+2 > n {
			t.Fatalf("accepted a checksum field outside %d bytes: %+v", n, g)
		}
		if g.Type != link.GSONone && (int(g.HdrLen) > n || g.Size == 0 || !g.NeedsCsum) {
			t.Fatalf("accepted a bad GSO header for %d bytes: %+v", n, g)
		}
	})
}
