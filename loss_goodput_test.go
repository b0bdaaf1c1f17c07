package synack_test

// Loss recovery judged on virtual time over link/fault (issue 13): a long
// transfer at 1% loss each way fires a retransmission timeout only when a
// whole window was lost, and goodput at 1%, 5% and 10% loss each way stays
// above a stated share of the Mathis bound.
//
// To tell a timeout that could not be avoided from one that could, the
// test taps the client's link on both sides of the fault layer: what the
// client writes before the faults and what leaves them toward the pipe,
// what the pipe delivers before the faults and what reaches the client
// after them. Matching the two sides by content says, for every packet,
// whether and when it arrived. The trace says when each timeout fired and
// which sequence number it resent first (SND.UNA).

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/fault"
)

// lossRTT is the round trip of the path: Delay each way, as fault.Direction
// adds it after the bottleneck.
const lossRTT = 10 * time.Millisecond

// lossRate is the bottleneck of each direction, bits per second: well above
// what the Mathis bound allows at 1% loss and 10 ms, so that the loss, not
// the rate, limits the transfer, while a sender that floods it still meets
// a queue.
const lossRate = 100_000_000

// lossPath is the fault setting of each direction for random loss p.
func lossPath(p float64) fault.Direction {
	return fault.Direction{Loss: p, Delay: lossRTT / 2, Rate: lossRate}
}

// TestLossOnePercentTimeoutOnlyWhenWindowLost sends 32 MiB from the client
// at 1% random loss each way, 10 ms RTT, and checks every retransmission
// timeout either end fired against what the link did. A timeout is
// forced when, since the last transmission of the segment at SND.UNA,
// everything the sender sent was lost, or nothing that arrived brought an
// ACK back before the timer fired: then the sender could not have known
// better, and even RACK-TLP (RFC 8985) waits for the timer. Every other
// timeout is one that loss detection should have made unnecessary: the
// test asserts there are none. Other seeds, for a wider check:
// SYNACK_LOSS_SEEDS=1,2,3 (see lossSeeds).
func TestLossOnePercentTimeoutOnlyWhenWindowLost(t *testing.T) {
	for _, seed := range lossSeeds(t, 13) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			r := runTappedTransfer(t, seed, 0.01, 32<<20)
			if out, in := r.n.fa.Stats(); out.Dropped == 0 || in.Dropped == 0 {
				t.Fatalf("the path lost %d data segments and %d ACKs: want loss both ways", out.Dropped, in.Dropped)
			}
			timeouts := r.judgeTimeouts(t)
			var unforced []rtoVerdict
			for _, v := range timeouts {
				if !v.forced {
					unforced = append(unforced, v)
				}
			}
			t.Logf("32 MiB in %v: goodput %.2f Mbit/s, %.2f of the Mathis bound; %d retransmitted, %d timeouts",
				r.elapsed.Round(time.Millisecond), float64(32<<20*8)/r.elapsed.Seconds()/1e6,
				float64(32<<20*8)/r.elapsed.Seconds()/mathisBound(r.mss, 0.01), r.retransmits, r.timeouts)
			t.Logf("%d timeouts, %d of them with part of the window delivered and ACKed before the timer fired", len(timeouts), len(unforced))
			for _, v := range timeouts {
				t.Logf("  %v", v)
			}
			if len(unforced) > 0 {
				t.Errorf("%d retransmission timeouts fired although part of the window had arrived and been ACKed in time (loss detection should have resent): first %v",
					len(unforced), unforced[0])
			}
		})
	}
}

// lossGoodputFloors are the floors each loss rate must reach, as shares
// of the Mathis bound and of the PFTK model, the size moved and the seed;
// see TestLossGoodputAboveFloors for why.
var lossGoodputFloors = []struct {
	p           float64
	mathisFloor float64
	pftkFloor   float64
	size        int
	seed        uint64
}{
	{0.01, 0.75, 1.5, 8 << 20, 101},
	{0.05, 0, 1.5, 8 << 20, 105},
	{0.10, 0, 1.5, 4 << 20, 110},
}

