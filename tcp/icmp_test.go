package tcp

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/synack-net/synack/seqnum"
)

// ICMP errors (icmp.go): RFC 1122 §4.2.3.9's hard and soft errors, RFC
// 5927 §4.1's sequence check, and RFC 1191's path MTU.

// TestSynSentICMPUnreachableFails: an ICMP destination unreachable quoting
// the SYN (SEQ=ISS) ends the connect with its error, as Linux does.
func TestSynSentICMPUnreachableFails(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ECONNREFUSED} {
		e := synSent(t)
		if v := e.c.ICMPError(at(rtt/2), x, errno, true); v != ICMPHard {
			t.Fatalf("%v: verdict %d, want ICMPHard", errno, v)
		}
		e.state(StateClosed)
		if !errors.Is(e.c.Err(), errno) {
			t.Fatalf("Err = %v, want %v", e.c.Err(), errno)
		}
	}
}

// TestSynSentICMPOutOfWindowIgnored: in SYN-SENT only the ISS is
// outstanding; an error quoting anything else (the next number, or one
// 2^31 away) is dropped and the connect goes on, its SYN retransmitted.
func TestSynSentICMPOutOfWindowIgnored(t *testing.T) {
	e := synSent(t)
	for _, seq := range []seqnum.Value{x + 1, x - 1, x.Add(1 << 31)} {
		if v := e.c.ICMPError(at(rtt/2), seq, syscall.EHOSTUNREACH, true); v != ICMPOutOfWindow {
			t.Fatalf("quote %d: verdict %d, want ICMPOutOfWindow", seq, v)
		}
	}
	e.state(StateSynSent)
	e.fire()
	e.expect(is(syn, x, 0))
	e.c.HandleSegment(at(2*sec), in(synack, y, x+1))
	e.expect(is(ack, x+1, y+1))
	e.state(StateEstablished)
}

// TestEstablishedICMPUnreachableIsSoft: on an established connection an
// in-window error is only stored (RFC 1122 §4.2.3.9): the transfer goes
// on, and an ACK of new data (the path works again) forgets it.
func TestEstablishedICMPUnreachableIsSoft(t *testing.T) {
	e := established(t)
	e.write(at(sec), bytesN(100))
	e.expect(is(pshack, x+1, y+1), hasLen(100))
	if v := e.c.ICMPError(at(sec+rtt/2), x+1, syscall.EHOSTUNREACH, true); v != ICMPSoft {
		t.Fatalf("verdict %d, want ICMPSoft", v)
	}
	e.state(StateEstablished)
	if got := e.c.SoftError(); got != syscall.EHOSTUNREACH {
		t.Fatalf("SoftError = %v, want EHOSTUNREACH", got)
	}
	e.c.HandleSegment(at(sec+rtt), in(ack, y+1, x+101))
	if got := e.c.SoftError(); got != 0 {
		t.Fatalf("SoftError after an ACK of new data = %v, want none", got)
	}
	// Out of window now that SND.UNA = SND.MAX = x+101: only x+101 counts.
	if v := e.c.ICMPError(at(2*sec), x+1, syscall.EHOSTUNREACH, true); v != ICMPOutOfWindow {
		t.Fatalf("quote of acknowledged data: verdict %d, want ICMPOutOfWindow", v)
	}
	if v := e.c.ICMPError(at(2*sec), x+101, syscall.ENETUNREACH, true); v != ICMPSoft {
		t.Fatalf("quote of a bare ACK at SND.UNA: verdict %d, want ICMPSoft", v)
	}
}

// TestEstablishedICMPSoftErrorEndsTimeout: a connection that times out
// after an ICMP error ends with that error, not ETIMEDOUT (Linux's
// tcp_write_err reports sk_err_soft).
func TestEstablishedICMPSoftErrorEndsTimeout(t *testing.T) {
	e := established(t, func(c *Config) { c.Retries = 3 })
	e.write(at(sec), bytesN(100))
	e.take()
	e.fire()
	e.take()
	if v := e.c.ICMPError(e.now, x+1, syscall.EHOSTUNREACH, true); v != ICMPSoft {
		t.Fatalf("verdict %d, want ICMPSoft", v)
	}
	for e.c.State() != StateClosed {
		e.fire()
		e.take()
	}
	if !errors.Is(e.c.Err(), syscall.EHOSTUNREACH) {
		t.Fatalf("Err = %v, want EHOSTUNREACH (the ICMP's)", e.c.Err())
	}
}

