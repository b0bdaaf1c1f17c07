package bsd

import (
	"syscall"
	"time"

	"github.com/synack-net/synack/tcp"
)

// TCPInfo is the part of Linux's struct tcp_info that synack keeps, with
// its fields' names (Go-cased, as golang.org/x/sys/unix names them), in
// its order, and its units: times in microseconds (the Last_ ones in
// milliseconds, since the event), windows in bytes, the congestion window
// and the slow-start threshold in segments.
type TCPInfo struct {
	State          uint8 // TCP_ESTABLISHED (1) ... TCP_CLOSING (11), Linux's numbering
	Ca_state       uint8 // 0 open, 3 recovery, 4 loss
	Retransmits    uint8 // the retransmission timer's expirations since the last new ACK (icsk_retransmits)
	Probes         uint8 // zero-window or keepalive probes unanswered (icsk_probes_out)
	Backoff        uint8 // the RTO's doublings in force (icsk_backoff)
	Options        uint8 // TCPI_OPT_TIMESTAMPS 1, TCPI_OPT_SACK 2, TCPI_OPT_WSCALE 4
	Snd_wscale     uint8
	Rcv_wscale     uint8
	Rto            uint32
	Snd_mss        uint32
	Unacked        uint32 // segments in flight
	Sacked         uint32 // segments
	Lost           uint32 // segments
	Last_data_recv uint32 // ms since the last segment arrived: see below
	Last_ack_recv  uint32 // ms since the last segment arrived (rcv_tstamp)
	Rtt            uint32
	Rttvar         uint32
	Snd_ssthresh   uint32 // 0x7fffffff (TCP_INFINITE_SSTHRESH) until a loss or HyStart sets it
	Snd_cwnd       uint32
	Rcv_rtt        uint32
	Rcv_space      uint32
	Total_retrans  uint32
	Bytes_acked    uint64
	Bytes_received uint64
	Segs_out       uint32
	Segs_in        uint32
	Min_rtt        uint32
	Snd_wnd        uint32
	Rcv_wnd        uint32
	Reord_seen     uint32
}

// Last_data_recv is Linux's time since the last data arrived
// (icsk_ack.lrcvtime); synack keeps one time, of the last acceptable
// segment with or without data (tcp.Info.LastReceived), so it is
// Last_ack_recv's: the same on a connection that receives data, shorter on
// one that only sends. Both are 0 before any segment came.

// infiniteSsthresh is Linux's TCP_INFINITE_SSTHRESH, tcpi_snd_ssthresh
// before any loss.
const infiniteSsthresh = 0x7fffffff

// Linux's TCP state numbers (include/net/tcp_states.h).
var linuxState = [...]uint8{
	tcp.StateEstablished: 1, tcp.StateSynSent: 2, tcp.StateSynReceived: 3, tcp.StateFinWait1: 4,
	tcp.StateFinWait2: 5, tcp.StateTimeWait: 6, tcp.StateClosed: 7, tcp.StateCloseWait: 8,
	tcp.StateLastAck: 9, tcp.StateListen: 10, tcp.StateClosing: 11,
}

// GetsockoptTCPInfo reads TCP_INFO (level IPPROTO_TCP). A socket with no
// connection reports its state alone (CLOSE, or LISTEN). Errors: EBADF,
// ENOPROTOOPT (UDP, or another option or level).
func (h *Host) GetsockoptTCPInfo(fd, level, opt int) (*TCPInfo, error) {
	s, err := h.get(fd)
	if err != nil {
		return nil, err
	}
	if level != IPPROTO_TCP || opt != TCP_INFO || s.typ != SOCK_STREAM {
		return nil, syscall.ENOPROTOOPT
	}
	s.mu.Lock()
	c, ln := s.conn, s.ln
	s.mu.Unlock()
	switch {
	case ln != nil:
		return &TCPInfo{State: linuxState[tcp.StateListen]}, nil
	case c == nil:
		return &TCPInfo{State: linuxState[tcp.StateClosed]}, nil
	}
	si := c.Info()
	in := si.TCP
	us := func(d time.Duration) uint32 { return uint32(d / time.Microsecond) }
	mss := max(in.MSS, 1)
	ti := &TCPInfo{State: linuxState[si.State], Snd_wscale: in.SndShift, Rcv_wscale: in.RcvShift,
		Rto: us(in.RTO), Snd_mss: uint32(in.MSS), Unacked: uint32((in.InFlight + mss - 1) / mss),
		Sacked: uint32(in.Sacked / mss), Lost: uint32(in.Lost / mss), Rtt: us(in.SRTT), Rttvar: us(in.RTTVar),
		Snd_cwnd: uint32(in.CWND / mss), Rcv_rtt: us(in.RcvRTT), Rcv_space: uint32(in.RcvBuf),
		Total_retrans: uint32(in.Retransmits), Bytes_acked: in.BytesAcked, Bytes_received: in.BytesReceived,
		Segs_out: uint32(si.SegsOut), Segs_in: uint32(si.SegsIn), Min_rtt: us(in.MinRTT),
		Snd_wnd: uint32(in.SndWnd), Rcv_wnd: uint32(in.RcvWnd), Reord_seen: uint32(b2i(in.ReorderSeen))}
	ti.Retransmits, ti.Backoff, ti.Probes = sat8(in.Backoff), sat8(in.Backoff), sat8(in.Probes)
	ti.Snd_ssthresh = infiniteSsthresh
	if in.Ssthresh > 0 {
		ti.Snd_ssthresh = uint32(in.Ssthresh / mss)
	}
	if !in.LastReceived.IsZero() {
		ms := uint32(h.clk.Now().Sub(in.LastReceived) / time.Millisecond)
		ti.Last_data_recv, ti.Last_ack_recv = ms, ms
	}
	if in.Timestamps {
		ti.Options |= 1
	}
	if in.SACK {
		ti.Options |= 2
	}
	if in.WindowScaling {
		ti.Options |= 4
	}
	switch {
	case in.InLoss:
		ti.Ca_state = 4
	case in.InRecovery:
		ti.Ca_state = 3
	}
	return ti, nil
}

// sat8 is n as a struct tcp_info byte: 255 at most.
func sat8(n int) uint8 { return uint8(min(max(n, 0), 255)) }
