package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
)

// counterStep is one exchange and the counters it must move.
type counterStep struct {
	what  string
	do    func()
	moves []counterRef
}

// counterScene is what TestAdminCountersMove's steps share: the stacks,
// a listener and a UDP socket on the server, the connection the first step
// opens.
type counterScene struct {
	t      *testing.T
	o      *observed
	ctx    context.Context
	l      *synack.TCPListener
	udpSrv *synack.UDPConn
	held   []net.Conn // client end, server end
	seq    uint16
}

// onClient and onServer name a counter of the client or of the server.
func onClient(sec, name string) counterRef { return counterRef{false, sec, name} }
func onServer(sec, name string) counterRef { return counterRef{true, sec, name} }

// TestAdminCountersMove: each exchange moves the counters it must, and
// each is seen to move both in /snapshot's JSON and in /metrics as the
// Prometheus text parser reads it.
func TestAdminCountersMove(t *testing.T) { runCounterSteps(t) }

// runCounterSteps runs TestAdminCountersMove's steps and returns the
// counters they were seen to move, for TestEveryCounterMoves.
func runCounterSteps(t *testing.T) []counterRef {
	o := newObserved(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := &counterScene{t: t, o: o, ctx: ctx}
	var err error
	if sc.l, err = o.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 16); err != nil {
		t.Fatal(err)
	}
	defer sc.l.Close()
	if sc.udpSrv, err = o.server.ListenUDP(netip.MustParseAddrPort("0.0.0.0:53")); err != nil {
		t.Fatal(err)
	}
	defer sc.udpSrv.Close()
	defer func() {
		for _, c := range sc.held {
			c.Close()
		}
	}()
	var steps []counterStep
	for _, group := range [][]counterStep{sc.tcpSteps(), sc.udpSteps(), sc.rawSteps(), sc.timerSteps(), sc.resetSteps()} {
		steps = append(steps, group...)
	}
	var moved []counterRef
	for _, st := range steps {
		moved = append(moved, st.moves...)
		before := o.read(t)
		st.do()
		after := o.read(t)
		for _, ref := range st.moves {
			j0, p0 := before.get(t, ref)
			j1, p1 := after.get(t, ref)
			if j1 <= j0 {
				t.Errorf("%s: %v stayed at %d in JSON", st.what, ref, j0)
			}
			if p1 <= p0 {
				t.Errorf("%s: %v stayed at %v in Prometheus", st.what, ref, p0)
			}
		}
	}
	return moved
}

// barrier pings the server: the reply comes after everything the client
// sent before it has been handled by the server, and what the server sent
// before the reply by the client (the pipe keeps order).
func (sc *counterScene) barrier() {
	sc.seq++
	if _, err := sc.o.client.Ping(sc.ctx, netip.MustParseAddr("10.0.0.2"), sc.seq, []byte("barrier")); err != nil {
		sc.t.Fatal(err)
	}
}

func (sc *counterScene) tcpSteps() []counterStep {
	t, o := sc.t, sc.o
	return []counterStep{
		{"a connection opened and data sent", func() {
			accepted := make(chan net.Conn, 1)
			go func() { c, _ := sc.l.Accept(); accepted <- c }()
			cc, err := o.client.DialTCP(sc.ctx, netip.MustParseAddrPort("10.0.0.2:80"))
			if err != nil {
				t.Fatal(err)
			}
			srv := <-accepted
			sc.held = append(sc.held, cc, srv)
			if _, err := cc.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(srv, make([]byte, 5)); err != nil {
				t.Fatal(err)
			}
		}, []counterRef{onClient("Tcp", "ActiveOpens"), onServer("Tcp", "PassiveOpens"), onServer("Tcp", "CurrEstab"),
			onClient("Tcp", "CurrEstab"), onServer("Tcp", "InSegs"), onServer("Tcp", "OutSegs"), onServer("Ip", "InReceives"),
			onServer("Ip", "InDelivers"), onServer("Ip", "OutRequests"), onServer("Link", "Delivered"), onClient("Link", "Sent")}},
		{"a connection refused", func() {
			_, err := o.client.DialTCP(sc.ctx, netip.MustParseAddrPort("10.0.0.2:81"))
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial to a closed port: %v, want ECONNREFUSED", err)
			}
		}, []counterRef{onClient("Tcp", "AttemptFails"), onServer("Tcp", "OutRsts"), onServer("TcpExt", "TCPNoSocket")}},
	}
}

// sendUDP sends n datagrams from a new client socket to dst, then waits
// for the server to have handled them.
func (sc *counterScene) sendUDP(n int, dst string) *synack.UDPConn {
	uc := udpClient(sc.t, sc.o)
	for range n {
		if _, err := uc.WriteToUDPAddrPort([]byte("z"), netip.MustParseAddrPort(dst)); err != nil {
			sc.t.Fatal(err)
		}
	}
	sc.barrier()
	return uc
}

