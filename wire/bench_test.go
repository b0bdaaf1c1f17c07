package wire_test

import (
	"fmt"
	"testing"

	"github.com/synack-net/synack/wire"
)

var sink uint16

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{1460, 64 << 10} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				sink = wire.Checksum(buf, sink)
			}
		})
	}
}

// BenchmarkParseTCP parses the kernel's SYN: IPv4, TCP and its options.
func BenchmarkParseTCP(b *testing.B) {
	pkt := mustHex(b, linuxSYN)
	var o wire.TCPOptions
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		ip, err := wire.ParseIPv4(pkt)
		if err != nil {
			b.Fatal(err)
		}
		seg, err := wire.ParseTCP(ip.Payload())
		if err != nil {
			b.Fatal(err)
		}
		if err := wire.ParseTCPOptions(seg.Options(), &o); err != nil {
			b.Fatal(err)
		}
		sink += seg.SrcPort() + o.MSS
	}
}

// BenchmarkTCPEncode builds a data segment as the stack would: IPv4 header,
// TCP header with timestamps and a SACK block, 1400 bytes of payload, both
// checksums.
func BenchmarkTCPEncode(b *testing.B) {
	const payload = 1400
	src, dst := addrA, addrB
	tf := wire.TCPFields{
		SrcPort: 49152, DstPort: 80, Seq: 1000, Ack: 2000, Flags: wire.FlagACK | wire.FlagPSH, Window: 1024,
		Options: wire.TCPOptions{HasTimestamps: true, TSVal: 1, TSEcr: 2, NumSACKBlocks: 1,
			SACKBlocks: [4]wire.SACKBlock{{Left: 3000, Right: 4000}}},
	}
	buf := make([]byte, 20+tf.Len()+payload)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		ipf := wire.IPv4Fields{TotalLength: uint16(len(buf)), ID: 1, Flags: wire.IPv4FlagDontFragment, TTL: 64,
			Protocol: wire.ProtocolTCP, Src: src, Dst: dst}
		ipf.Encode(buf)
		tf.Seq++
		tf.Encode(buf[20:])
		wire.TCP(buf[20:]).FillChecksum(src, dst)
	}
}
