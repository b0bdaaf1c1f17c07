package stack

// TIME-WAIT records in the stack (timewait.go): the connection replaced at
// once, the socket still answering, expiry from the records' heap, the cap,
// and the heap a closed connection keeps.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// closeFirst opens a connection from remote (ISS iss) to the listener ln
// on local, accepts it, and closes it from the stack's side: the stack's
// FIN, then the peer's FIN,ACK acknowledging it, which puts the stack in
// TIME-WAIT. With req, the peer first sends req and the application
// echoes it (a request and its response, as in a crr workload). With
// text, the peer's FIN carries it, and the stack only half-closes
// (CloseWrite) so the text is wanted. It returns the socket and the
// sequence number of the stack's FIN.
func (n *wireNet) closeFirst(ln *TCPListener, local, remote netip.AddrPort, iss seqnum.Value, req, text []byte) (*TCPConn, seqnum.Value) {
	n.t.Helper()
	srv := n.synACK(local, remote, iss).SeqNum().Add(1)
	seq := iss.Add(1)
	n.send(local, remote, wire.TCPFields{Seq: seq, Ack: srv, Flags: wire.FlagACK, Window: 65535})
	c, err := ln.Accept(context.Background())
	if err != nil {
		n.t.Fatal(err)
	}
	if req != nil {
		n.s.DeliverPacket(tcpPacket(local, remote, &wire.TCPFields{Seq: seq, Ack: srv, Flags: wire.FlagACK | wire.FlagPSH, Window: 65535}, req))
		seq = seq.Add(seqnum.Size(len(req)))
		b := make([]byte, len(req))
		if _, err := io.ReadFull(c, b); err != nil {
			n.t.Fatal(err)
		}
		if _, err := c.Write(b); err != nil {
			n.t.Fatal(err)
		}
		srv = srv.Add(seqnum.Size(len(req)))
		n.send(local, remote, wire.TCPFields{Seq: seq, Ack: srv, Flags: wire.FlagACK, Window: 65535})
	}
	n.got = nil
	if text != nil {
		err = c.CloseWrite()
	} else {
		err = c.Close()
	}
	if err != nil || len(n.got) != 1 {
		n.t.Fatalf("close: %v, %d segments sent, want a FIN", err, len(n.got))
	}
	fin, _ := wire.ParseTCP(n.got[0][wire.IPv4MinHeaderLen:])
	if fin.SeqNum() != srv || !fin.Flags().Has(wire.FlagFIN) {
		n.t.Fatalf("close sent <SEQ=%d><CTL=%v>, want a FIN at %d", fin.SeqNum(), fin.Flags(), srv)
	}
	n.got = nil
	n.s.DeliverPacket(tcpPacket(local, remote, &wire.TCPFields{Seq: seq, Ack: srv.Add(1),
		Flags: wire.FlagACK | wire.FlagFIN | wire.FlagPSH, Window: 65535}, text))
	return c, srv
}

