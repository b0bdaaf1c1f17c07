package trace

import (
	"bufio"
	"encoding/binary"
	"io"

	"github.com/synack-net/synack/wire"
)

// WritePcap writes the segments among events as a classic pcap file
// (LINKTYPE_RAW, nanosecond timestamps) that tcpdump, Wireshark and
// tshark read: one record per segment sent or received, and per segment
// dropped that was not reported received just before (a bad checksum, a
// segment for no socket), so a segment the engine received and then
// dropped is written once.
//
// The records are rebuilt from the events, which keep the header fields
// and options but not the text: each is an IPv4 header and the TCP
// header with its options, cut there, with the record's original length (and
// the IPv4 total length) counting the text, as a capture with a short
// snap length would be. The TCP checksum, which would need the text, is
// zero. For the bytes themselves, capture the link (serve --pcap).
func WritePcap(w io.Writer, events []Event) error {
	bw := bufio.NewWriter(w)
	le := binary.LittleEndian
	var hdr [24]byte
	le.PutUint32(hdr[0:], 0xa1b23c4d) // nanosecond timestamps
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535) // snap length
	le.PutUint32(hdr[20:], 101)   // LINKTYPE_RAW
	bw.Write(hdr[:])
	var last *Event // the last segment reported received
	for i := range events {
		e := &events[i]
		switch e.Kind {
		case KindSegmentReceived:
			last = e
		case KindDrop:
			if last != nil && sameSegment(last, e) {
				continue
			}
		case KindSegmentSent:
		default:
			continue
		}
		writeRecord(bw, e)
	}
	return bw.Flush()
}

// sameSegment reports whether a and b describe the same segment.
func sameSegment(a, b *Event) bool {
	return a.Flags == b.Flags && a.Seq == b.Seq && a.Ack == b.Ack && a.Window == b.Window && a.Len == b.Len
}

// writeRecord writes e's segment as one pcap record.
func writeRecord(w *bufio.Writer, e *Event) {
	tcp := wire.TCPFields{Seq: e.Seq, Ack: e.Ack, Flags: e.Flags, Window: e.Window, Options: e.Options}
	n := wire.IPv4MinHeaderLen + tcp.Len()
	src, dst := e.Local, e.Remote
	if e.Kind != KindSegmentSent {
		src, dst = dst, src
	}
	var buf [16 + wire.IPv4MinHeaderLen + 60]byte
	rec := buf[:16+n]
	le := binary.LittleEndian
	ns := e.Time.UnixNano()
	if e.Time.IsZero() {
		ns = 0
	}
	le.PutUint32(rec[0:], uint32(ns/1e9))
	le.PutUint32(rec[4:], uint32(ns%1e9))
	le.PutUint32(rec[8:], uint32(n))
	le.PutUint32(rec[12:], uint32(n+e.Len))
	ip := wire.IPv4Fields{TotalLength: uint16(min(n+e.Len, 65535)), TTL: 64, Protocol: wire.ProtocolTCP, Src: src.Addr(), Dst: dst.Addr()}
	ip.Encode(rec[16:])
	tcp.SrcPort, tcp.DstPort = src.Port(), dst.Port()
	tcp.Encode(rec[16+wire.IPv4MinHeaderLen:])
	w.Write(rec)
}