// TestEstablishedICMPOutOfWindowNotStored: an error quoting a number
// 2^31 away is dropped: the timeout then says ETIMEDOUT.
func TestEstablishedICMPOutOfWindowNotStored(t *testing.T) {
	e := established(t, func(c *Config) { c.Retries = 1 })
	e.write(at(sec), bytesN(100))
	e.take()
	if v := e.c.ICMPError(at(sec), x.Add(1<<31), syscall.EHOSTUNREACH, true); v != ICMPOutOfWindow {
		t.Fatalf("verdict %d, want ICMPOutOfWindow", v)
	}
	for e.c.State() != StateClosed {
		e.fire()
		e.take()
	}
	if !errors.Is(e.c.Err(), syscall.ETIMEDOUT) {
		t.Fatalf("Err = %v, want ETIMEDOUT", e.c.Err())
	}
}

// TestSynReceivedICMPHostUnreachableDropsHalfOpen: a passive half-open
// connection whose SYN,ACK draws host unreachable is dropped (Linux's
// tcp_req_err); port unreachable leaves it to its retries.
func TestSynReceivedICMPHostUnreachableDropsHalfOpen(t *testing.T) {
	e := synReceived(t)
	if v := e.c.ICMPError(at(rtt), y, syscall.ECONNREFUSED, false); v != ICMPSoft {
		t.Fatalf("port unreachable: verdict %d, want ICMPSoft", v)
	}
	e.state(StateSynReceived)
	if v := e.c.ICMPError(at(rtt), y, syscall.EHOSTUNREACH, true); v != ICMPHard {
		t.Fatalf("host unreachable: verdict %d, want ICMPHard", v)
	}
	e.state(StateClosed)
}

// mss1460 makes this side's MSS 1460, as on an Ethernet link.
func mss1460(c *Config) { c.MSS = 1460 }

// mssFlight is an established connection with the peer's MSS 1460 and no
// options (so the MSS is 1460), and n full segments in flight.
func mssFlight(t *testing.T, n int) *end {
	t.Helper()
	e := synSent(t, mss1460)
	e.now = at(rtt)
	e.c.HandleSegment(e.now, in(synack, y, x+1, mssOpt(1460)))
	e.expect(is(ack, x+1, y+1))
	if e.c.MSS() != 1460 {
		t.Fatalf("MSS %d, want 1460", e.c.MSS())
	}
	e.write(at(sec), bytesN(n*1460))
	if got := len(e.take()); got != n {
		t.Fatalf("%d segments sent, want %d", got, n)
	}
	return e
}

// TestEstablishedFragNeededShrinksMSSAndResends: "fragmentation needed"
// with MTU 1280 quoting the flight makes the MSS 1240 (RFC 1191 §6.4), and
// the flight goes again at once in pieces of 1240 from SND.UNA (without
// SACK, go-back-N), with the congestion window untouched.
func TestEstablishedFragNeededShrinksMSSAndResends(t *testing.T) {
	e := mssFlight(t, 3)
	cwnd := e.c.cwnd()
	if v := e.c.SetPathMTU(at(sec+rtt/2), x+1+1460, 1280); v != ICMPMTULowered {
		t.Fatalf("verdict %d, want ICMPMTULowered", v)
	}
	if e.c.MSS() != 1240 {
		t.Fatalf("MSS %d, want 1240", e.c.MSS())
	}
	got := e.take()
	want := []int{1240, 1240, 1240, 660}
	if len(got) != len(want) {
		t.Fatalf("resent %v, want %d segments", got, len(want))
	}
	seq := x + 1
	for i, s := range got {
		if s.Seq != seq || len(s.Payload) != want[i] {
			t.Fatalf("segment %d: %v, want SEQ=%d LEN=%d", i, s, seq, want[i])
		}
		seq = seq.Add(seqnum.Size(want[i]))
	}
	if e.c.cwnd() != cwnd {
		t.Fatalf("cwnd %d after the resend, want %d (no reduction)", e.c.cwnd(), cwnd)
	}
	// A second, equal or larger MTU changes nothing.
	if v := e.c.SetPathMTU(at(sec+rtt), x+1, 1400); v != ICMPIgnored {
		t.Fatalf("larger MTU: verdict %d, want ICMPIgnored", v)
	}
	e.expectNone()
}

