package web

import (
	"net/netip"
	"testing"
	"time"

	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/tcp"
)

// snapOf is a snapshot at t of connections from 10.0.0.2:80 to each of
// ports, each with cwnd.
func snapOf(t time.Time, cwnd int, ports ...uint16) *stack.Snapshot {
	s := &stack.Snapshot{Time: t}
	for _, p := range ports {
		s.Sockets = append(s.Sockets, stack.SocketInfo{Local: netip.MustParseAddrPort("10.0.0.2:80"),
			Remote: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), p), State: tcp.StateEstablished,
			TCP: tcp.Info{CWND: cwnd, InFlight: cwnd / 2, SRTT: time.Millisecond}})
	}
	return s
}

// TestHistoryBounded: a connection keeps its last size samples, oldest
// first; a connection beyond conns evicts the one sampled least recently;
// listeners and connections without a cwnd are not sampled.
func TestHistoryBounded(t *testing.T) {
	h := newHistory(3, 2, 0)
	t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	for i := range 5 {
		h.sample(snapOf(t0.Add(time.Duration(i)*time.Second), 1000*(i+1), 1001))
	}
	s, ok := h.get("10.0.0.2:80-10.0.0.1:1001")
	if !ok || len(s) != 3 || s[0].CWND != 3000 || s[2].CWND != 5000 || s[2].InFlight != 2500 || s[2].SRTT != 1000 {
		t.Fatalf("after 5 samples: %+v; want the last 3, oldest first", s)
	}
	h.sample(snapOf(t0.Add(5*time.Second), 1, 1002))
	h.sample(snapOf(t0.Add(6*time.Second), 1, 1003)) // evicts 1001, sampled least recently
	if _, ok := h.get("10.0.0.2:80-10.0.0.1:1001"); ok || len(h.m) != 2 {
		t.Errorf("a third connection: %d kept, 1001 still there %v; want 2, 1001 gone", len(h.m), ok)
	}
	listener := &stack.Snapshot{Sockets: []stack.SocketInfo{{Local: netip.MustParseAddrPort("0.0.0.0:80"), State: tcp.StateListen}}}
	h.sample(listener)
	h.sample(snapOf(t0, 0, 1004)) // no cwnd: a TIME-WAIT record, say
	if len(h.m) != 2 {
		t.Errorf("a listener or a socket without cwnd was sampled: %d connections", len(h.m))
	}
}

// TestHistoryGoesByTheStacksClock: the history samples on the stack's
// clock (the snapshots' time), not the wall's: tables of one instant,
// from several streams or a virtual clock standing still, are one sample,
// of the last table's values;
// each step of the clock of at least every is one more, however soon it
// comes in wall time; a step shorter than every is not.
func TestHistoryGoesByTheStacksClock(t *testing.T) {
	h := newHistory(10, 4, 500*time.Millisecond)
	t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	const id = "10.0.0.2:80-10.0.0.1:1001"
	for i := range 3 {
		h.sample(snapOf(t0, 500*(i+1), 1001))
	}
	if s, _ := h.get(id); len(s) != 1 || s[0].CWND != 1500 {
		t.Fatalf("three tables at one instant: %+v; want 1 sample, the last table's (cwnd 1500)", s)
	}
	for i := 1; i <= 3; i++ {
		h.sample(snapOf(t0.Add(time.Duration(i)*time.Second), 1000*(i+1), 1001))
	}
	h.sample(snapOf(t0.Add(3*time.Second+100*time.Millisecond), 9999, 1001)) // under every after the last
	s, _ := h.get(id)
	if len(s) != 4 {
		t.Fatalf("the clock stepped 1 s three times: %d samples (%+v); want 4", len(s), s)
	}
	for i, x := range s {
		if want, cwnd := t0.Add(time.Duration(i)*time.Second), []int{1500, 2000, 3000, 4000}[i]; !x.T.Equal(want) || x.CWND != cwnd {
			t.Errorf("sample %d: %v cwnd %d; want %v cwnd %d", i, x.T, x.CWND, want, cwnd)
		}
	}
}
