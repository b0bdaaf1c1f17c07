package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/tcp"
)

const ssAbout = `ss prints the sockets of a running 'synack serve', read from its admin
endpoint (--admin), as 'ss -tanoei' prints the kernel's: a line per socket
(state, queues, addresses, the timers armed, and, which ss has not, the
socket's age: since its SYN was sent or received, or since Listen), then,
indented, the
connection's inner state: options, congestion control, window scales, RTO
and RTT/RTTVAR in milliseconds, MSS, cwnd and ssthresh in segments, bytes
and segments each way, retransmissions (now/total), windows, buffers, and
how losses were found and repaired. --state keeps the sockets in the
states named (ESTABLISHED, TIME-WAIT, ... as RFC 9293 spells them).`

// runSS is `synack ss`.
func runSS(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ss", ssAbout, stderr)
	admin := fs.String("admin", defaultAdmin, "address of serve's admin endpoint")
	state := fs.String("state", "", "keep only sockets in these states, comma-separated (ESTABLISHED,TIME-WAIT)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	keep, err := parseStates(*state)
	if err != nil {
		return fmt.Errorf("--state: %w", err)
	}
	snap, err := fetchSnapshot(*admin)
	if err != nil {
		return err
	}
	snap.Sockets = filterStates(snap.Sockets, keep)
	return writeSS(stdout, snap)
}

// ssStates are ss's short names of the states.
var ssStates = [...]string{
	tcp.StateClosed: "UNCONN", tcp.StateListen: "LISTEN", tcp.StateSynSent: "SYN-SENT",
	tcp.StateSynReceived: "SYN-RECV", tcp.StateEstablished: "ESTAB", tcp.StateFinWait1: "FIN-WAIT-1",
	tcp.StateFinWait2: "FIN-WAIT-2", tcp.StateCloseWait: "CLOSE-WAIT", tcp.StateClosing: "CLOSING",
	tcp.StateLastAck: "LAST-ACK", tcp.StateTimeWait: "TIME-WAIT",
}

// writeSS prints the sockets of snap as ss -tanoei does.
func writeSS(w io.Writer, snap stack.Snapshot) error {
	if _, err := fmt.Fprintf(w, "%-11s %-6s %-6s %-21s %s\n", "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"); err != nil {
		return err
	}
	for _, r := range snap.Sockets {
		peer := "*:*"
		if r.Remote.IsValid() {
			peer = r.Remote.String()
		}
		name := "UNKNOWN"
		if int(r.State) < len(ssStates) {
			name = ssStates[r.State]
		}
		line := fmt.Sprintf("%-11s %-6d %-6d %-21s %-21s", name, r.RecvQ, r.SendQ, r.Local, peer)
		if t := ssTimers(r.TCP, snap.Time); t != "" {
			line += " " + t
		}
		line += " age:" + ssAge(r.Age)
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " ")); err != nil {
			return err
		}
		if r.State != tcp.StateListen && r.State != tcp.StateTimeWait && r.TCP.MSS > 0 {
			fmt.Fprintf(w, "\t %s\n", ssInfo(r, snap.Time))
		}
	}
	return nil
}

// ssTimers prints the timers armed as ss -o does, "timer:(on,200ms,0)",
// each against now.
func ssTimers(in tcp.Info, now time.Time) string {
	var ts []string
	add := func(name string, at time.Time, n int) {
		if !at.IsZero() {
			ts = append(ts, fmt.Sprintf("timer:(%s,%s,%d)", name, ssDuration(at.Sub(now)), n))
		}
	}
	on := "on"
	switch in.RetransmitTimer {
	case "probe":
		on = "probe"
	case "reorder":
		on = "reorder"
	}
	add(on, in.RetransmitAt, in.Backoff)
	add("persist", in.PersistAt, in.Probes)
	add("keepalive", in.KeepaliveAt, in.Probes)
	add("delack", in.DelayedACKAt, 0)
	add("timewait", in.CloseAt, 0)
	return strings.Join(ts, " ")
}

// ssDuration prints d as ss does: "180ms", "14sec", "1min20sec".
func ssDuration(d time.Duration) string {
	switch d = max(d, 0); {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatInt(int64(d/time.Second), 10) + "sec"
	}
	return fmt.Sprintf("%dmin%dsec", int64(d/time.Minute), int64(d%time.Minute/time.Second))
}

