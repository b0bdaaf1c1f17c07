package tcp

// The TIME-WAIT record (timewait.go): what a TIME-WAIT connection becomes
// in a stack. Each test starts from the timeWait (or timeWaitTS) fixture,
// turns its Conn into the record, and writes the exchange out:
//
//	TIME-WAIT  <-- <SEQ=y+1><ACK=x+2><CTL=FIN,ACK>  <-- LAST-ACK   (fixture)
//	TIME-WAIT  --> <SEQ=x+2><ACK=y+2><CTL=ACK>      --> (lost, say)
//
// so RCV.NXT = y+2 and SND.NXT = x+2 in the record.

import (
	"testing"
	"time"
	"unsafe"
)

// twEnd is an end whose connection was turned into its TIME-WAIT record.
type twEnd struct {
	*end
	tw   TimeWait
	last *sentSeg // the ACK the Conn sent on entering TIME-WAIT
}

// timeWaitRecord is timeWait (or, with ts, timeWaitTS) made a record.
func timeWaitRecord(t *testing.T, withTS bool, opts ...cfgOpt) *twEnd {
	t.Helper()
	var e *end
	if withTS {
		e = establishedFull(t, opts...)
		e.c.Close(e.now)
		e.expect(is(finack, x+1, y+1))
		e.c.HandleSegment(e.now, in(ack, y+1, x+2, ts(peerTS+10, e.c.tsVal(e.now))))
		e.c.HandleSegment(e.now, in(finack, y+1, x+2, ts(peerTS+20, e.c.tsVal(e.now))))
	} else {
		e = finWait2(t, opts...)
		e.c.HandleSegment(e.now, in(finack, y+1, x+2))
	}
	last := e.expect(is(ack, x+2, y+2))
	e.state(StateTimeWait)
	r := &twEnd{end: e, tw: e.c.ToTimeWait(), last: last}
	if !e.c.Deadline().IsZero() {
		t.Fatalf("the Conn still asks for a timer at %v after ToTimeWait", e.c.Deadline())
	}
	if want := e.now.Add(2 * e.env.Config.MSL); !r.tw.Deadline().Equal(want) {
		t.Fatalf("record deadline %v, want 2*MSL after entering, %v", r.tw.Deadline(), want)
	}
	return r
}

// recv hands seg to the record at now and returns its verdict.
func (r *twEnd) recv(now time.Time, seg *Segment, reopen bool) TimeWaitVerdict {
	return r.tw.HandleSegment(now, r.local, r.remote, seg, reopen)
}

// verdict asserts a verdict.
func verdict(t *testing.T, got, want TimeWaitVerdict) {
	t.Helper()
	if got != want {
		t.Fatalf("verdict %d, want %d", got, want)
	}
}

// TestTimeWaitRecordSize: the record is what a closed connection keeps
// for 2*MSL, so it stays small: at most 64 bytes, the size class it is
// in with the stack's key and heap index (stack/timewait.go).
func TestTimeWaitRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(TimeWait{}); n > 64 {
		t.Fatalf("tcp.TimeWait is %d bytes, want at most 64", n)
	}
}

// TestTimeWaitRecordAnswersAsTheConnDid: the record's ACK is the one the
// Conn sent on entering TIME-WAIT: same numbers, same window field.
func TestTimeWaitRecordAnswersAsTheConnDid(t *testing.T) {
	for _, withTS := range []bool{false, true} {
		r := timeWaitRecord(t, withTS)
		now := r.now.Add(time.Second)
		opts := []func(*Segment){}
		if withTS {
			opts = append(opts, ts(peerTS+30, 0))
		}
		verdict(t, r.recv(now, in(finack, y+1, x+2, opts...), true), TimeWaitKeep)
		got := r.expect(is(ack, x+2, y+2), hasWnd(r.last.Window))
		if withTS {
			hasTS(tsClock(now, r.c.tsOffset), peerTS+20)(t, got)
		} else if got.Options.HasTimestamps {
			t.Fatal("timestamps on an ACK of a connection without them")
		}
	}
}

