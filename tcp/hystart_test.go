package tcp

import (
	"testing"
	"time"
)

// hsRound feeds one round of n ACKs of one segment each with the given RTT
// and returns the growth and whether slow start ended.
func hsRound(h *hystart, n, mss int, rtt time.Duration) (grown int, exit bool) {
	for i := 0; i < n; i++ {
		inc, ex := h.grow(base, mss, (n-i)*mss, n*mss, mss, rtt)
		grown += inc
		if ex {
			return grown, true
		}
	}
	return grown, false
}

// TestHyStartLeavesSlowStartWhenRTTGrows: a steady RTT keeps slow start's
// full growth; a round whose minimum RTT rose by more than the threshold
// (RFC 9406: lastRoundMinRTT/8 clamped to 4-16 ms) grows by a quarter
// (Conservative Slow Start), and after five such rounds slow start ends.
func TestHyStartLeavesSlowStartWhenRTTGrows(t *testing.T) {
	const mss = 1000
	var h hystart
	for i := range 3 {
		if g, ex := hsRound(&h, 16, mss, 40*time.Millisecond); g != 16*mss || ex {
			t.Fatalf("round %d at a steady RTT grew %d (exit %v), want %d", i, g, ex, 16*mss)
		}
	}
	// 40 ms -> 44 ms: under the 5 ms threshold (40/8).
	if g, _ := hsRound(&h, 16, mss, 44*time.Millisecond); g != 16*mss {
		t.Fatalf("an RTT rise below the threshold slowed growth to %d", g)
	}
	// 44 -> 52 ms: past it. At the eighth sample of the round, CSS.
	if g, _ := hsRound(&h, 16, mss, 52*time.Millisecond); g != 7*mss+9*mss/4 || !h.css {
		t.Fatalf("after the RTT rose past the threshold grew %d (css %v), want %d", g, h.css, 7*mss+9*mss/4)
	}
	for i := range hsCSSRounds - 1 {
		if g, ex := hsRound(&h, 16, mss, 52*time.Millisecond); g != 16*mss/4 || ex {
			t.Fatalf("CSS round %d grew %d (exit %v), want a quarter", i, g, ex)
		}
	}
	if _, ex := hsRound(&h, 16, mss, 52*time.Millisecond); !ex {
		t.Fatal("slow start did not end after five rounds of CSS")
	}
}

// TestHyStartSpuriousCSSResumes: an RTT below the CSS baseline means the
// rise was noise: full slow start resumes.
func TestHyStartSpuriousCSSResumes(t *testing.T) {
	const mss = 1000
	var h hystart
	hsRound(&h, 16, mss, 40*time.Millisecond)
	hsRound(&h, 16, mss, 60*time.Millisecond)
	if !h.css {
		t.Fatal("no CSS after the RTT rose by 20 ms")
	}
	hsRound(&h, 16, mss, 30*time.Millisecond)
	if h.css {
		t.Fatal("still in CSS after the RTT fell below the baseline")
	}
}

// hsTrain feeds one round of n ACKs of one segment each, gap apart from
// start, with a steady RTT of rtt and a window of cwnd segments, and
// returns whether slow start ended and at which ACK.
func hsTrain(h *hystart, start time.Time, n, cwnd, mss int, gap, rtt time.Duration) (at int, exit bool) {
	for i := 0; i < n; i++ {
		if _, ex := h.grow(start.Add(time.Duration(i)*gap), mss, (n-i)*mss, cwnd*mss, mss, rtt); ex {
			return i, true
		}
	}
	return n, false
}

// TestHyStartAckTrainEndsSlowStart: the ACKs of a round arriving one
// train, each within 2 ms of the last, for longer than half the least RTT
// show the bottleneck busy for half the round trip: slow start ends there,
// at once and without Conservative Slow Start (Linux's HYSTART_ACK_TRAIN),
// although the RTT never rose. A train shorter than that, one broken by
// gaps over 2 ms, or a window under 16 segments ends nothing.
func TestHyStartAckTrainEndsSlowStart(t *testing.T) {
	const mss, rtt = 1000, 40 * time.Millisecond
	start := base
	next := func() time.Time { start = start.Add(time.Second); return start }
	var h hystart
	// 80 ACKs 200 µs apart: a 16 ms train, under the 20 ms half RTT.
	if _, ex := hsTrain(&h, next(), 80, 80, mss, 200*time.Microsecond, rtt); ex {
		t.Fatal("a 16 ms train ended slow start, want 20 ms at least")
	}
	// 200 ACKs 150 µs apart, 3 ms gaps between them: never a train.
	if _, ex := hsTrain(&h, next(), 200, 200, mss, 3*time.Millisecond, rtt); ex {
		t.Fatal("ACKs 3 ms apart ended slow start")
	}
	// A window of 15 segments whose train is long enough: too small to judge.
	if _, ex := hsTrain(&h, next(), 200, 15, mss, 150*time.Microsecond, rtt); ex {
		t.Fatal("a window of 15 segments ended slow start")
	}
	// 200 ACKs 150 µs apart: past 20 ms at the 135th.
	at, ex := hsTrain(&h, next(), 200, 200, mss, 150*time.Microsecond, rtt)
	if !ex || at != 134 || !h.done || h.css {
		t.Fatalf("a 30 ms train: exit %v at ACK %d (done %v, css %v), want exit at ACK 134, done, no CSS", ex, at, h.done, h.css)
	}
}

// TestHyStartAckTrainNeedsRTT: with no RTT sample there is no least RTT to
// measure a train against, and slow start goes on.
func TestHyStartAckTrainNeedsRTT(t *testing.T) {
	var h hystart
	if _, ex := hsTrain(&h, base, 1000, 1000, 1000, 100*time.Microsecond, 0); ex {
		t.Fatal("slow start ended with no RTT sample")
	}
}
