package synack_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/wire"
)

// listenUDP opens a UDP socket on st at port, closed when the test ends.
func listenUDP(t testing.TB, st *synack.Stack, port uint16) *synack.UDPConn {
	t.Helper()
	c, err := st.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestUDPRoundTrip sends datagrams both ways between a connected client
// socket and a listening server socket over a pipe: each arrives whole,
// from the right address, and the server's reply reaches the client.
func TestUDPRoundTrip(t *testing.T) {
	p := newPair(t, pairConfig{})
	srv := listenUDP(t, p.server, 7)
	cl, err := p.client.DialUDP(serverAP(7))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	buf := make([]byte, 2000)
	for i, size := range []int{0, 1, 100, mtu - 28} {
		msg := bytes.Repeat([]byte{byte(i + 1)}, size)
		if n, err := cl.Write(msg); err != nil || n != size {
			t.Fatalf("Write(%d bytes) = %d, %v", size, n, err)
		}
		n, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], msg) {
			t.Fatalf("server read %d bytes, want %d", n, size)
		}
		if from != cl.LocalAddr().(*net.UDPAddr).AddrPort() || from.Addr() != clientAddr.Addr() {
			t.Fatalf("from %v, want %v", from, cl.LocalAddr())
		}
		if _, err := srv.WriteToUDPAddrPort(msg, from); err != nil {
			t.Fatal(err)
		}
		n, err = cl.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("client read %d bytes, %v; want %d", n, err, size)
		}
	}
	cl.SetDontFragment(true)
	if _, err := cl.Write(make([]byte, mtu-27)); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("Write of a datagram over the MTU with DF asked: %v, want EMSGSIZE", err)
	}
	us := p.server.Internals().UDPStats()
	if us.InDatagrams.Load() != 4 || us.OutDatagrams.Load() != 4 || us.InErrors.Load() != 0 {
		t.Errorf("server InDatagrams %d OutDatagrams %d InErrors %d; want 4, 4, 0",
			us.InDatagrams.Load(), us.OutDatagrams.Load(), us.InErrors.Load())
	}
}

// TestUDPClosedPortRefused sends from a connected socket to a port with no
// socket: the server answers ICMP port unreachable quoting the datagram,
// and the socket's next call fails with ECONNREFUSED, once.
func TestUDPClosedPortRefused(t *testing.T) {
	p := newPair(t, pairConfig{})
	cl, err := p.client.DialUDP(serverAP(9999))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Write([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Read(make([]byte, 10))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Read after a datagram to a closed port: %v, want ECONNREFUSED", err)
	}
	if ss, us := p.server.Internals().Stats(), p.server.Internals().UDPStats(); us.NoPorts.Load() != 1 || ss.ICMPOutDestUnreachs.Load() != 1 {
		t.Errorf("server NoPorts %d ICMPOutDestUnreachs %d, want 1, 1", us.NoPorts.Load(), ss.ICMPOutDestUnreachs.Load())
	}
	// The error is reported once: the socket works on.
	cl.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := cl.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("second Read: %v, want the deadline", err)
	}
}

// TestUDPUnreachableForOtherSocketIgnored checks that an ICMP port
// unreachable quoting a datagram of another port, or sent to an
// unconnected socket, sets no error.
func TestUDPUnreachableForOtherSocketIgnored(t *testing.T) {
	r := newRawPeer(t)
	c := listenUDP(t, r.st, 5000)
	conn, err := r.st.DialUDP(netip.AddrPortFrom(peerAddr, 53))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lport := conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	// Quotes from us to the peer: for the unconnected socket, and for the
	// connected one's port but another peer port.
	for _, q := range [][2]uint16{{5000, 53}, {lport, 54}} {
		d := udpDatagram(serverAddr.Addr(), peerAddr, q[0], q[1], []byte("x"), true)
		quoted := ipv4Packet(wire.ProtocolUDP, serverAddr.Addr(), peerAddr, d)
		r.send(t, unreachable(wire.ICMPv4PortUnreachable, quoted))
	}
	for _, u := range []*synack.UDPConn{c, conn} {
		u.SetReadDeadline(time.Now().Add(-time.Second))
		if _, _, err := u.ReadFromUDPAddrPort(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%v: Read %v, want only the deadline", u.LocalAddr(), err)
		}
	}
	if n := r.st.Internals().Stats().ICMPInErrorsNoSocket.Load(); n != 2 {
		t.Errorf("ICMPInErrorsNoSocket = %d, want 2", n)
	}
}

