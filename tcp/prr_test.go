package tcp

// Proportional Rate Reduction (RFC 6937), on the fixture of rack_test.go:
// how many segments each ACK of a recovery lets go.

import (
	"slices"
	"testing"
)

// sackOneByOne delivers at t0+rtt one ACK per segment from..to-1, each
// SACKing [from, i+1) above SND.UNA = segment 0, and returns the
// segments sent after each, and the pipe (in segments) after each.
func (f *lossFlight) sackOneByOne(from, to int) (sent, pipe []int) {
	f.t.Helper()
	now := f.t0.Add(rtt)
	for i := from; i < to; i++ {
		f.ack(now, 0, [2]int{from, i + 1})
		sent = append(sent, len(f.take()))
		pipe = append(pipe, f.c.rackPipe()/int(f.mss))
	}
	return sent, pipe
}

// TestEstablishedRecoveryPRRProportional: RFC 6937 §3, while pipe >
// ssthresh. Twenty segments fill the window, segment 0 is lost, and new
// data waits; the SACKs of segments 1 to 19 come one an ACK. The first two
// make room for a new segment each (RFC 6675: SACKed data has left the
// network). At the third, RACK marks segment 0 and recovery begins with
// 22 segments outstanding, three of them SACKed: the reduction is from the
// window of 20 (reductionFlight, as Linux's ssthresh takes cwnd), so
// RecoverFS = 20 MSS and Reno halves, ssthresh = 10 MSS. From then each
// ACK lets go CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out: one
// segment for every two delivered, the first being the fast retransmit.
//
//	<- ACK 0, SACK 1       -> segment 20 (reordering timer for 0)
//	<- ACK 0, SACK 1-2     -> segment 21
//	<- ACK 0, SACK 1-3     recovery: -> segment 0
//	<- ACK 0, SACK 1-4     nothing
//	<- ACK 0, SACK 1-5     -> segment 22
//	<- ACK 0, SACK 1-6     nothing
//	<- ACK 0, SACK 1-7     -> segment 23  ... and so on while pipe > 10
func TestEstablishedRecoveryPRRProportional(t *testing.T) {
	f := newLossFlight(t, 20, withWindow(20))
	f.write(f.t0, bytesN(20*int(f.mss))) // new data for PRR to send
	f.expectNone()
	sent, pipe := f.sackOneByOne(1, 20)
	t.Logf("segments sent per ACK %v, pipe after %v", sent, pipe)
	if got := f.c.cwnd(); got != 10*int(f.mss) || f.c.loss.prr.recoverFS != 20*int(f.mss) {
		t.Fatalf("ssthresh %d, RecoverFS %d; want 10 and 20 MSS", got, f.c.loss.prr.recoverFS)
	}
	// Up to the ACK of SACK 1-15, pipe stays above ssthresh.
	want := []int{1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1}
	if !slices.Equal(sent[:len(want)], want) {
		t.Fatalf("segments sent per ACK %v, want %v then the slow-start bound", sent, want)
	}
	for i := 2; i < len(want); i++ {
		if pipe[i] <= 10 {
			t.Fatalf("pipe %d after ACK %d, want above ssthresh while proportional", pipe[i], i+1)
		}
	}
	if f.env.Stats.TCPSackRecovery.Load() != 1 || f.env.Stats.RetransSegs.Load() != 1 {
		t.Fatalf("recoveries %d, retransmissions %d; want 1, 1",
			f.env.Stats.TCPSackRecovery.Load(), f.env.Stats.RetransSegs.Load())
	}
}

// TestEstablishedRecoveryPRRSlowStartBound: RFC 6937 §3, pipe <
// ssthresh after heavy loss. Of twenty segments in flight the first ten
// are lost (RecoverFS = 20 MSS, ssthresh = 10 MSS); the SACKs of 10 to 19
// come one an ACK. At the third, RACK marks all ten lost and pipe (7) is
// below ssthresh: each ACK sends what it delivered and one segment more,
// at most, until pipe is back at ssthresh, then one for one.
//
//	<- ACK 0, SACK 10-12   recovery, pipe 7:  -> segments 0, 1
//	<- ACK 0, SACK 10-13   pipe 8:            -> segments 2, 3
//	<- ACK 0, SACK 10-14   pipe 9:            -> segment 4
//	<- ACK 0, SACK 10-15   ...                -> segment 5, one for one
func TestEstablishedRecoveryPRRSlowStartBound(t *testing.T) {
	f := newLossFlight(t, 20, withWindow(20))
	sent, pipe := f.sackOneByOne(10, 20)
	t.Logf("segments sent per ACK %v, pipe after %v", sent, pipe)
	want := []int{0, 0, 2, 2, 1, 1, 1, 1, 1, 1}
	if !slices.Equal(sent, want) {
		t.Fatalf("segments sent per ACK %v, want %v", sent, want)
	}
	for i := 2; i < len(pipe); i++ {
		if pipe[i] > 10 {
			t.Fatalf("pipe %d after ACK %d, above ssthresh", pipe[i], i+1)
		}
	}
	if pipe[len(pipe)-1] != 10 {
		t.Fatalf("pipe %d at the end, want back at ssthresh (10)", pipe[len(pipe)-1])
	}
	if got := f.env.Stats.RetransSegs.Load(); got != 10 {
		t.Fatalf("retransmissions %d, want the ten lost segments", got)
	}
}
