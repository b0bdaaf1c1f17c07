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
// The loss workloads (issue 13) measure recovery. bulk-loss-1 and
// bulk-loss-5 run bulk over in-memory pairs whose links drop 1% or 5% of
// the packets each way and delay the rest 1 ms, through link/fault with
// the same seeds for both stacks, so both face the same drop decisions.
// path-loss-1 and path-loss-5 run on real paths: curl in a network
// namespace downloads from synack and from gVisor on TUN devices and from
// the kernel over a veth pair, while nftables drops packets on the device;
// they need root and are skipped, saying why, without it.
//
// Every kernel socket the benchmark opens runs CUBIC (kernelCC), set per
// socket, whatever the host's default: the comparison is of TCPs with the
// same congestion controller.
//
// tun-offload and tun-plain (issue 14) run synack alone on a clean real
// path: curl downloads 200 MB from it and a kernel socket uploads as much,
// over its TUN device with the offloads on (virtio-net headers, segments
// of up to 64 KB each way) and off, to show what they bring.
//
// udp-stream and udp-rr (issue 15) run UDP on the same pairs: 1,400-byte
// datagrams one way with at most 32 unacknowledged, and 1-byte requests
// and responses in turn. synack's and the kernel's server sockets are read
// and written with ReadFromUDPAddrPort/WriteToUDPAddrPort; gVisor's
// gonet.UDPConn has only net.PacketConn's ReadFrom, whose net.Addr costs
// it two allocations a datagram.
//
// This is a module of its own so that the core module never depends on
// gVisor. The command is cmd/synack-bench; BENCHMARKS.md at the repository
// root is its -markdown output.
package bench
