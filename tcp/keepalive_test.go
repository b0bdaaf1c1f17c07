package tcp

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// TestEstablishedKeepAliveUnansweredTimesOut: with Linux's defaults, the
// first probe goes after 2 h idle, then every 75 s; after 9 unanswered
// probes the connection ends with ETIMEDOUT (and a RST, as Linux).
func TestEstablishedKeepAliveUnansweredTimesOut(t *testing.T) {
	e := established(t)
	e.c.SetKeepAlive(e.now, KeepAlive{Enable: true})
	start := e.now
	e.deadline(start.Add(2 * time.Hour))
	for i := range DefaultKeepAliveCount {
		at := e.fire()
		if want := start.Add(2*time.Hour + time.Duration(i)*75*time.Second); !at.Equal(want) {
			t.Fatalf("probe %d at %v, want %v", i+1, at.Sub(start), want.Sub(start))
		}
		e.expect(is(ack, x, y+1)) // one below SND.UNA = x+1
		e.state(StateEstablished)
	}
	end := e.fire()
	if want := start.Add(2*time.Hour + 9*75*time.Second); !end.Equal(want) {
		t.Fatalf("gave up at %v, want %v", end.Sub(start), want.Sub(start))
	}
	e.expect(is(rst, x+1, 0))
	e.state(StateClosed)
	if !errors.Is(e.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("Err = %v, want ETIMEDOUT", e.c.Err())
	}
}

// TestEstablishedKeepAliveAnsweredStaysUp: a peer that answers each probe
// keeps the connection up for 10 virtual hours, probed once per idle period.
func TestEstablishedKeepAliveAnsweredStaysUp(t *testing.T) {
	e := established(t)
	e.c.SetKeepAlive(e.now, KeepAlive{Enable: true})
	start := e.now
	probes := 0
	for {
		at := e.fire() // a probe, or the lazy re-check after an answered one
		if at.Sub(start) > 10*time.Hour+time.Minute {
			break
		}
		sent := e.take()
		if len(sent) == 0 {
			continue
		}
		if len(sent) != 1 || sent[0].Seq != x || sent[0].Ack != y+1 {
			t.Fatalf("probe %d: %v", probes+1, sent)
		}
		probes++
		e.c.HandleSegment(at.Add(rtt), in(ack, y+1, x+1)) // the peer's answer
		e.expectNone()
		e.state(StateEstablished)
	}
	if probes != 5 { // at 2 h, 4 h, 6 h, 8 h and 10 h (plus an RTT each)
		t.Fatalf("%d probes in 10 h, want 5", probes)
	}
}

// TestEstablishedKeepAliveSettable: idle, interval and count are per
// connection.
func TestEstablishedKeepAliveSettable(t *testing.T) {
	e := established(t)
	e.c.SetKeepAlive(e.now, KeepAlive{Enable: true, Idle: 10 * time.Second, Interval: time.Second, Count: 3})
	start := e.now
	for range 3 {
		e.fire()
		e.expect(is(ack, x, y+1))
	}
	if end := e.fire(); end.Sub(start) != 13*time.Second {
		t.Fatalf("gave up after %v, want 13s", end.Sub(start))
	}
	e.state(StateClosed)
}

// TestEstablishedKeepAliveTrafficPostpones: a segment from the peer restarts
// the idle time.
func TestEstablishedKeepAliveTrafficPostpones(t *testing.T) {
	e := established(t)
	e.c.SetKeepAlive(e.now, KeepAlive{Enable: true, Idle: time.Minute})
	later := e.now.Add(50 * time.Second)
	e.c.HandleSegment(later, in(ack, y+1, x+1))
	e.c.HandleTimer(e.now.Add(time.Minute)) // the old deadline: nothing to do yet
	e.expectNone()
	e.deadline(later.Add(time.Minute))
}

// TestEstablishedKeepAliveOffByDefault: no probe without SetKeepAlive, as
// SO_KEEPALIVE is off by default.
func TestEstablishedKeepAliveOffByDefault(t *testing.T) {
	e := established(t)
	e.deadline(time.Time{})
	e.c.SetKeepAlive(e.now, KeepAlive{Enable: true})
	e.c.SetKeepAlive(e.now, KeepAlive{Enable: false})
	e.deadline(time.Time{})
}

// TestEstablishedKeepAliveGarbageTimesOut: segments that fail the checks of
// RFC 9293 §3.10.7.4 (out of window, PAWS-rejected, an in-window RST not at
// RCV.NXT, a SYN, an ACK of data never sent) are no sign of the peer:
// anyone can send them. Sent once per interval by an attacker while the
// peer is silent, they do not keep the connection: it still ends with
// ETIMEDOUT after the probes, at the same time as with no garbage at all
// (Linux times keepalive from rcv_tstamp, set only by a validated ACK).
func TestEstablishedKeepAliveGarbageTimesOut(t *testing.T) {
	garbage := func(o ...func(*Segment)) []*Segment {
		return []*Segment{
			in(ack, y+1+1<<20, x+1, o...),                               // out of window
			in(rst, y+2, 0, o...),                                       // in window, not RCV.NXT: a challenge ACK
			in(syn, y+1, 0, o...),                                       // a challenge ACK
			in(ack, y+1, x+100, o...),                                   // acknowledges data never sent
			in(pshack, y+1+1<<20, x+1, append(o, data([]byte("x")))...), // text out of window
		}
	}
	for _, tc := range []struct {
		name        string
		fixture     func(*testing.T, ...cfgOpt) *end
		garbage     []*Segment
		userTimeout time.Duration
		end         time.Duration
	}{
		{"count", established, garbage(), 0, 13 * time.Second},                      // the third probe unanswered at 13 s
		{"user timeout", established, garbage(), 3 * time.Second, 11 * time.Second}, // a probe out, 11 s silent
		{"timestamps", establishedFull, append(garbage(ts(peerTS+1, 0)),
			in(ack, y+1, x+1, ts(peerTS-1, 0))), // in window, acceptable ACK, but an old TSval: PAWS
			0, 13 * time.Second},
	} {
		e := tc.fixture(t)
		e.c.SetKeepAlive(e.now, KeepAlive{Enable: true, Idle: 10 * time.Second, Interval: time.Second, Count: 3})
		e.c.SetUserTimeout(e.now, tc.userTimeout)
		start := e.now
		spoof := func(now time.Time) {
			for _, g := range tc.garbage {
				e.c.HandleSegment(now, g)
			}
			e.take() // the answers, rate limited
			e.state(StateEstablished)
		}
		spoof(start.Add(5 * time.Second)) // during the idle time
		var now time.Time
		for e.c.State() == StateEstablished {
			now = e.fire()
			if now.Sub(start) > time.Minute {
				t.Fatalf("%s: still up after %v", tc.name, now.Sub(start))
			}
			if e.c.State() == StateEstablished {
				spoof(now.Add(time.Millisecond))
			}
		}
		if now.Sub(start) != tc.end {
			t.Fatalf("%s: gave up after %v, want %v", tc.name, now.Sub(start), tc.end)
		}
		if !errors.Is(e.c.Err(), syscall.ETIMEDOUT) {
			t.Fatalf("%s: Err = %v, want ETIMEDOUT", tc.name, e.c.Err())
		}
	}
}
