package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/link/sniff"
	"github.com/synack-net/synack/link/tun"
	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/trace"
)

// tunFlags are the flags of every command that runs a stack on a TUN device.
type tunFlags struct {
	tun      string
	addr     string
	hostAddr string
	mtu      int
	pcap     string
	offload  bool
	queues   int
	fault    faultFlags
	// log, when set, is told of the stack's limits reached (connections,
	// buffer memory, out-of-order text, SACK scoreboard), once a minute
	// each at most.
	log *slog.Logger
	// given records which of --tun, --addr and --host-addr were set: a
	// default that is taken gives way to a free one (tunpick.go).
	given struct{ tun, addr, hostAddr bool }
	// notes, when set, is told in a line when a default was taken and
	// another device or subnet is used.
	notes io.Writer
}

func (f *tunFlags) register(fs *flag.FlagSet) {
	stringFlagGiven(fs, &f.tun, &f.given.tun, "tun", "synack0", "TUN `device` to use, created if absent; without it, a new synackN, the first number free")
	stringFlagGiven(fs, &f.addr, &f.given.addr, "addr", "10.7.0.2/24", "the stack's own `address/prefix`; without it and --host-addr, 10.7.N.2/24 and 10.7.N.1/24 for the first 10.7.N.0/24 no interface uses")
	stringFlagGiven(fs, &f.hostAddr, &f.given.hostAddr, "host-addr", "10.7.0.1/24", "`address/prefix` given to the kernel's side of the device (\"\" when it is already configured)")
	fs.IntVar(&f.mtu, "mtu", 1500, "MTU of the device (68-65535)")
	fs.BoolVar(&f.offload, "tun-offload", true, "exchange segments of up to 64 KB and partial checksums with the kernel (virtio-net headers, TSO), where it has them; false: one packet of at most the MTU per system call")
	fs.IntVar(&f.queues, "tun-queues", 1, fmt.Sprintf("open the device with this many queues (1-%d), each read by a goroutine of its own (IFF_MULTI_QUEUE)", tun.MaxQueues))
	fs.StringVar(&f.pcap, "pcap", "", "write every packet to this pcap file (Wireshark, tshark -r); with fault flags, as the kernel's side sees them")
	f.fault.register(fs)
}

// tunStack is a stack running on a TUN device.
type tunStack struct {
	st     *synack.Stack
	dev    *tun.Device
	ep     link.Endpoint
	fault  *fault.Endpoint // nil without fault flags
	faults fault.Config    // what fault does
	failed chan error      // the device failed (vanished) while running
}

// open parses the flags, opens the device and starts a stack on it, which
// reports its segments and state changes to sink (nil: none).
func (f *tunFlags) open(host string, sink trace.Sink) (*tunStack, error) {
	addr, err := netip.ParsePrefix(f.addr)
	if err != nil || !addr.Addr().Is4() {
		return nil, fmt.Errorf("--addr %q is not an IPv4 address with a prefix, such as 10.7.0.2/24", f.addr)
	}
	var hostAddr netip.Prefix
	if f.hostAddr != "" {
		if hostAddr, err = netip.ParsePrefix(f.hostAddr); err != nil || !hostAddr.Addr().Is4() {
			return nil, fmt.Errorf("--host-addr %q is not an IPv4 address with a prefix, such as 10.7.0.1/24", f.hostAddr)
		}
		if hostAddr.Addr() == addr.Addr() {
			return nil, fmt.Errorf("--host-addr and --addr are both %v: the kernel and the stack need addresses of their own", addr.Addr())
		}
	}
	if f.mtu < 68 || f.mtu > 65535 {
		return nil, fmt.Errorf("--mtu %d is out of range: an IPv4 link carries 68 to 65535 bytes", f.mtu)
	}
	if f.queues < 1 || f.queues > tun.MaxQueues {
		return nil, fmt.Errorf("--tun-queues %d is out of range: 1 to %d", f.queues, tun.MaxQueues)
	}
	faults, faultsOn, err := f.fault.config() // on the real clock
	if err != nil {
		return nil, err
	}
	ts := &tunStack{failed: make(chan error, 1)}
	addr, hostAddr, ts.dev, err = f.openDevice(host, addr, hostAddr, func(err error) {
		select {
		case ts.failed <- err:
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	ts.ep = ts.dev
	if f.pcap != "" {
		sn, err := sniff.Create(ts.dev, f.pcap)
		if err != nil {
			ts.dev.Close()
			return nil, fmt.Errorf("--pcap: %w", err)
		}
		ts.ep = sn
	}
	// The faults sit between synack and the capture, which is thus taken
	// where tcpdump on the device would take it, at the kernel's end of the
	// bad network: what synack sends shows only if it got through (and
	// damaged if it was damaged), what the kernel sends shows all, the
	// packets then lost on their way to synack included.
	if faultsOn {
		ts.fault, ts.faults = fault.New(ts.ep, faults), faults
		ts.ep = ts.fault
	}
	// The device is a point-to-point link: every destination is reached
	// through it, so the stack answers clients on any address the host
	// forwards to it, not only those inside --addr's prefix.
	cfg := synack.Config{Addr: addr, Host: host, Trace: sink, Logger: f.log}
	if hostAddr.IsValid() {
		cfg.Gateway = hostAddr.Addr()
	}
	ts.st, err = synack.New(ts.ep, cfg)
	if err != nil {
		ts.ep.Close()
		return nil, err
	}
	if !hostAddr.IsValid() {
		ts.st.Internals().AddRoute(stack.Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0)})
	}
	return ts, nil
}

// offloads names the offloads in force on the device: "off" without
// virtio-net headers, else what the kernel took ("csum|tso4|uso4").
func (ts *tunStack) offloads() string {
	if ts.dev.GSOMaxSize() == 0 {
		return "off"
	}
	return ts.dev.Offloads().String()
}

// deviceStats are the device's counters as log attributes.
func (ts *tunStack) deviceStats() []any {
	st := ts.dev.Stats()
	attrs := []any{"in-packets", st.InPackets, "in-gso", st.InGSOPackets, "in-longest", st.InLongest,
		"in-bad-gso-type", st.InBadGSOType, "in-bad-csum", st.InBadCsum, "in-bad-hdr-len", st.InBadHdrLen,
		"out-packets", st.OutPackets, "out-gso", st.OutGSOPackets, "out-longest", st.OutLongest}
	if n := ts.dev.Queues(); n > 1 {
		for i := range n {
			attrs = append(attrs, fmt.Sprintf("in-queue-%d", i), st.QueueDelivered[i], fmt.Sprintf("out-queue-%d", i), st.QueueWritten[i])
		}
	}
	return attrs
}

// closeAndSay closes ts and then, when the device has faults, writes to w
// one line of what they did to each direction, the closes included.
func (ts *tunStack) closeAndSay(w io.Writer, cmd string) {
	ts.close()
	if ts.fault != nil {
		fmt.Fprintf(w, "synack %s: link/fault: %s\n", cmd, faultStats(ts.fault, "out", "in"))
	}
}

// close stops the stack and closes the device (and the capture).
func (ts *tunStack) close() error {
	ts.st.Close()
	return ts.ep.Close()
}

var errDeviceGone = errors.New("TUN device failed")
