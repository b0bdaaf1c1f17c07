package stack

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/tcp"
)

// A Write of minFillUnlocked bytes or more copies into the send buffer with
// the shard's mu let go (fillUnlocked). These tests do things "meanwhile",
// from testHookFill, and check that the Write and the stream come out as if
// the copy had been made under mu.

// onFill has fn run once, in the next fill on c, with mu let go.
func onFill(t *testing.T, c *TCPConn, fn func()) {
	t.Helper()
	done := false
	testHookFill = func(fc *TCPConn) {
		if fc == c && !done {
			done = true
			fn()
		}
	}
	t.Cleanup(func() { testHookFill = nil })
}

// pattern is n bytes of a pattern that starts at from, so that a stream's
// parts can be told apart.
func pattern(from, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((from+i)*7 + (from+i)>>8)
	}
	return p
}

// goroutineWaits reports whether some goroutine is asleep in a function
// whose stack shows all of frames.
func goroutineWaits(frames ...string) bool {
	buf := make([]byte, 1<<20)
	for n := runtime.Stack(buf, true); ; n = runtime.Stack(buf, true) {
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
next:
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range frames {
			if !strings.Contains(g, f) {
				continue next
			}
		}
		return true
	}
	return false
}

// tryWriteWaiting starts a TryWrite of "after" on c, its result to go to
// tried, and returns once it waits (for a Write's copy).
func tryWriteWaiting(t *testing.T, c *TCPConn, tried chan<- writeResult) {
	go func() {
		n, err := c.TryWrite([]byte("after"))
		tried <- writeResult{n, err}
	}()
	for i := 0; !goroutineWaits("sync.(*Cond).Wait", "stack.(*TCPConn).TryWrite("); i++ {
		if i == 1e6 {
			t.Error("TryWrite never waited for the fill")
			return
		}
		runtime.Gosched()
	}
}

// TestFillTryWriteWaitsForTheCopy: a TryWrite made while a Write copies in
// waits for the copy and queues its bytes after the Write's, never into
// the room the Write is filling.
func TestFillTryWriteWaitsForTheCopy(t *testing.T) {
	client, server := pipePair(t)
	const size = 64 << 10
	tried := make(chan writeResult, 1)
	onFill(t, client, func() {
		tryWriteWaiting(t, client, tried)
		select {
		case r := <-tried:
			t.Errorf("TryWrite returned %d, %v during the fill", r.n, r.err)
		default:
		}
	})
	if n, err := client.Write(pattern(0, size)); n != size || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if r := <-tried; r.n != 5 || r.err != nil {
		t.Fatalf("TryWrite = %d, %v; want 5, nil", r.n, r.err)
	}
	got := make([]byte, size+5)
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:size], pattern(0, size)) || string(got[size:]) != "after" {
		t.Fatal("the stream is not the Write's bytes and then the TryWrite's")
	}
}

// held is a link that passes packets on, or, while hold is set, keeps
// them until release.
type held struct {
	link.Endpoint
	mu   sync.Mutex
	hold bool
	q    [][]byte
}

func (e *held) WritePacket(pkt []byte) error {
	e.mu.Lock()
	if e.hold {
		e.q = append(e.q, bytes.Clone(pkt))
		e.mu.Unlock()
		return nil
	}
	e.mu.Unlock()
	return e.Endpoint.WritePacket(pkt)
}

// release passes on what was kept, and everything after it.
func (e *held) release() {
	e.mu.Lock()
	q := e.q
	e.hold, e.q = false, nil
	e.mu.Unlock()
	for _, p := range q {
		e.Endpoint.WritePacket(p)
	}
}

// spin runs the other goroutines until cond holds, or fails the test.
func spin(t *testing.T, what string, cond func() bool) bool {
	for i := 0; !cond(); i++ {
		if i == 1e6 {
			t.Errorf("%s never happened", what)
			return false
		}
		runtime.Gosched()
	}
	return true
}

// TestFillQueueDrainsMeanwhile: everything queued before is acknowledged
// during the fill, so the send buffer empties; the Write's bytes are
// still queued, once, after them. The server's ACK of the first bytes (two
// full segments, which it acknowledges at once) is held back until the
// fill.
func TestFillQueueDrainsMeanwhile(t *testing.T) {
	a, b := pipe.New(1500)
	t.Cleanup(func() { a.Close(); b.Close() })
	acks := &held{Endpoint: b}
	client, server := pairOn(t, a, acks)
	first := 2 * client.Info().TCP.MSS
	acks.mu.Lock()
	acks.hold = true
	acks.mu.Unlock()
	if n, err := client.Write(pattern(0, first)); n != first || err != nil {
		t.Fatalf("first Write = %d, %v", n, err)
	}
	if !spin(t, "the first bytes' arrival", func() bool { return server.Info().RecvQ == first }) {
		return
	}
	const size = 40 << 10
	onFill(t, client, func() {
		if client.Info().SendQ != first {
			t.Errorf("the send buffer holds %d bytes before the ACK, want %d", client.Info().SendQ, first)
		}
		acks.release()
		spin(t, "the send buffer's draining", func() bool { return client.Info().SendQ == 0 })
	})
	if n, err := client.Write(pattern(first, size)); n != size || err != nil {
		t.Fatalf("second Write = %d, %v", n, err)
	}
	got := make([]byte, first+size)
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pattern(0, first+size)) {
		t.Fatal("the stream came out changed")
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(server); err != nil || len(rest) != 0 {
		t.Fatalf("after the second Write: %d more bytes, %v; want EOF", len(rest), err)
	}
}