// TestTimeWaitSocketEndsAndAnswers: the connection becomes a record as it
// enters TIME-WAIT; the socket, still held, keeps its tcp.Conn only while
// unread text is in it, then answers from the record: Read the text then
// EOF, Write an error, its addresses, its state and its socket-table row.
// A retransmitted FIN restarts 2*MSL through the stack; at the end the
// record goes, traced as TIME-WAIT to CLOSED, and the socket shows CLOSED.
func TestTimeWaitSocketEndsAndAnswers(t *testing.T) {
	rec := new(trace.Recorder)
	n := newWireNet(t, Config{Trace: rec, TCP: tcp.Config{MSL: 10 * time.Second}})
	local := netip.AddrPortFrom(fzAddr, fzPort)
	ln, err := n.s.ListenTCP(local, 4)
	if err != nil {
		t.Fatal(err)
	}
	c, fin := n.closeFirst(ln, local, twPeer, 1000, nil, []byte("bye"))
	inConns, e := n.s.lookup(keyOf(local, twPeer)) != nil, n.s.twLookup(keyOf(local, twPeer))
	c.s.mu.Lock()
	held := c.conn != nil
	c.s.mu.Unlock()
	if inConns || e == nil || !held {
		t.Fatalf("in TIME-WAIT: connection in the table %v, record %v, socket holds its tcp.Conn %v; want false, a record, true (unread text)", inConns, e != nil, held)
	}
	if len(n.got) != 1 {
		t.Fatalf("the FIN was answered with %d segments, want an ACK", len(n.got))
	}
	if c.State() != tcp.StateTimeWait || c.LocalAddr() != local || c.RemoteAddr() != twPeer {
		t.Fatalf("socket %v %v-%v, want TIME-WAIT %v-%v", c.State(), c.LocalAddr(), c.RemoteAddr(), local, twPeer)
	}
	b := make([]byte, 8)
	if k, err := c.Read(b); err != nil || string(b[:k]) != "bye" {
		t.Fatalf("Read = %q, %v; want the unread text", b[:k], err)
	}
	c.s.mu.Lock()
	held = c.conn != nil
	c.s.mu.Unlock()
	if held {
		t.Fatal("the socket kept its tcp.Conn after the text was read")
	}
	if k, err := c.Read(b); k != 0 || err != io.EOF {
		t.Fatalf("Read after the text = %d, %v; want EOF", k, err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, tcp.ErrClosing) {
		t.Fatalf("Write in TIME-WAIT = %v, want ErrClosing", err)
	}
	if in := c.Info(); in.State != tcp.StateTimeWait || in.Local != local || in.Remote != twPeer {
		t.Fatalf("Info = %+v, want TIME-WAIT %v-%v", in, local, twPeer)
	}
	if m := n.s.TCPMemory().Receive(); m != 0 {
		t.Fatalf("%d bytes of receive memory still charged", m)
	}
	if got := timeWaitRows(n.s); got != 1 {
		t.Fatalf("%d TIME-WAIT rows in the socket table, want 1", got)
	}

	// The peer's FIN again, 5 s on: ACKed, and 2*MSL runs from here.
	start := n.clk.Now()
	n.clk.Advance(5 * time.Second)
	n.got = nil
	n.s.DeliverPacket(tcpPacket(local, twPeer, &wire.TCPFields{Seq: 1001, Ack: fin.Add(1),
		Flags: wire.FlagACK | wire.FlagFIN | wire.FlagPSH, Window: 65535}, []byte("bye")))
	if len(n.got) != 1 {
		t.Fatalf("retransmitted FIN answered with %d segments, want an ACK", len(n.got))
	}
	if a, _ := wire.ParseTCP(n.got[0][wire.IPv4MinHeaderLen:]); a.Flags() != wire.FlagACK || a.AckNum() != 1005 || a.SeqNum() != fin.Add(1) {
		t.Fatalf("retransmitted FIN answered <SEQ=%d><ACK=%d><CTL=%v>, want <SEQ=%d><ACK=1005><CTL=ACK>", a.SeqNum(), a.AckNum(), a.Flags(), fin.Add(1))
	}
	n.clk.AdvanceTo(start.Add(20 * time.Second))
	if c.State() != tcp.StateTimeWait {
		t.Fatal("TIME-WAIT ended 2*MSL after entering, though a FIN restarted it")
	}
	n.clk.AdvanceTo(start.Add(25 * time.Second))
	if recs, heaped := n.s.twCount(); c.State() != tcp.StateClosed || timeWaitRows(n.s) != 0 || recs != 0 || heaped != 0 {
		t.Fatalf("2*MSL after the FIN: socket %v, %d TIME-WAIT rows, %d records", c.State(), timeWaitRows(n.s), n.s.twRecords())
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, tcp.ErrNotConnected) {
		t.Fatalf("Write after TIME-WAIT = %v, want ErrNotConnected", err)
	}
	var last trace.Event
	for _, ev := range rec.Events() {
		if ev.Kind == trace.KindStateChange && ev.Remote == twPeer {
			last = ev
		}
	}
	if last.From != "TIME-WAIT" || last.State != "CLOSED" || last.Cause != "timeout 2MSL" {
		t.Fatalf("last state change %s -> %s (%s), want TIME-WAIT -> CLOSED (timeout 2MSL)", last.From, last.State, last.Cause)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close of an ended socket: %v", err)
	}
	if _, err := c.Read(b); err != ErrClosed {
		t.Fatalf("Read after Close = %v, want ErrClosed", err)
	}
}

// timeWaitRows counts the TIME-WAIT rows of s's socket table.
func timeWaitRows(s *Stack) int {
	k := 0
	for _, r := range s.Sockets() {
		if r.State == tcp.StateTimeWait {
			k++
		}
	}
	return k
}

// TestTimeWaitRecordHoldsItsFourTuple: a 4-tuple in TIME-WAIT is in use
// for a dial as it was when the connection held it; a RST at RCV.NXT ends
// the record (Linux, tcp_rfc1337 = 0) and frees it.
func TestTimeWaitRecordHoldsItsFourTuple(t *testing.T) {
	n := newWireNet(t, Config{})
	local := netip.AddrPortFrom(fzAddr, fzPort)
	ln, err := n.s.ListenTCP(local, 4)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := n.closeFirst(ln, local, twPeer, 1000, nil, nil)
	if _, err := n.s.DialTCP(context.Background(), local, twPeer); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("dial from a 4-tuple in TIME-WAIT: %v, want EADDRINUSE", err)
	}
	if out := n.send(local, twPeer, wire.TCPFields{Seq: 1002, Flags: wire.FlagRST}); len(out) != 0 {
		t.Fatalf("RST answered with %d segments", len(out))
	}
	if n.s.twRecords() != 0 || c.State() != tcp.StateClosed {
		t.Fatalf("after a RST at RCV.NXT: %d records, socket %v; want none, CLOSED", n.s.twRecords(), c.State())
	}
}

