// Command synack-bench measures synack against gVisor's netstack and the
// kernel's loopback TCP: bulk transfer, request/response, connection
// rate, idle connections and scale, interleaved in one process, and loss
// recovery, in memory and (as root) on real paths made lossy by nftables.
// It prints a table of medians and ranges with the ratios synack/gVisor
// and synack/kernel, and ends with one line per target of issues 4 and 13:
//
//	target NAME synack=X gvisor=Y kernel=Z ratio=R goal=G met|missed
//
// With -markdown FILE it also writes the results as BENCHMARKS.md.
// Sizes default to the issue's; smaller ones make a quick run:
//
//	go run ./cmd/synack-bench -bulk-mib 64 -rr 10000 -crr 1000 -idle 1000 -scale 10000
//
// and -only picks workloads, such as the loss ones alone:
//
//	go run ./cmd/synack-bench -only bulk-loss-1,bulk-loss-5,path-loss-1,path-loss-5
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/synack-net/synack/bench"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "synack-bench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("synack-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := bench.DefaultSizes
	bulkMiB := fs.Int64("bulk-mib", d.BulkBytes>>20, "MiB moved by each bulk run")
	rr := fs.Int("rr", d.RoundTrips, "round trips of each rr run")
	crr := fs.Int("crr", d.Connections, "connections of each crr run")
	idle := fs.Int("idle", d.Idle, "connection pairs of each idle run")
	idleMillion := fs.Int("idle-1m", d.IdleMillion, "connection pairs of each idle-1m run (synack only; its goals are for a million)")
	scale := fs.Int("scale", d.Scale, "connection pairs open in the scale workload")
	scaleMiB := fs.Int64("scale-mib", d.ScaleBytes>>20, "MiB of bulk measured at each size of the scale workload")
	scaleRR := fs.Int("scale-rr", d.ScaleRoundTrips, "round trips measured at each size of the scale workload")
	lossMiB := fs.Int64("loss-mib", d.LossBytes>>20, "MiB moved by each run of the in-memory loss workloads (bulk-loss-1, bulk-loss-5)")
	pathBytes := fs.Int64("path-bytes", d.PathBytes, "bytes curl downloads in each run of the real-path loss workloads (path-loss-1, path-loss-5; need root)")
	tunBytes := fs.Int64("tun-bytes", d.TUNBytes, "bytes curl downloads in each run of tun-offload and tun-plain (need root)")
	udpN := fs.Int("udp-datagrams", d.UDPDatagrams, "datagrams of one udp-stream run (udp-rr makes -rr round trips)")
	runs := fs.Int("runs", 3, "runs of each workload on each target (the table shows medians)")
	var names []string
	for _, w := range bench.Workloads(d) {
		names = append(names, w.Name)
	}
	only := fs.String("only", "", "comma-separated workloads to run (default all: "+strings.Join(names, ", ")+")")
	targets := fs.String("targets", "synack,gvisor,kernel", "comma-separated targets, in the order each run measures them")
	gvisorCopy := fs.Bool("gvisor-copy", false, "copy each packet on gVisor's link, as a link that cannot take buffers over must, instead of sharing the buffer")
	timeout := fs.Duration("timeout", 10*time.Minute, "limit on one run of one workload on one target")
	markdown := fs.String("markdown", "", "also write the results as Markdown (BENCHMARKS.md) to this file")
	profile := fs.String("profile", "", "write CPU and allocation profiles of each workload's first run on each target to this directory")
	memRate := fs.Int("memprofilerate", 0, "runtime.MemProfileRate while profiling (0: the runtime's default sampling; 1 records every allocation but slows the run)")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	cfg := bench.Config{
		Sizes: bench.Sizes{
			BulkBytes: *bulkMiB << 20, RoundTrips: *rr, Connections: *crr, Idle: *idle, IdleMillion: *idleMillion,
			Scale: *scale, ScaleBytes: *scaleMiB << 20, ScaleRoundTrips: *scaleRR,
			LossBytes: *lossMiB << 20, PathBytes: *pathBytes, TUNBytes: *tunBytes, UDPDatagrams: *udpN,
		},
		Runs:       *runs,
		Timeout:    *timeout,
		ProfileDir: *profile,
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	all := bench.Targets(*gvisorCopy)
	for _, name := range strings.Split(*targets, ",") {
		found := false
		for _, t := range all {
			if t.Name == name {
				cfg.Targets = append(cfg.Targets, t)
				found = true
			}
		}
		if !found {
			return fmt.Errorf("no target %q (have synack, gvisor, kernel)", name)
		}
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	if *profile != "" {
		if err := os.MkdirAll(*profile, 0o755); err != nil {
			return err
		}
		if *memRate > 0 {
			runtime.MemProfileRate = *memRate
		}
	}
	// The kernel's idle pairs are two descriptors each; the idle workload
	// opens as many as the limit allows and the table says how many.
	if err := raiseFileLimit(uint64(2**idle + 1024)); err != nil {
		fmt.Fprintf(stderr, "synack-bench: %v: the kernel's idle run may open fewer pairs\n", err)
	}

	res, err := bench.Run(cfg)
	if err != nil {
		return err
	}
	if err := printResults(res, stdout); err != nil {
		return err
	}
	if *markdown != "" {
		var b bytes.Buffer
		cmd := "cd bench && go run ./cmd/synack-bench " + strings.Join(args, " ")
		if err := res.Markdown(&b, bench.DescribeMachine(), strings.TrimSpace(cmd), time.Now()); err != nil {
			return err
		}
		if err := os.WriteFile(*markdown, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "took %s\n", res.Elapsed.Round(time.Second))
	for _, g := range res.CheckGoals() {
		fmt.Fprintln(stdout, g.Text)
	}
	return nil
}

// printResults prints the table, then a line per failed run and per
// workload skipped.
func printResults(res *bench.Results, stdout io.Writer) error {
	if err := res.Table(stdout); err != nil {
		return err
	}
	for _, e := range res.Errors {
		fmt.Fprintf(stdout, "error %s\n", e)
	}
	for _, w := range res.Workloads {
		if why, ok := res.Skipped[w.Name]; ok {
			fmt.Fprintf(stdout, "skipped %s: %s\n", w.Name, why)
		}
	}
	return nil
}

// raiseFileLimit makes sure the process may open n descriptors, raising
// the hard limit too if it must (which needs CAP_SYS_RESOURCE).
func raiseFileLimit(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= n {
		return nil
	}
	lim.Cur = n
	lim.Max = max(lim.Max, n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("cannot raise the open file limit to %d: %w", n, err)
	}
	return nil
}
