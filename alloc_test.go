package synack_test

import (
	"io"
	"testing"

	"github.com/synack-net/synack/link/pipe"
)

// The hot path allocates nothing in steady state: a request and its
// response, and a bulk transfer, between two stacks over a pipe (the
// benchmark's rr-allocs and bulk-allocs goals, here as a test that fails
// the moment a change makes a segment escape to the heap). AllocsPerRun
// counts every goroutine's allocations, the pipe's and the stacks' too;
// its average is rounded down, so a rare allocation of the runtime's own
// does not fail it, but one per segment does.
//
// The race detector allocates on its own account (sync.Pool drops what it
// is given at random, so pooled wake channels are made again), so these
// run without it: .ci/run runs them in a pass of their own.

// raceEnabled is set by race_on_test.go when the race detector is on.
var raceEnabled bool

func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts need a build without the race detector, which allocates on its own account (.ci/run runs this test without -race)")
	}
}

func TestRoundTripAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	p := newPair(t, pairConfig{})
	l := p.listen(t, 80, 8)
	c, s := p.connect(t, l)
	defer c.Close()
	defer s.Close()
	c.SetNoDelay(true)
	s.SetNoDelay(true)
	req, resp := make([]byte, 1), make([]byte, 1)
	trip := func() {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, resp); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(resp); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, req); err != nil {
			t.Fatal(err)
		}
	}
	for range 1000 { // warm up: buffers, pools, timers
		trip()
	}
	if n := testing.AllocsPerRun(2000, trip); n != 0 {
		t.Fatalf("%v allocations per round trip, want 0", n)
	}
}

func TestBulkAllocatesNothing(t *testing.T) { bulkAllocs(t, 0) }

// TestBulkNotSentLowatAllocatesNothing: with TCP_NOTSENT_LOWAT at 16 KiB,
// the writer of each 64 KiB waits and is woken several times: none of
// that allocates either.
func TestBulkNotSentLowatAllocatesNothing(t *testing.T) { bulkAllocs(t, 16<<10) }

// TestBulkSharedAllocatesNothing: at MTU 65535 on a pipe that leaves
// checksums out, segments leave with their text in the send buffer and
// the receiver keeps it there (shared text: stack/share.go); holding and
// releasing it allocates nothing either.
func TestBulkSharedAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	a, b := pipe.NewWithOptions(65535, pipe.Options{ChecksumOffload: true})
	p := newPairOn(t, pairConfig{}, a, b) // no hold counter: its wrapping allocates
	bulkAllocsOn(t, p, 0)
	if p.server.Internals().TCPStats().ReceiveShared.Load() == 0 {
		t.Fatal("no text was shared")
	}
}

// bulkAllocs moves 64 KiB chunks from client to server, the client's
// TCP_NOTSENT_LOWAT set to lowat (0: none), and fails on any allocation
// in steady state.
func bulkAllocs(t *testing.T, lowat int) {
	skipUnderRace(t)
	bulkAllocsOn(t, newPair(t, pairConfig{}), lowat)
}

// bulkAllocsOn is bulkAllocs on the pair p.
func bulkAllocsOn(t *testing.T, p *pair, lowat int) {
	l := p.listen(t, 80, 8)
	c, s := p.connect(t, l)
	defer c.Close()
	defer s.Close()
	if err := c.SetNotSentLowat(lowat); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	got := make([]byte, len(chunk))
	read := make(chan error) // the reader's word for each chunk: no allocation per send
	go func() {
		for {
			_, err := io.ReadFull(s, got)
			read <- err
			if err != nil {
				return
			}
		}
	}()
	move := func() {
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if err := <-read; err != nil {
			t.Fatal(err)
		}
	}
	for range 200 {
		move()
	}
	// 64 KiB is 45 segments and their ACKs: one allocation per segment
	// would show as 45 or more.
	if n := testing.AllocsPerRun(200, move); n != 0 {
		t.Fatalf("%v allocations per 64 KiB moved (45 segments), want 0", n)
	}
	c.Close()
	<-read // the reader ends with the connection
}
