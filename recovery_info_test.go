package synack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/tcp"
)

// TestInfoCountsEachRecovery: a 2 MiB upload over a 10 ms path losing 3%
// of packets each way. The sender's tcp.Info counts its recoveries, loss
// probes, lost retransmissions and timeouts exactly as the stack's
// counters under Linux's names do (the only connection sending data is
// this one), shows RACK's minimum RTT as the path's, sees no reordering
// (an ACK that SACKs above and cumulatively covers below after lost ACKs
// is not reordering), and prints them in its ss-style line.
func TestInfoCountsEachRecovery(t *testing.T) {
	const size = 2 << 20
	d := fault.Direction{Loss: 0.03, Delay: 5 * time.Millisecond}
	n := newLossyNet(t, 21, d, d, tcp.Config{})
	var info tcp.Info
	n.transfer(t, seeded(3, size), nil, func(c, s *side) bool {
		if in := c.conn.Info().TCP; in.MSS != 0 && in.Timestamps {
			info = in // the last view before the close drops the loss state
		}
		return false
	})
	st := n.client.Internals().TCPStats()
	t.Logf("client %v", info)
	t.Logf("stack: SackRecovery %d LossProbes %d LostRetransmit %d Timeouts %d RetransSegs %d",
		st.TCPSackRecovery.Load(), st.TCPLossProbes.Load(), st.TCPLostRetransmit.Load(), st.Timeouts.Load(), st.RetransSegs.Load())
	if info.Recoveries == 0 || uint64(info.Recoveries) != st.TCPSackRecovery.Load() {
		t.Errorf("Info.Recoveries %d, TCPSackRecovery %d: want equal and nonzero", info.Recoveries, st.TCPSackRecovery.Load())
	}
	if uint64(info.LossProbes) != st.TCPLossProbes.Load() || uint64(info.LostRetransmits) != st.TCPLostRetransmit.Load() {
		t.Errorf("Info.LossProbes %d LostRetransmits %d, stack %d %d: want equal",
			info.LossProbes, info.LostRetransmits, st.TCPLossProbes.Load(), st.TCPLostRetransmit.Load())
	}
	if uint64(info.Timeouts) > st.Timeouts.Load() { // the stack's also counts a lost SYN's
		t.Errorf("Info.Timeouts %d above the stack's %d", info.Timeouts, st.Timeouts.Load())
	}
	if info.MinRTT < 9900*time.Microsecond || info.MinRTT > 12*time.Millisecond {
		t.Errorf("MinRTT %v, want the path's 10 ms", info.MinRTT)
	}
	if info.ReorderSeen {
		t.Error("reordering seen on a path that loses but never reorders")
	}
	if s := info.String(); !strings.Contains(s, "recoveries:") || !strings.Contains(s, "minrtt:") {
		t.Errorf("Info.String() %q lacks the recovery counters", s)
	}
}
