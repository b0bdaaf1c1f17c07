package synack_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/wire"
)

// TestICMPEchoRequestGetsReply writes a hand-built echo request into the
// pipe and checks the stack's echo reply field by field (RFC 792: the
// identifier, sequence number and data come back unchanged).
func TestICMPEchoRequestGetsReply(t *testing.T) {
	r := newRawPeer(t)
	data := []byte("synack ping \x00\x01\x02\xff")
	replies := r.send(t, echoRequest(0x1234, 7, data))
	if len(replies) != 1 {
		t.Fatalf("%d packets in answer to an echo request, want 1", len(replies))
	}
	ip, err := wire.ParseIPv4(replies[0])
	if err != nil {
		t.Fatal(err)
	}
	if !ip.IsChecksumValid() {
		t.Error("bad IPv4 header checksum")
	}
	if ip.Protocol() != wire.ProtocolICMPv4 || ip.Src() != serverAddr.Addr() || ip.Dst() != peerAddr || ip.TTL() != 64 {
		t.Errorf("reply header: protocol %d, %v -> %v, TTL %d", ip.Protocol(), ip.Src(), ip.Dst(), ip.TTL())
	}
	m, err := wire.ParseICMPv4(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsChecksumValid() {
		t.Error("bad ICMP checksum")
	}
	if m.Type() != wire.ICMPv4EchoReply || m.Code() != 0 {
		t.Errorf("type %d code %d, want echo reply (0, 0)", m.Type(), m.Code())
	}
	if m.Ident() != 0x1234 || m.Seq() != 7 {
		t.Errorf("ident %#x seq %d, want 0x1234 and 7", m.Ident(), m.Seq())
	}
	if !bytes.Equal(m.Payload(), data) {
		t.Errorf("data %q, want %q", m.Payload(), data)
	}
	st := r.st.Internals().Stats()
	if st.ICMPInMsgs.Load() != 1 || st.ICMPOutEchoReps.Load() != 1 || st.ICMPInErrors.Load() != 0 {
		t.Errorf("ICMPInMsgs %d, ICMPOutEchoReps %d, ICMPInErrors %d; want 1, 1, 0",
			st.ICMPInMsgs.Load(), st.ICMPOutEchoReps.Load(), st.ICMPInErrors.Load())
	}
}

// TestICMPEchoReplyIgnored checks that an echo reply (nobody pinged) is
// counted and not answered.
func TestICMPEchoReplyIgnored(t *testing.T) {
	r := newRawPeer(t)
	m := make([]byte, wire.ICMPv4HeaderLen)
	(&wire.ICMPv4Fields{Type: wire.ICMPv4EchoReply}).Encode(m)
	wire.ICMPv4(m).FillChecksum()
	if got := r.send(t, ipv4Packet(wire.ProtocolICMPv4, peerAddr, serverAddr.Addr(), m)); len(got) != 0 {
		t.Fatalf("%d packets in answer to an echo reply", len(got))
	}
	if n := r.st.Internals().Stats().ICMPInMsgs.Load(); n != 1 {
		t.Errorf("ICMPInMsgs = %d, want 1", n)
	}
}

// unreachable builds an ICMP destination unreachable from the peer that
// quotes pkt's IP header and first 8 bytes of data (RFC 792).
func unreachable(code uint8, pkt []byte) []byte {
	quote := pkt[:wire.IPv4MinHeaderLen+8]
	m := make([]byte, wire.ICMPv4HeaderLen+len(quote))
	(&wire.ICMPv4Fields{Type: wire.ICMPv4DestUnreachable, Code: code}).Encode(m)
	copy(m[wire.ICMPv4HeaderLen:], quote)
	wire.ICMPv4(m).FillChecksum()
	return ipv4Packet(wire.ProtocolICMPv4, peerAddr, serverAddr.Addr(), m)
}

// TestSynSentICMPUnreachableFails answers a SYN with an ICMP destination
// unreachable: the connect fails at once with the matching error (RFC 1122
// §4.2.3.9, as Linux does in SYN-SENT), except for "fragmentation needed",
// which is not an error for the connection.
func TestSynSentICMPUnreachableFails(t *testing.T) {
	for _, tc := range []struct {
		code uint8
		want error
	}{
		{wire.ICMPv4HostUnreachable, syscall.EHOSTUNREACH},
		{wire.ICMPv4NetUnreachable, syscall.ENETUNREACH},
		{wire.ICMPv4PortUnreachable, syscall.ECONNREFUSED},
		{wire.ICMPv4FragmentationNeeded, nil},
	} {
		r := newRawPeer(t)
		errc := make(chan error, 1)
		go func() {
			c, err := r.st.DialTCP(context.Background(), netip.AddrPortFrom(peerAddr, 80))
			if c != nil {
				c.Close()
			}
			errc <- err
		}()
		var syn []byte
		waitFor(t, "the SYN", func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.got) > 0 {
				syn = r.got[0]
			}
			return syn != nil
		})
		r.send(t, unreachable(tc.code, syn))
		if tc.want == nil {
			// Handled by now (send waits for that): the connection goes on.
			if st := states(r.st); len(st) != 1 || st[0] != tcp.StateSynSent {
				t.Fatalf("code %d: connections %v, want one in SYN-SENT", tc.code, st)
			}
			r.st.Close() // ends the dial
			<-errc
			continue
		}
		err := recvErr(t, errc, "dial")
		if !errors.Is(err, tc.want) {
			t.Errorf("code %d: dial error %v, want %v", tc.code, err, tc.want)
		}
		asOpError(t, err, "dial")
	}
}
