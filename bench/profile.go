package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// profiler writes a CPU profile and a mutex profile (where goroutines
// waited for locks) of one measured interval, and heap profiles at its
// start and end: their difference (go tool pprof
// -sample_index=alloc_objects -diff_base) is what the interval allocated.
type profiler struct {
	base string // path prefix: DIR/TARGET-WORKLOAD
	cpu  *os.File
	err  error
}

func newProfiler(dir, target, workload string) *profiler {
	return &profiler{base: filepath.Join(dir, target+"-"+workload)}
}

func (p *profiler) start() {
	p.writeHeap("-allocs-base.pprof")
	runtime.SetMutexProfileFraction(mutexProfileFraction)
	f, err := os.Create(p.base + "-cpu.pprof")
	if err != nil {
		p.err = err
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		p.err = err
		return
	}
	p.cpu = f
}

func (p *profiler) stop() {
	if p.cpu != nil {
		pprof.StopCPUProfile()
		if err := p.cpu.Close(); err != nil && p.err == nil {
			p.err = err
		}
		p.cpu = nil
	}
	p.writeProfile("mutex", "-mutex.pprof")
	runtime.SetMutexProfileFraction(0)
	p.writeHeap("-allocs.pprof")
}

// mutexProfileFraction samples one lock wait in this many.
const mutexProfileFraction = 10

// writeProfile writes the named runtime profile to the file base+suffix.
func (p *profiler) writeProfile(name, suffix string) {
	f, err := os.Create(p.base + suffix)
	if err != nil {
		p.err = err
		return
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil && p.err == nil {
		p.err = fmt.Errorf("%s profile: %w", name, err)
	}
}

func (p *profiler) writeHeap(suffix string) {
	runtime.GC() // the heap profile is as of the last collection
	f, err := os.Create(p.base + suffix)
	if err != nil {
		p.err = err
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil && p.err == nil {
		p.err = fmt.Errorf("allocs profile: %w", err)
	}
}
