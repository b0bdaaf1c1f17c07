package main

import (
	"fmt"
	"io"

	"github.com/synack-net/synack/stack"
)

const netstatAbout = `netstat prints what a running 'synack serve' holds, read from its admin
endpoint (--admin): its sockets as 'netstat -tan' does, or with -s its
counters as 'netstat -s' does. The sections and names are Linux's
(/proc/net/snmp and /proc/net/netstat): Ip, Icmp, Tcp and Udp print every
counter, the Ext sections and the link's only those that are not zero, as
Linux's netstat does; a counter with no Linux phrase prints as "Name: N".
One Ip counter is synack's own, in no MIB: InNotIPv4, the packets dropped
for not being IPv4 (the kernel sends IPv6 on the TUN device).`

// runNetstat is `synack netstat [-s]`.
func runNetstat(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("netstat", netstatAbout, stderr)
	stats := fs.Bool("s", false, "print the counters, as netstat -s does")
	admin := fs.String("admin", defaultAdmin, "address of serve's admin endpoint")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	snap, err := fetchSnapshot(*admin)
	if err != nil {
		return err
	}
	if *stats {
		return writeNetstatS(stdout, snap)
	}
	return stack.WriteSockets(stdout, snap.Sockets)
}

// phrases are Linux netstat -s's sentences for the counters that have
// one, keyed by section and name; %d is the value.
var phrases = map[string]string{
	"Ip.InReceives":      "%d total packets received",
	"Ip.InHdrErrors":     "%d with invalid headers",
	"Ip.InAddrErrors":    "%d with invalid addresses",
	"Ip.InUnknownProtos": "%d with unknown protocol",
	"Ip.ReasmFails":      "%d packet reassemblies failed",
	"Ip.InDelivers":      "%d incoming packets delivered",
	"Ip.OutRequests":     "%d requests sent out",
	"Ip.OutDiscards":     "%d outgoing packets dropped",
	"Ip.InNotIPv4":       "%d packets not IPv4 (IPv6 and others), dropped",

	"Icmp.InMsgs":              "%d ICMP messages received",
	"Icmp.InErrors":            "%d input ICMP message failed",
	"Icmp.OutEchoReps":         "%d echo replies sent",
	"Icmp.OutDestUnreachs":     "%d destination unreachable messages sent",
	"Icmp.OutRateLimitGlobal":  "%d ICMP messages not sent for the global rate limit",
	"Icmp.OutEchos":            "%d echo requests sent",
	"Icmp.InEchoReps":          "%d echo replies received",
	"Tcp.ActiveOpens":          "%d active connection openings",
	"Tcp.PassiveOpens":         "%d passive connection openings",
	"Tcp.AttemptFails":         "%d failed connection attempts",
	"Tcp.EstabResets":          "%d connection resets received",
	"Tcp.CurrEstab":            "%d connections established",
	"Tcp.InSegs":               "%d segments received",
	"Tcp.OutSegs":              "%d segments sent out",
	"Tcp.RetransSegs":          "%d segments retransmitted",
	"Tcp.InErrs":               "%d bad segments received",
	"Tcp.OutRsts":              "%d resets sent",
	"Udp.InDatagrams":          "%d packets received",
	"Udp.NoPorts":              "%d packets to unknown port received",
	"Udp.InErrors":             "%d packet receive errors",
	"Udp.OutDatagrams":         "%d packets sent",
	"Udp.RcvbufErrors":         "%d receive buffer errors",
	"Udp.SndbufErrors":         "%d send buffer errors",
	"TcpExt.SyncookiesSent":    "%d SYN cookies sent",
	"TcpExt.SyncookiesRecv":    "%d SYN cookies received",
	"TcpExt.SyncookiesFailed":  "%d invalid SYN cookies received",
	"TcpExt.ListenOverflows":   "%d times the listen queue of a socket overflowed",
	"TcpExt.ListenDrops":       "%d SYNs to LISTEN sockets dropped",
	"TcpExt.TCPTimeouts":       "%d other TCP timeouts",
	"TcpExt.TCPFastRetrans":    "%d fast retransmits",
	"TcpExt.TCPOFOQueue":       "%d packets queued for out-of-order reassembly",
	"TcpExt.TCPLossProbes":     "%d TCP loss probes sent",
	"TcpExt.TCPLostRetransmit": "%d retransmits lost",
	"TcpExt.TCPSackRecovery":   "%d times recovered from packet loss by selective acknowledgements",
	"TcpExt.TCPRenoRecovery":   "%d times recovered from packet loss due to fast retransmit",
	"TcpExt.TCPDSACKRecv":      "%d DSACKs received",
	"TcpExt.TCPDSACKOldSent":   "%d DSACKs sent for old packets",
	"TcpExt.TCPAbortOnData":    "%d connections reset due to unexpected data",
	"TcpExt.TCPAbortOnClose":   "%d connections reset due to early user close",
	"TcpExt.TCPAbortOnTimeout": "%d connections aborted due to timeout",
	"TcpExt.PAWSEstab":         "%d packets rejected in established connections because of timestamp",
	"TcpExt.TCPChallengeACK":   "%d challenge ACKs sent",
	"TcpExt.TCPSpuriousRTOs":   "%d spurious RTOs detected by F-RTO",
	"TcpExt.TCPWinProbe":       "%d zero window probes sent",
}

// sparse are the sections netstat -s prints only the non-zero counters of.
func sparse(section string) bool {
	switch section {
	case "Ip", "Icmp", "Tcp", "Udp":
		return false
	}
	return true
}

// writeNetstatS prints the counters of snap as netstat -s does: a line
// per section ("Tcp:"), then a line per counter, indented four spaces.
func writeNetstatS(w io.Writer, snap stack.Snapshot) error {
	for _, s := range snap.Counters {
		if _, err := fmt.Fprintf(w, "%s:\n", s.Name); err != nil {
			return err
		}
		for _, c := range s.Counters {
			if c.Value == 0 && sparse(s.Name) {
				continue
			}
			if p, ok := phrases[s.Name+"."+c.Name]; ok {
				fmt.Fprintf(w, "    "+p+"\n", c.Value)
			} else {
				fmt.Fprintf(w, "    %s: %d\n", c.Name, c.Value)
			}
		}
	}
	return nil
}
