package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// KernelTarget is the kernel's TCP over 127.0.0.1 through Go's net
// package. The loopback interface's MTU is 65536, and it offloads both
// checksums and segmentation (TSO/GRO); for a small MTU the pair sets
// TCP_MAXSEG to MTU-40 on both ends, which bounds the segment size TCP
// announces and uses but not the size of what loopback carries.
func KernelTarget() Target {
	return Target{
		Name: Kernel,
		New:  newKernelPair,
		Link: "lo (MTU 65536) through Go's net, CUBIC on every socket (TCP_CONGESTION: this host defaults to BBR); TCP_MAXSEG=MTU-40 below that; checksums and segmentation offloaded (not computed)",
	}
}

// maxKernelMSS is the largest TCP_MAXSEG Linux accepts (MAX_TCP_WINDOW);
// above it the pair leaves the MSS to the loopback's MTU of 65536, within
// a byte of the in-memory pairs' largest.
const maxKernelMSS = 32767

type kernelPair struct {
	mss int // TCP_MAXSEG, or 0 for the kernel's choice

	mu        sync.Mutex
	listeners []net.Listener
}

func newKernelPair(mtu int) (Pair, error) {
	p := &kernelPair{}
	if mss := mtu - 40; mss <= maxKernelMSS {
		p.mss = mss
	}
	return p, nil
}

// control sets TCP_MAXSEG and the congestion control (kernelCC) on a
// socket before it listens or connects.
func (p *kernelPair) control(network, address string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if p.mss != 0 {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, p.mss)
		}
		if serr == nil {
			serr = setKernelCC(int(fd))
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// kernelCC is the congestion control every kernel socket of the benchmark
// uses, set on each (TCP_CONGESTION; accepted sockets take their
// listener's): CUBIC, which synack and gVisor run and which most
// distributions default to. A host may default to another (this one's
// net.ipv4.tcp_congestion_control says bbr, and new network namespaces
// take it): BBR keeps its window through random loss, which no RFC
// 9438/5681 sender does, so a comparison with it would be of two
// different congestion controllers, not of two TCPs.
const kernelCC = "cubic"

// setKernelCC sets kernelCC on the socket fd.
func setKernelCC(fd int) error {
	if err := unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, kernelCC); err != nil {
		return fmt.Errorf("setsockopt TCP_CONGESTION %s: %w", kernelCC, err)
	}
	return nil
}

func (p *kernelPair) Listen(port uint16) (net.Listener, error) {
	lc := net.ListenConfig{Control: p.control}
	l, err := lc.Listen(context.Background(), "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.listeners = append(p.listeners, l)
	p.mu.Unlock()
	return l, nil
}

func (p *kernelPair) Dial(ctx context.Context, port uint16) (net.Conn, error) {
	d := net.Dialer{Control: p.control}
	return d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
}

func (p *kernelPair) Packets() (up, down uint64, ok bool) { return 0, 0, false }

// Retransmits is the kernel's RetransSegs counter from /proc/net/snmp:
// every TCP connection of the network namespace, not only the pair's.
func (p *kernelPair) Retransmits() uint64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RetransSegs" && i < len(f) {
				v, _ := strconv.ParseUint(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}

// Close closes the pair's listeners. Connections belong to the workload
// that made them: the kernel has no pair-wide abort.
func (p *kernelPair) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.listeners {
		l.Close()
	}
	p.listeners = nil
	return nil
}

// MaxPairs is how many more connection pairs the process's open file
// limit leaves room for: each is two descriptors.
func (p *kernelPair) MaxPairs() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	open, _ := os.ReadDir("/proc/self/fd")
	return max(0, (int(lim.Cur)-len(open)-16)/2)
}
