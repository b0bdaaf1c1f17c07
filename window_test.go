package synack_test

import (
	"net/netip"
	"testing"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/wire"
)

// rawConn is a connection the test drives by hand, segment by segment,
// against a listener of the raw peer's stack.
type rawConn struct {
	r        *rawPeer
	port     uint16
	sndNxt   seqnum.Value // the test's next sequence number
	rcvNxt   seqnum.Value // the stack's next sequence number
	accepted *stack.TCPConn
}

// handshake opens a connection from the test's port 40100 to the stack's
// listener on port 80 and accepts it.
func handshake(t *testing.T, r *rawPeer) *rawConn {
	t.Helper()
	l, err := r.st.Internals().ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 8)
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawConn{r: r, port: 40100, sndNxt: 1000}
	h := wire.TCPFields{Seq: rc.sndNxt, Flags: wire.FlagSYN}
	h.Options.HasMSS, h.Options.MSS = true, 1460
	got := rc.send(t, h, nil)
	if len(got) != 1 || got[0].Flags() != wire.FlagSYN|wire.FlagACK {
		t.Fatalf("answer to the SYN: %d segments", len(got))
	}
	rc.sndNxt++
	rc.rcvNxt = got[0].SeqNum().Add(1)
	if got := rc.send(t, wire.TCPFields{Seq: rc.sndNxt, Ack: rc.rcvNxt, Flags: wire.FlagACK}, nil); len(got) != 0 {
		t.Fatalf("%d answers to the final ACK", len(got))
	}
	if rc.accepted, err = l.Accept(t.Context()); err != nil {
		t.Fatal(err)
	}
	return rc
}

// send sends one segment from the test's port to port 80 (window 65535
// unless set) and returns the TCP headers of the answers.
func (rc *rawConn) send(t *testing.T, h wire.TCPFields, payload []byte) []wire.TCP {
	t.Helper()
	h.SrcPort, h.DstPort = rc.port, 80
	if h.Window == 0 {
		h.Window = 65535
	}
	var segs []wire.TCP
	for _, p := range rc.r.send(t, tcpPacket(h, payload)) {
		segs = append(segs, parseTCPReply(t, p))
	}
	return segs
}

// TestEstablishedZeroWindowProbeAnswered fills the stack's receive window
// from a hand-driven peer, then probes the zero window the way RFC 9293
// §3.8.6.1 describes (one octet of new data) and the way Linux does (an
// old sequence number, no data). Each probe is unacceptable while the
// window is zero and must draw an ACK carrying the window (RFC 9293
// §3.10.7.4: "If an incoming segment is not acceptable, an acknowledgment
// should be sent in reply"); a sender that hears nothing eventually gives up
// (Linux aborts after tcp_retries2 unanswered probes).
func TestEstablishedZeroWindowProbeAnswered(t *testing.T) {
	r := newRawPeer(t)
	rc := handshake(t, r)
	defer rc.accepted.Close()
	limit := r.st.Internals().TCPConfig().ReceiveBufferSize
	chunk := make([]byte, 1460)
	for sent := 0; sent < limit; {
		n := min(len(chunk), limit-sent)
		got := rc.send(t, wire.TCPFields{Seq: rc.sndNxt, Ack: rc.rcvNxt, Flags: wire.FlagACK}, chunk[:n])
		rc.sndNxt = rc.sndNxt.Add(seqnum.Size(n))
		sent += n
		if len(got) != 1 || got[0].AckNum() != rc.sndNxt {
			t.Fatalf("after %d bytes: %d answers, want an ACK of %d", sent, len(got), rc.sndNxt)
		}
		if sent == limit && got[0].Window() != 0 {
			t.Fatalf("window %d with the buffer full, want 0", got[0].Window())
		}
	}
	for _, tc := range []struct {
		name    string
		seq     seqnum.Value
		payload []byte
	}{
		{"Linux-style probe (SND.UNA-1, no data)", rc.sndNxt.Sub(1), nil},
		{"RFC-style probe (one octet of new data)", rc.sndNxt, []byte{'x'}},
	} {
		got := rc.send(t, wire.TCPFields{Seq: tc.seq, Ack: rc.rcvNxt, Flags: wire.FlagACK}, tc.payload)
		if len(got) != 1 {
			t.Errorf("%s: %d answers, want one ACK", tc.name, len(got))
			continue
		}
		if a := got[0]; a.Flags() != wire.FlagACK || a.AckNum() != rc.sndNxt || a.Window() != 0 {
			t.Errorf("%s: answer %v ack=%d win=%d, want ACK ack=%d win=0",
				tc.name, a.Flags(), a.AckNum(), a.Window(), rc.sndNxt)
		}
	}
}
