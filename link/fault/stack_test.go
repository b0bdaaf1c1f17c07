package fault_test

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/link/pipe"
)

// TestStacksTransferThroughFaults runs two synack stacks over a pipe
// whose client end is wrapped in a fault Endpoint, on one virtual clock,
// and moves 256 KiB from client to server: TCP recovers every loss and the
// bytes arrive intact. The clock moves 1 ms at a time, and only while the
// pipe is idle. The first scenario has 5% loss and 10 ms of delay each way;
// the second every fault at once behind a 10 Mbit/s bottleneck, and the
// stacks must catch the corrupted packets.
func TestStacksTransferThroughFaults(t *testing.T) {
	for _, c := range []struct {
		name string
		d    fault.Direction
	}{
		{"loss 5% delay 10ms", fault.Direction{Loss: 0.05, Delay: 10 * time.Millisecond}},
		{"every fault", fault.Direction{
			Loss: 0.02, Duplicate: 0.02, Corrupt: 0.02, Reorder: 0.05,
			Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond,
			Rate: 10_000_000, QueueDepth: 16,
		}},
	} {
		t.Run(c.name, func(t *testing.T) { transferThrough(t, c.d) })
	}
}

// transferThrough moves 256 KiB from a client stack to a server stack over
// a pipe with d applied both ways at the client's end.
func transferThrough(t *testing.T, d fault.Direction) {
	const (
		size     = 256 << 10
		step     = time.Millisecond
		maxSteps = 120_000 // two minutes of virtual time
	)
	clk := clock.NewVirtual(epoch)
	a, b := pipe.New(mtu)
	fa := fault.New(a, fault.Config{Clock: clk, Seed: 1, Out: d, In: d})
	client, err := synack.New(fa, synack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	server, err := synack.New(b, synack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
		fa.Close()
		b.Close()
	})
	l, err := server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	want := sha256.Sum256(data)

	type result struct {
		sum [32]byte
		n   int
		err error
	}
	received := make(chan result, 1)
	go func() { // the server reads everything and closes
		c, err := l.AcceptTCP()
		if err != nil {
			received <- result{err: err}
			return
		}
		defer c.Close()
		got, err := io.ReadAll(c)
		received <- result{sha256.Sum256(got), len(got), err}
	}()
	sent := make(chan error, 1)
	go func() { // the client connects, writes everything and closes
		c, err := client.DialTCP(context.Background(), netip.MustParseAddrPort("10.0.0.2:80"))
		if err == nil {
			_, err = c.Write(data)
			if cerr := c.Close(); err == nil {
				err = cerr
			}
		}
		sent <- err
	}()

	// idle reports whether no packet is on the pipe or being handled: all
	// each end sent has been delivered or dropped at the other.
	idle := func() bool {
		as, bs := a.Stats(), b.Stats()
		return a.Stats().Sent == bs.Delivered+bs.DroppedQueueFull+bs.DroppedDetached &&
			b.Stats().Sent == as.Delivered+as.DroppedQueueFull+as.DroppedDetached
	}
	wallStart := time.Now()
	var r result
	for steps, done := 0, false; ; steps++ {
		select {
		case r = <-received:
			done = true
		default:
		}
		if done {
			t.Logf("done after %v of virtual time (%d steps, %v of wall time)",
				clk.Now().Sub(epoch), steps, time.Since(wallStart).Round(time.Millisecond))
			break
		}
		if steps == maxSteps {
			t.Fatalf("transfer not done after %v of virtual time", clk.Now().Sub(epoch))
		}
		for !idle() {
			if time.Since(wallStart) > time.Minute {
				t.Fatal("the pipe never went idle")
			}
			runtime.Gosched()
		}
		for range 10 { // let the applications take their turn
			runtime.Gosched()
		}
		clk.Advance(step)
	}
	if r.err != nil || r.n != size || r.sum != want {
		t.Fatalf("server received %d bytes (error %v), SHA-256 match %v; want %d bytes", r.n, r.err, r.sum == want, size)
	}
	if err := <-sent; err != nil {
		t.Fatalf("client: %v", err)
	}
	out, in := fa.Stats()
	t.Logf("out %+v", out)
	t.Logf("in  %+v", in)
	if out.Dropped == 0 || in.Dropped == 0 {
		t.Errorf("no loss exercised")
	}
	if d.Corrupt > 0 {
		// Every corrupted copy that reached a stack was caught there.
		caught := uint64(0)
		for _, st := range []*synack.Stack{client, server} {
			s := st.Internals().Stats()
			caught += s.InHdrErrors.Load() + s.InNotIPv4.Load() + s.InAddrErrors.Load() + s.TCPInErrs.Load()
		}
		if out.Corrupted+in.Corrupted == 0 || caught == 0 {
			t.Errorf("%d copies corrupted, %d caught by the stacks", out.Corrupted+in.Corrupted, caught)
		}
		t.Logf("%d copies corrupted, %d caught by the stacks", out.Corrupted+in.Corrupted, caught)
	}
}
