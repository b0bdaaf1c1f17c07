package synack_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// seededReader is n pseudo-random bytes from seed: the same on every run.
func seededReader(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

// sum is the SHA-256 of r's bytes and their count.
func sum(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	var d [32]byte
	h.Sum(d[:0])
	return d, n, err
}

// transfer sends size seeded bytes from one end of a connection to the
// other, then half-closes; the receiver reads to EOF. It checks the count
// and SHA-256 of what arrived against what was sent.
func transfer(t *testing.T, from, to *synack.TCPConn, size int64, seed uint64) {
	t.Helper()
	want, _, _ := sum(seededReader(seed, size))
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(from, seededReader(seed, size))
		if err == nil {
			err = from.CloseWrite()
		}
		errc <- err
	}()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, n, err := sum(to)
		done <- result{got, n, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("transfer of %d bytes stalled", size)
	}
	got, n := r.sum, r.n
	if r.err != nil {
		t.Fatalf("receiving: %v after %d bytes", r.err, n)
	}
	if err := <-errc; err != nil {
		t.Fatalf("sending: %v", err)
	}
	if n != size || got != want {
		t.Fatalf("received %d bytes with SHA-256 %x, want %d bytes with %x", n, got, size, want)
	}
}

func TestEstablishedTransferIntact(t *testing.T) {
	sizes := []int64{0, 1, 1 << 20, 64 << 20}
	for _, dir := range []string{"client to server", "server to client"} {
		for i, size := range sizes {
			t.Run(fmt.Sprintf("%s/%d", dir, size), func(t *testing.T) {
				p := newPair(t, pairConfig{})
				l := p.listen(t, 80, 1)
				c, s := p.connect(t, l)
				defer c.Close()
				defer s.Close()
				from, to, receiver := c, s, p.server
				if dir == "server to client" {
					from, to, receiver = s, c, p.client
				}
				transfer(t, from, to, size, uint64(i+1))
				// The pipe lends its buffers (link.Lender): full-sized
				// segments stay in them until read, and the SHA-256 above
				// says the stream came out whole and in order.
				if kept := receiver.Internals().TCPStats().ReceiveKept.Load(); size >= 1<<20 && kept == 0 {
					t.Fatalf("no segment of %d bytes was kept in the pipe's buffers", size)
				}
				// The other direction still works after the half-close.
				if _, err := to.Write([]byte("done")); err != nil {
					t.Fatal(err)
				}
				to.CloseWrite()
				b, err := io.ReadAll(from)
				if err != nil || !bytes.Equal(b, []byte("done")) {
					t.Fatalf("reply after half-close: %q, %v", b, err)
				}
			})
		}
	}
}

// chunker passes r on in pseudo-random pieces of 1 to max bytes, so
// that reads and writes come in odd sizes.
type chunker struct {
	r   io.Reader
	rng *rand.Rand
	max int
}

func (c *chunker) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), 1+c.rng.IntN(c.max))])
}