// TestLossGoodputAboveFloors moves data from the client at 1%, 5% and
// 10% random loss each way, 10 ms RTT and a 100 Mbit/s bottleneck, and
// checks the goodput, in protocol time from the dial until the server
// holds the last byte, against two models of standard TCP. p is the loss
// rate of data segments, the configured rate of the data direction: a lost
// ACK is covered by the next one and reduces no window, so the loss of
// ACKs is not in p (it is in the path, and it costs some timeouts when
// every ACK of a tail is lost).
//
//   - The Mathis bound, MSS/RTT * C/sqrt(p), C = sqrt(3/2): one window
//     reduction per round trip with a loss and no timeouts. At 1% the
//     windows are large enough that no timeout is forced, and synack must
//     reach 0.75 of it (0.85 to 1.28 over eight seeds).
//   - The PFTK model (pftkBound), which adds the timeouts a Reno sender
//     takes when a whole window, or every ACK of it, is lost. At 5% and
//     10% with a 10 ms RTT the windows are a few segments and such tails
//     are common: every timeout left in these runs is one the judge
//     (judgeTimeouts) proves forced, and each costs 20 round trips of
//     minimum RTO, so the Mathis bound is no floor there (0.53-0.64 and
//     0.26-0.37 of it over eight seeds). synack must reach 1.5 times the
//     PFTK model at every rate (1.75 to 3.65 over the same seeds), which
//     it does by repairing in one round trip what Reno would time out on.
func TestLossGoodputAboveFloors(t *testing.T) {
	for _, c := range lossGoodputFloors {
		t.Run(fmt.Sprintf("loss%g%%", c.p*100), func(t *testing.T) {
			seed := c.seed
			if s := os.Getenv("SYNACK_LOSS_SEEDS"); s != "" {
				fmt.Sscan(s, &seed) // the first of them, for a look at another seed
			}
			r := runTappedTransfer(t, seed, c.p, c.size)
			mss := r.mss
			mathis := mathisBound(mss, c.p)
			goodput := float64(c.size*8) / r.elapsed.Seconds()
			out, in := r.n.fa.Stats()
			t.Logf("%d bytes in %v: goodput %.2f Mbit/s, Mathis bound %.2f Mbit/s (MSS %d, RTT %v, p %g), ratio %.2f, floor %.2f",
				c.size, r.elapsed.Round(time.Millisecond), goodput/1e6, mathis/1e6, mss, lossRTT, c.p, goodput/mathis, c.mathisFloor)
			t.Logf("data segments lost %d of %d (%.2f%%), ACKs lost %d of %d; retransmitted %d, timeouts %d",
				out.Dropped, out.Packets, 100*float64(out.Dropped)/float64(out.Packets), in.Dropped, in.Packets,
				r.retransmits, r.timeouts)
			forced := 0
			verdicts := r.judgeTimeouts(t)
			for _, v := range verdicts {
				if v.forced {
					forced++
				}
			}
			t.Logf("timeouts that resent: %d, forced (the window lost, or its ACKs): %d", len(verdicts), forced)
			if testing.Verbose() {
				for _, v := range verdicts {
					t.Logf("  %v", v)
				}
			}
			pftk := pftkBound(mss, c.p)
			t.Logf("PFTK model (Reno with timeouts) %.2f Mbit/s: ratio %.2f, floor %.2f", pftk/1e6, goodput/pftk, c.pftkFloor)
			if goodput < c.mathisFloor*mathis {
				t.Errorf("goodput %.2f Mbit/s at %g%% loss each way is below %.2f of the Mathis bound (%.2f Mbit/s)",
					goodput/1e6, c.p*100, c.mathisFloor, c.mathisFloor*mathis/1e6)
			}
			if goodput < c.pftkFloor*pftk {
				t.Errorf("goodput %.2f Mbit/s at %g%% loss each way is below %.2f times the PFTK model (%.2f Mbit/s)",
					goodput/1e6, c.p*100, c.pftkFloor, c.pftkFloor*pftk/1e6)
			}
		})
	}
}