// TestTimeWaitRecordRecvRetransmittedFINReACKsAndRestarts: §3.10.7.4
// eighth, "Acknowledge it, and restart the 2 MSL timeout":
//
//	TIME-WAIT  <-- <SEQ=y+1><ACK=x+2><CTL=FIN,ACK>  <-- LAST-ACK (5 s later: retransmitted)
//	TIME-WAIT  --> <SEQ=x+2><ACK=y+2><CTL=ACK>      --> CLOSED
//	(2*MSL after the retransmission) CLOSED
func TestTimeWaitRecordRecvRetransmittedFINReACKsAndRestarts(t *testing.T) {
	r := timeWaitRecord(t, false, withMSL(10*time.Second))
	first := r.tw.Deadline()
	again := r.now.Add(5 * time.Second)
	verdict(t, r.recv(again, in(finack, y+1, x+2), true), TimeWaitKeep)
	r.expect(is(ack, x+2, y+2))
	if want := again.Add(20 * time.Second); !r.tw.Deadline().Equal(want) {
		t.Fatalf("deadline %v after the FIN, want %v", r.tw.Deadline(), want)
	}
	if r.tw.Expire(first, r.local, r.remote) {
		t.Fatal("the record expired at the first deadline, which the FIN moved")
	}
	if !r.tw.Expire(again.Add(20*time.Second), r.local, r.remote) {
		t.Fatal("the record did not expire 2*MSL after the FIN")
	}
	r.expectNone()
}

// TestTimeWaitRecordRecvRSTCloses: §3.10.7.4 second, "If the RST bit is
// set then ... enter the CLOSED state": only a RST at RCV.NXT, as Linux
// with tcp_rfc1337 = 0; one elsewhere is dropped unanswered (Linux sends
// no challenge ACK from TIME-WAIT).
//
//	TIME-WAIT  <-- <SEQ=y+5><CTL=RST>  <--  (dropped)
//	TIME-WAIT  <-- <SEQ=y+2><CTL=RST>  <--
//	CLOSED
func TestTimeWaitRecordRecvRSTCloses(t *testing.T) {
	r := timeWaitRecord(t, false)
	verdict(t, r.recv(r.now.Add(time.Millisecond), in(rst, y+5, 0), true), TimeWaitKeep)
	r.expectNone()
	wantCounter(t, "DropOutOfWindow", r.env.Stats.DropOutOfWindow.Load(), 1)
	verdict(t, r.recv(r.now.Add(2*time.Millisecond), in(rst, y+2, 0), true), TimeWaitClosed)
	r.expectNone()
}

// TestTimeWaitRecordRecvNewSYNReported: with timestamps, RFC 6191 §2: a
// SYN whose TSval is newer than TS.Recent may start a new incarnation,
// even numbered below RCV.NXT; the record reports it, sends nothing, and
// the new connection's ISS is the old SND.NXT + 65535 + 2. Without a
// listener (reopen false) it is a SYN like any other: a challenge ACK
// (RFC 5961 §4.2).
//
//	TIME-WAIT  <-- <SEQ=y-5000><CTL=SYN><TSval=TS.Recent+1>   <-- new client
//	(to the listener: SYN,ACK from ISS x+2+65537)
func TestTimeWaitRecordRecvNewSYNReported(t *testing.T) {
	r := timeWaitRecord(t, true)
	now := r.now.Add(time.Second)
	newSYN := in(syn, y-5000, 0, ts(peerTS+21, 0))
	verdict(t, r.recv(now, newSYN, true), TimeWaitNewSYN)
	r.expectNone()
	if got, want := r.tw.NextISS(), x+2+65537; got != want {
		t.Fatalf("NextISS = %d, want SND.NXT %d + 65537 = %d", got, x+2, want)
	}
	verdict(t, r.recv(now, newSYN, false), TimeWaitKeep)
	r.expect(is(ack, x+2, y+2), hasTS(tsClock(now, r.c.tsOffset), peerTS+20))
	wantCounter(t, "TCPChallengeACK", r.env.Stats.TCPChallengeACK.Load(), 1)
	// A SYN above RCV.NXT but with an older TSval is an old duplicate:
	// PAWS drops it, within the rate limit's answer.
	verdict(t, r.recv(now.Add(time.Second), in(syn, y+1000, 0, ts(peerTS+19, 0)), true), TimeWaitKeep)
	r.expect(is(ack, x+2, y+2))
	wantCounter(t, "DropPAWS", r.env.Stats.DropPAWS.Load(), 1)
	// Without timestamps, the sequence number decides (RFC 9293 §3.6.1 note).
	p := timeWaitRecord(t, false)
	verdict(t, p.recv(now, in(syn, y+3, 0), true), TimeWaitNewSYN)
	verdict(t, p.recv(now, in(syn, y+2, 0), true), TimeWaitKeep)
	p.expect(is(ack, x+2, y+2))
}

