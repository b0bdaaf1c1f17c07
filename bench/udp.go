package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

// The UDP workloads (issue 15) run on the pairs that also speak UDP:
// synack's UDPConn and gVisor's gonet.UDPConn on the same in-memory
// links as the TCP workloads, and the kernel's UDP over 127.0.0.1.

// UDPPair is a Pair whose stacks have UDP too.
type UDPPair interface {
	// ListenUDP opens a socket on the server at port.
	ListenUDP(port uint16) (net.PacketConn, error)
	// DialUDP opens a client socket connected to the server's port.
	DialUDP(port uint16) (net.Conn, error)
}

// udpPayload is the datagram size of udp-stream: a full 1,500-byte packet
// less the headers is 1,472; the issue asks for 1,400.
const udpPayload = 1400

// udpWindow is the datagrams udp-stream keeps unacknowledged: well within
// every target's receive queue (synack's 212,992 bytes hold 152), so that
// nothing is lost and what is measured is the cost of a datagram, not of
// a drop.
const udpWindow = 32

// udpAckEvery is how often the udp-stream receiver reports its count.
const udpAckEvery = 8

func (p *synackPair) ListenUDP(port uint16) (net.PacketConn, error) {
	return p.server.ListenUDP(netip.AddrPortFrom(serverPrefix.Addr(), port))
}

