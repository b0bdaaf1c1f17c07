package stack

import (
	"container/heap"
	"net/netip"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
)

// TIME-WAIT records (tcp.TimeWait), their table, their expiry and their
// cap.
//
// When a connection enters TIME-WAIT (afterLocked sees the state), the
// stack replaces it at once by its record, as Linux replaces a full socket
// by a tcp_timewait_sock: the record goes into its shard's tws, keyed by
// 4-tuple (the record stays in the connection's shard), and the tcp.Conn
// leaves the shard's conns and timer heap. The socket the user
// may still hold (TCPConn) lets its tcp.Conn go too: it keeps only a
// pointer to the record, from which it answers LocalAddr, RemoteAddr,
// State (TIME-WAIT while the record lives, then CLOSED) and Info; Read
// returns io.EOF (a TIME-WAIT has the peer's FIN) and Write an error. A
// socket whose user has neither read to the end nor closed keeps its
// tcp.Conn, out of every table, for the unread text only, until it is read
// or the socket closed (as Linux keeps the full socket until close).
//
// Demultiplexing looks for a connection, then a record, then a listener.
// Records expire from their shard's own heap, ordered by deadline, which
// the shard's one clock timer serves along with its connections' heap: no
// clock timer per record. A retransmitted FIN moves a record's deadline
// (heap.Fix); a takeover or a RST removes it.
//
// A record costs about 150 bytes of heap (the record, its map slot and
// its heap slot; TestTimeWaitHeapPerConnection measures it) where the
// tcp.Conn with its socket and buffers cost about 5.6 KB. Records are not
// connections: they do not count toward Config.MaxConnections (Linux's
// time-wait sockets are not sockets of any process either) and have their
// own bound, Config.MaxTimeWait. When it is reached, a connection that
// enters TIME-WAIT closes at once instead, as Linux's tcp_time_wait does
// when tcp_max_tw_buckets is reached: counted in Stats.TCPTimeWaitOverflow
// (Linux TCPTimeWaitOverflow, "time wait bucket table overflow") and
// logged through the limit logger.
//
// Taking a 4-tuple over from TIME-WAIT (RFC 9293 §3.6.1 note, RFC 6191):
// a SYN that may end a record (tcp.TimeWait.AcceptsNewSYN) goes to the
// listener first, and TIME-WAIT ends only when the listener answers it:
// with a new connection, whose ISS is the old incarnation's NextISS, or
// with a SYN cookie. A SYN the listener drops (accept queue full, SYN
// queue full without cookies, MaxConnections reached) leaves TIME-WAIT as
// it was, so the peer's retransmission still finds it, still gets NextISS,
// and old duplicates are still caught meanwhile. Linux deschedules the
// TIME-WAIT socket before its listener decides (tcp_v4_rcv, TCP_TW_SYN);
// keeping it costs nothing and keeps its protection.
//
// A cookie SYN,ACK ends TIME-WAIT as Linux does: the cookie is the ISS (it
// replaces NextISS, as in tcp_conn_request), and the peer's ACK that
// brings it back must reach the listener, which it could not while the
// record held the 4-tuple.

// DefaultMaxTimeWait is the default of Config.MaxTimeWait: Linux's
// tcp_max_tw_buckets on a machine with enough memory (half its
// established-connection hash, which is capped at 524288 buckets). At
// about 150 bytes a record, a full table holds about 40 MB.
const DefaultMaxTimeWait = 1 << 18

// twEntry is a TIME-WAIT record in the stack's table.
type twEntry struct {
	rec tcp.TimeWait
	key connKey
	idx int32 // in s.twHeap; -1 once the record ended (or never entered the table)
	// born is when its connection was made (TCPConn.born), for the
	// socket table's age: the 8 bytes left to the 80-byte size class.
	born stamp
}

// addrs are the record's local and remote endpoints.
func (e *twEntry) addrs() (local, remote netip.AddrPort) {
	k := &e.key
	return netip.AddrPortFrom(netip.AddrFrom4(k.laddr), k.lport), netip.AddrPortFrom(netip.AddrFrom4(k.raddr), k.rport)
}

