package tcp

// The receiver's RTT and receive-buffer autotuning (autotune.go): RTT
// samples finer than the timestamp clock, and a buffer that follows the
// path's bandwidth-delay product on a fast path yet grows for a reader that
// leaves it full.

import (
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// peerClock is the scripted peer's TSval at now: milliseconds from peerTS.
func peerClock(now time.Time) uint32 { return peerTS + uint32(now.Sub(base).Milliseconds()) }

// TestRcvRTTFinerThanTheTick: data echoing the tick of our latest segment
// is timed from when the first segment of that tick went out, in
// microseconds; later data echoing the same tick gives no sample; data
// echoing an older tick gives a millisecond sample, which raises the
// estimate by an eighth of the difference (Linux's receiver RTT).
func TestRcvRTTFinerThanTheTick(t *testing.T) {
	e := establishedFull(t)
	ecr := e.c.tsVal(e.now) // the handshake's ACK went out at e.now
	seg := bytesN(1000)

	t1 := e.now.Add(50 * time.Microsecond)
	e.c.HandleSegment(t1, in(ack, y+1, x+1, data(seg), ts(peerClock(t1), ecr)))
	e.take()
	// Each read empties the queue, so that no sample below is skipped as
	// a backlog's.
	e.c.Read(t1, make([]byte, 4096))
	if got := e.c.Info().RcvRTT; got != 50*time.Microsecond {
		t.Fatalf("RcvRTT after the first echo of the tick = %v, want 50µs", got)
	}
	t2 := t1.Add(400 * time.Microsecond)
	e.c.HandleSegment(t2, in(ack, y+1001, x+1, data(seg), ts(peerClock(t2), ecr)))
	e.take()
	if got := e.c.Info().RcvRTT; got != 50*time.Microsecond {
		t.Fatalf("RcvRTT after a second echo of the same tick = %v, want 50µs unchanged", got)
	}
	e.c.Read(t2, make([]byte, 4096))

	// Ten ticks later, data echoing the tick of three milliseconds before:
	// we have sent in later ticks since, so the sample is 3 ms.
	t3 := t2.Add(10 * time.Millisecond)
	e.c.HandleSegment(t3, in(ack, y+2001, x+1, data(seg), ts(peerClock(t3), e.c.tsVal(t3)-3)))
	if got, want := e.c.Info().RcvRTT, (7*50*time.Microsecond+3*time.Millisecond)/8; got != want {
		t.Fatalf("RcvRTT after a 3 ms sample = %v, want %v", got, want)
	}
	e.c.Read(t3, make([]byte, 4096))
	// A segment shorter than the largest seen gives no sample: the
	// sender may have been waiting for data to send.
	before := e.c.Info().RcvRTT
	t4 := t3.Add(time.Millisecond)
	e.c.HandleSegment(t4, in(ack, y+3001, x+1, data(bytesN(10)), ts(peerClock(t4), e.c.tsVal(t4)-1)))
	if got := e.c.Info().RcvRTT; got != before {
		t.Fatalf("RcvRTT after a short segment = %v, want %v unchanged", got, before)
	}
}

// stream has the scripted peer send e full segments, one every gap for d,
// as far as the window e last advertised allows, each echoing the TSval of
// e's latest segment (a path whose RTT is about gap). e's reader drains the
// receive buffer every readEvery (0: after each segment), readSize bytes
// a Read.
func stream(e *end, gap, readEvery, d time.Duration, readSize int) {
	e.t.Helper()
	const n = 1460
	payload, buf := bytesN(n), make([]byte, readSize)
	seq := y + 1
	// The handshake's ACK, taken by the fixture, offered this.
	edge, ecr := e.c.rcvAdv, e.c.tsVal(e.now)
	lastRead := e.now
	for now := e.now.Add(gap); now.Before(e.now.Add(d)); now = now.Add(gap) {
		if seq.Add(n).LessThanEq(edge) {
			e.c.HandleSegment(now, in(ack, seq, x+1, data(payload), ts(peerClock(now), ecr)))
			seq = seq.Add(n)
		}
		if readEvery == 0 || now.Sub(lastRead) >= readEvery {
			for {
				if k, _ := e.c.Read(now, buf); k == 0 {
					break
				}
			}
			lastRead = now
		}
		if segs := e.take(); len(segs) > 0 {
			last := segs[len(segs)-1]
			edge, ecr = last.Ack.Add(seqnum.Size(last.Window)<<e.c.rcvShift), last.Options.TSVal
		}
	}
	e.now = e.now.Add(d)
}

// TestAutotuneFollowsFastPath: on a path with a 20 µs RTT at about 580
// Mbit/s, with a reader that keeps up, the bandwidth-delay product is
// 1.5 KB: the receive buffer does not grow from its initial 128 KiB. With
// millisecond RTT samples it would size itself for 1 ms, 73 KB a
// round, and grow.
func TestAutotuneFollowsFastPath(t *testing.T) {
	e := establishedFull(t)
	initial := e.c.rcvBuf.ring.limit
	stream(e, 20*time.Microsecond, 0, 50*time.Millisecond, 32<<10)
	in := e.c.Info()
	if in.RcvRTT <= 0 || in.RcvRTT > 100*time.Microsecond {
		t.Fatalf("RcvRTT = %v on a 20 µs path", in.RcvRTT)
	}
	if in.RcvBuf != initial || e.env.Stats.ReceiveBufferGrown.Load() != 0 {
		t.Fatalf("receive buffer %d after a reader that kept up on a 20 µs path, want %d unchanged (grown %d times)",
			in.RcvBuf, initial, e.env.Stats.ReceiveBufferGrown.Load())
	}
}

// TestAutotuneGrowsForStalledReader: on the same path, a reader that
// drains the buffer only every 5 ms leaves it full, the sender waiting on
// it, most of the time: the buffer grows, so each wait lets more through.
// So it does whatever the size of the reader's reads (io.Copy's 32 KiB
// included): the measure ends at the first read after the wait, with
// most of the buffer still queued.
func TestAutotuneGrowsForStalledReader(t *testing.T) {
	for _, size := range []int{16 << 10, 32 << 10, 1 << 20} {
		e := establishedFull(t)
		initial := e.c.rcvBuf.ring.limit
		stream(e, 20*time.Microsecond, 5*time.Millisecond, 100*time.Millisecond, size)
		if got := e.c.rcvBuf.ring.limit; got < 2*initial {
			t.Errorf("reads of %d bytes: receive buffer %d after 100 ms of a reader that leaves it full, want at least %d",
				size, got, 2*initial)
		}
	}
}
