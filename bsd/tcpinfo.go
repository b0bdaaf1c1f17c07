package bsd

import (
	"syscall"
	"time"

	"github.com/synack-net/synack/tcp"
)

// TCPInfo is the part of Linux's struct tcp_info that synack keeps, with
// its fields' names (Go-cased, as golang.org/x/sys/unix names them) and
// units: times in microseconds, windows in bytes, the congestion window
// in segments.
type TCPInfo struct {
	State          uint8 // TCP_ESTABLISHED (1) ... TCP_CLOSING (11), Linux's numbering
	Ca_state       uint8 // 0 open, 3 recovery, 4 loss
	Retransmits    uint8
	Options        uint8 // TCPI_OPT_TIMESTAMPS 1, TCPI_OPT_SACK 2, TCPI_OPT_WSCALE 4
	Snd_wscale     uint8
	Rcv_wscale     uint8
	Rto            uint32
	Snd_mss        uint32
	Unacked        uint32 // segments in flight
	Sacked         uint32 // segments
	Lost           uint32 // segments
	Rtt            uint32
	Rttvar         uint32
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
