package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/tcp"
)

// update rewrites the golden files instead of comparing with them:
//
//	go test ./cmd/synack -run Golden -update
//
// then read the diff (git diff cmd/synack/testdata) before committing it.
var update = flag.Bool("update", false, "rewrite the golden files in testdata instead of comparing")

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to make it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update if the change is meant):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// goldenSnapshot is a snapshot with a socket in each kind of row: a
// listener, a connection with every field of the -i line and timers, one
// in TIME-WAIT; and counters in each kind of section, a link's kept per
// queue among them.
func goldenSnapshot() stack.Snapshot {
	now := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	ap := netip.MustParseAddrPort
	est := tcp.Info{SACK: true, Timestamps: true, WindowScaling: true, SndShift: 7, RcvShift: 9, MSS: 1448,
		SRTT: 1500 * time.Microsecond, RTTVar: 750 * time.Microsecond, RTO: 204 * time.Millisecond, RcvRTT: 2 * time.Millisecond,
		CWND: 20 * 1448, Ssthresh: 14 * 1448, InFlight: 2896, SndWnd: 64128, RcvWnd: 65536, SndBuf: 87040, RcvBuf: 131072,
		Retransmits: 3, Backoff: 1, BytesAcked: 12000, BytesReceived: 345, Timeouts: 1, Recoveries: 2,
		Lost: 1448, Sacked: 2896, MinRTT: 1200 * time.Microsecond, CongestionControl: "cubic", NoDelay: true,
		RetransmitAt: now.Add(180 * time.Millisecond), RetransmitTimer: "retransmit",
		KeepaliveAt: now.Add(14*time.Second + 500*time.Millisecond), LastReceived: now.Add(-120 * time.Millisecond)}
	closing := tcp.Info{MSS: 536, SRTT: 40 * time.Millisecond, RTTVar: 20 * time.Millisecond, RTO: 240 * time.Millisecond,
		CWND: 10 * 536, SndWnd: 65535, RcvWnd: 65535, SndBuf: 16384, RcvBuf: 16384, CongestionControl: "reno",
		FinReceived: true, DelayedACKAt: now.Add(40 * time.Millisecond), PersistAt: now.Add(90 * time.Second), Probes: 2}
	return stack.Snapshot{
		Time: now,
		Sockets: []stack.SocketInfo{
			{Local: ap("0.0.0.0:80"), State: tcp.StateListen, SendQ: 128, RecvQ: 1, Age: 2*time.Hour + 3*time.Minute + 4*time.Second},
			{Local: ap("10.7.0.2:80"), Remote: ap("10.7.0.1:41000"), State: tcp.StateEstablished, SendQ: 2896, RecvQ: 10,
				SegsIn: 12, SegsOut: 15, Age: 80*time.Second + 300*time.Millisecond, TCP: est},
			{Local: ap("10.7.0.2:7"), Remote: ap("10.7.0.1:41002"), State: tcp.StateCloseWait, SegsIn: 4, SegsOut: 3,
				Age: 750 * time.Millisecond, TCP: closing},
			{Local: ap("10.7.0.2:80"), Remote: ap("10.7.0.1:40998"), State: tcp.StateTimeWait, Age: 3*24*time.Hour + 4*time.Hour + 5*time.Minute,
				TCP: tcp.Info{CloseAt: now.Add(59*time.Second + 900*time.Millisecond)}},
		},
		Counters: stack.Counters{
			{Name: "Ip", Counters: []stack.Counter{{Name: "InReceives", Value: 120}, {Name: "InHdrErrors", Value: 1},
				{Name: "InDelivers", Value: 119}, {Name: "OutRequests", Value: 110}, {Name: "InNotIPv4", Value: 2}}},
			{Name: "Icmp", Counters: []stack.Counter{{Name: "InMsgs", Value: 2}, {Name: "OutEchoReps", Value: 2}}},
			{Name: "Tcp", Counters: []stack.Counter{{Name: "ActiveOpens", Value: 0}, {Name: "PassiveOpens", Value: 3},
				{Name: "CurrEstab", Value: 2, Gauge: true}, {Name: "InErrs", Value: 0}, {Name: "OutRsts", Value: 1}}},
			{Name: "Udp", Counters: []stack.Counter{{Name: "InDatagrams", Value: 4}, {Name: "NoPorts", Value: 1}, {Name: "InCsumErrors", Value: 0}}},
			{Name: "TcpExt", Counters: []stack.Counter{{Name: "ListenOverflows", Value: 0}, {Name: "TCPTimeouts", Value: 1},
				{Name: "DropOutOfWindow", Value: 5}}},
			{Name: "LinkTun", Counters: []stack.Counter{{Name: "InPackets", Value: 120}, {Name: "InErrors", Value: 0},
				{Name: "QueueDelivered[0]", Value: 70, Label: "queue"}, {Name: "QueueDelivered[1]", Value: 50, Label: "queue", Index: 1}}},
		},
	}
}

// TestSSGolden: ss prints each kind of socket as ss -tanoei does; see
// testdata/ss.golden.
func TestSSGolden(t *testing.T) {
	var b bytes.Buffer
	if err := writeSS(&b, goldenSnapshot()); err != nil {
		t.Fatal(err)
	}
	golden(t, "ss.golden", b.Bytes())
}

// TestNetstatSGolden: netstat -s prints each section with Linux's phrases,
// every counter of the MIB sections and the non-zero ones of the others;
// see testdata/netstat-s.golden.
func TestNetstatSGolden(t *testing.T) {
	var b bytes.Buffer
	if err := writeNetstatS(&b, goldenSnapshot()); err != nil {
		t.Fatal(err)
	}
	golden(t, "netstat-s.golden", b.Bytes())
}

// TestSnapshotJSONRoundTrip: what ss and netstat -s print from a snapshot
// fetched as JSON is what they print from the snapshot itself: the JSON
// loses nothing they show.
func TestSnapshotJSONRoundTrip(t *testing.T) {
	snap := goldenSnapshot()
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back stack.Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	for _, w := range []func(io.Writer, stack.Snapshot) error{writeSS, writeNetstatS} {
		var want, got bytes.Buffer
		w(&want, snap)
		w(&got, back)
		if got.String() != want.String() {
			t.Errorf("after JSON:\n%s\nbefore:\n%s", got.String(), want.String())
		}
	}
}
