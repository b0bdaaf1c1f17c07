package lab

import (
	"errors"
	"testing"

	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// TestRecordHandshake: Record gives the handshake's connection with both
// sides' events, each side's numbers relative (the SYN seq=0, the SYN-ACK
// ack=1), in the order they happened, and both sides' states.
func TestRecordHandshake(t *testing.T) {
	r, err := Record("handshake", Options{Seed: DefaultSeed})
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "handshake" || len(r.Conns) != 1 || r.Story == "" || r.RFC == "" || len(r.Outcome) == 0 {
		t.Fatalf("recording: %+v", r)
	}
	c := r.Conns[0]
	var got []string
	states := map[string]bool{}
	for _, e := range c.Events {
		switch {
		case e.Kind == trace.KindSegmentSent && e.Local == c.Left:
			got = append(got, "client sent "+e.Flags.String())
			if e.Flags == wire.FlagSYN && e.Seq != 0 {
				t.Errorf("client's SYN seq=%d; want 0 (relative)", e.Seq)
			}
		case e.Kind == trace.KindSegmentSent && e.Local == c.Right:
			got = append(got, "server sent "+e.Flags.String())
			if e.Flags == wire.FlagSYN|wire.FlagACK && (e.Seq != 0 || e.Ack != 1) {
				t.Errorf("server's SYN,ACK seq=%d ack=%d; want 0 and 1 (relative)", e.Seq, e.Ack)
			}
		case e.Kind == trace.KindStateChange:
			states[e.Host+" "+e.State] = true
		}
	}
	if len(got) < 3 || got[0] != "client sent SYN" || got[1] != "server sent SYN,ACK" || got[2] != "client sent ACK" {
		t.Errorf("segments sent: %q; want SYN, SYN,ACK, ACK first", got)
	}
	for _, s := range []string{"client SYN-SENT", "client ESTABLISHED", "server SYN-RECEIVED", "server ESTABLISHED"} {
		if !states[s] {
			t.Errorf("no state change %q in %v", s, states)
		}
	}
	var unknown *UnknownError
	if _, err := Record("nope", Options{}); !errors.As(err, &unknown) {
		t.Errorf("Record(nope): %v; want an *UnknownError", err)
	}
}