// TestEstablishedTransferOddChunks writes and reads in pseudo-random
// chunk sizes, small and large, in both directions at once.
func TestEstablishedTransferOddChunks(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	const size = 256 << 10
	errc := make(chan error, 4)
	send := func(from *synack.TCPConn, seed uint64) {
		// Writes of 1 to 3000 bytes.
		w := &chunker{r: seededReader(seed, size), rng: rand.New(rand.NewPCG(seed, 1)), max: 3000}
		buf := make([]byte, 3000)
		_, err := io.CopyBuffer(struct{ io.Writer }{from}, w, buf)
		if err == nil {
			err = from.CloseWrite()
		}
		errc <- err
	}
	recv := func(to *synack.TCPConn, seed uint64) {
		want, _, _ := sum(seededReader(seed, size))
		// Reads of 1 to 700 bytes.
		got, n, err := sum(&chunker{r: to, rng: rand.New(rand.NewPCG(seed, 2)), max: 700})
		if err == nil && (n != size || got != want) {
			err = fmt.Errorf("received %d bytes, SHA-256 match %v", n, got == want)
		}
		errc <- err
	}
	go send(c, 11)
	go send(s, 12)
	go recv(s, 11)
	go recv(c, 12)
	for range 4 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestEstablishedLostSegmentsRetransmitted drops every 7th data segment
// the server receives the first time it is sent, and moves a virtual clock
// from timer to timer: the retransmission timer resends what was lost
// (go-back-N from SND.UNA) and every byte arrives intact.
func TestEstablishedLostSegmentsRetransmitted(t *testing.T) {
	pc, _, g := gates(true)
	p := newPair(t, pc)
	c, s := p.connect(t, p.listen(t, 80, 1))
	defer c.Close()
	defer s.Close()
	seen := map[uint32]bool{}
	n := 0
	g.SetDrop(func(pkt []byte) bool {
		ip, _ := wire.ParseIPv4(pkt)
		seg, _ := wire.ParseTCP(ip.Payload())
		if len(seg.Payload()) == 0 || seen[uint32(seg.SeqNum())] {
			return false
		}
		seen[uint32(seg.SeqNum())] = true
		n++
		return n%7 == 0
	})
	const size = 200 << 10
	want, _, _ := sum(seededReader(5, size))
	var moved atomic.Int64 // bytes written and read by the applications
	go func() {
		io.Copy(c, counting{seededReader(5, size), &moved})
		c.CloseWrite()
	}()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, n, err := sum(counting{s, &moved})
		done <- result{got, n, err}
	}()
	start := p.clk.Now()
	var r result
	got := false
	p.runClock(t, 200, moved.Load, func() bool {
		if !got {
			select {
			case r = <-done:
				got = true
			default:
			}
		}
		return got
	})
	if r.err != nil || r.n != size || r.sum != want {
		t.Fatalf("received %d bytes (%v), SHA-256 match %v", r.n, r.err, r.sum == want)
	}
	st := p.client.Internals().TCPStats()
	if g.Dropped() == 0 || st.RetransSegs.Load() < uint64(g.Dropped()) {
		t.Errorf("dropped %d, timeouts %d, retransmitted %d: the loss went unnoticed",
			g.Dropped(), st.Timeouts.Load(), st.RetransSegs.Load())
	}
	t.Logf("%d segments dropped, %d timeouts, %d retransmitted, %v of virtual time",
		g.Dropped(), st.Timeouts.Load(), st.RetransSegs.Load(), p.clk.Now().Sub(start))
}

// TestEstablishedDuplicatesHarmless delivers every third packet twice in
// both directions, handshake and close included: duplicate SYNs, SYN,ACKs,
// data, ACKs and FINs are answered or ignored as RFC 9293 says, the stream
// arrives intact, and no timer is ever needed (the virtual clock never
// moves). The only RSTs are for duplicates that arrive after their
// connection is gone (the last ACK, once LAST-ACK has closed), as RFC 9293
// §3.10.7.1 and Linux do; such a RST may end the peer's TIME-WAIT early
// (Linux's default, tcp_rfc1337 = 0).
func TestEstablishedDuplicatesHarmless(t *testing.T) {
	pc, cg, sg := gates(true)
	rec := new(trace.Recorder)
	pc.trace = rec
	p := newPair(t, pc)
	every3 := func() func([]byte) bool {
		n := 0
		return func([]byte) bool { n++; return n%3 == 0 }
	}
	cg.SetDup(every3())
	sg.SetDup(every3())
	l := p.listen(t, 80, 1)
	for i := range 4 {
		c, s := p.connect(t, l)
		transfer(t, c, s, 100<<10, uint64(20+i))
		transfer(t, s, c, 100<<10, uint64(30+i))
		if i%2 == 0 {
			c.Close()
			s.Close()
		} else {
			s.Close()
			c.Close()
		}
	}
	p.settle(t)
	for _, st := range []*synack.Stack{p.client, p.server} {
		for _, s := range states(st) {
			if s != tcp.StateTimeWait {
				t.Errorf("%v: a connection in %v", st.Addr(), s)
			}
		}
	}
	for _, e := range rec.Events() {
		if e.Kind == trace.KindSegmentSent && e.Flags.Has(wire.FlagRST) && e.State != "CLOSED" {
			t.Errorf("a connection reset: %v", e.String())
		}
	}
}
