package bench

import (
	"runtime"
	"syscall"
	"time"
)

// snapshot is the process's state at one instant: wall time, CPU time,
// heap allocations so far and the link's packet counts.
type snapshot struct {
	wall     time.Time
	cpu      time.Duration // user + system time of the whole process
	mallocs  uint64        // runtime.MemStats.Mallocs
	up, down uint64        // packets carried by the pair's link
	counted  bool          // the link counts packets
	retrans  uint64        // segments retransmitted by the pair
	lost     uint64        // packets the link dropped from client to server
	timeouts uint64        // retransmission timeouts of the pair
	lossy    bool          // the pair counts lost and timeouts (lossCounter)
}

// take records a snapshot of p. It reads MemStats, which stops the world
// briefly, so it belongs outside the measured interval's hot loop.
func take(p Pair) snapshot {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := snapshot{cpu: cpuTime(), mallocs: ms.Mallocs}
	s.up, s.down, s.counted = p.Packets()
	s.retrans = p.Retransmits()
	if lc, ok := p.(lossCounter); ok {
		s.lost, s.timeouts, s.lossy = lc.Lost(), lc.Timeouts(), true
	}
	s.wall = time.Now()
	return s
}

// interval is what happened between two snapshots.
type interval struct {
	wall, cpu time.Duration
	mallocs   uint64
	up, down  uint64
	counted   bool
	retrans   uint64
	lost      uint64
	timeouts  uint64
	lossy     bool
}

func (s snapshot) to(e snapshot) interval {
	return interval{
		wall:     e.wall.Sub(s.wall),
		cpu:      e.cpu - s.cpu,
		mallocs:  e.mallocs - s.mallocs,
		up:       e.up - s.up,
		down:     e.down - s.down,
		counted:  s.counted && e.counted,
		retrans:  e.retrans - s.retrans,
		lost:     e.lost - s.lost,
		timeouts: e.timeouts - s.timeouts,
		lossy:    s.lossy && e.lossy,
	}
}

// cpuTime is the CPU time the process has used, from getrusage: every
// goroutine of every stack in it, the runtime's GC and, for the kernel
// target, the system time of the loopback TCP run on its behalf.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapState is the live heap and goroutine count after two collections.
func heapState() (heap uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, runtime.NumGoroutine()
}
