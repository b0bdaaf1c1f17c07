// Package bench measures synack against gVisor's netstack and against the
// kernel's TCP over 127.0.0.1, with the same workloads run in the same
// process, interleaved, so that each ratio comes from one run on one
// machine.
//
// A Target makes a Pair: a client and a server that can dial and listen.
// For synack the pair is two stacks joined by link/pipe; for gVisor two
// netstack stacks joined by channel endpoints whose packets goroutines carry
// across; for the kernel Go's net package on the loopback interface. Each
// workload (bulk, rr, crr, idle, scale) runs on a fresh pair and returns a
// Sample of figures; Run repeats every workload on every target, reports
// medians and ranges, and checks the targets of issue 4.
//
// This is a module of its own so that the core module never depends on
// gVisor. The command is cmd/synack-bench; BENCHMARKS.md at the repository
// root is its -markdown output.
package bench
