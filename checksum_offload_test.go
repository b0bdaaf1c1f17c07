package synack_test

import (
	"sync"
	"testing"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/wire"
)

// tapLink records the TCP segments written through it and passes the
// pipe's checksum offload on, as a capture on an offloading host does.
type tapLink struct {
	*pipe.Endpoint
	mu   sync.Mutex
	segs [][]byte
}

func (l *tapLink) record(p []byte) {
	if ip, err := wire.ParseIPv4(p); err == nil && ip.Protocol() == wire.ProtocolTCP {
		l.mu.Lock()
		l.segs = append(l.segs, append([]byte(nil), p...))
		l.mu.Unlock()
	}
}

func (l *tapLink) WritePacket(p []byte) error { l.record(p); return l.Endpoint.WritePacket(p) }
func (l *tapLink) WriteOwned(p []byte) error  { l.record(p); return l.Endpoint.WriteOwned(p) }

// WriteShared records the packet whole, its headers then its text
// (link.TextSharer: the stack shares text on an offloading pipe).
func (l *tapLink) WriteShared(hdr, text []byte, ref link.Releaser) error {
	l.record(append(append([]byte(nil), hdr...), text...))
	return l.Endpoint.WriteShared(hdr, text, ref)
}

// tappedTransfer sends size bytes from a client whose pipe end (made with
// o) is tapped to a server, and returns the pair and the tap.
func tappedTransfer(t *testing.T, o pipe.Options, size int64) (*pair, *tapLink) {
	a, b := pipe.NewWithOptions(mtu, o)
	tap := &tapLink{Endpoint: a}
	p := newPairOn(t, pairConfig{clientLink: func(link.Endpoint) link.Endpoint { return tap }}, a, b)
	l := p.listen(t, 80, 8)
	c, s := p.connect(t, l)
	defer c.Close()
	defer s.Close()
	transfer(t, c, s, size, 7)
	return p, tap
}

// TestChecksumOffloadPipe runs a transfer over a pipe made with
// ChecksumOffload: every segment leaves with only the pseudo-header sum
// in its checksum field (link.ChecksumOffloader), the receiver takes them
// all, and the bytes arrive intact.
func TestChecksumOffloadPipe(t *testing.T) {
	p, tap := tappedTransfer(t, pipe.Options{ChecksumOffload: true}, 1<<20)
	tap.mu.Lock()
	defer tap.mu.Unlock()
	data := 0
	for _, pkt := range tap.segs {
		ip := wire.IPv4(pkt)
		if !ip.IsChecksumValid() {
			t.Fatal("IPv4 header checksum not written: only the transport checksum is offloaded")
		}
		seg := wire.TCP(ip.Payload())
		want := wire.PseudoHeaderChecksum(wire.ProtocolTCP, ip.Src(), ip.Dst(), uint16(len(seg)))
		if seg.Checksum() != want {
			t.Fatalf("segment seq %d: checksum field %#04x, want the pseudo-header sum %#04x", seg.SeqNum(), seg.Checksum(), want)
		}
		if len(seg) > int(seg.DataOffset()) {
			data++
		}
	}
	if data < (1<<20)/1460 {
		t.Fatalf("tap saw %d data segments, want at least %d", data, (1<<20)/1460)
	}
	if n := p.server.Internals().Stats().TCPInErrs.Load(); n != 0 {
		t.Fatalf("server dropped %d segments as bad: offloaded checksums must be taken", n)
	}
}

// TestChecksumOffloadOffByDefault checks a plain pipe computes and
// verifies full checksums: the option is the only way to turn them off.
func TestChecksumOffloadOffByDefault(t *testing.T) {
	if a, b := pipe.New(mtu); a.ChecksumOffload() || b.ChecksumOffload() {
		t.Fatal("pipe.New offloads checksums; only Options.ChecksumOffload may")
	}
	_, tap := tappedTransfer(t, pipe.Options{}, 64<<10)
	tap.mu.Lock()
	defer tap.mu.Unlock()
	for _, pkt := range tap.segs {
		ip := wire.IPv4(pkt)
		if !wire.TCP(ip.Payload()).IsChecksumValid(ip.Src(), ip.Dst()) {
			t.Fatal("a segment on a plain pipe left without its full checksum")
		}
	}
}
