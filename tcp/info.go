package tcp

import (
	"fmt"
	"strings"
	"time"
)

// Info is a connection's inner state for a user to see, as Linux's
// struct tcp_info is for `ss -ti`.
type Info struct {
	// SACK, Timestamps and WindowScaling say which options both sides agreed to.
	SACK, Timestamps, WindowScaling bool
	// SndShift and RcvShift are the window scale shifts: the peer's, ours.
	SndShift, RcvShift uint8
	// MSS is the payload of a full segment sent.
	MSS int
	// SRTT, RTTVar and RTO are the RFC 6298 estimates.
	SRTT, RTTVar, RTO time.Duration
	// RcvRTT is the receiver's RTT estimate, which sizes the receive
	// buffer (Linux tcpi_rcv_rtt); 0 before the first sample.
	RcvRTT time.Duration
	// CWND is the congestion window in bytes.
	CWND int
	// InFlight is the bytes sent and not yet acknowledged (SND.MAX - SND.UNA).
	InFlight int
	// NotSent is the bytes written and not yet sent (tcpi_notsent_bytes),
	// and NotSentLowat the bound TCP_NOTSENT_LOWAT sets on them, 0 for none.
	NotSent, NotSentLowat int
	// SndWnd is the peer's window; RcvWnd the window last advertised.
	SndWnd, RcvWnd int
	// SndBuf and RcvBuf are the buffer limits in force (autotuned).
	SndBuf, RcvBuf int
	// InRecovery says fast recovery is under way; Sacked is the bytes the
	// peer has SACKed above SND.UNA.
	InRecovery bool
	Sacked     int
	// Retransmits is the segments this connection has sent again.
	Retransmits uint64
	// NoDelay says Nagle's algorithm is off.
	NoDelay bool
	// BytesReceived is the data received in order so far (Linux
	// tcpi_bytes_received); FinReceived says the peer's FIN came after it.
	BytesReceived uint64
	FinReceived   bool
	// BytesAcked is the data the peer has acknowledged (tcpi_bytes_acked).
	BytesAcked uint64

	// How each loss was found and repaired (rack.go, tlp.go, undo.go),
	// per connection as the stack's Stats count them for all:
	//   - Timeouts: retransmission timeouts (Linux TCPTimeouts).
	//   - Recoveries: fast recoveries begun (TCPSackRecovery, or
	//     TCPRenoRecovery without SACK).
	//   - LossProbes: tail loss probes sent (TCPLossProbes).
	//   - LostRetransmits: retransmissions RACK found lost (TCPLostRetransmit).
	//   - SpuriousRTOs: timeouts F-RTO found spurious (TCPSpuriousRTOs).
	//   - DSACKUndos and TimestampUndos: reductions undone because D-SACKs
	//     reported every retransmission as a duplicate (TCPDSACKUndo), or
	//     because an echoed timestamp showed the original arrived
	//     (TCPFullUndo, TCPLossUndo).
	Timeouts, Recoveries, LossProbes, LostRetransmits uint32
	SpuriousRTOs, DSACKUndos, TimestampUndos          uint32
	// InLoss says a recovery after a timeout is under way (RFC 8985 §6.3;
	// Linux's Loss state); Lost is the bytes RACK has marked lost and not
	// yet resent or SACKed.
	InLoss bool
	Lost   int
	// MinRTT is RACK's minimum RTT over five minutes (tcpi_min_rtt);
	// ReorderSeen says the path was seen to reorder (tcpi_reord_seen), and
	// ReorderWindow is RACK's reordering window now.
	MinRTT        time.Duration
	ReorderSeen   bool
	ReorderWindow time.Duration

	// Ssthresh is the slow-start threshold in bytes (tcpi_snd_ssthresh);
	// 0 while it is still "arbitrarily high" (RFC 5681 §3.1), when ss
	// prints none, or when the congestion control does not say.
	Ssthresh int
	// CongestionControl names the algorithm: "cubic", "reno", or "" for
	// one of the user's own (Config.NewCongestionControl) that has no
	// Name method.
	CongestionControl string
	// The timers armed, each as its deadline (the zero time when not
	// armed), as `ss -o` shows them:
	//   - RetransmitAt is the retransmission timer slot, and
	//     RetransmitTimer what it is armed for: "retransmit" (RFC 6298),
	//     "reorder" (RACK, RFC 8985 §6.2) or "probe" (TLP, RFC 8985 §7);
	//     Backoff is its consecutive expirations so far.
	//   - PersistAt the zero-window probe (RFC 9293 §3.8.6.1), KeepaliveAt
	//     the next keepalive probe, DelayedACKAt the delayed ACK
	//     (RFC 1122 §4.2.3.2), CloseAt the end of TIME-WAIT or of an
	//     orphaned FIN-WAIT-2.
	RetransmitAt    time.Time `json:",omitzero"`
	RetransmitTimer string    `json:",omitempty"`
	Backoff         int
	PersistAt       time.Time `json:",omitzero"`
	KeepaliveAt     time.Time `json:",omitzero"`
	DelayedACKAt    time.Time `json:",omitzero"`
	CloseAt         time.Time `json:",omitzero"`
	// Probes is the zero-window or keepalive probes sent since the peer
	// last answered (Linux icsk_probes_out, the count ss prints in the
	// persist and keepalive timers).
	Probes int
	// LastReceived is when the last acceptable segment arrived (Linux
	// rcv_tstamp; ss's lastrcv), the zero time before any did.
	LastReceived time.Time `json:",omitzero"`
}