// TestTimeWaitRecordRecvPAWSFailedDropped: RFC 7323 §5.3 R1: a segment
// whose TSval is older than TS.Recent is an old duplicate, dropped and
// answered with an ACK, within the per-connection rate limit (counted as
// Linux's TCPACKSkippedTimeWait); one without timestamps is dropped
// silently (§3.2).
//
//	TIME-WAIT  <-- <SEQ=y+2><ACK=x+2><CTL=ACK><TSval=TS.Recent-5>   <-- old
//	TIME-WAIT  --> <SEQ=x+2><ACK=y+2><CTL=ACK><TSecr=TS.Recent>     -->
//	TIME-WAIT  <-- the same, 1 ms later                             <-- (no answer)
func TestTimeWaitRecordRecvPAWSFailedDropped(t *testing.T) {
	r := timeWaitRecord(t, true)
	now := r.now.Add(time.Second)
	verdict(t, r.recv(now, in(ack, y+2, x+2, ts(peerTS+15, 0)), true), TimeWaitKeep)
	r.expect(is(ack, x+2, y+2), hasTS(tsClock(now, r.c.tsOffset), peerTS+20))
	verdict(t, r.recv(now.Add(time.Millisecond), in(ack, y+2, x+2, ts(peerTS+15, 0)), true), TimeWaitKeep)
	r.expectNone()
	wantCounter(t, "DropPAWS", r.env.Stats.DropPAWS.Load(), 2)
	wantCounter(t, "TCPACKSkippedTimeWait", r.env.Stats.TCPACKSkippedTimeWait.Load(), 1)
	verdict(t, r.recv(now.Add(2*time.Millisecond), in(ack, y+2, x+2), true), TimeWaitKeep)
	r.expectNone()
	wantCounter(t, "DropNoTimestamp", r.env.Stats.DropNoTimestamp.Load(), 1)
	if !r.tw.Deadline().Equal(r.now.Add(2 * DefaultMSL)) {
		t.Fatal("an old duplicate moved the deadline")
	}
}

// TestTimeWaitRecordRecvOldDataACKedRateLimited: §3.10.7.4 first: an old
// duplicate is answered with an ACK. Old data an honest peer may resend
// is answered every time; a bare ACK far outside is answered once per
// InvalidACKRateLimit. A bare ACK at RCV.NXT asks for nothing.
//
//	TIME-WAIT  <-- <SEQ=y-100><ACK=x+2><CTL=PSH,ACK><DATA 10>  <-- (x2, each ACKed)
//	TIME-WAIT  --> <SEQ=x+2><ACK=y+2><CTL=ACK>                 -->
//	TIME-WAIT  <-- <SEQ=y-4000><ACK=x+2><CTL=ACK>              <-- (ACKed)
//	TIME-WAIT  <-- <SEQ=y-4001><ACK=x+2><CTL=ACK>              <-- (1 ms later: skipped)
//	TIME-WAIT  <-- <SEQ=y+2><ACK=x+2><CTL=ACK>                 <-- (nothing to answer)
func TestTimeWaitRecordRecvOldDataACKedRateLimited(t *testing.T) {
	r := timeWaitRecord(t, false)
	now := r.now.Add(time.Second)
	for i := range 2 {
		verdict(t, r.recv(now.Add(time.Duration(i)*time.Microsecond), in(pshack, y-100, x+2, data(bytesN(10))), true), TimeWaitKeep)
		r.expect(is(ack, x+2, y+2))
	}
	verdict(t, r.recv(now.Add(time.Millisecond), in(ack, y-4000, x+2), true), TimeWaitKeep)
	r.expect(is(ack, x+2, y+2))
	verdict(t, r.recv(now.Add(2*time.Millisecond), in(ack, y-4001, x+2), true), TimeWaitKeep)
	r.expectNone()
	wantCounter(t, "TCPACKSkippedTimeWait", r.env.Stats.TCPACKSkippedTimeWait.Load(), 1)
	wantCounter(t, "OutOfWindowACKs", r.env.Stats.OutOfWindowACKs.Load(), 3)
	verdict(t, r.recv(now.Add(time.Millisecond+r.env.Config.InvalidACKRateLimit), in(ack, y-4001, x+2), true), TimeWaitKeep)
	r.expect(is(ack, x+2, y+2))
	verdict(t, r.recv(now.Add(time.Hour), in(ack, y+2, x+2), true), TimeWaitKeep)
	r.expectNone()
	if !r.tw.Deadline().Equal(r.now.Add(2 * DefaultMSL)) {
		t.Fatal("an old duplicate moved the deadline: only the FIN restarts it")
	}
}

