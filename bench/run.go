package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Config is what Run measures and how often.
type Config struct {
	Sizes
	// Runs is how many times each workload runs on each target; the
	// table reports the median (the issue asks for at least 3).
	Runs int
	// Only, if not empty, names the workloads to run.
	Only []string
	// Targets are the implementations measured, interleaved in this order
	// within each run.
	Targets []Target
	// Timeout bounds one run of one workload on one target.
	Timeout time.Duration
	// Progress, if not nil, gets a line per run as it ends.
	Progress io.Writer
	// ProfileDir, if set, receives CPU and allocation profiles of the
	// first run of each workload on each target.
	ProfileDir string
}

// Results are every sample of a Run.
type Results struct {
	Config    Config
	Workloads []Workload // those that ran
	// Samples holds, by workload and then target name, one Sample per
	// successful run.
	Samples map[string]map[string][]Sample
	// Errors lists the runs that failed.
	Errors []string
	// Skipped says, by workload, why one could not run here (the
	// real-path ones without root).
	Skipped map[string]string
	Elapsed time.Duration
}

// Run runs every selected workload Runs times; within a run, it measures
// each target in turn on a fresh pair, so drift over time touches every
// target alike.
func Run(cfg Config) (*Results, error) {
	if cfg.Runs < 1 {
		cfg.Runs = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	all := Workloads(cfg.Sizes)
	r := &Results{Config: cfg, Samples: map[string]map[string][]Sample{}, Skipped: map[string]string{}}
	for _, name := range cfg.Only {
		if !slices.ContainsFunc(all, func(w Workload) bool { return w.Name == name }) {
			return nil, fmt.Errorf("no workload %q (have %s)", name, workloadNames(all))
		}
	}
	for _, w := range all {
		if len(cfg.Only) == 0 || slices.Contains(cfg.Only, w.Name) {
			r.Workloads = append(r.Workloads, w)
		}
	}
	t0 := time.Now()
	for _, w := range r.Workloads {
		r.Samples[w.Name] = map[string][]Sample{}
		if w.path != nil {
			if err := pathCheck(); err != nil {
				r.Skipped[w.Name] = err.Error()
				progress(cfg.Progress, "%s: skipped: %v\n", w.Name, err)
				continue
			}
		}
		for i := range cfg.Runs {
			for _, t := range cfg.Targets {
				if !w.runsOn(t.Name) {
					continue
				}
				var prof *profiler
				if cfg.ProfileDir != "" && i == 0 {
					prof = newProfiler(cfg.ProfileDir, t.Name, w.Name)
				}
				start := time.Now()
				s, err := runOne(&w, t, cfg.Timeout, prof)
				if err == nil && prof != nil {
					err = prof.err
				}
				if err != nil {
					msg := fmt.Sprintf("%s run %d on %s: %v", w.Name, i+1, t.Name, err)
					r.Errors = append(r.Errors, msg)
					progress(cfg.Progress, "%s\n", msg)
					continue
				}
				r.Samples[w.Name][t.Name] = append(r.Samples[w.Name][t.Name], s)
				m := w.Metrics[0]
				progress(cfg.Progress, "run %d/%d %-13s %-7s %s %s (%.1f s)\n", i+1, cfg.Runs, w.Name, t.Name,
					format(s[m.Key], m.Prec), m.Label, time.Since(start).Seconds())
			}
		}
	}
	r.Elapsed = time.Since(t0)
	return r, nil
}

func progress(w io.Writer, f string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, f, args...)
	}
}

func workloadNames(ws []Workload) string {
	var names []string
	for _, w := range ws {
		names = append(names, w.Name)
	}
	return strings.Join(names, ", ")
}

// pathCheck says why the real-path workloads cannot run, or nil; tests
// replace it.
var pathCheck = pathUsable

// runOne runs w once on a fresh pair of t. A run that outlives timeout
// has its pair closed under it, which ends it with an error on stacks
// that can abort their connections; one that still does not return is
// abandoned.
func runOne(w *Workload, t Target, timeout time.Duration, prof *profiler) (Sample, error) {
	if w.path != nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		s, err := runPath(ctx, w.path, t.Name, prof)
		if err != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("timed out after %v (%v)", timeout, err)
		}
		return s, err
	}
	runtime.GC()
	var p Pair
	var err error
	switch {
	case w.Impair == nil:
		p, err = t.New(w.MTU)
	case t.NewLossy == nil:
		err = fmt.Errorf("target %s has no lossy link", t.Name)
	default:
		p, err = t.NewLossy(w.MTU, *w.Impair)
	}
	if err != nil {
		return nil, err
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()

	type result struct {
		s   Sample
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := w.run(&env{ctx: ctx, p: p, prof: prof})
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("timed out after %v (%v)", timeout, r.err)
		}
		return r.s, r.err
	case <-ctx.Done():
	}
	select {
	case r := <-done:
		return nil, fmt.Errorf("timed out after %v (%v)", timeout, r.err)
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("timed out after %v and did not stop", timeout)
	}
}
