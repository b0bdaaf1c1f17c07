package tcp

// Window scaling, timestamps and PAWS (RFC 7323), and the SACK-permitted
// negotiation (RFC 2018 §2).

import (
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// peerTS is the scripted peer's timestamp clock at base.
const peerTS uint32 = 70000

// withOpts edits the options of an arriving segment.
func withOpts(f func(o *wire.TCPOptions)) func(*Segment) {
	return func(s *Segment) { f(&s.Options) }
}

// ts puts the timestamps option on an arriving segment.
func ts(val, ecr uint32) func(*Segment) {
	return withOpts(func(o *wire.TCPOptions) { o.HasTimestamps, o.TSVal, o.TSEcr = true, val, ecr })
}

// sackOf puts SACK blocks on an arriving segment.
func sackOf(blocks ...[2]seqnum.Value) func(*Segment) {
	return withOpts(func(o *wire.TCPOptions) {
		for i, b := range blocks {
			o.SACKBlocks[i] = wire.SACKBlock{Left: b[0], Right: b[1]}
		}
		o.NumSACKBlocks = len(blocks)
	})
}

// fullOptions is a SYN's every option: window scale shift, SACK-permitted
// and timestamps (TSval peerTS, TSecr ecr).
func fullOptions(shift uint8, ecr uint32) func(*Segment) {
	return withOpts(func(o *wire.TCPOptions) {
		o.HasMSS, o.MSS = true, 1460
		o.HasWindowScale, o.WindowScale = true, shift
		o.SACKPermitted = true
		o.HasTimestamps, o.TSVal, o.TSEcr = true, peerTS, ecr
	})
}

// establishedFull is synSent after a SYN,ACK agreeing to every option
// (the peer's window shift is 2) one rtt later.
func establishedFull(t *testing.T, opts ...cfgOpt) *end {
	t.Helper()
	e := synSent(t, opts...)
	e.now = at(rtt)
	e.c.HandleSegment(e.now, in(synack, y, x+1, fullOptions(2, e.c.tsVal(base))))
	e.expect(is(ack, x+1, y+1))
	e.state(StateEstablished)
	e.c.TakeEvents()
	return e
}

// hasTS checks the timestamps option of a sent segment.
func hasTS(val, ecr uint32) check {
	return func(t *testing.T, s *sentSeg) {
		t.Helper()
		o := s.Options
		if !o.HasTimestamps || o.TSVal != val || o.TSEcr != ecr {
			t.Fatalf("%v: timestamps %v %d %d, want %d %d", s, o.HasTimestamps, o.TSVal, o.TSEcr, val, ecr)
		}
	}
}

// TestClosedConnectOffersEveryOption: the SYN offers the MSS, a window
// scale big enough for the receive buffer's cap (6 MiB: shift 7),
// SACK-permitted and timestamps with TSecr 0 (RFC 7323 §3.2), and each
// option can be turned off.
func TestClosedConnectOffersEveryOption(t *testing.T) {
	e := newClient(t)
	e.c.SetTimestampOffset(12345)
	if err := e.c.Connect(base, x); err != nil {
		t.Fatal(err)
	}
	s := e.expect(is(syn, x, 0), hasTS(uint32(base.UnixMilli())+12345, 0))
	if o := s.Options; !o.HasMSS || !o.HasWindowScale || o.WindowScale != 7 || !o.SACKPermitted {
		t.Fatalf("SYN options %+v, want MSS, window scale 7, SACK-permitted", o)
	}
	e = newClient(t, func(c *Config) { c.NoWindowScaling, c.NoTimestamps, c.NoSACK = true, true, true })
	_ = e.c.Connect(base, x)
	if o := e.expect(is(syn, x, 0)).Options; !o.HasMSS || o.HasWindowScale || o.SACKPermitted || o.HasTimestamps {
		t.Fatalf("SYN options %+v with every option off, want the MSS alone", o)
	}
}

// TestListenAnswersOnlyWhatWasOffered: a SYN,ACK carries an RFC 7323 or
// RFC 2018 option only if the SYN did (RFC 7323 §1.3, §2.2; RFC 2018 §2).
func TestListenAnswersOnlyWhatWasOffered(t *testing.T) {
	for _, tc := range []struct {
		name           string
		offer          func(*wire.TCPOptions)
		ws, sack, tsOn bool
	}{
		{"nothing", func(*wire.TCPOptions) {}, false, false, false},
		{"SACK only", func(o *wire.TCPOptions) { o.SACKPermitted = true }, false, true, false},
		{"window scale only", func(o *wire.TCPOptions) { o.HasWindowScale, o.WindowScale = true, 3 }, true, false, false},
		{"timestamps only", func(o *wire.TCPOptions) { o.HasTimestamps, o.TSVal = true, peerTS }, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newServer(t, 16)
			e.deliver(base, in(syn, x, 0, mssOpt(1460), withOpts(tc.offer)))
			o := e.expect(is(synack, y, x+1)).Options
			if o.HasWindowScale != tc.ws || o.SACKPermitted != tc.sack || o.HasTimestamps != tc.tsOn {
				t.Fatalf("SYN,ACK options %+v, want ws %v sack %v ts %v", o, tc.ws, tc.sack, tc.tsOn)
			}
			if tc.tsOn && o.TSEcr != peerTS {
				t.Fatalf("SYN,ACK TSecr %d, want the SYN's TSval %d", o.TSEcr, peerTS)
			}
			if e.c.wsOK != tc.ws || e.c.sackOK != tc.sack || e.c.tsOK != tc.tsOn {
				t.Fatalf("negotiated ws %v sack %v ts %v", e.c.wsOK, e.c.sackOK, e.c.tsOK)
			}
		})
	}
}

