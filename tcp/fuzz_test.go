package tcp

// FuzzEngine: arbitrary segments, user calls and timer firings against
// connections in every state. The engine must not panic, and after every
// step the invariants of the TCB hold.

import (
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// fuzzFixtures are the states a fuzzed connection starts from.
var fuzzFixtures = []func(*testing.T, ...cfgOpt) *end{
	synSent, established, finWait1, finWait2, timeWait, closing, closeWait, lastAck, synReceived, serverEstablished,
}

// fuzzConfig keeps buffers, windows and timers small so that the fuzzer
// reaches full buffers, zero windows, retry limits and TIME-WAIT expiry.
func fuzzConfig(c *Config) {
	c.MSS = 100
	c.SendBufferSize = 1500
	c.ReceiveBufferSize = 700
	c.SYNRetries, c.SYNACKRetries, c.Retries = 2, 2, 3
	c.MSL = time.Second
	c.FinWait2Timeout = 3 * time.Second
	c.MaxRTO = 4 * time.Second
}

// fuzzInput hands out the fuzz bytes; past the end it reads zeros.
type fuzzInput []byte

func (b *fuzzInput) byte() byte {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return v
}

func (b *fuzzInput) u16() uint16 { return uint16(b.byte())<<8 | uint16(b.byte()) }
func (b *fuzzInput) u32() uint32 { return uint32(b.u16())<<16 | uint32(b.u16()) }

// segment builds an arriving segment whose numbers are mostly near the
// connection's own, so that the fuzzer gets past the sequence check.
func (b *fuzzInput) segment(c *Conn) *Segment {
	seg := &Segment{Flags: wire.TCPFlags(b.byte())}
	switch m := b.byte(); m % 4 {
	case 0:
		seg.Seq = c.rcvNxt.Add(seqnum.Size(int8(b.byte())))
	case 1:
		seg.Seq = c.rcvNxt.Add(seqnum.Size(int16(b.u16())))
	case 2:
		seg.Seq = seqnum.Value(b.u32())
	default:
		seg.Seq = c.irs.Add(seqnum.Size(b.byte()))
	}
	switch m := b.byte(); m % 4 {
	case 0:
		seg.Ack = c.sndUna.Add(seqnum.Size(int8(b.byte())))
	case 1:
		seg.Ack = c.sndNxt.Add(seqnum.Size(b.byte() % 4))
	case 2:
		seg.Ack = seqnum.Value(b.u32())
	default:
		seg.Ack = c.iss.Add(seqnum.Size(b.u16()))
	}
	switch w := b.byte(); w % 4 {
	case 0:
		seg.Window = 0
	case 1:
		seg.Window = uint16(w)
	default:
		seg.Window = b.u16()
	}
	if o := b.byte(); o%5 == 0 {
		seg.Options.HasMSS, seg.Options.MSS = true, uint16(o)*4
	}
	if n := int(b.byte()) % 220; n > 0 {
		seg.Payload = bytesN(n)
	}
	return seg
}

// fuzzState tracks, per connection, what must only move one way.
type fuzzState struct {
	edge   map[*Conn]seqnum.Value // right edge of the window last advertised
	una    map[*Conn]seqnum.Value
	rcvNxt map[*Conn]seqnum.Value
	closed map[*Conn]bool
	sent   map[*Conn]seqnum.Value // end of the highest data sent
}

func newFuzzState() *fuzzState {
	return &fuzzState{map[*Conn]seqnum.Value{}, map[*Conn]seqnum.Value{}, map[*Conn]seqnum.Value{}, map[*Conn]bool{}, map[*Conn]seqnum.Value{}}
}

// checkSent checks the segments sent since the last step.
func (f *fuzzState) checkSent(t *testing.T, segs []sentSeg) {
	t.Helper()
	for _, sg := range segs {
		if sg.c == nil {
			if !sg.Flags.Has(rst) {
				t.Fatalf("no-connection answer %v is not a RST", sg)
			}
			continue
		}
		if f.closed[sg.c] {
			t.Fatalf("%v sent by a CLOSED connection", sg)
		}
		if n := len(sg.Payload); n > 0 {
			if n > sg.c.mss {
				t.Fatalf("%v: payload above the MSS %d", sg, sg.c.mss)
			}
			// The peer's window bounds the sequence space from SND.UNA; cwnd
			// bounds it too while nothing is SACKed (with SACK, cwnd bounds
			// the bytes in flight, RFC 6675's pipe, not the span). Old data
			// may go again beyond a window that shrank, as a reordered
			// window update can make it seem to (RFC 9293 §3.8.6: the
			// sender "MAY also retransmit old data beyond SND.UNA+SND.WND").
			limit := sg.una.Add(sg.wnd)
			if sg.sacked == 0 {
				limit = sg.una.Add(min(sg.wnd, seqnum.Size(sg.cwnd)))
			}
			end := sg.Seq.Add(seqnum.Size(n))
			sent, ok := f.sent[sg.c]
			if !ok || sent.LessThan(end) {
				f.sent[sg.c] = end
			}
			if end.GreaterThan(limit) && (!ok || end.GreaterThan(sent)) {
				t.Fatalf("%v ends at %d beyond SND.UNA+min(SND.WND, cwnd) = %d (una %d wnd %d cwnd %d sacked %d)", sg, end, limit, sg.una, sg.wnd, sg.cwnd, sg.sacked)
			}
		}
		if sg.Flags.Has(ack) && !sg.Flags.Has(rst) {
			edge := sg.Ack.Add(seqnum.Size(sg.Window))
			if prev, ok := f.edge[sg.c]; ok && edge.LessThan(prev) {
				t.Fatalf("%v moves the window's right edge left, from %d to %d", sg, prev, edge)
			}
			f.edge[sg.c] = edge
		}
	}
}

// checkConn checks the invariants of the TCB of c.
func (f *fuzzState) checkConn(t *testing.T, c *Conn, l *Listener) {
	t.Helper()
	if f.closed[c] && c.state != StateClosed {
		t.Fatalf("a CLOSED connection came back as %v", c.state)
	}
	if c.state == StateClosed {
		f.closed[c] = true
		if !c.Deadline().IsZero() {
			t.Fatalf("CLOSED with a timer at %v", fmtTime(c.Deadline()))
		}
		return
	}
	if !c.sndUna.LessThanEq(c.sndNxt) || !c.sndNxt.LessThanEq(c.sndMax) {
		t.Fatalf("%v: want SND.UNA %d <= SND.NXT %d <= SND.MAX %d", c.state, c.sndUna, c.sndNxt, c.sndMax)
	}
	if c.state.synchronized() {
		out := int(c.sndUna.Size(c.sndMax))
		if c.finSent {
			out--
		}
		if out > c.sndBuf.Len() {
			t.Fatalf("%v: %d bytes outstanding but %d queued", c.state, out, c.sndBuf.Len())
		}
		if prev, ok := f.una[c]; ok && c.sndUna.LessThan(prev) {
			t.Fatalf("SND.UNA went back from %d to %d", prev, c.sndUna)
		}
		if prev, ok := f.rcvNxt[c]; ok && c.rcvNxt.LessThan(prev) {
			t.Fatalf("RCV.NXT went back from %d to %d", prev, c.rcvNxt)
		}
		f.una[c], f.rcvNxt[c] = c.sndUna, c.rcvNxt
	}
	if c.sndBuf.Len() > c.sndBuf.limit || c.rcvBuf.Len() > c.rcvBuf.ring.limit {
		t.Fatalf("buffers over their limits: send %d receive %d", c.sndBuf.Len(), c.rcvBuf.Len())
	}
	if int(c.rcvWnd()) > c.rcvBuf.Free() {
		t.Fatalf("advertised %d bytes but only %d are free", c.rcvWnd(), c.rcvBuf.Free())
	}
	// Liveness: whatever is owed to the peer has a timer behind it.
	finOwed := c.finQueued && !(c.finSent && c.sndUna == c.finSeq.Add(1))
	owed := c.state.sending() && (c.sndBuf.Len() > 0 || finOwed)
	switch {
	case c.state == StateSynSent, c.state == StateSynReceived, c.state == StateTimeWait, owed:
		if c.Deadline().IsZero() {
			t.Fatalf("%v with %d bytes queued (FIN owed %v) and no timer", c.state, c.sndBuf.Len(), finOwed)
		}
	}
	if l != nil && c.listener == l {
		half, ready := 0, 1
		if c.state == StateSynReceived {
			half, ready = 1, 0
		}
		if l.HalfOpen() != half || l.Ready() != ready {
			t.Fatalf("%v: listener half-open %d ready %d", c.state, l.HalfOpen(), l.Ready())
		}
	}
}

func FuzzEngine(f *testing.F) {
	f.Add([]byte{1})                                                   // ESTABLISHED, nothing happens
	f.Add([]byte{1, 0, 0x10, 0, 0, 0, 0, 2, 0xff, 0xff, 0, 100})       // ESTABLISHED: data at RCV.NXT
	f.Add([]byte{1, 1, 200, 7, 0, 0, 0, 0, 0, 0, 3, 0, 0xff, 4, 0})    // write, zero window, timers
	f.Add([]byte{0, 0, 0x12, 3, 0, 1, 0, 2, 0xff, 0xff, 0, 0})         // SYN-SENT: a SYN,ACK
	f.Add([]byte{0, 4, 0, 4, 0, 4, 0, 4, 0})                           // SYN-SENT: timers to ETIMEDOUT
	f.Add([]byte{8, 0, 0x10, 0, 1, 0, 0, 2, 0xff, 0xff, 0, 0})         // SYN-RECEIVED: the final ACK
	f.Add([]byte{4, 0, 0x11, 0, 0xff, 0, 0, 2, 0xff, 0xff, 0, 0, 4})   // TIME-WAIT: FIN again, expiry
	f.Add([]byte{2, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0})               // FIN-WAIT-1: RST
	f.Add([]byte{6, 1, 250, 0, 0x10, 0, 0, 1, 2, 2, 0xff, 0xff, 0, 0}) // CLOSE-WAIT: write, ACK
	f.Add([]byte{9, 2, 100, 3, 5, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0})    // server: read, close, FIN
	f.Fuzz(fuzzEngine)
}

// fuzzEngine starts from the fixture the first byte names, then plays the
// rest as steps: segments, user calls, time and timers.
func fuzzEngine(t *testing.T, data []byte) {
	in := fuzzInput(data)
	e := fuzzFixtures[int(in.byte())%len(fuzzFixtures)](t, fuzzConfig)
	sink := trace.SinkFunc(func(ev *trace.Event) { _ = ev.String() })
	e.env.Trace = sink
	st := newFuzzState()
	now := e.now
	buf := make([]byte, 256)
	for step := 0; len(in) > 0 && step < 200; step++ {
		c := e.c
		switch op := in.byte(); op % 8 {
		case 0, 5:
			now = now.Add(time.Duration(in.byte()) * time.Millisecond)
			e.deliver(now, in.segment(c))
		case 1:
			_, _ = c.Write(now, bytesN(int(in.u16())%2000))
		case 2:
			_, _ = c.Read(now, buf[:in.byte()])
		case 3:
			switch in.byte() % 8 {
			case 0:
				c.Close(now)
			case 1:
				_ = c.CloseWrite(now)
			case 2:
				c.Abort(now)
			case 3:
				c.ICMPError(now, c.SndUna(), syscall.EHOSTUNREACH, in.byte()&1 == 0)
			case 5:
				c.SetPathMTU(now, c.SndUna().Add(seqnum.Size(in.byte())), int(in.u16()))
			case 4:
				if e.l != nil && e.l.Accept() != nil && e.l.Ready() != 0 {
					t.Fatal("Accept left the queue non-empty")
				}
			}
		case 4:
			// Run the timer at its deadline, as the stack does.
			if d := c.Deadline(); !d.IsZero() {
				now = latest(now, d)
				c.HandleTimer(now)
				if d2 := c.Deadline(); !d2.IsZero() && !d2.After(now) {
					t.Fatalf("HandleTimer(%v) left the deadline at %v", fmtTime(now), fmtTime(d2))
				}
			}
		case 6:
			now = now.Add(time.Duration(in.u16()) * time.Millisecond)
		case 7:
			c.HandleTimer(now) // early or late: must be harmless
		}
		c.TakeEvents()
		st.checkSent(t, e.out.takeFor(e.remote))
		st.checkConn(t, c, e.l)
		if e.c != c {
			st.checkConn(t, e.c, e.l)
		}
	}
}

// latest is the later of a and b.
func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