// udpDatagram builds a UDP datagram from src:sport to dst:dport, with its
// checksum when sum is set (else 0: none).
func udpDatagram(src, dst netip.Addr, sport, dport uint16, payload []byte, sum bool) []byte {
	d := make([]byte, wire.UDPHeaderLen+len(payload))
	copy(d[wire.UDPHeaderLen:], payload)
	(&wire.UDPFields{SrcPort: sport, DstPort: dport, Length: uint16(len(d))}).Encode(d)
	if sum {
		wire.UDP(d).FillChecksum(src, dst)
	}
	return d
}

// rawUDP is a datagram from the raw peer to the stack's port.
func rawUDP(dport uint16, payload []byte, sum bool) []byte {
	return ipv4Packet(wire.ProtocolUDP, peerAddr, serverAddr.Addr(), udpDatagram(peerAddr, serverAddr.Addr(), 4000, dport, payload, sum))
}

// TestUDPFullQueueDrops fills a socket's receive queue: the datagrams that
// do not fit are dropped and counted in RcvbufErrors and InErrors, and the
// ones queued are read in order afterwards.
func TestUDPFullQueueDrops(t *testing.T) {
	r := newRawPeer(t)
	c := listenUDP(t, r.st, 5000)
	c.SetReadBuffer(3000)
	for i := range 5 {
		r.send(t, rawUDP(5000, bytes.Repeat([]byte{byte(i)}, 1000), true))
	}
	if d, b := c.Pending(); d != 3 || b != 3000 {
		t.Fatalf("Pending() = %d datagrams, %d bytes; want 3, 3000", d, b)
	}
	us := r.st.Internals().UDPStats()
	if us.RcvbufErrors.Load() != 2 || us.InErrors.Load() != 2 || us.InDatagrams.Load() != 3 {
		t.Errorf("RcvbufErrors %d InErrors %d InDatagrams %d; want 2, 2, 3", us.RcvbufErrors.Load(), us.InErrors.Load(), us.InDatagrams.Load())
	}
	buf := make([]byte, 2000)
	for i := range 3 {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil || n != 1000 || buf[0] != byte(i) || from != netip.AddrPortFrom(peerAddr, 4000) {
			t.Fatalf("datagram %d: %d bytes of %d from %v, %v", i, n, buf[0], from, err)
		}
	}
	// Room again: the ring wraps round without mixing payloads.
	for i := range 6 {
		r.send(t, rawUDP(5000, bytes.Repeat([]byte{byte(10 + i)}, 700), true))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil || n != 700 || !bytes.Equal(buf[:n], bytes.Repeat([]byte{byte(10 + i)}, 700)) {
			t.Fatalf("datagram %d after draining: %d bytes, %v", i, n, err)
		}
	}
}

// TestUDPChecksums sends a datagram with a zero checksum (none: accepted,
// RFC 768) and one with a bad checksum (dropped, counted in InCsumErrors).
func TestUDPChecksums(t *testing.T) {
	r := newRawPeer(t)
	c := listenUDP(t, r.st, 5000)
	r.send(t, rawUDP(5000, []byte("no checksum"), false))
	bad := rawUDP(5000, []byte("bad checksum"), true)
	bad[len(bad)-1] ^= 0xff
	r.send(t, bad)
	buf := make([]byte, 100)
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "no checksum" {
		t.Fatalf("read %q, %v; want the datagram without checksum", buf[:n], err)
	}
	if d, _ := c.Pending(); d != 0 {
		t.Errorf("%d datagrams still queued: the bad checksum was accepted", d)
	}
	us := r.st.Internals().UDPStats()
	if us.InCsumErrors.Load() != 1 || us.InErrors.Load() != 1 || us.InDatagrams.Load() != 1 {
		t.Errorf("InCsumErrors %d InErrors %d InDatagrams %d; want 1, 1, 1", us.InCsumErrors.Load(), us.InErrors.Load(), us.InDatagrams.Load())
	}
}

// TestUDPBadInputDropped sends malformed datagrams: each is dropped,
// counted in InErrors, and answered by nothing.
func TestUDPBadInputDropped(t *testing.T) {
	r := newRawPeer(t)
	c := listenUDP(t, r.st, 5000)
	good := udpDatagram(peerAddr, serverAddr.Addr(), 4000, 5000, []byte("payload"), true)
	setLen := func(d []byte, n uint16) []byte {
		d = bytes.Clone(d)
		d[4], d[5] = byte(n>>8), byte(n)
		return d
	}
	cases := map[string][]byte{
		"truncated header":           good[:5],
		"length below the header":    setLen(good, 7),
		"length past the packet":     setLen(good, uint16(len(good)+1)),
		"length short of the packet": setLen(good, uint16(len(good)-1)),
		"no header":                  nil,
	}
	for name, d := range cases {
		if got := r.send(t, ipv4Packet(wire.ProtocolUDP, peerAddr, serverAddr.Addr(), d)); len(got) != 0 {
			t.Errorf("%s: %d packets in answer", name, len(got))
		}
	}
	us := r.st.Internals().UDPStats()
	if n := us.InErrors.Load(); n != uint64(len(cases)) {
		t.Errorf("InErrors = %d, want %d", n, len(cases))
	}
	if d, _ := c.Pending(); d != 0 || us.InDatagrams.Load() != 0 {
		t.Errorf("%d datagrams queued, want none", d)
	}
}