// live reports whether the record is still in the table.
func (e *twEntry) live() bool { return e.idx >= 0 }

// enterTimeWaitLocked replaces c, which has just entered TIME-WAIT, by
// its record (or, at Config.MaxTimeWait, closes it), and lets the socket
// drop its tcp.Conn unless unread text keeps it.
func (s *shard) enterTimeWaitLocked(c *TCPConn) {
	now := s.clk.Now()
	k := keyOf(c.conn.Local, c.conn.Remote)
	if s.conns[k] == c {
		delete(s.conns, k)
		s.nconns.Add(-1) // a record is no connection (limits.go)
	}
	s.timers.remove(c)
	e := &twEntry{rec: c.conn.ToTimeWait(), key: k, idx: -1, born: c.born}
	c.tw = e
	if !s.admitTimeWait() {
		// Linux's tcp_time_wait past tcp_max_tw_buckets: no TIME-WAIT.
		s.stats.TCPTimeWaitOverflow.Add(1)
		s.limits.hit(now, limitTimeWait, "TIME-WAIT records")
		local, remote := e.addrs()
		e.rec.End(local, remote, "time wait bucket table overflow")
	} else {
		s.tws[k] = e
		heap.Push(&s.twHeap, e)
		s.arm(e.rec.Deadline())
	}
	c.releaseLocked()
}

// removeTWLocked forgets a record that ended.
func (s *shard) removeTWLocked(e *twEntry) {
	if s.tws[e.key] == e {
		delete(s.tws, e.key)
		s.ntw.Add(-1)
	}
	if e.idx >= 0 {
		heap.Remove(&s.twHeap, int(e.idx))
	}
}

// timeWaitInput hands seg to the record e of its 4-tuple; l is the
// listener of the local port, if any.
func (s *shard) timeWaitInput(e *twEntry, l *TCPListener, now time.Time, local, remote netip.AddrPort, seg *tcp.Segment) {
	before := e.rec.Deadline()
	switch e.rec.HandleSegment(now, local, remote, seg, l != nil) {
	case tcp.TimeWaitClosed:
		s.removeTWLocked(e)
	case tcp.TimeWaitNewSYN:
		s.listenInput(l, now, local, remote, seg, e)
	default:
		if d := e.rec.Deadline(); !d.Equal(before) {
			heap.Fix(&s.twHeap, int(e.idx)) // a retransmitted FIN restarted 2*MSL
			s.arm(d)
		}
	}
}

// expireTimeWaitLocked ends the records whose deadline has passed.
func (s *shard) expireTimeWaitLocked(now time.Time) {
	for len(s.twHeap) > 0 {
		e := s.twHeap[0]
		local, remote := e.addrs()
		if !e.rec.Expire(now, local, remote) {
			return
		}
		s.removeTWLocked(e)
	}
}

// endTimeWaitLocked ends tw, a record whose 4-tuple a new incarnation
// takes over, and returns the new one's ISS (tcp.TimeWait.NextISS). A nil
// tw is nothing to end, and its ISS comes from the ISN generator (the
// caller's choice): endTimeWaitLocked returns 0 for it.
func (s *shard) endTimeWaitLocked(tw *twEntry) seqnum.Value {
	if tw == nil {
		return 0
	}
	iss := tw.rec.NextISS()
	local, remote := tw.addrs()
	tw.rec.End(local, remote, "new incarnation")
	s.removeTWLocked(tw)
	return iss
}

// admitTimeWait reports whether the stack may hold one more TIME-WAIT
// record, and if so counts it: the cap is the stack's, over every shard,
// taken by compare-and-swap so shards at it together cannot pass it.
func (s *Stack) admitTimeWait() bool {
	for {
		n := s.ntw.Load()
		if n >= int64(s.maxTW) {
			return false
		}
		if s.ntw.CompareAndSwap(n, n+1) {
			return true
		}
	}
}
