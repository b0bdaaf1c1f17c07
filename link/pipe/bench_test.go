package pipe

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkPipeWriteDeliver measures one packet's trip through the pipe
// under load: a writer keeps up to half a queue of packets in flight and the
// delivery goroutine drains them in bursts.
func BenchmarkPipeWriteDeliver(b *testing.B) {
	for _, size := range []int{64, 1500} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			x, y := New(1500)
			defer x.Close()
			defer y.Close()
			var delivered atomic.Uint64
			y.Attach(dispatcherFunc(func([]byte) { delivered.Add(1) }))
			pkt := make([]byte, size)
			const window = DefaultQueueDepth / 2
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var sent uint64
			for b.Loop() {
				for sent-delivered.Load() >= window {
					runtime.Gosched()
				}
				if err := x.WritePacket(pkt); err != nil {
					b.Fatal(err)
				}
				sent++
			}
			for delivered.Load() < sent {
				runtime.Gosched()
			}
			if d := y.Stats().Dropped; d != 0 {
				b.Fatalf("%d packets dropped", d)
			}
		})
	}
}

// BenchmarkPipePingPong measures the latency of one packet each way: a
// writes, b's dispatcher answers, a's dispatcher wakes the writer.
func BenchmarkPipePingPong(b *testing.B) {
	x, y := New(1500)
	defer x.Close()
	defer y.Close()
	done := make(chan struct{}, 1)
	x.Attach(dispatcherFunc(func([]byte) { done <- struct{}{} }))
	y.Attach(dispatcherFunc(func(p []byte) { y.WritePacket(p) }))
	pkt := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		x.WritePacket(pkt)
		<-done
	}
}
