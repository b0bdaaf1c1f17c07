package synack_test

import (
	"io"
	"testing"
)

// The io.Copy benchmarks stream b.N chunks of 64 KiB over a pipe between
// two stacks, once through the TCPConn's WriteTo (or ReadFrom) and once
// through io.Copy's own buffer, which the plain wrappers force: the
// difference is the copy and the allocations WriteTo and ReadFrom save.

const copyChunk = 64 << 10

// sink counts what it is given and keeps none of it (no ReadFrom).
type sink struct{ n int64 }

func (s *sink) Write(p []byte) (int, error) { s.n += int64(len(p)); return len(p), nil }

// zeros is a reader of n zero bytes without WriteTo.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	m := int(min(int64(len(p)), z.n))
	clear(p[:m])
	z.n -= int64(m)
	return m, nil
}

func benchCopyOut(b *testing.B, viaWriteTo bool) {
	p := newPair(b, pairConfig{})
	c, s := p.connect(b, p.listen(b, 80, 1))
	defer c.Close()
	total := int64(b.N) * copyChunk
	go func() {
		io.CopyBuffer(struct{ io.Writer }{s}, &zeros{n: total}, make([]byte, copyChunk))
		s.Close()
	}()
	b.SetBytes(copyChunk)
	b.ReportAllocs()
	b.ResetTimer()
	var w sink
	var n int64
	var err error
	if viaWriteTo {
		n, err = io.Copy(&w, c)
	} else {
		n, err = io.Copy(&w, struct{ io.Reader }{c})
	}
	if err != nil || n != total {
		b.Fatalf("copied %d of %d: %v", n, total, err)
	}
}

func benchCopyIn(b *testing.B, viaReadFrom bool) {
	p := newPair(b, pairConfig{})
	c, s := p.connect(b, p.listen(b, 80, 1))
	defer s.Close()
	total := int64(b.N) * copyChunk
	done := make(chan int64, 1)
	go func() {
		n, _ := io.CopyBuffer(&sink{}, struct{ io.Reader }{s}, make([]byte, copyChunk))
		done <- n
	}()
	b.SetBytes(copyChunk)
	b.ReportAllocs()
	b.ResetTimer()
	var err error
	if viaReadFrom {
		_, err = io.Copy(c, &zeros{n: total})
	} else {
		_, err = io.Copy(struct{ io.Writer }{c}, &zeros{n: total})
	}
	c.CloseWrite()
	if n := <-done; err != nil || n != total {
		b.Fatalf("copied %d of %d: %v", n, total, err)
	}
}

// BenchmarkIOCopyWriteTo: io.Copy out of a TCPConn takes its WriteTo,
// which hands the receive buffer's storage to the writer.
func BenchmarkIOCopyWriteTo(b *testing.B) { benchCopyOut(b, true) }

// BenchmarkIOCopyReadLoop: the same through io.Copy's buffer and Read.
func BenchmarkIOCopyReadLoop(b *testing.B) { benchCopyOut(b, false) }

// BenchmarkIOCopyReadFrom: io.Copy into a TCPConn takes its ReadFrom.
func BenchmarkIOCopyReadFrom(b *testing.B) { benchCopyIn(b, true) }

// BenchmarkIOCopyWriteLoop: the same through io.Copy's buffer and Write.
func BenchmarkIOCopyWriteLoop(b *testing.B) { benchCopyIn(b, false) }

// benchCopySmall calls io.Copy once per 4 KiB message, as a proxy
// relaying short exchanges does: io.Copy's own path allocates its 32 KiB
// buffer on every call, ReadFrom's pooled buffer none.
func benchCopySmall(b *testing.B, viaReadFrom bool) {
	p := newPair(b, pairConfig{})
	c, s := p.connect(b, p.listen(b, 80, 1))
	defer c.Close()
	defer s.Close()
	go io.CopyBuffer(&sink{}, struct{ io.Reader }{s}, make([]byte, copyChunk))
	b.SetBytes(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var err error
		if viaReadFrom {
			_, err = io.Copy(c, &zeros{n: 4096})
		} else {
			_, err = io.Copy(struct{ io.Writer }{c}, &zeros{n: 4096})
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIOCopySmallReadFrom: one io.Copy per 4 KiB through ReadFrom.
func BenchmarkIOCopySmallReadFrom(b *testing.B) { benchCopySmall(b, true) }

// BenchmarkIOCopySmallWriteLoop: the same through io.Copy's own buffer.
func BenchmarkIOCopySmallWriteLoop(b *testing.B) { benchCopySmall(b, false) }