// ssAge prints a socket's age as ssDuration does below an hour, then in
// hours and minutes, and in days and hours from a day on: "750ms",
// "1min20sec", "2h3min", "3d4h".
func ssAge(d time.Duration) string {
	switch d = max(d, 0); {
	case d < time.Hour:
		return ssDuration(d)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dmin", int64(d/time.Hour), int64(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int64(d/(24*time.Hour)), int64(d%(24*time.Hour)/time.Hour))
}

// ms prints d in milliseconds to the microsecond, as ss prints RTTs.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', -1, 64)
}

// ssInfo is the indented line of ss -i for one connection.
func ssInfo(r stack.SocketInfo, now time.Time) string {
	in := r.TCP
	var f []string
	add := func(format string, a ...any) { f = append(f, fmt.Sprintf(format, a...)) }
	if in.Timestamps {
		add("ts")
	}
	if in.SACK {
		add("sack")
	}
	if in.CongestionControl != "" {
		add("%s", in.CongestionControl)
	}
	if in.WindowScaling {
		add("wscale:%d,%d", in.SndShift, in.RcvShift)
	}
	add("rto:%s rtt:%s/%s mss:%d", ms(in.RTO), ms(in.SRTT), ms(in.RTTVar), in.MSS)
	add("cwnd:%d", in.CWND/in.MSS)
	if in.Ssthresh > 0 {
		add("ssthresh:%d", in.Ssthresh/in.MSS)
	}
	add("bytes_acked:%d bytes_received:%d segs_out:%d segs_in:%d", in.BytesAcked, in.BytesReceived, r.SegsOut, r.SegsIn)
	if in.Retransmits > 0 {
		add("retrans:%d/%d", in.Backoff, in.Retransmits)
	}
	if in.Lost > 0 {
		add("lost:%d", in.Lost)
	}
	if in.Sacked > 0 {
		add("sacked:%d", in.Sacked)
	}
	if in.ReorderSeen {
		add("reordering reo_wnd:%s", ms(in.ReorderWindow))
	}
	if in.RcvRTT > 0 {
		add("rcv_rtt:%s", ms(in.RcvRTT))
	}
	if in.MinRTT > 0 {
		add("minrtt:%s", ms(in.MinRTT))
	}
	if !in.LastReceived.IsZero() && !now.IsZero() {
		add("lastrcv:%d", now.Sub(in.LastReceived).Milliseconds())
	}
	add("snd_wnd:%d rcv_wnd:%d inflight:%d sndbuf:%d rcvbuf:%d", in.SndWnd, in.RcvWnd, in.InFlight, in.SndBuf, in.RcvBuf)
	if in.InRecovery {
		add("recovery")
	}
	if in.InLoss {
		add("loss")
	}
	for _, e := range [...]struct {
		name string
		n    uint32
	}{{"timeouts", in.Timeouts}, {"recoveries", in.Recoveries}, {"probes", in.LossProbes},
		{"lost_retrans", in.LostRetransmits}, {"spurious_rtos", in.SpuriousRTOs},
		{"dsack_undos", in.DSACKUndos}, {"ts_undos", in.TimestampUndos}} {
		if e.n > 0 {
			add("%s:%d", e.name, e.n)
		}
	}
	if !in.NoDelay {
		add("nagle")
	}
	if in.FinReceived {
		add("fin_received")
	}
	return strings.Join(f, " ")
}

// parseStates reads a comma-separated list of states as RFC 9293 spells
// them; "" keeps every state (nil).
func parseStates(list string) (map[tcp.State]bool, error) {
	if list == "" {
		return nil, nil
	}
	keep := map[tcp.State]bool{}
	for _, name := range strings.Split(list, ",") {
		st, ok := tcp.ParseState(strings.ToUpper(strings.TrimSpace(name)))
		if !ok {
			return nil, fmt.Errorf("unknown state %q: the states are %s", name, stateList())
		}
		keep[st] = true
	}
	return keep, nil
}

// stateList is every state's name, comma-separated.
func stateList() string {
	var names []string
	for st := tcp.StateClosed; st <= tcp.StateTimeWait; st++ {
		names = append(names, st.String())
	}
	return strings.Join(names, ", ")
}

// filterStates keeps the sockets of t in the states of keep (every one
// when keep is nil).
func filterStates(t []stack.SocketInfo, keep map[tcp.State]bool) []stack.SocketInfo {
	if keep == nil {
		return t
	}
	out := t[:0:0]
	for _, r := range t {
		if keep[r.State] {
			out = append(out, r)
		}
	}
	return out
}
