package synack_test

import (
	"testing"

	"github.com/synack-net/synack/trace"
)

// TestTraceEventsCarryStackTime: every event a stack reports is stamped
// with the stack's clock (here virtual, so the times are exact).
func TestTraceEventsCarryStackTime(t *testing.T) {
	rec := &trace.Recorder{}
	p := newPair(t, pairConfig{virtual: true, trace: rec})
	c, s := p.connect(t, p.listen(t, 80, 1))
	c.Close()
	s.Close()
	p.settle(t)
	now := p.clk.Now()
	events := rec.Events()
	if len(events) < 7 {
		t.Fatalf("only %d events for a handshake and a close", len(events))
	}
	for _, e := range events {
		if !e.Time.Equal(now) {
			t.Fatalf("event %q at %v, want the virtual clock's %v", e.String(), e.Time, now)
		}
	}
}
