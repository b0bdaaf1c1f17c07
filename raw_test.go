package synack_test

import (
	"bytes"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// rawPeer is a stack (the server, 10.0.0.2) whose link peer is the test
// itself: packets are written into the pipe by hand, and what the stack
// sends back is collected.
type rawPeer struct {
	st   *synack.Stack
	a, b *pipe.Endpoint // a is the test's end, b the stack's
	mu   sync.Mutex
	got  [][]byte
	sent int // packets written by the test
}

func newRawPeer(t *testing.T) *rawPeer {
	t.Helper()
	r := &rawPeer{}
	r.a, r.b = pipe.New(mtu)
	r.a.Attach(r)
	var err error
	// ACKs at once: the raw tests read the answer to each segment they
	// send (delayed ACKs have tests of their own). The raw peer offers no
	// window scaling, so the buffer is fixed at the largest unscaled window.
	r.st, err = synack.New(r.b, synack.Config{Addr: serverAddr, Host: "server", TCP: tcp.Config{DelayedACK: -1, ReceiveBufferSize: 65535}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.st.Close()
		r.a.Close()
		r.b.Close()
	})
	return r
}

// DeliverPacket keeps a copy of what the stack sent.
func (r *rawPeer) DeliverPacket(pkt []byte) {
	r.mu.Lock()
	r.got = append(r.got, bytes.Clone(pkt))
	r.mu.Unlock()
}

// send writes pkt to the stack and waits until the stack has handled it
// and everything it answered has been collected; it returns the answers.
func (r *rawPeer) send(t *testing.T, pkt []byte) [][]byte {
	t.Helper()
	if err := r.a.WritePacket(pkt); err != nil {
		t.Fatal(err)
	}
	r.sent++
	waitFor(t, "the stack to handle the packet", func() bool {
		return r.b.Stats().Delivered == uint64(r.sent) && r.a.Stats().Delivered == r.b.Stats().Sent
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// The test's own address, on the stack's link.
var peerAddr = clientAddr.Addr()

// ipv4Packet wraps payload in an IPv4 header from src to dst.
func ipv4Packet(proto uint8, src, dst netip.Addr, payload []byte) []byte {
	p := make([]byte, wire.IPv4MinHeaderLen+len(payload))
	f := wire.IPv4Fields{TotalLength: uint16(len(p)), ID: 1, TTL: 64, Protocol: proto, Src: src, Dst: dst}
	f.Encode(p)
	copy(p[wire.IPv4MinHeaderLen:], payload)
	return p
}

// tcpPacket builds a checksummed segment from the peer to the stack.
func tcpPacket(h wire.TCPFields, payload []byte) []byte {
	return tcpPacketFrom(peerAddr, h, payload)
}

// tcpPacketFrom builds a checksummed segment from src to the stack.
func tcpPacketFrom(src netip.Addr, h wire.TCPFields, payload []byte) []byte {
	seg := make([]byte, h.Len()+len(payload))
	h.Encode(seg)
	copy(seg[h.Len():], payload)
	wire.TCP(seg).FillChecksum(src, serverAddr.Addr())
	return ipv4Packet(wire.ProtocolTCP, src, serverAddr.Addr(), seg)
}

// echoRequest builds an ICMP echo request from the peer to the stack.
func echoRequest(ident, seq uint16, data []byte) []byte {
	m := make([]byte, wire.ICMPv4HeaderLen+len(data))
	(&wire.ICMPv4Fields{Type: wire.ICMPv4EchoRequest, Rest: uint32(ident)<<16 | uint32(seq)}).Encode(m)
	copy(m[wire.ICMPv4HeaderLen:], data)
	wire.ICMPv4(m).FillChecksum()
	return ipv4Packet(wire.ProtocolICMPv4, peerAddr, serverAddr.Addr(), m)
}

// counters is a snapshot of every counter of a stack, by field name; TCP
// engine counters are prefixed "TCP.".
type counters map[string]uint64

func snapshot(st *synack.Stack) counters {
	c := counters{}
	add := func(prefix string, v reflect.Value) {
		for i := range v.NumField() {
			switch f := v.Field(i).Addr().Interface().(type) {
			case *atomic.Uint64:
				c[prefix+v.Type().Field(i).Name] = f.Load()
			case *atomic.Int64:
				c[prefix+v.Type().Field(i).Name] = uint64(f.Load())
			}
		}
	}
	add("", reflect.ValueOf(st.Internals().Stats()).Elem())
	add("TCP.", reflect.ValueOf(st.Internals().TCPStats()).Elem())
	return c
}

// diff is what changed from c to d.
func (c counters) diff(d counters) map[string]uint64 {
	m := map[string]uint64{}
	for k, v := range d {
		if v != c[k] {
			m[k] = v - c[k]
		}
	}
	return m
}

// parseTCPReply checks that pkt is a valid IPv4 TCP packet from the stack
// to the peer and returns its TCP header.
func parseTCPReply(t *testing.T, pkt []byte) wire.TCP {
	t.Helper()
	ip, err := wire.ParseIPv4(pkt)
	if err != nil || !ip.IsChecksumValid() {
		t.Fatalf("reply is not a valid IPv4 packet: %v", err)
	}
	if ip.Protocol() != wire.ProtocolTCP || ip.Src() != serverAddr.Addr() || ip.Dst() != peerAddr {
		t.Fatalf("reply: protocol %d from %v to %v", ip.Protocol(), ip.Src(), ip.Dst())
	}
	seg, err := wire.ParseTCP(ip.Payload())
	if err != nil || !seg.IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Fatalf("reply is not a valid TCP segment: %v", err)
	}
	return seg
}
