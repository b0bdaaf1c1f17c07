package synack

import (
	"context"
	"fmt"
	"net"
	"net/netip"
)

// Resolver returns Go's own DNS resolver (net.Resolver with PreferGo)
// dialing through this stack: it asks server, whatever /etc/resolv.conf
// names, over UDP, and over TCP when an answer comes back truncated (RFC
// 7766), as Go's resolver does on its own. synack has no resolver of its
// own. Names in /etc/hosts are still answered from it first.
//
// To let DialContext (and an http.Client whose Transport dials with it)
// take host names, give the resolver to the stack:
//
//	st.SetResolver(st.Resolver(netip.MustParseAddrPort("10.0.0.53:53")))
//	client := &http.Client{Transport: &http.Transport{DialContext: st.DialContext}}
//	client.Get("http://example.internal/")
func (st *Stack) Resolver(server netip.AddrPort) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return st.DialContext(ctx, network, server.String())
		},
	}
}

// SetResolver sets the resolver DialContext, LookupHost and LookupNetIP use for names
// that are not IPv4 addresses; nil (the default) resolves nothing.
func (st *Stack) SetResolver(r *net.Resolver) { st.resolver.Store(r) }

// LookupHost returns the IPv4 addresses of host, as strings, through the
// resolver set with SetResolver, as net.Resolver's LookupHost does.
func (st *Stack) LookupHost(ctx context.Context, host string) ([]string, error) {
	all, err := st.LookupNetIP(ctx, host)
	if err != nil {
		return nil, err
	}
	s := make([]string, len(all))
	for i, a := range all {
		s[i] = a.String()
	}
	return s, nil
}

// LookupNetIP returns the IPv4 addresses of host through the resolver set
// with SetResolver.
func (st *Stack) LookupNetIP(ctx context.Context, host string) ([]netip.Addr, error) {
	r := st.resolver.Load()
	if r == nil {
		return nil, &net.DNSError{Err: "no resolver: see Stack.SetResolver", Name: host, IsNotFound: true}
	}
	all, err := r.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return nil, err
	}
	for i, a := range all {
		all[i] = a.Unmap()
	}
	return all, nil
}

// resolve reads "host:port" for a network of kind "tcp" or "udp", looking
// the host up when it is a name.
func (st *Stack) resolve(ctx context.Context, network, address, kind string) (netip.AddrPort, error) {
	host, port, err := splitFor(network, address, kind)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if host == "" {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), port), nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Is4() {
			return netip.AddrPort{}, fmt.Errorf("host %q is not an IPv4 address", host)
		}
		return netip.AddrPortFrom(a, port), nil
	}
	if st.resolver.Load() == nil {
		return netip.AddrPort{}, fmt.Errorf("host %q is not an IPv4 address and no resolver is set (Stack.SetResolver)", host)
	}
	addrs, err := st.LookupNetIP(ctx, host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(addrs[0], port), nil
}