// TestFillEndedMeanwhile: the socket closed, aborted, half-closed or
// reset during the fill: the Write queues none of what it copied and
// fails as a Write made after that would, and the peer sees the stream
// end where it ended.
func TestFillEndedMeanwhile(t *testing.T) {
	const size = 32 << 10
	for _, tc := range []struct {
		name  string
		end   func(client, server *TCPConn)
		check func(error) bool
	}{
		{"Close", func(c, _ *TCPConn) { c.Close() }, func(err error) bool { return errors.Is(err, ErrClosed) }},
		{"Abort", func(c, _ *TCPConn) { c.Abort() }, func(err error) bool { return errors.Is(err, ErrClosed) }},
		{"CloseWrite", func(c, _ *TCPConn) { c.CloseWrite() }, func(err error) bool { return errors.Is(err, syscall.EPIPE) }},
		{"peer reset", func(c, s *TCPConn) {
			s.Abort()
			for i := 0; c.State() != tcp.StateClosed; i++ { // the RST comes through the pipe
				if i == 1e6 {
					break
				}
				runtime.Gosched()
			}
		}, func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := pipePair(t)
			if n, err := client.Write([]byte("before")); n != 6 || err != nil {
				t.Fatalf("first Write = %d, %v", n, err)
			}
			onFill(t, client, func() { tc.end(client, server) })
			n, err := client.Write(pattern(0, size))
			if n != 0 || !tc.check(err) {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if tc.name == "CloseWrite" { // the peer reads what came before the FIN, and EOF
				got, err := io.ReadAll(server)
				if err != nil || string(got) != "before" {
					t.Fatalf("the peer read %q, %v; want \"before\" and EOF", got, err)
				}
			}
		})
	}
}

// sizes is a link that passes packets on and notes the TCP payload
// length of each; it offers no capability, so every packet is written
// whole through WritePacket.
type sizes struct {
	link.Endpoint
	mu  sync.Mutex
	len []int
}

func (e *sizes) WritePacket(pkt []byte) error {
	if len(pkt) >= 40 && pkt[9] == 6 { // IPv4, TCP
		ihl := int(pkt[0]&0xf) * 4
		if len(pkt) >= ihl+20 {
			if n := len(pkt) - ihl - int(pkt[ihl+12]>>4)*4; n > 0 {
				e.mu.Lock()
				e.len = append(e.len, n)
				e.mu.Unlock()
			}
		}
	}
	return e.Endpoint.WritePacket(pkt)
}

// TestFillMatchesWrite: the segments a large Write sends are cut as those
// of one queued under mu would be, all full but each Write's last: none
// short where the room the copy fills moves from one chunk of the send
// buffer into the next (a fill's first chunk is sized for the queue's
// recent fills, 4 KiB on a new connection).
func TestFillMatchesWrite(t *testing.T) {
	a, b := pipe.New(1500)
	t.Cleanup(func() { a.Close(); b.Close() })
	out := &sizes{Endpoint: a}
	client, server := pairOn(t, out, b)
	const size = 100 << 10
	for i := range 3 {
		p := pattern(i*size, size)
		done := writeAsync(client, p)
		got := make([]byte, size)
		if _, err := io.ReadFull(server, got); err != nil {
			t.Fatal(err)
		}
		if r := <-done; r.n != size || r.err != nil {
			t.Fatalf("Write %d = %d, %v", i, r.n, r.err)
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("Write %d came out changed", i)
		}
	}
	mss := client.Info().TCP.MSS
	out.mu.Lock()
	defer out.mu.Unlock()
	short := 0
	for _, n := range out.len {
		if n < mss {
			short++
		}
	}
	if short > 3 { // each Write's last segment
		t.Fatalf("%d of %d segments shorter than the MSS (%d): %v", short, len(out.len), mss, out.len)
	}
}

// TestFillTryWriteWaitsForTheWholeWrite: a Write larger than one room,
// with room in the send buffer for all of it, is copied in several parts;
// a TryWrite made during the first waits for the last, and its bytes come
// after the whole Write's, as Linux's sendmsg keeps the socket lock but
// where it waits for memory. (Whether a TryWrite woken between two rooms
// would take the lock there is the scheduler's choice, so a stack that let
// it in might pass a run; the stream's order is what is checked.)
func TestFillTryWriteWaitsForTheWholeWrite(t *testing.T) {
	client, server := pipePair(t)
	if err := client.SetSendBufferSize(1 << 20); err != nil { // chunks of 512 KiB
		t.Fatal(err)
	}
	// Two rooms (512 KiB, then 256 KiB), and room left in the buffer for
	// the TryWrite's bytes however little the server has read by then.
	const size = 768 << 10
	tried := make(chan writeResult, 1)
	fills := 0
	testHookFill = func(fc *TCPConn) {
		if fc != client {
			return
		}
		if fills++; fills == 1 {
			tryWriteWaiting(t, client, tried)
		}
	}
	t.Cleanup(func() { testHookFill = nil })
	read := make(chan []byte, 1)
	go func() {
		got := make([]byte, size+5)
		io.ReadFull(server, got)
		read <- got
	}()
	if n, err := client.Write(pattern(0, size)); n != size || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	r := <-tried
	if fills < 2 || r.n != 5 || r.err != nil {
		client.Abort() // the reader waits for bytes that will not come
		t.Fatalf("the Write was copied in %d part(s) (the test needs several); TryWrite = %d, %v; want 5, nil", fills, r.n, r.err)
	}
	got := <-read
	if !bytes.Equal(got[:size], pattern(0, size)) || string(got[size:]) != "after" {
		i := 0
		for i < size && got[i] == pattern(0, size)[i] {
			i++
		}
		t.Fatalf("the stream is not the Write's bytes and then the TryWrite's: they differ from byte %d", i)
	}
}
