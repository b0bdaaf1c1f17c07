package tcp

import (
	"testing"
	"time"
)

// hsRound feeds one round of n ACKs of one segment each with the given RTT
// and returns the growth and whether slow start ended.
func hsRound(h *hystart, n, mss int, rtt time.Duration) (grown int, exit bool) {
	for i := 0; i < n; i++ {
		inc, ex := h.grow(mss, (n-i)*mss, mss, rtt)
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
