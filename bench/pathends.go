package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link/tun"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	gvtun "gvisor.dev/gvisor/pkg/tcpip/link/tun"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// pathDev is the name of the device in the client's namespace: the TUN
// device, or the client's end of the veth pair. Each run has a namespace
// of its own, so the name never clashes.
const pathDev = "bench0"

// pathPort is the port every real path's server listens on.
const pathPort = 80

// synackPathEnd is synack on a TUN device in ns, with default settings
// (those of synack serve), or without the TUN offloads if plain.
func synackPathEnd(ns *netns, plain bool) (*pathEnd, error) {
	var dev *tun.Device
	err := ns.do(func() error {
		var err error
		dev, err = tun.Open(pathDev, tun.Config{MTU: pathMTU, HostAddr: pathClient, NoOffload: plain})
		return err
	})
	if err != nil {
		return nil, err
	}
	st, err := synack.New(dev, synack.Config{Addr: pathServer, Host: "server"})
	if err != nil {
		dev.Close()
		return nil, err
	}
	l, err := st.ListenTCP(netip.AddrPortFrom(pathServer.Addr(), pathPort), backlog)
	if err != nil {
		st.Close()
		dev.Close()
		return nil, err
	}
	return &pathEnd{
		l: l, dev: pathDev,
		counters: func(context.Context) (uint64, uint64, error) {
			s := st.Internals().TCPStats()
			return s.Timeouts.Load(), s.RetransSegs.Load(), nil
		},
		close: func() error { l.Close(); return errors.Join(st.Close(), dev.Close()) },
	}, nil
}

// gvisorPathEnd is gVisor's netstack, default settings, on a TUN device in
// ns through its fdbased link endpoint.
func gvisorPathEnd(ctx context.Context, ns *netns) (*pathEnd, error) {
	var fd int
	err := ns.do(func() error {
		var err error
		fd, err = gvtun.Open(pathDev)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gvisor tun.Open: %w", err)
	}
	for _, args := range [][]string{
		{"ip", "addr", "add", pathClient.String(), "dev", pathDev},
		{"ip", "link", "set", pathDev, "mtu", strconv.Itoa(pathMTU), "up"},
	} {
		if _, err := ns.run(ctx, nil, args...); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	ep, err := fdbased.New(&fdbased.Options{FDs: []int{fd}, MTU: pathMTU})
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("gvisor fdbased.New: %w", err)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	closeAll := func() error {
		s.Close()
		s.Wait()
		return unix.Close(fd)
	}
	if err := s.CreateNIC(nicID, ep); err != nil {
		closeAll()
		return nil, fmt.Errorf("gvisor CreateNIC: %s", err)
	}
	addr := tcpip.AddrFrom4(pathServer.Addr().As4())
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr, PrefixLen: pathServer.Bits()}}
	if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		closeAll()
		return nil, fmt.Errorf("gvisor AddProtocolAddress: %s", err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: nicID}})
	l, err := gonet.ListenTCP(s, tcpip.FullAddress{NIC: nicID, Addr: addr, Port: pathPort}, ipv4.ProtocolNumber)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("gvisor listen: %w", err)
	}
	return &pathEnd{
		l: l, dev: pathDev,
		counters: func(context.Context) (uint64, uint64, error) {
			t := s.Stats().TCP
			return t.Timeouts.Value(), t.Retransmits.Value(), nil
		},
		close: func() error { l.Close(); return closeAll() },
	}, nil
}

// kernelPathEnd is the kernel's TCP in a namespace of its own, joined to
// ns by a veth pair with segmentation and receive offloads off on both
// ends, so that the kernel sends and receives MTU-sized packets as the
// TUN paths do, or, with offload, on.
func kernelPathEnd(ctx context.Context, ns *netns, offload bool) (*pathEnd, error) {
	srv, err := newNetns(ctx)
	if err != nil {
		return nil, err
	}
	const peer = "bench1"
	steps := []struct {
		in   *netns
		args []string
	}{
		{ns, []string{"ip", "link", "add", pathDev, "mtu", strconv.Itoa(pathMTU), "type", "veth", "peer", "name", peer, "netns", srv.name}},
		{ns, []string{"ip", "addr", "add", pathClient.String(), "dev", pathDev}},
		{ns, []string{"ip", "link", "set", pathDev, "up"}},
		{ns, ethtool(pathDev, offload)},
		{srv, []string{"ip", "link", "set", peer, "mtu", strconv.Itoa(pathMTU)}},
		{srv, []string{"ip", "addr", "add", pathServer.String(), "dev", peer}},
		{srv, []string{"ip", "link", "set", peer, "up"}},
		{srv, ethtool(peer, offload)},
	}
	for _, s := range steps {
		if _, err := s.in.run(ctx, nil, s.args...); err != nil {
			srv.delete()
			return nil, err
		}
	}
	var l net.Listener
	err = srv.do(func() error {
		var err error
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) { serr = setKernelCC(int(fd)) }); err != nil {
				return err
			}
			return serr
		}}
		l, err = lc.Listen(ctx, "tcp4", net.JoinHostPort(pathServer.Addr().String(), strconv.Itoa(pathPort)))
		return err
	})
	if err != nil {
		srv.delete()
		return nil, err
	}
	return &pathEnd{
		l: l, dev: pathDev,
		counters: func(ctx context.Context) (uint64, uint64, error) {
			return nstat(ctx, srv)
		},
		close: func() error { l.Close(); return srv.delete() },
	}, nil
}

// ethtool is the command that turns dev's segmentation and receive
// offloads on or off.
func ethtool(dev string, on bool) []string {
	v := "off"
	if on {
		v = "on"
	}
	return []string{"ethtool", "-K", dev, "tso", v, "gso", v, "gro", v}
}

// nstat reads the kernel's TcpExtTCPTimeouts and TcpRetransSegs in ns
// (absolute values, without touching nstat's history).
func nstat(ctx context.Context, ns *netns) (timeouts, retrans uint64, err error) {
	out, err := ns.run(ctx, nil, "nstat", "-asz", "TcpExtTCPTimeouts", "TcpRetransSegs")
	if err != nil {
		return 0, 0, err
	}
	found := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, perr := strconv.ParseUint(f[1], 10, 64)
		if perr != nil {
			continue
		}
		switch f[0] {
		case "TcpExtTCPTimeouts":
			timeouts, found = v, found+1
		case "TcpRetransSegs":
			retrans, found = v, found+1
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("nstat printed no TcpExtTCPTimeouts and TcpRetransSegs:\n%s", out)
	}
	return timeouts, retrans, nil
}