// TestUDPNoPortRateLimited floods a closed port: the ICMP port
// unreachables stop at the burst, and the rest are counted as rate limited.
func TestUDPNoPortRateLimited(t *testing.T) {
	r := newRawPeer(t)
	replies := 0
	const flood = 80
	for range flood {
		replies += len(r.send(t, rawUDP(6000, []byte("x"), true)))
	}
	// The stack runs on the real clock: a few tokens may come back while
	// the flood goes on (1 per ms), never many.
	if replies < 50 || replies >= flood {
		t.Errorf("%d port unreachables for %d datagrams, want the burst of 50 and a few", replies, flood)
	}
	st := r.st.Internals().Stats()
	if st.ICMPRateLimited.Load()+st.ICMPOutDestUnreachs.Load() != flood {
		t.Errorf("rate limited %d + sent %d != %d", st.ICMPRateLimited.Load(), st.ICMPOutDestUnreachs.Load(), flood)
	}
}

// TestUDPDeadlineAndClose checks that a read deadline ends a blocked read
// with os.ErrDeadlineExceeded, and Close ends one with net.ErrClosed.
func TestUDPDeadlineAndClose(t *testing.T) {
	p := newPair(t, pairConfig{})
	c := listenUDP(t, p.server, 5000)
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := c.ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 10))
		done <- err
	}()
	c.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("blocked Read after Close: %v, want net.ErrClosed", err)
	}
	// The port is free again.
	listenUDP(t, p.server, 5000)
	if _, err := p.server.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 5000)); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second ListenUDP on a port: %v, want EADDRINUSE", err)
	}
}

// TestUDPPacketConnAPI checks the net.PacketConn and Dial paths with
// network names: ListenPacket("udp") and DialContext("udp4").
func TestUDPPacketConnAPI(t *testing.T) {
	p := newPair(t, pairConfig{})
	pc, err := p.server.ListenPacket("udp", ":53")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := p.client.DialContext(t.Context(), "udp4", "10.0.0.2:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "q" {
		t.Fatal(n, err)
	}
	if _, err := pc.WriteTo([]byte("a"), from); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "a" {
		t.Fatal(n, err)
	}
	if _, err := c.(*synack.UDPConn).WriteToUDPAddrPort([]byte("x"), serverAP(54)); !errors.Is(err, net.ErrWriteToConnected) {
		t.Errorf("WriteTo on a connected socket: %v", err)
	}
	if _, err := p.client.DialContext(t.Context(), "udp6", "10.0.0.2:53"); err == nil {
		t.Error("udp6 accepted")
	}
}

// TestUDPAllocsPerDatagram checks that a steady exchange of datagrams
// allocates nothing.
func TestUDPAllocsPerDatagram(t *testing.T) {
	p := newPair(t, pairConfig{})
	srv := listenUDP(t, p.server, 7)
	cl, err := p.client.DialUDP(serverAP(7))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	msg, buf := make([]byte, 1400), make([]byte, 2000)
	round := func() {
		if _, err := cl.Write(msg); err != nil {
			t.Fatal(err)
		}
		n, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.WriteToUDPAddrPort(buf[:n], from); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		round()
	}
	if a := testing.AllocsPerRun(1000, round); a > 0 {
		t.Errorf("%.2f allocations per round trip, want 0", a)
	}
}

// TestUDPMsgCalls checks ReadMsgUDPAddrPort's MSG_TRUNC for a datagram
// longer than the buffer, and WriteMsgUDPAddrPort on a connected socket.
func TestUDPMsgCalls(t *testing.T) {
	p := newPair(t, pairConfig{})
	srv := listenUDP(t, p.server, 7)
	cl, err := p.client.DialUDP(serverAP(7))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if n, _, err := cl.WriteMsgUDPAddrPort([]byte("0123456789"), nil, netip.AddrPort{}); err != nil || n != 10 {
		t.Fatalf("WriteMsgUDPAddrPort = %d, %v", n, err)
	}
	buf := make([]byte, 4)
	n, _, flags, from, err := srv.ReadMsgUDPAddrPort(buf, nil)
	if err != nil || n != 4 || string(buf) != "0123" || flags&syscall.MSG_TRUNC == 0 || from.Addr() != clientAddr.Addr() {
		t.Fatalf("ReadMsgUDPAddrPort = %d %q, flags %#x, from %v, %v; want 4 bytes and MSG_TRUNC", n, buf[:n], flags, from, err)
	}
}