// TestEstablishedFragNeededClampedAndChecked: an MTU below 552 counts as
// 552 (MSS 512), and a quote outside the flight changes nothing.
func TestEstablishedFragNeededClampedAndChecked(t *testing.T) {
	e := mssFlight(t, 2)
	if v := e.c.SetPathMTU(at(sec), x.Add(1<<31), 1280); v != ICMPOutOfWindow {
		t.Fatalf("forged quote: verdict %d, want ICMPOutOfWindow", v)
	}
	e.expectNone()
	if v := e.c.SetPathMTU(at(sec), x+1, 68); v != ICMPMTULowered {
		t.Fatalf("verdict %d, want ICMPMTULowered", v)
	}
	if e.c.MSS() != 512 {
		t.Fatalf("MSS %d after MTU 68, want 512 (552 less 40)", e.c.MSS())
	}
}

// TestEstablishedFragNeededSACKResendsWithoutReduction: with SACK (every
// option: timestamps take 12 bytes, so MTU 1280 gives 1228) the segments
// that no longer fit are marked lost and resent cut to the new MSS, under
// RTO-style loss recovery that reduced nothing.
func TestEstablishedFragNeededSACKResendsWithoutReduction(t *testing.T) {
	f := newLossFlight(t, 4, mss1460)
	cwnd, ssthresh := f.c.cwnd(), f.c.ccOf().(*reno).ssthresh
	at := f.t0.Add(rtt / 2)
	if v := f.c.SetPathMTU(at, f.seq(0), 1280); v != ICMPMTULowered {
		t.Fatalf("verdict %d, want ICMPMTULowered", v)
	}
	if f.c.MSS() != 1228 {
		t.Fatalf("MSS %d, want 1228", f.c.MSS())
	}
	got := f.take()
	var total int
	for _, s := range got {
		if len(s.Payload) > 1228 {
			t.Fatalf("resent %v, longer than the new MSS", s)
		}
		total += len(s.Payload)
	}
	if total != 4*int(f.mss) || got[0].Seq != f.seq(0) {
		t.Fatalf("resent %d bytes from %d (%v), want the flight's %d from %d", total, got[0].Seq, got, 4*f.mss, f.seq(0))
	}
	if f.c.cwnd() != cwnd || f.c.ccOf().(*reno).ssthresh != ssthresh {
		t.Fatalf("cwnd %d ssthresh %d, want %d %d (no reduction)", f.c.cwnd(), f.c.ccOf().(*reno).ssthresh, cwnd, ssthresh)
	}
	// The peer acknowledges it all: recovery ends, new data goes at the new MSS.
	f.c.HandleSegment(at.Add(rtt), in(ack, y+1, f.seq(4), f.ts(0)))
	if f.c.inLoss() {
		t.Fatal("still in loss recovery after everything was acknowledged")
	}
	f.write(at.Add(rtt), bytesN(3000))
	for _, s := range f.take() {
		if len(s.Payload) > 1228 {
			t.Fatalf("new data %v, longer than the new MSS", s)
		}
	}
}

// TestSynSentPathMTUFromHost: a connection opened to a destination the
// host's cache knows (Env.PathMTU) fits its MSS to it.
func TestSynSentPathMTUFromHost(t *testing.T) {
	e := newClient(t, mss1460)
	e.env.PathMTU = func(a netip.Addr) int {
		if a == serverAddr.Addr() {
			return 1000
		}
		return 0
	}
	if err := e.c.Connect(base, x); err != nil {
		t.Fatal(err)
	}
	e.take()
	e.c.HandleSegment(at(rtt), in(synack, y, x+1, mssOpt(1460)))
	if e.c.MSS() != 960 {
		t.Fatalf("MSS %d, want 960 (path MTU 1000 less 40)", e.c.MSS())
	}
}
