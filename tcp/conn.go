package tcp

import (
	"net/netip"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// Events says what changed for the application after a call into the
// engine. The stack reads them with [Conn.TakeEvents] and wakes whoever waits.
type Events uint8

// The events a connection raises.
const (
	// EventReadable: data, end of stream or an error is there to read.
	EventReadable Events = 1 << iota
	// EventWritable: the send buffer has room, or writing now fails.
	EventWritable
	// EventEstablished: the handshake completed (connect may return; a
	// passive connection is ready for accept).
	EventEstablished
	// EventClosed: the connection reached CLOSED; the stack forgets it.
	EventClosed
)

// Conn is one connection's transmission control block (RFC 9293 §3.3.1).
//
// Send sequence space:
//
//	     1         2          3          4
//	----------|----------|----------|----------
//	       SND.UNA    SND.NXT    SND.UNA
//	                            +SND.WND
//	1 - old sequence numbers that have been acknowledged
//	2 - sequence numbers of unacknowledged data
//	3 - sequence numbers allowed for new data transmission
//	4 - future sequence numbers that are not yet allowed
//
// Receive sequence space:
//
//	     1          2          3
//	----------|----------|----------
//	       RCV.NXT    RCV.NXT
//	                 +RCV.WND
//	1 - old sequence numbers that have been acknowledged
//	2 - sequence numbers allowed for new reception
//	3 - future sequence numbers that are not yet allowed
//
// A Conn is not safe for concurrent use: its owner serialises every call.
type Conn struct {
	env *Env // its Trace gets the connection's events
	cfg *Config

	// Local and Remote are the connection's two endpoints.
	Local, Remote netip.AddrPort

	state    State
	passive  bool // opened by a listener: SYN-RECEIVED falls back to LISTEN (i.e. is freed)
	events   Events
	softErr  uint8        // the last ICMP error's errno, 0 for none: the error of a timeout (icmp.go; here to fill padding)
	prevUna  seqnum.Value // SND.UNA before the ACK that last moved it: prev_highest_ack of RFC 6582 §4.1 (here to fill padding)
	listener *Listener    // while half-open or waiting in the accept queue
	err      error        // why the connection ended, if it failed

	// Send sequence variables (RFC 9293 §3.3.1).
	iss       seqnum.Value
	sndUna    seqnum.Value
	sndNxt    seqnum.Value
	sndMax    seqnum.Value // highest sequence number sent, snd.nxt before any go-back-N rewind
	sndWnd    seqnum.Size
	sndWl1    seqnum.Value
	sndWl2    seqnum.Value
	lowat     uint32      // TCP_NOTSENT_LOWAT: most bytes written and not yet sent a Write adds to, 0 for no bound (sockopt.go; here to fill padding)
	mss       int         // payload of a full segment: min(peer's MSS option, ours) less the options every segment carries
	maxSndWnd seqnum.Size // the largest window the peer has offered (sender SWS avoidance)

	// Receive sequence variables.
	irs    seqnum.Value
	rcvNxt seqnum.Value
	rcvAdv seqnum.Value // right edge of the window last advertised: RCV.NXT+RCV.WND as sent

	sndBuf sendQueue // bytes from snd.una (after SYN) on: unacknowledged, then unsent (sendqueue.go)
	rcvBuf recvQueue // received in order, not yet read
	ooo    *reasm    // text beyond RCV.NXT held for reassembly; nil when none

	// Retransmission (RFC 6298). Its flags hasRTT and rttTiming are at
	// the end, and the stream's finQueued, finRcvd and rdClosed with the
	// options' flags, where they fill what would be padding: tcp.Conn must
	// stay within 760 bytes, which with the allocation header of a large
	// object is the 768-byte size class (size_test.go). Times are monos
	// (mono.go), 8 bytes each, not 24-byte time.Time values.
	srtt, rttvar time.Duration
	rto          time.Duration
	rttStart     int64 // monoNanos when the timed segment was sent
	retries      int   // consecutive expirations of the retransmission timer
	rtoAt        mono
	persistAt    mono
	probes       int32         // zero-window probes sent in this stall: the persist timer's backoff (icsk_backoff)
	probesOut    int32         // zero-window probes since the peer's last acceptable ACK (Linux icsk_probes_out)
	userTimeout  time.Duration // TCP_USER_TIMEOUT (RFC 5482), 0 when off (reap.go)
	stallAt      int64         // monoNanos when the current run of unanswered retransmissions or probes began
	closeAt      time.Time     // TIME-WAIT or orphaned FIN-WAIT-2 end

	// Keepalive (keepalive.go).
	ka        KeepAlive
	kaAt      mono
	kaProbes  int
	lastRecv  mono // when the last acceptable segment arrived (peerAlive; Linux rcv_tstamp)
	lastProbe mono
	cc        CongestionControl // nil until first used (ccOf)

	// Fast retransmit and NewReno recovery (RFC 5681 §3.2, RFC 6582).
	// inRecovery and recover are with the flags at the end (padding).
	dupAcks int
	inflate int // cwnd inflation by duplicate ACKs during recovery
	// RACK-TLP, PRR and undo (rack.go): made with the first data sent,
	// dropped when nothing can be in flight again (TIME-WAIT, CLOSED).
	loss *lossState

	// Options negotiated on the SYNs (options.go): window scaling and
	// timestamps (RFC 7323), SACK (RFC 2018).
	wsOK, tsOK, sackOK bool
	sndShift, rcvShift uint8        // Snd.Wind.Shift, Rcv.Wind.Shift
	finQueued          bool         // user closed its sending side: a FIN follows the data
	finRcvd            bool         // the peer's FIN arrived: reads end with EOF after rcvBuf drains
	rdClosed           bool         // user closed fully: it will not read again
	tsOffset           uint32       // this connection's TSval offset (RFC 7323 §5.4)
	tsRecent           uint32       // TS.Recent
	tsRecentAt         int64        // monoNanos when TS.Recent was set, for the 24-day PAWS rule
	lastAckSent        seqnum.Value // Last.ACK.sent
	rttSeq             seqnum.Value // timing the segment that ends here (RFC 6298; here to fill padding)
	sack               scoreboard   // what the peer has SACKed (scoreboard.go)
	rcvSACK            sackBlocks   // blocks this side reports, most recent first
	dsack              sackRange    // a duplicate to report first (RFC 2883), if non-empty
	now                time.Time    // the time of the current call into the engine

	// Delayed ACKs (RFC 1122 §4.2.3.2) and Nagle (RFC 9293 §3.7.4).
	delackAt mono
	unacked  int // bytes received in order since the last ACK sent
	rcvMSS   int // the largest segment the peer has sent: a "full-sized" one

	// Receive buffer autotuning (autotune.go).
	rcvRTT     time.Duration // the receiver's RTT estimate
	rcvSpaceAt int64         // monoNanos at the start of the current measurement, 0 before the first
	rcvCopied  int           // bytes the application read since then
	rcvSpace   int           // the most read in one RTT so far
	// The receiver's RTT in finer steps than the timestamp clock's
	// milliseconds (autotune.go): the tick of the latest segment sent and
	// when (monoNanos) the first segment of that tick went out, and the
	// TSecr of the last sample, so each echoed tick gives one sample.
	tsSentTick uint32
	tsSampled  uint32
	tsSentAt   int64
	// rcvFullAt is when (monoNanos) the buffer last filled, 0 while it has
	// room for a full segment; rcvStalled says the buffer stayed full long
	// enough in the current measurement that it, not the path, held the
	// sender back.
	rcvFullAt int64
	// lastInvalidACK is when (monoNanos) the last ACK answering an
	// invalid segment went out, 0 for never (ratelimit.go).
	lastInvalidACK int64

	// The bytes of this connection's buffers counted in the stack's
	// Memory (memory.go): received (queued and held) and to send.
	rcvCharged, sndCharged int32

	segsIn, segsOut uint64 // segments received and sent, retransmissions included
	retrans         uint64 // segments sent again
	bytesRcvd       uint64 // data received in order
	bytesAcked      uint64 // data the peer acknowledged

	finSeq     seqnum.Value // the FIN's sequence number, once sent
	recover    seqnum.Value // SND.MAX when recovery began: "recover" of RFC 6582
	finSent    bool         // the FIN has been sent at least once
	inRecovery bool         // in fast recovery (RFC 6582, RFC 6675)
	ackNow     bool         // an ACK is owed before the current call returns (or the run ends: run.go)
	noDelay    bool         // Nagle off (TCP_NODELAY)
	rcvStalled bool         // see rcvFullAt
	hasRTT     bool         // an RTT sample was taken: SRTT and RTTVAR are measured (a sample may be 0)
	rttTiming  bool         // timing a segment for an RTT sample (rttSeq, rttStart)
	user       userFlags    // what the user's socket calls set (sockopt.go); the last byte of padding
}

// NewConn returns a connection in CLOSED between local and remote, living
// in env. env.Config must have its defaults applied.
func NewConn(env *Env, local, remote netip.AddrPort) *Conn {
	env.init()
	c := &Conn{env: env, cfg: &env.Config, Local: local, Remote: remote, rto: env.Config.InitialRTO}
	c.sndBuf.limit = env.Config.SendBufferSize
	c.rcvBuf.ring.limit = env.Config.ReceiveBufferSize
	c.mss = DefaultMSS
	c.noDelay = true // as Go's net package: TCP_NODELAY unless SetNoDelay(false)
	return c
}

// State is the connection's current state.
func (c *Conn) State() State { return c.state }

// Err is the error the connection ended with, or nil.
func (c *Conn) Err() error { return c.err }

// TakeEvents returns the events raised since the last call and clears them.
func (c *Conn) TakeEvents() Events {
	e := c.events
	c.events = 0
	return e
}

// Listener is the listener a passive connection came from, until accepted.
func (c *Conn) Listener() *Listener { return c.listener }

// ISS is the initial send sequence number.
func (c *Conn) ISS() seqnum.Value { return c.iss }

// IRS is the initial receive sequence number.
func (c *Conn) IRS() seqnum.Value { return c.irs }

// SndUna is SND.UNA, the oldest unacknowledged sequence number.
func (c *Conn) SndUna() seqnum.Value { return c.sndUna }

// SndNxt is SND.NXT, the next sequence number to send.
func (c *Conn) SndNxt() seqnum.Value { return c.sndNxt }

// SndWnd is SND.WND, the peer's window.
func (c *Conn) SndWnd() seqnum.Size { return c.sndWnd }

// RcvNxt is RCV.NXT, the next sequence number expected.
func (c *Conn) RcvNxt() seqnum.Value { return c.rcvNxt }

// RcvWnd is RCV.WND, the window this side offers now.
func (c *Conn) RcvWnd() seqnum.Size { return seqnum.Size(c.rcvBuf.Free()) }

// cwnd is the congestion window in force: the controller's, plus the
// inflation of fast recovery.
func (c *Conn) cwnd() int { return c.ccOf().CWND() + c.inflate }

// ccOf is the connection's congestion controller, made at first use: when
// the first data goes, with the MSS the handshake settled on. A connection
// that never sends data, such as one of the many idle ones a server holds,
// never pays for one.
func (c *Conn) ccOf() CongestionControl {
	if c.cc == nil {
		c.cc = c.cfg.NewCongestionControl(c.mss)
	}
	return c.cc
}

// MSS is the largest payload this side sends in one segment.
func (c *Conn) MSS() int { return c.mss }

// RTO is the current retransmission timeout.
func (c *Conn) RTO() time.Duration { return c.rto }

// SRTT is the smoothed round-trip time (0 before the first sample).
func (c *Conn) SRTT() time.Duration { return c.srtt }

// SendQueue is the number of bytes written but not yet acknowledged (netstat Send-Q).
func (c *Conn) SendQueue() int { return c.sndBuf.Len() }

// SegmentsIn is the number of segments this connection has received.
func (c *Conn) SegmentsIn() uint64 { return c.segsIn }

// SegmentsOut is the number of segments this connection has sent.
func (c *Conn) SegmentsOut() uint64 { return c.segsOut }

// RecvQueue is the number of bytes received but not yet read (netstat Recv-Q).
func (c *Conn) RecvQueue() int { return c.rcvBuf.Len() }

// setState is the one door for state changes (STYLE habit 4): it records the
// change and its cause in the trace and raises the events it implies.
func (c *Conn) setState(s State, cause string) {
	old := c.state
	if old == s {
		return
	}
	c.state = s
	st := c.env.Stats
	wasEstab := old == StateEstablished || old == StateCloseWait
	isEstab := s == StateEstablished || s == StateCloseWait
	if wasEstab != isEstab {
		if isEstab && c.ka.Enable {
			c.armKeepAlive()
		} else if !isEstab {
			c.kaAt = 0
		}
		if isEstab {
			st.CurrEstab.Add(1)
		} else {
			st.CurrEstab.Add(-1)
		}
	}
	// RFC 4022 counts direct transitions to CLOSED whatever their cause
	// (reset, abort, timeout, user close), as Linux's tcp_set_state does;
	// counting them here rather than at each cause misses none.
	if s == StateClosed {
		switch {
		case old == StateSynSent || old == StateSynReceived:
			st.AttemptFails.Add(1) // a passive SYN-RECEIVED -> CLOSED is its return to LISTEN
		case wasEstab:
			st.EstabResets.Add(1)
		}
	}
	if c.env.Trace != nil {
		e := trace.Event{Kind: trace.KindStateChange, Host: c.env.Host, Local: c.Local, Remote: c.Remote,
			State: s.String(), From: old.String(), Cause: cause}
		c.env.Trace.Event(&e)
	}
	switch s {
	case StateEstablished:
		c.events |= EventEstablished | EventWritable
	case StateClosed:
		c.release()
		if c.listener != nil {
			c.listener.forget(c)
		}
		c.events |= EventClosed | EventReadable | EventWritable | EventEstablished
	}
}

// release stops the connection's timers and lets go of what only a live
// connection needs: the loss-recovery records, the send buffer and the
// held out-of-order text (text received and not yet read stays, for the
// user's reads). It runs at CLOSED and when TIME-WAIT's record takes over.
func (c *Conn) release() {
	c.rtoAt, c.persistAt, c.kaAt, c.delackAt = 0, 0, 0, 0
	c.closeAt = time.Time{}
	c.loss = nil
	c.sndBuf.reset()
	c.dropHeld()
	c.charge()
}

// fail ends the connection with err: CLOSED, waking every waiter.
func (c *Conn) fail(err error, cause string) {
	if c.err == nil {
		c.err = err
	}
	c.setState(StateClosed, cause)
}

// traceSegment records a segment sent or received.
func (c *Conn) traceSegment(k trace.Kind, flags wire.TCPFlags, seq, ack seqnum.Value, wnd uint16, n int, opts *wire.TCPOptions) {
	e := trace.Event{Kind: k, Host: c.env.Host, Local: c.Local, Remote: c.Remote,
		Flags: flags, Seq: seq, Ack: ack, Window: wnd, Len: n, Options: *opts, State: c.state.String()}
	c.env.Trace.Event(&e)
}

// traceSent records a segment sent. A retransmission's Cause says why
// it was sent again: "retransmit timeout" after the retransmission timer
// fired (RFC 6298 §5.4; the SYN's too), "retransmit recovery" for the fast
// retransmit and what loss recovery resends (RFC 5681 §3.2, RFC 6675,
// RFC 8985), "retransmit probe" for a tail loss probe of data already
// sent (RFC 8985 §7.3), whose timer event precedes it.
func (c *Conn) traceSent(flags wire.TCPFlags, seq, ack seqnum.Value, wnd uint16, n int, opts *wire.TCPOptions, retransmit bool) {
	e := trace.Event{Kind: trace.KindSegmentSent, Host: c.env.Host, Local: c.Local, Remote: c.Remote,
		Flags: flags, Seq: seq, Ack: ack, Window: wnd, Len: n, Options: *opts, State: c.state.String()}
	if retransmit {
		switch {
		case c.inRecovery:
			e.Cause = "retransmit recovery"
		case c.retries > 0:
			e.Cause = "retransmit timeout"
		default:
			e.Cause = "retransmit probe"
		}
	}
	c.env.Trace.Event(&e)
}

// traceTimer records a timer that fired.
func (c *Conn) traceTimer(cause string) {
	if c.env.Trace != nil {
		e := trace.Event{Kind: trace.KindTimer, Host: c.env.Host, Local: c.Local, Remote: c.Remote,
			State: c.state.String(), Cause: cause}
		c.env.Trace.Event(&e)
	}
}

// Deadline is when the engine next needs HandleTimer; zero when never.
func (c *Conn) Deadline() time.Time {
	d := c.rtoAt
	for _, t := range [...]mono{c.persistAt, monoAt(c.closeAt), c.kaAt, c.delackAt} {
		if t != 0 && (d == 0 || t < d) {
			d = t
		}
	}
	return d.Time()
}