// TestEstablishedWindowScaleApplied: after the handshake the peer's windows
// are shifted by its scale, ours by ours; the SYN's window is never scaled
// (RFC 7323 §2.2, §2.3).
func TestEstablishedWindowScaleApplied(t *testing.T) {
	e := establishedFull(t)
	if e.c.SndWnd() != peerWnd {
		t.Fatalf("SND.WND %d after the SYN,ACK, want its window %d unscaled", e.c.SndWnd(), peerWnd)
	}
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, wnd(1000), ts(peerTS+1, 0)))
	if e.c.SndWnd() != 4000 {
		t.Fatalf("SND.WND %d for a window field of 1000 at shift 2, want 4000", e.c.SndWnd())
	}
	// Our window field is the free buffer shifted by our scale (7), rounded
	// up where rounding down would move the right edge already advertised
	// to the left (RFC 9293 §3.8.6.2.2).
	buf := e.env.Config.ReceiveBufferSize
	if s := e.c.advertise(false); int(s) != buf>>7 {
		t.Fatalf("window field %d, want buffer>>7 = %d", s, buf>>7)
	}
	e.c.HandleSegment(at(sec), in(pshack, y+1, x+1, data(bytesN(10)), ts(peerTS+2, 0)))
	s := e.expect(is(ack, x+1, y+11))
	if want := (buf - 10 + 127) >> 7; int(s.Window) != want {
		t.Fatalf("window field %d, want (buffer-10)/128 rounded up = %d", s.Window, want)
	}
}

// TestSynSentWindowScaleAbove14Clamped: a shift above 14 is used as 14 and
// counted (RFC 7323 §2.3).
func TestSynSentWindowScaleAbove14Clamped(t *testing.T) {
	e := synSent(t)
	e.c.HandleSegment(at(rtt), in(synack, y, x+1, withOpts(func(o *wire.TCPOptions) {
		o.HasWindowScale, o.WindowScale = true, 20
	})))
	e.expect(is(ack, x+1, y+1))
	if e.env.Stats.WindowScaleClamped.Load() != 1 {
		t.Fatal("WindowScaleClamped not counted")
	}
	e.c.HandleSegment(at(sec), in(ack, y+1, x+1, wnd(3)))
	if e.c.SndWnd() != 3<<14 {
		t.Fatalf("SND.WND %d, want 3<<14", e.c.SndWnd())
	}
}

