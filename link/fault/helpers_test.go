package fault_test

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/fault"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const mtu = 1500

// arrival is a packet seen by a fakeLink or a sink, and when.
type arrival struct {
	at  time.Time
	pkt []byte
}

// seq is the number packet wrote into the first four bytes.
func (a arrival) seq() int { return int(binary.BigEndian.Uint32(a.pkt)) }

// fakeLink is the inner endpoint of the tests: it records, with the
// clock's time, every packet written to it, and Inject plays the wire
// delivering a packet inbound.
type fakeLink struct {
	clk    clock.Clock
	mu     sync.Mutex
	d      link.Dispatcher
	sent   []arrival
	closed bool
}

var _ link.Endpoint = (*fakeLink)(nil)

func (f *fakeLink) MTU() int { return mtu }

func (f *fakeLink) Attach(d link.Dispatcher) {
	f.mu.Lock()
	f.d = d
	f.mu.Unlock()
}

func (f *fakeLink) WritePacket(pkt []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return link.ErrClosed
	}
	f.sent = append(f.sent, arrival{f.clk.Now(), bytes.Clone(pkt)})
	return nil
}

func (f *fakeLink) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// Inject delivers pkt to whatever is attached, as the wire would.
func (f *fakeLink) Inject(pkt []byte) {
	f.mu.Lock()
	d := f.d
	f.mu.Unlock()
	if d != nil {
		d.DeliverPacket(pkt)
	}
}

// Sent returns a copy of what was written so far.
func (f *fakeLink) Sent() []arrival {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]arrival(nil), f.sent...)
}

// sink is the Dispatcher of the tests: it records, with the clock's time,
// every packet delivered to it.
type sink struct {
	clk clock.Clock
	mu  sync.Mutex
	got []arrival
}

func (s *sink) DeliverPacket(pkt []byte) {
	s.mu.Lock()
	s.got = append(s.got, arrival{s.clk.Now(), bytes.Clone(pkt)})
	s.mu.Unlock()
}

// Got returns a copy of what was delivered so far.
func (s *sink) Got() []arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]arrival(nil), s.got...)
}

// fixture is a fault Endpoint around a fakeLink, with a sink attached,
// all on one virtual clock.
type fixture struct {
	clk   *clock.Virtual
	e     *fault.Endpoint
	inner *fakeLink
	sink  *sink
}

func newFixture(t testing.TB, cfg fault.Config) *fixture {
	t.Helper()
	clk := clock.NewVirtual(epoch)
	cfg.Clock = clk
	f := &fixture{clk: clk, inner: &fakeLink{clk: clk}, sink: &sink{clk: clk}}
	f.e = fault.New(f.inner, cfg)
	f.e.Attach(f.sink)
	t.Cleanup(func() { f.e.Close() })
	return f
}

// packet returns a packet of size bytes (at least 4) numbered seq: the
// number in the first four bytes, then a pattern.
func packet(seq, size int) []byte {
	p := make([]byte, max(size, 4))
	binary.BigEndian.PutUint32(p, uint32(seq))
	for i := 4; i < len(p); i++ {
		p[i] = byte(seq*7 + i)
	}
	return p
}

// write writes pkt to e and fails the test on an error.
func write(t testing.TB, e *fault.Endpoint, pkt []byte) {
	t.Helper()
	if err := e.WritePacket(pkt); err != nil {
		t.Fatalf("WritePacket: %v", err)
	}
}

// seqs returns the packet numbers of arrivals, in order.
func seqs(as []arrival) []int {
	s := make([]int, len(as))
	for i, a := range as {
		s[i] = a.seq()
	}
	return s
}