// TestTimeWaitRecordPortNotPicked: an ephemeral port whose 4-tuple to
// the destination is in TIME-WAIT is not picked for a dial (RFC 6056
// §3.3.3's check that the 4-tuple is free), as when a connection held it.
func TestTimeWaitRecordPortNotPicked(t *testing.T) {
	n := newWireNet(t, Config{})
	s := n.s
	// The records are bare, never ended through the engine: put in each
	// 4-tuple's shard by hand (nothing else runs), and cleared at the end.
	defer func() {
		for _, sh := range s.shards {
			clear(sh.tws)
		}
	}()
	const free = ephemeralFirst + 1234
	for p := ephemeralFirst; p <= ephemeralLast; p++ {
		if p != free {
			k := keyOf(netip.AddrPortFrom(fzAddr, uint16(p)), twPeer)
			s.shardOf(k).tws[k] = &twEntry{key: k, idx: -1}
		}
	}
	if p, err := s.pickPort(fzAddr, twPeer); err != nil || p != free {
		t.Fatalf("pickPort = %d, %v; want the one port not in TIME-WAIT, %d", p, err, free)
	}
	k := keyOf(netip.AddrPortFrom(fzAddr, free), twPeer)
	s.shardOf(k).tws[k] = &twEntry{key: k, idx: -1}
	if p, err := s.pickPort(fzAddr, twPeer); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("pickPort with every 4-tuple in TIME-WAIT = %d, %v; want EADDRNOTAVAIL", p, err)
	}
}

// TestTimeWaitSocketAbortEndsRecord: Abort on a socket in TIME-WAIT
// leaves nothing in TIME-WAIT, as when the connection held it; Close
// leaves the record to run out.
func TestTimeWaitSocketAbortEndsRecord(t *testing.T) {
	n := newWireNet(t, Config{})
	local := netip.AddrPortFrom(fzAddr, fzPort)
	ln, err := n.s.ListenTCP(local, 4)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := n.closeFirst(ln, local, twPeer, 1000, nil, []byte("x"))
	if err := c.Close(); err != nil || c.State() != tcp.StateTimeWait || n.s.twRecords() != 1 {
		t.Fatalf("Close in TIME-WAIT: %v, socket %v, %d records; want TIME-WAIT kept", err, c.State(), n.s.twRecords())
	}
	other := netip.AddrPortFrom(fzPeers[1], 40000)
	c, _ = n.closeFirst(ln, local, other, 1000, nil, []byte("x"))
	n.got = nil
	if err := c.Abort(); err != nil || c.State() != tcp.StateClosed || n.s.twRecords() != 1 || len(n.got) != 0 {
		t.Fatalf("Abort in TIME-WAIT: %v, socket %v, %d records, %d segments; want CLOSED, its record gone, nothing sent",
			err, c.State(), n.s.twRecords(), len(n.got))
	}
	if m := n.s.TCPMemory().Receive(); m != 0 {
		t.Fatalf("%d bytes of unread text still charged after Close and Abort", m)
	}
}