// pftkBound is the throughput of Reno with timeouts in the model of
// Padhye, Firoiu, Towsley and Kurose (1998), in bits per second:
// MSS / (RTT*sqrt(2bp/3) + T0*min(1, 3*sqrt(3bp/8))*p*(1+32p^2)), with
// b = 2 segments per ACK (delayed ACKs) and T0 the 200 ms minimum RTO.
// It is logged beside the Mathis bound, which leaves timeouts out.
func pftkBound(mss int, p float64) float64 {
	const b, t0 = 2.0, 0.2
	d := lossRTT.Seconds()*math.Sqrt(2*b*p/3) + t0*min(1, 3*math.Sqrt(3*b*p/8))*p*(1+32*p*p)
	return float64(mss*8) / d
}

// mathisBound is MSS/RTT * C/sqrt(p), C = sqrt(3/2), in bits per second
// (Mathis, Semke, Mahdavi, Ott 1997).
func mathisBound(mss int, p float64) float64 {
	return float64(mss*8) / lossRTT.Seconds() * math.Sqrt(1.5) / math.Sqrt(p)
}

// lossSeeds returns the seeds to run: def, or those SYNACK_LOSS_SEEDS lists.
func lossSeeds(t *testing.T, def uint64) []uint64 {
	t.Helper()
	s := os.Getenv("SYNACK_LOSS_SEEDS")
	if s == "" {
		return []uint64{def}
	}
	var seeds []uint64
	for _, f := range strings.Split(s, ",") {
		var v uint64
		if _, err := fmt.Sscan(f, &v); err != nil {
			t.Fatalf("SYNACK_LOSS_SEEDS: %v", err)
		}
		seeds = append(seeds, v)
	}
	return seeds
}

// tappedRun is the outcome of one transfer over a tapped lossy path.
type tappedRun struct {
	n           *lossyNet
	tap         *linkTap
	rtos        *rtoSink
	start       time.Time     // the dial
	elapsed     time.Duration // protocol time from the dial until the server held every byte
	mss         int
	retransmits uint64
	timeouts    uint64
}

// runTappedTransfer moves size bytes from the client to the server over a
// path losing p of the packets each way, checks them, and returns what the
// taps and the trace saw.
func runTappedTransfer(t *testing.T, seed uint64, p float64, size int) *tappedRun {
	t.Helper()
	r := &tappedRun{rtos: &rtoSink{pending: map[string]int{}}}
	r.n, r.tap = newTappedNet(t, seed, lossPath(p), r.rtos)
	src := seeded(seed, size)
	r.start = r.n.clk.Now()
	c, s := r.n.transfer(t, src, nil, nil)
	if s.read.Load() != int64(len(src)) || s.sum != sha256Of(src) {
		t.Fatalf("server read %d bytes, want %d; SHA-256 match %v", s.read.Load(), len(src), s.sum == sha256Of(src))
	}
	// The end is when the last gap was filled at the server, from the link:
	// the reader's own clock reading may come after the clock jumped to a
	// later timer, once nothing was left to receive.
	end, ok := r.tap.out.match().coveredAt(1 + int64(size)) // the SYN, then the data
	if !ok {
		t.Fatalf("the taps never saw all %d bytes arrive", size)
	}
	r.elapsed = end.Sub(r.start)
	if full := r.n.a.Stats().DroppedQueueFull + r.n.b.Stats().DroppedQueueFull; full > 0 {
		t.Fatalf("the pipe dropped %d packets on a full queue: the taps count them as delivered", full)
	}
	info := c.conn.Info().TCP
	r.mss, r.retransmits = info.MSS, info.Retransmits
	r.timeouts = r.n.client.Internals().TCPStats().Timeouts.Load()
	return r
}
