package tun

import (
	"encoding/binary"

	"github.com/synack-net/synack/link"
)

// The virtio-net header (struct virtio_net_hdr, virtio 1.x §5.1.6, the
// legacy 10-byte form) that prefixes every packet read from and written to
// a device opened with IFF_VNET_HDR. Its 16-bit fields are in the host's
// byte order: the kernel uses the legacy (native) order unless told
// otherwise with TUNSETVNETLE, which Open does not do.
const (
	vnetHdrLen = 10

	vnetFlags      = 0 // u8
	vnetGSOType    = 1 // u8
	vnetHdrLenOff  = 2 // u16: the headers' length
	vnetGSOSize    = 4 // u16: payload per cut segment
	vnetCsumStart  = 6 // u16
	vnetCsumOffset = 8 // u16

	vnetFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum partial
	vnetFlagDataValid = 2 // VIRTIO_NET_HDR_F_DATA_VALID: checksum checked

	vnetGSONone  = 0    // VIRTIO_NET_HDR_GSO_NONE
	vnetGSOTCPv4 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	vnetGSOUDP   = 3    // VIRTIO_NET_HDR_GSO_UDP (fragmentation offload)
	vnetGSOTCPv6 = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	vnetGSOUDPL4 = 5    // VIRTIO_NET_HDR_GSO_UDP_L4 (UDP segmentation)
	vnetGSOECN   = 0x80 // VIRTIO_NET_HDR_GSO_ECN: the segments carry CWR
)

// vnetReason is why decodeVnet refused a header; each has a counter.
type vnetReason uint8

const (
	vnetOK         vnetReason = iota
	vnetBadGSOType            // a type not asked for, or unknown
	vnetBadCsum               // checksum offsets outside the packet, or GSO without a partial checksum
	vnetBadHdrLen             // headers longer than the packet, or a zero segment size
)

// encodeVnet writes the header for a packet described by g into b[:10].
func encodeVnet(b []byte, g link.GSO) {
	b = b[:vnetHdrLen]
	var flags, typ uint8
	if g.NeedsCsum {
		flags = vnetFlagNeedsCsum
	}
	switch g.Type {
	case link.GSOTCPv4:
		typ = vnetGSOTCPv4
	case link.GSOUDPv4:
		typ = vnetGSOUDPL4
	}
	b[vnetFlags], b[vnetGSOType] = flags, typ
	ne := binary.NativeEndian
	ne.PutUint16(b[vnetHdrLenOff:], g.HdrLen)
	ne.PutUint16(b[vnetGSOSize:], g.Size)
	ne.PutUint16(b[vnetCsumStart:], g.CsumStart)
	ne.PutUint16(b[vnetCsumOffset:], g.CsumOffset)
}

// decodeVnet checks the header b[:10] of a packet of n bytes (header not
// counted), given the offloads asked of the kernel, and returns its
// description. A header that asks nothing (no GSO, no partial checksum)
// gives the zero GSO. Only offsets are checked: what they point to is the
// stack's to check. UDP fragmentation (vnetGSOUDP), TCPv6 and ECN are
// never asked for, so they are refused.
func decodeVnet(b []byte, n int, offloads Offloads) (link.GSO, vnetReason) {
	ne := binary.NativeEndian
	g := link.GSO{
		HdrLen:     ne.Uint16(b[vnetHdrLenOff:]),
		Size:       ne.Uint16(b[vnetGSOSize:]),
		CsumStart:  ne.Uint16(b[vnetCsumStart:]),
		CsumOffset: ne.Uint16(b[vnetCsumOffset:]),
	}
	switch b[vnetGSOType] {
	case vnetGSONone:
	case vnetGSOTCPv4:
		if offloads&OffloadTSO4 == 0 {
			return link.GSO{}, vnetBadGSOType
		}
		g.Type = link.GSOTCPv4
	case vnetGSOUDPL4:
		if offloads&OffloadUSO4 == 0 {
			return link.GSO{}, vnetBadGSOType
		}
		g.Type = link.GSOUDPv4
	default:
		return link.GSO{}, vnetBadGSOType
	}
	flags := b[vnetFlags]
	g.NeedsCsum = flags&vnetFlagNeedsCsum != 0
	if g.NeedsCsum {
		if offloads&OffloadCsum == 0 {
			return link.GSO{}, vnetBadCsum
		}
		// The 2-byte field at CsumStart+CsumOffset lies inside the packet.
		if int(g.CsumStart)+int(g.CsumOffset)+2 > n {
			return link.GSO{}, vnetBadCsum
		}
	}
	if g.Type == link.GSONone {
		if !g.NeedsCsum {
			return link.GSO{}, vnetOK // DATA_VALID or nothing: an ordinary packet
		}
		g.HdrLen, g.Size = 0, 0
		return g, vnetOK
	}
	if !g.NeedsCsum {
		return link.GSO{}, vnetBadCsum // a GSO packet's checksum is always partial
	}
	if g.Size == 0 || int(g.HdrLen) > n {
		return link.GSO{}, vnetBadHdrLen
	}
	return g, vnetOK
}