// TestTimeWaitCapClosesWithoutTimeWait: with MaxTimeWait records held, a
// connection entering TIME-WAIT closes at once instead (Linux's
// tcp_max_tw_buckets), counted in TCPTimeWaitOverflow and logged once per
// interval; no record is made beyond the cap, and once records expire
// there is room again.
func TestTimeWaitCapClosesWithoutTimeWait(t *testing.T) {
	const limit, conns = 2, 5
	var logged bytes.Buffer
	n := newWireNet(t, Config{MaxTimeWait: limit, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	local := netip.AddrPortFrom(fzAddr, fzPort)
	ln, err := n.s.ListenTCP(local, 4)
	if err != nil {
		t.Fatal(err)
	}
	var socks []*TCPConn
	for i := range conns {
		c, _ := n.closeFirst(ln, local, netip.AddrPortFrom(fzPeers[0], uint16(41000+i)), 1000, nil, nil)
		socks = append(socks, c)
		if n.s.twRecords() > limit {
			t.Fatalf("connection %d: %d records, above MaxTimeWait %d", i, n.s.twRecords(), limit)
		}
	}
	if got := n.s.Stats().TCPTimeWaitOverflow.Load(); got != conns-limit {
		t.Fatalf("TCPTimeWaitOverflow = %d, want %d", got, conns-limit)
	}
	for i, c := range socks {
		want := tcp.StateTimeWait
		if i >= limit {
			want = tcp.StateClosed
		}
		if c.State() != want {
			t.Fatalf("connection %d: %v, want %v", i, c.State(), want)
		}
	}
	if k := strings.Count(logged.String(), "TIME-WAIT records"); k != 1 {
		t.Fatalf("the cap was logged %d times, want once a minute: %q", k, logged.String())
	}
	n.clk.Advance(2 * tcp.DefaultMSL)
	if n.s.twRecords() != 0 {
		t.Fatalf("%d records after 2*MSL", n.s.twRecords())
	}
	if c, _ := n.closeFirst(ln, local, netip.AddrPortFrom(fzPeers[1], 41000), 1000, nil, nil); c.State() != tcp.StateTimeWait {
		t.Fatalf("after the records expired a closed connection is %v, want TIME-WAIT", c.State())
	}
}

// TestTimeWaitHeapPerConnection: what a connection that carried a request
// and its response and was closed from this side keeps on the heap for
// 2*MSL, measured after a collection with the sockets dropped: its
// record, map slot and heap slot, under 300 bytes (about 140 measured;
// the whole tcp.Conn, socket and buffers kept about 5.5 KB here before
// records).
func TestTimeWaitHeapPerConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("opens and closes thousands of connections")
	}
	const conns, bound = 4000, 300
	n := newWireNet(t, Config{})
	local := netip.AddrPortFrom(fzAddr, fzPort)
	ln, err := n.s.ListenTCP(local, 4)
	if err != nil {
		t.Fatal(err)
	}
	req := bytes.Repeat([]byte("r"), 100)
	n.closeFirst(ln, local, netip.AddrPortFrom(fzPeers[1], 40000), 1000, req, nil) // warm the pools
	before := heapInUse()
	for i := range conns {
		n.closeFirst(ln, local, netip.AddrPortFrom(fzPeers[i%2], uint16(1024+i)), 1000, req, nil)
	}
	n.got = nil
	after := heapInUse()
	if n.s.twRecords() != conns+1 {
		t.Fatalf("%d records, want %d", n.s.twRecords(), conns+1)
	}
	per := float64(after-before) / conns
	t.Logf("heap per connection in TIME-WAIT: %.0f bytes", per)
	if per > bound {
		t.Fatalf("%.0f bytes of heap per connection in TIME-WAIT, want at most %d", per, bound)
	}
	runtime.KeepAlive(n)
}

// TestTimeWaitEntrySize: a record in the table (tcp.TimeWait, its key,
// heap index and birth stamp) fits the 80-byte size class, and the socket,
// which grew a pointer to it, a birth stamp and its write lock (wmu), still
// fits the 128-byte class every connection pays: it is 128 bytes, with no
// room left.
func TestTimeWaitEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(twEntry{}); n > 80 {
		t.Errorf("twEntry is %d bytes, over the 80-byte size class", n)
	}
	if n := unsafe.Sizeof(TCPConn{}); n > 128 {
		t.Errorf("TCPConn is %d bytes, over the 128-byte size class", n)
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