func (sc *counterScene) udpSteps() []counterStep {
	t := sc.t
	return []counterStep{
		{"a datagram to a closed port", func() { sc.sendUDP(1, "10.0.0.2:54") },
			[]counterRef{onServer("Udp", "NoPorts"), onServer("Icmp", "OutDestUnreachs"), onClient("Icmp", "InMsgs"), onClient("Udp", "OutDatagrams")}},
		{"a datagram echoed", func() {
			uc := sc.sendUDP(1, "10.0.0.2:53")
			buf := make([]byte, 16)
			n, from, err := sc.udpSrv.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sc.udpSrv.WriteToUDPAddrPort(buf[:n], from); err != nil {
				t.Fatal(err)
			}
			if _, _, err := uc.ReadFromUDPAddrPort(buf); err != nil {
				t.Fatal(err)
			}
		}, []counterRef{onServer("Udp", "InDatagrams"), onServer("Udp", "OutDatagrams"), onClient("Udp", "InDatagrams")}},
		{"a datagram burst to a socket that does not read", func() { sc.sendUDP(300, "10.0.0.2:53") }, // past udp.MaxDatagrams
			[]counterRef{onServer("Udp", "RcvbufErrors"), onServer("Udp", "InErrors")}},
		{"a datagram burst to a closed port", func() { sc.sendUDP(60, "10.0.0.2:55") }, // past the ICMP burst of 50, on a clock that stands still
			[]counterRef{onServer("Icmp", "OutRateLimitGlobal"), onServer("Udp", "NoPorts")}},
		{"a ping", sc.barrier,
			[]counterRef{onClient("Icmp", "OutEchos"), onClient("Icmp", "InEchoReps"), onServer("Icmp", "InMsgs"), onServer("Icmp", "OutEchoReps")}},
	}
}

func (sc *counterScene) rawSteps() []counterStep {
	o, b := sc.o, sc.barrier
	return []counterStep{
		{"a packet with a bad IPv4 header", func() {
			bad := make([]byte, 20)
			bad[0] = 0x46 // version 4, but a header of 24 bytes in a packet of 20
			if err := o.a.WritePacket(bad); err != nil {
				sc.t.Fatal(err)
			}
			b()
		}, []counterRef{onServer("Ip", "InHdrErrors"), onServer("Ip", "InReceives")}},
		{"a packet to another address", rawStep(o, b, 6, "10.0.0.99", 0, tcpHeader(0x1234)),
			[]counterRef{onServer("Ip", "InAddrErrors")}},
		{"a packet of an unknown protocol", rawStep(o, b, 99, "10.0.0.2", 0, make([]byte, 8)),
			[]counterRef{onServer("Ip", "InUnknownProtos")}},
		{"a fragment", rawStep(o, b, 17, "10.0.0.2", 1, make([]byte, 16)),
			[]counterRef{onServer("Ip", "ReasmReqds")}},
		{"a TCP segment with a bad checksum", rawStep(o, b, 6, "10.0.0.2", 0, tcpHeader(0x1234)),
			[]counterRef{onServer("Tcp", "InErrs")}},
		{"a UDP datagram with a bad checksum", rawStep(o, b, 17, "10.0.0.2", 0, []byte{0, 53, 0, 53, 0, 9, 0x12, 0x34, 'x'}),
			[]counterRef{onServer("Udp", "InCsumErrors"), onServer("Udp", "InErrors")}},
		{"an ICMP message with a bad checksum", rawStep(o, b, 1, "10.0.0.2", 0, []byte{8, 0, 0x12, 0x34, 0, 1, 0, 1}),
			[]counterRef{onServer("Icmp", "InErrors")}},
	}
}

// dialUntil dials dst from n goroutines and drives the virtual clock
// until done, then cancels the dials and waits for them to end.
func (sc *counterScene) dialUntil(n int, dst string, done func() bool) {
	dctx, dcancel := context.WithCancel(sc.ctx)
	ended := make(chan struct{}, n)
	for range n {
		go func() {
			defer func() { ended <- struct{}{} }()
			if c, err := sc.o.client.DialTCP(dctx, netip.MustParseAddrPort(dst)); err == nil {
				<-dctx.Done() // established: hold it until the step ends
				c.Close()
			}
		}()
	}
	sc.o.drive(sc.t, done)
	dcancel()
	for range n {
		<-ended
	}
}

func (sc *counterScene) timerSteps() []counterStep {
	cs, ss := sc.o.client.Internals().TCPStats(), sc.o.server.Internals().TCPStats()
	return []counterStep{
		{"a SYN that goes unanswered", func() {
			sc.dialUntil(1, "10.0.0.3:80", func() bool { return cs.Timeouts.Load() > 0 && cs.RetransSegs.Load() > 0 }) // no such host
		}, []counterRef{onClient("Tcp", "RetransSegs"), onClient("TcpExt", "TCPTimeouts"), onClient("Tcp", "ActiveOpens"),
			onClient("Tcp", "AttemptFails"), onServer("Ip", "InAddrErrors")}},
		{"a full accept queue", func() {
			full, err := sc.o.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:8080"), 1)
			if err != nil {
				sc.t.Fatal(err)
			}
			defer full.Close()
			// One connection fills the queue of one; once its final ACK
			// has been handled, the next SYN finds the queue full.
			c, err := sc.o.client.DialTCP(sc.ctx, netip.MustParseAddrPort("10.0.0.2:8080"))
			if err != nil {
				sc.t.Fatal(err)
			}
			defer c.Close()
			sc.barrier()
			sc.dialUntil(1, "10.0.0.2:8080", func() bool { return ss.ListenDrops.Load() > 0 && ss.ListenOverflows.Load() > 0 })
		}, []counterRef{onServer("TcpExt", "ListenOverflows"), onServer("TcpExt", "ListenDrops")}},
	}
}

func (sc *counterScene) resetSteps() []counterStep {
	return []counterStep{
		{"a close with unread data resets", func() {
			cc, srv := sc.held[0], sc.held[1]
			if _, err := srv.Write([]byte("unread")); err != nil {
				sc.t.Fatal(err)
			}
			sc.barrier() // the data reached the client, unread
			cc.Close()
			sc.barrier()
		}, []counterRef{onClient("TcpExt", "TCPAbortOnClose"), onClient("Tcp", "OutRsts"), onServer("Tcp", "EstabResets")}},
	}
}