// FuzzTimeWait: any segments into a TIME-WAIT record, with and without
// timestamps. It never panics; it only ever sends its one ACK, <SEQ=x+2>
// <ACK=y+2><CTL=ACK> with the window last advertised, at most once a
// segment; only a RST at RCV.NXT closes it; only a bare SYN is reported
// as a new incarnation, with nothing sent; only a FIN moves the deadline,
// to 2*MSL from its arrival.
func FuzzTimeWait(f *testing.F) {
	f.Add([]byte{0, 0x11, 0, 0xff, 0, 0, 2, 0xff, 0xff, 0, 0, 0})  // the FIN again
	f.Add([]byte{1, 0x02, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1})           // a new SYN, with timestamps
	f.Add([]byte{0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})           // a RST at RCV.NXT
	f.Add([]byte{1, 0x18, 1, 0xf0, 0, 0, 1, 0, 0, 0, 0, 40, 0x85}) // old data, old TSval
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInput(data)
		r := timeWaitRecord(t, in.byte()%2 == 1)
		now := r.now
		for step := 0; len(in) > 0 && step < 100; step++ {
			now = now.Add(time.Duration(in.byte()) * time.Millisecond)
			seg := in.segment(r.c)
			if o := in.byte(); r.c.tsOK && o%3 != 0 {
				seg.Options.HasTimestamps, seg.Options.TSVal = true, r.tw.tsRecent+uint32(int8(in.byte()))
			}
			before := r.tw.Deadline()
			v := r.recv(now, seg, in.byte()%2 == 0)
			sent := r.take()
			if len(sent) > 1 {
				t.Fatalf("%d segments sent for one", len(sent))
			}
			for _, s := range sent {
				if s.Flags != ack || s.Seq != x+2 || s.Ack != y+2 || s.Window != r.last.Window || len(s.Payload) != 0 {
					t.Fatalf("sent %v, want only <SEQ=%d><ACK=%d><CTL=ACK><WND=%d>", s, x+2, y+2, r.last.Window)
				}
			}
			switch v {
			case TimeWaitClosed:
				if !seg.Flags.Has(rst) || seg.Seq != y+2 {
					t.Fatalf("closed by <SEQ=%d><CTL=%v>", seg.Seq, seg.Flags)
				}
				return
			case TimeWaitNewSYN:
				if seg.Flags&(syn|ack|rst) != syn || len(sent) != 0 {
					t.Fatalf("new incarnation reported for %v, %d sent", seg.Flags, len(sent))
				}
			}
			if d := r.tw.Deadline(); !d.Equal(before) && (!seg.Flags.Has(fin) || !d.Equal(now.Add(2*r.env.Config.MSL))) {
				t.Fatalf("deadline moved from %v to %v by %v at %v", before, d, seg.Flags, now)
			}
			if r.tw.Expire(now, r.local, r.remote) != !now.Before(r.tw.Deadline()) {
				t.Fatal("Expire disagrees with the deadline")
			}
		}
	})
}
