package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/synack-net/synack/link/tun"
)

// Two synack processes on one machine (a serve, and a get or dial beside
// it, or a second serve) must not fight over one device or one subnet.
// The kernel's own interfaces say what is taken, so no lock file is kept:
//
//   - the device: without --tun, the kernel names a new one, the first
//     free synackN (tun.Open's "synack%d"); a --tun that another process
//     holds is refused by the kernel (EBUSY), which open explains.
//   - the addresses: --host-addr's subnet must not overlap, and --addr
//     must not lie in, a subnet of another interface. Without --addr and
//     --host-addr, the first free 10.7.N.0/24 is taken (10.7.N.2 for
//     synack, 10.7.N.1 for the kernel); a clash with addresses given is
//     refused, naming the interface and subnet it clashes with.
//
// Two processes started in the same instant may still pick the same
// subnet: the check and the configuring are not one step.

// givenString is a string flag that records whether it was set, so that
// a default can give way when it is taken while a value asked for cannot.
type givenString struct {
	p   *string
	set *bool
}

func (g givenString) String() string {
	if g.p == nil {
		return ""
	}
	return *g.p
}

func (g givenString) Set(s string) error {
	*g.p, *g.set = s, true
	return nil
}

// stringFlagGiven defines a string flag on fs whose being set is recorded in *set.
func stringFlagGiven(fs *flag.FlagSet, p *string, set *bool, name, value, usage string) {
	*p = value
	fs.Var(givenString{p, set}, name, usage)
}

// ifacePrefix is an IPv4 subnet configured on one of the host's interfaces.
type ifacePrefix struct {
	name   string
	prefix netip.Prefix
}

// hostPrefixes lists the IPv4 subnets of the host's interfaces (in the
// process's network namespace). A variable so that tests can give others.
var hostPrefixes = func() ([]ifacePrefix, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []ifacePrefix
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			ones, _ := ipn.Mask.Size()
			if ok && ip.Unmap().Is4() {
				out = append(out, ifacePrefix{ifc.Name, netip.PrefixFrom(ip.Unmap(), ones)})
			}
		}
	}
	return out, nil
}

// clash names the first subnet of taken that addr (the stack's) or
// hostAddr (the kernel's, when valid) collides with, or returns "".
func clash(taken []ifacePrefix, addr, hostAddr netip.Prefix) string {
	for _, t := range taken {
		if hostAddr.IsValid() && t.prefix.Overlaps(hostAddr.Masked()) {
			return fmt.Sprintf("--host-addr %v overlaps %v on %s", hostAddr, t.prefix, t.name)
		}
		if t.prefix.Contains(addr.Addr()) {
			return fmt.Sprintf("--addr %v is inside %v on %s", addr, t.prefix, t.name)
		}
	}
	return ""
}

// pickAddrs checks addr and hostAddr against the host's interfaces other
// than the device f.tun names when it was given (its own addresses are no
// clash), and returns them, or free ones when they clash and neither was
// given, with a note saying so; or an error naming the clash.
func (f *tunFlags) pickAddrs(addr, hostAddr netip.Prefix) (netip.Prefix, netip.Prefix, string, error) {
	all, err := hostPrefixes()
	if err != nil {
		return addr, hostAddr, "", nil // nothing to check against: the kernel will say
	}
	var taken []ifacePrefix
	for _, t := range all {
		if !(f.given.tun && t.name == f.tun) {
			taken = append(taken, t)
		}
	}
	why := clash(taken, addr, hostAddr)
	if why == "" {
		return addr, hostAddr, "", nil
	}
	if f.given.addr || f.given.hostAddr {
		return addr, hostAddr, "", fmt.Errorf("%s (a running synack serve?): give addresses in a free subnet, or leave out --addr and --host-addr to get one", why)
	}
	for n := 1; n < 256; n++ {
		a := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 7, byte(n), 2}), 24)
		h := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 7, byte(n), 1}), 24)
		if clash(taken, a, h) == "" {
			return a, h, fmt.Sprintf("%s: using --addr %v --host-addr %v", why, a, h), nil
		}
	}
	return addr, hostAddr, "", fmt.Errorf("%s, and every 10.7.N.0/24 is taken: give --addr and --host-addr", why)
}

// openDevice picks the addresses (pickAddrs) and the device's name, opens
// the device with onError, and returns the addresses it has. When a
// default was taken and f.notes is set, it says there what it took.
func (f *tunFlags) openDevice(host string, addr, hostAddr netip.Prefix, onError func(error)) (netip.Prefix, netip.Prefix, *tun.Device, error) {
	addr, hostAddr, note, err := f.pickAddrs(addr, hostAddr)
	if err != nil {
		return addr, hostAddr, nil, err
	}
	f.addr, f.hostAddr = addr.String(), prefixString(hostAddr)
	name := f.tun
	if !f.given.tun {
		name = "synack%d" // the kernel takes the first free number
	}
	dev, err := tun.Open(name, tun.Config{MTU: f.mtu, HostAddr: hostAddr, NoOffload: !f.offload, Queues: f.queues, OnError: onError})
	if errors.Is(err, syscall.EBUSY) {
		return addr, hostAddr, nil, fmt.Errorf("%w (a running synack?): leave --tun out to get a free device", err)
	}
	if err != nil {
		return addr, hostAddr, nil, err
	}
	f.tun = dev.Name()
	if f.notes != nil && (note != "" || f.tun != "synack0" && !f.given.tun) {
		fmt.Fprintf(f.notes, "synack %s: on %s, synack %v, the kernel %v", host, f.tun, addr, f.hostAddr)
		if note != "" {
			fmt.Fprintf(f.notes, " (%s)", note)
		}
		fmt.Fprintln(f.notes)
	}
	return addr, hostAddr, dev, nil
}

// prefixString is p as a flag takes it, "" for none.
func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}