func (p *synackPair) DialUDP(port uint16) (net.Conn, error) {
	c, err := p.client.DialUDP(netip.AddrPortFrom(serverPrefix.Addr(), port))
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (p *gvisorPair) ListenUDP(port uint16) (net.PacketConn, error) {
	return gonet.DialUDP(p.server, &tcpip.FullAddress{NIC: nicID, Addr: gvServerAddr, Port: port}, nil, ipv4.ProtocolNumber)
}

func (p *gvisorPair) DialUDP(port uint16) (net.Conn, error) {
	return gonet.DialUDP(p.client, nil, &tcpip.FullAddress{NIC: nicID, Addr: gvServerAddr, Port: port}, ipv4.ProtocolNumber)
}

func (p *kernelPair) ListenUDP(port uint16) (net.PacketConn, error) {
	return net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
}

func (p *kernelPair) DialUDP(port uint16) (net.Conn, error) {
	return net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", port))
}

// addrPortConn is the part of net.UDPConn's API that reads and writes
// without making a net.Addr per datagram; synack's UDPConn has it, gVisor's
// gonet.UDPConn does not.
type addrPortConn interface {
	ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(p []byte, addr netip.AddrPort) (int, error)
}

// udpServer is a server socket read and written through the cheapest API
// its target offers: ReadFromUDPAddrPort where there is one, else
// net.PacketConn's ReadFrom, whose net.Addr costs allocations.
type udpServer struct {
	net.PacketConn
	ap addrPortConn // nil when the target has no such API
}

// peer is a datagram's source in the form its API gave.
type peer struct {
	ap   netip.AddrPort
	addr net.Addr
}

func (s udpServer) read(p []byte) (n int, from peer, err error) {
	if s.ap != nil {
		n, from.ap, err = s.ap.ReadFromUDPAddrPort(p)
		return n, from, err
	}
	n, from.addr, err = s.ReadFrom(p)
	return n, from, err
}

func (s udpServer) write(p []byte, to peer) (int, error) {
	if s.ap != nil {
		return s.ap.WriteToUDPAddrPort(p, to.ap)
	}
	return s.WriteTo(p, to.addr)
}

// udpPairOf opens a server socket and a client connected to it.
func udpPairOf(e *env) (udpServer, net.Conn, error) {
	srv, cl, err := udpPairOf2(e)
	if err != nil {
		return udpServer{}, nil, err
	}
	ap, _ := srv.(addrPortConn)
	return udpServer{srv, ap}, cl, nil
}

func udpPairOf2(e *env) (net.PacketConn, net.Conn, error) {
	up, ok := e.p.(UDPPair)
	if !ok {
		return nil, nil, errors.New("target has no UDP")
	}
	const port = 9000
	srv, err := up.ListenUDP(port)
	if err != nil {
		return nil, nil, err
	}
	cl, err := up.DialUDP(port)
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return srv, cl, nil
}

// udpStream sends n datagrams of udpPayload bytes from client to server,
// at most udpWindow unacknowledged: the server answers every udpAckEvery
// datagrams with the count it has read.
func udpStream(e *env, n int) (Sample, error) {
	srv, cl, err := udpPairOf(e)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	defer cl.Close()
	go func() {
		buf := make([]byte, 2048)
		var ack [8]byte
		for got := uint64(1); ; got++ {
			_, from, err := srv.read(buf)
			if err != nil {
				return
			}
			if got%udpAckEvery == 0 {
				binary.BigEndian.PutUint64(ack[:], got)
				if _, err := srv.write(ack[:], from); err != nil {
					return
				}
			}
		}
	}()
	msg := make([]byte, udpPayload)
	var ack [8]byte
	sent, acked := uint64(0), uint64(0)
	send := func(total uint64) error {
		cl.SetReadDeadline(time.Now().Add(time.Minute)) // once: setting one may cost a timer
		for acked < total {
			for sent < total && sent-acked < udpWindow {
				if _, err := cl.Write(msg); err != nil {
					return fmt.Errorf("write: %w", err)
				}
				sent++
			}
			if _, err := cl.Read(ack[:]); err != nil {
				return fmt.Errorf("waiting for the receiver's count (%d of %d sent, %d acknowledged): %w", sent, total, acked, err)
			}
			acked = max(acked, binary.BigEndian.Uint64(ack[:]))
		}
		return nil
	}
	warm := uint64(max(n/10, udpAckEvery) / udpAckEvery * udpAckEvery)
	if err := send(warm); err != nil {
		return nil, err
	}
	total := warm + uint64(n/udpAckEvery*udpAckEvery)
	s := e.begin()
	if err := send(total); err != nil {
		return nil, err
	}
	iv := e.end(s)
	d := float64(total - warm)
	return Sample{
		"gbps":             d * udpPayload * 8 / iv.wall.Seconds() / 1e9,
		"dgram_per_s":      d / iv.wall.Seconds(),
		"cpu_us_per_dgram": iv.cpu.Seconds() * 1e6 / d,
		"allocs_per_dgram": float64(iv.mallocs) / d,
	}, nil
}

// udpRR sends n requests of size bytes and reads each response of the
// same size, one at a time.
func udpRR(e *env, n, size int) (Sample, error) {
	srv, cl, err := udpPairOf(e)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	defer cl.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			k, from, err := srv.read(buf)
			if err != nil {
				return
			}
			if _, err := srv.write(buf[:k], from); err != nil {
				return
			}
		}
	}()
	req, resp := make([]byte, size), make([]byte, 2048)
	if err := cl.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		return nil, err
	}
	trip := func() error {
		if _, err := cl.Write(req); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if _, err := cl.Read(resp); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		return nil
	}
	return timeTrips(e, n, trip)
}

// udpWorkloads are udp-stream and udp-rr.
func udpWorkloads(sz Sizes) []Workload {
	return []Workload{
		{
			Name: "udp-stream", MTU: 1500,
			About: fmt.Sprintf("UDP: %d-byte datagrams one way on a connected socket, at most %d unacknowledged (the receiver reports its count every %d)", udpPayload, udpWindow, udpAckEvery),
			Metrics: []Metric{
				{Key: "gbps", Label: "Gbit/s", Higher: true, Prec: 2},
				{Key: "dgram_per_s", Label: "datagrams/s", Higher: true, Prec: 0},
				{Key: "cpu_us_per_dgram", Label: "CPU µs/datagram", Prec: 3},
				{Key: "allocs_per_dgram", Label: "allocs/datagram", Prec: 3},
			},
			run: func(e *env) (Sample, error) { return udpStream(e, sz.UDPDatagrams) },
		},
		{
			Name: "udp-rr", MTU: 1500,
			About:   "UDP: a 1-byte request and a 1-byte response, in turn",
			Metrics: rrMetrics,
			run:     func(e *env) (Sample, error) { return udpRR(e, sz.RoundTrips, 1) },
		},
	}
}