// TestEstablishedPAWSDropsOldTimestamp: a segment whose TSval is older than
// TS.Recent is an old duplicate: dropped, counted, answered with an ACK
// (RFC 7323 §5.3 R1); a newer one is processed and becomes TS.Recent, which
// the next ACK echoes (R3, §4.3).
func TestEstablishedPAWSDropsOldTimestamp(t *testing.T) {
	e := establishedFull(t)
	e.c.HandleSegment(at(sec), in(pshack, y+1, x+1, data([]byte("old")), ts(peerTS-1, 0)))
	e.expect(is(ack, x+1, y+1), hasTS(e.c.tsVal(at(sec)), peerTS))
	if e.env.Stats.DropPAWS.Load() != 1 || e.c.RecvQueue() != 0 {
		t.Fatalf("DropPAWS %d, RecvQ %d: the old segment was not dropped", e.env.Stats.DropPAWS.Load(), e.c.RecvQueue())
	}
	e.c.HandleSegment(at(sec), in(pshack, y+1, x+1, data([]byte("new")), ts(peerTS+5, 0)))
	e.expect(is(ack, x+1, y+4), hasTS(e.c.tsVal(at(sec)), peerTS+5))
	// A RST is not subject to PAWS (R1 excludes it).
	e.c.HandleSegment(at(sec), in(rst, y+4, 0, ts(peerTS-100, 0)))
	e.state(StateClosed)
}

// TestEstablishedPAWSIdle24Days: after 24 days without an update TS.Recent
// is stale and an "older" TSval is taken (RFC 7323 §5.5).
func TestEstablishedPAWSIdle24Days(t *testing.T) {
	e := establishedFull(t)
	later := at(25 * 24 * time.Hour)
	e.c.HandleSegment(later, in(pshack, y+1, x+1, data([]byte("hi")), ts(peerTS-1000, 0)))
	e.expect(is(ack, x+1, y+3))
	if e.env.Stats.DropPAWS.Load() != 0 {
		t.Fatal("a segment after 24 idle days was dropped by PAWS")
	}
}

// TestEstablishedMissingTimestampDropped: once both sides agreed to send
// timestamps, a non-RST segment without them is dropped silently; a RST
// without them is processed (RFC 7323 §3.2).
func TestEstablishedMissingTimestampDropped(t *testing.T) {
	e := establishedFull(t)
	e.c.HandleSegment(at(sec), in(pshack, y+1, x+1, data([]byte("x"))))
	e.expectNone()
	if e.env.Stats.DropNoTimestamp.Load() != 1 || e.c.RecvQueue() != 0 {
		t.Fatal("a segment without timestamps was not dropped")
	}
	e.c.HandleSegment(at(sec), in(rst, y+1, 0))
	e.state(StateClosed)
}

// TestEstablishedRTTFromTimestamps: the echoed timestamp times an ACK even
// for a retransmitted segment, which Karn's rule leaves untimed without
// them (RFC 7323 §4.1 and Appendix G).
func TestEstablishedRTTFromTimestamps(t *testing.T) {
	e := establishedFull(t)
	before := e.c.SRTT()
	e.write(at(sec), bytesN(100))
	e.take()
	when := e.fire() // the RTO resends it
	s := e.expect(is(pshack, x+1, y+1), hasLen(100))
	e.c.HandleSegment(when.Add(50*time.Millisecond), in(ack, y+1, x+101, ts(peerTS+1, s.Options.TSVal)))
	want := (7*before + 50*time.Millisecond) / 8
	if e.c.SRTT() != want {
		t.Fatalf("SRTT %v after a 50 ms sample from SRTT %v, want %v", e.c.SRTT(), before, want)
	}
}

// TestEstablishedMSSLessTimestamps: with timestamps each segment carries 12
// bytes of option, so full segments carry the MSS less 12 (RFC 6691), and
// the IP packet stays within the peer's MSS.
func TestEstablishedMSSLessTimestamps(t *testing.T) {
	e := establishedFull(t, func(c *Config) { c.MSS = 1460 })
	if e.c.MSS() != 1448 {
		t.Fatalf("MSS %d, want 1460-12", e.c.MSS())
	}
	e.write(at(sec), bytesN(3000))
	for _, s := range e.take() {
		if l := len(s.Payload) + s.Options.Len(); l > 1460 {
			t.Fatalf("%v: payload+options %d beyond the MSS 1460", s, l)
		}
	}
}
