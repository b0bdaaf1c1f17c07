package stack

import (
	"bytes"
	"io"
	"testing"

	"github.com/synack-net/synack/link/pipe"
)

// TestFillNoRuntAtRoomEnd: a Write larger than one fill's room (the rest
// of the last chunk and one new chunk) on a connection whose window takes
// the whole room at once sends its segments full but the last, as a Write
// queued under mu does: the room's end is not the end of the Write, and
// no short segment may leave there (RFC 9293 §3.8.6.2.1, the sender's
// side of silly window avoidance: a short segment only when all queued
// data goes).
func TestFillNoRuntAtRoomEnd(t *testing.T) {
	a, b := pipe.New(1500)
	t.Cleanup(func() { a.Close(); b.Close() })
	out := &sizes{Endpoint: a}
	client, server := pairOn(t, out, b)
	if err := server.SetReceiveBufferSize(4 << 20); err != nil {
		t.Fatal(err)
	}
	if err := client.SetSendBufferSize(1 << 20); err != nil { // chunks of 512 KiB
		t.Fatal(err)
	}
	// Open the congestion window past a chunk.
	const warm = 16 << 20
	done := writeAsync(client, pattern(0, warm))
	if _, err := io.CopyN(io.Discard, server, warm); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.n != warm || r.err != nil {
		t.Fatalf("warm-up Write = %d, %v", r.n, r.err)
	}
	// Small exchanges, so that a fill's first chunk is small again.
	buf := make([]byte, 100)
	for range 12 {
		if _, err := client.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(server, buf); err != nil {
			t.Fatal(err)
		}
		if _, err := server.Write(buf); err != nil { // its ACK rides on the answer
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, buf); err != nil {
			t.Fatal(err)
		}
		if !spin(t, "the send buffer's draining", func() bool { return client.Info().SendQ == 0 }) {
			return
		}
	}
	in := client.Info().TCP
	if w := min(in.CWND, in.SndWnd); w < 600<<10 {
		t.Skipf("window %d (cwnd %d, peer's %d): less than a chunk, no room's end to see", w, in.CWND, in.SndWnd)
	}
	out.mu.Lock()
	out.len = out.len[:0]
	out.mu.Unlock()
	const size = 1 << 20
	p := pattern(7, size)
	done = writeAsync(client, p)
	got := make([]byte, size)
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.n != size || r.err != nil {
		t.Fatalf("Write = %d, %v", r.n, r.err)
	}
	if !bytes.Equal(got, p) {
		t.Fatal("the Write came out changed")
	}
	mss := in.MSS
	out.mu.Lock()
	defer out.mu.Unlock()
	var short []int
	for i, n := range out.len {
		if n < mss {
			short = append(short, i, n)
		}
	}
	if len(short) > 2 { // the Write's last segment
		t.Fatalf("segments shorter than the MSS (%d), as (index, length): %v of %d (cwnd %d, peer's window %d)", mss, short, len(out.len), in.CWND, in.SndWnd)
	}
}