// Info returns the connection's inner state.
func (c *Conn) Info() Info {
	in := Info{SACK: c.sackOK, Timestamps: c.tsOK, WindowScaling: c.wsOK, SndShift: c.sndShift, RcvShift: c.rcvShift,
		MSS: c.mss, SRTT: c.srtt, RcvRTT: c.rcvRTT, RTTVar: c.rttvar, RTO: c.rto, SndWnd: int(c.sndWnd), RcvWnd: int(c.rcvWnd()),
		SndBuf: c.sndBuf.limit, RcvBuf: c.rcvBuf.ring.limit, InRecovery: c.inRecovery, Sacked: int(c.sack.sacked),
		Retransmits: c.retrans, NoDelay: c.noDelay, InFlight: int(c.sndUna.Size(c.sndMax)),
		BytesReceived: c.bytesRcvd, FinReceived: c.finRcvd, BytesAcked: c.bytesAcked,
		NotSent: c.NotSent(), NotSentLowat: int(c.lowat)}
	if c.cc != nil || c.state.sending() {
		in.CWND = c.cwnd() // the initial window, if nothing was sent yet
	}
	c.infoTimers(&in)
	if l := c.loss; l != nil {
		n := &l.count
		in.Timeouts, in.Recoveries, in.LossProbes, in.LostRetransmits = n.timeouts, n.recoveries, n.probes, n.lostRetrans
		in.SpuriousRTOs, in.DSACKUndos, in.TimestampUndos = n.spuriousRTOs, n.dsackUndos, n.tsUndos
		in.InLoss, in.MinRTT, in.ReorderSeen = c.inLoss(), l.minRTT.get(), l.reordSeen
		if c.lossOn() {
			in.Lost = int(l.lostOut)
			in.ReorderWindow = c.reoWnd()
		}
	}
	return in
}

// infoTimers fills in's congestion control and timers.
func (c *Conn) infoTimers(in *Info) {
	switch cc := c.cc.(type) {
	case *cubic:
		in.CongestionControl = "cubic"
		if cc.ssthresh < cubicMaxW {
			in.Ssthresh = cc.ssthresh
		}
	case *reno:
		in.CongestionControl = "reno"
		if cc.ssthresh < 1<<30 {
			in.Ssthresh = cc.ssthresh
		}
	case interface{ Name() string }:
		in.CongestionControl = cc.Name()
	}
	if c.rtoAt != 0 {
		in.RetransmitAt, in.RetransmitTimer, in.Backoff = c.rtoAt.Time(), "retransmit", c.retries
		if c.loss != nil {
			switch c.loss.timer {
			case timerReorder:
				in.RetransmitTimer = "reorder"
			case timerProbe:
				in.RetransmitTimer = "probe"
			}
		}
	}
	in.PersistAt, in.KeepaliveAt, in.DelayedACKAt, in.CloseAt = c.persistAt.Time(), c.kaAt.Time(), c.delackAt.Time(), c.closeAt
	in.Probes, in.LastReceived = int(c.probesOut)+c.kaProbes, c.lastRecv.Time()
}

// String prints the state as `ss -ti` does, e.g.
// "sack ts wscale:7,7 rto:204ms rtt:1.5ms/0.75ms mss:1448 cwnd:14480 retrans:0".
func (in Info) String() string {
	var b strings.Builder
	if in.SACK {
		b.WriteString("sack ")
	}
	if in.Timestamps {
		b.WriteString("ts ")
	}
	if in.WindowScaling {
		fmt.Fprintf(&b, "wscale:%d,%d ", in.SndShift, in.RcvShift)
	}
	fmt.Fprintf(&b, "rto:%v rtt:%v/%v mss:%d cwnd:%d inflight:%d snd_wnd:%d rcv_wnd:%d sndbuf:%d rcvbuf:%d retrans:%d",
		in.RTO, in.SRTT, in.RTTVar, in.MSS, in.CWND, in.InFlight, in.SndWnd, in.RcvWnd, in.SndBuf, in.RcvBuf, in.Retransmits)
	if in.RcvRTT > 0 {
		fmt.Fprintf(&b, " rcv_rtt:%v", in.RcvRTT)
	}
	if in.InRecovery {
		fmt.Fprintf(&b, " recovery sacked:%d", in.Sacked)
	}
	if in.InLoss {
		b.WriteString(" loss")
	}
	if in.Lost > 0 {
		fmt.Fprintf(&b, " lost:%d", in.Lost)
	}
	if in.MinRTT > 0 {
		fmt.Fprintf(&b, " minrtt:%v", in.MinRTT)
	}
	if in.ReorderSeen {
		fmt.Fprintf(&b, " reordering reo_wnd:%v", in.ReorderWindow)
	}
	// The recovery events, as ss -ti shows retrans and Linux's MIB the rest.
	for _, e := range [...]struct {
		name string
		n    uint32
	}{{"timeouts", in.Timeouts}, {"recoveries", in.Recoveries}, {"probes", in.LossProbes},
		{"lost_retrans", in.LostRetransmits}, {"spurious_rtos", in.SpuriousRTOs},
		{"dsack_undos", in.DSACKUndos}, {"ts_undos", in.TimestampUndos}} {
		if e.n > 0 {
			fmt.Fprintf(&b, " %s:%d", e.name, e.n)
		}
	}
	if !in.NoDelay {
		b.WriteString(" nagle")
	}
	return b.String()
}
