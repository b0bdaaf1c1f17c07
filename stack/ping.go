package stack

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/synack-net/synack/wire"
)

// pingTable holds the echo requests waiting for their reply, by
// identifier and sequence number (RFC 792). It has a lock of its own.
// What it holds is bounded by the Ping calls in progress: a reply nobody
// waits for is counted (ICMPInEchoReps) and dropped.
type pingTable struct {
	mu    sync.Mutex
	waits map[uint32]*pingWait // ident<<16 | seq
	next  uint16               // the next identifier to try
	shut  bool
}

type pingWait struct {
	payload []byte
	done    chan time.Time // the reply's arrival, on the stack's clock
}

// Ping sends an ICMP echo request with sequence number seq and payload to
// dst and waits for the reply with the same identifier, sequence number
// and payload, or until ctx is done. It returns the round-trip time on the
// stack's clock. Each call has an identifier of its own, so calls in
// parallel do not take each other's replies.
func (s *Stack) Ping(ctx context.Context, dst netip.Addr, seq uint16, payload []byte) (time.Duration, error) {
	if !dst.Is4() || !s.validSource(dst) {
		return 0, syscall.EINVAL
	}
	n := wire.IPv4MinHeaderLen + wire.ICMPv4HeaderLen + len(payload)
	if n > 65535 {
		return 0, syscall.EMSGSIZE // more than one IPv4 datagram holds
	}
	if err := s.reachable(dst); err != nil {
		return 0, err
	}
	w := &pingWait{payload: bytes.Clone(payload), done: make(chan time.Time, 1)}
	id, err := s.pings.add(seq, w)
	if err != nil {
		return 0, err
	}
	defer s.pings.remove(id, seq)
	sent := s.clk.Now()
	s.stats.ICMPOutEchos.Add(1)
	s.sendEcho(wire.ICMPv4EchoRequest, dst, uint32(id)<<16|uint32(seq), payload)
	select {
	case at, ok := <-w.done:
		if !ok {
			return 0, ErrClosed
		}
		return at.Sub(sent), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// add lists w under a free identifier and returns it.
func (t *pingTable) add(seq uint16, w *pingWait) (uint16, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shut {
		return 0, ErrClosed
	}
	if t.waits == nil {
		t.waits = make(map[uint32]*pingWait)
		t.next = uint16(rand.Uint32()) // identifiers hard to guess, as Linux's ping sockets give
	}
	for {
		id := t.next
		t.next++
		if k := uint32(id)<<16 | uint32(seq); t.waits[k] == nil {
			t.waits[k] = w
			return id, nil
		}
	}
}

func (t *pingTable) remove(id, seq uint16) {
	t.mu.Lock()
	delete(t.waits, uint32(id)<<16|uint32(seq))
	t.mu.Unlock()
}

// reply hands an echo reply to the Ping waiting for it, if any.
func (t *pingTable) reply(m wire.ICMPv4, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := uint32(m.Ident())<<16 | uint32(m.Seq())
	if w := t.waits[k]; w != nil && bytes.Equal(w.payload, m.Payload()) {
		delete(t.waits, k)
		w.done <- now
	}
}

// close ends the pings in progress: the stack is closing.
func (t *pingTable) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.shut = true
	for k, w := range t.waits {
		close(w.done)
		delete(t.waits, k)
	}
}

// sendEcho sends an echo request or reply of rest and payload to dst:
// in one packet when it fits the path MTU, else in fragments (RFC 791),
// as Linux sends and answers a ping larger than the MTU. It reports
// whether the link took it all. Pings are rare: the buffers are made for
// them rather than pooled, unless the link hands its own.
func (s *Stack) sendEcho(typ uint8, dst netip.Addr, rest uint32, payload []byte) bool {
	buf := func(n int) []byte {
		if s.hand != nil {
			return s.hand.NewBuffer(n)
		}
		return make([]byte, n)
	}
	var h [wire.ICMPv4HeaderLen]byte
	(&wire.ICMPv4Fields{Type: typ, Rest: rest}).Encode(h[:])
	binary.BigEndian.PutUint16(h[2:], ^wire.Checksum(payload, wire.Checksum(h[:], 0)))
	n := wire.IPv4MinHeaderLen + len(h) + len(payload)
	if mtu := s.pathMTU(dst); n > mtu {
		return s.writeFragments(wire.ProtocolICMPv4, dst, h[:], payload, mtu, buf)
	}
	p := buf(n)
	s.directIPv4Header(p, wire.ProtocolICMPv4, dst, n)
	copy(p[wire.IPv4MinHeaderLen+copy(p[wire.IPv4MinHeaderLen:], h[:]):], payload)
	return s.writeDirect(p) == nil
}
