package stack

import (
	"errors"
	"fmt"
	"sync"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/tcp"
)

// validate reports, joined, what is wrong with a stack's endpoint and
// configuration, each as a *tcp.ConfigError naming the field: New refuses
// them rather than take a silent default or fail later in a puzzling way.
// Zero fields are fine (they take their defaults).
func validate(ep link.Endpoint, cfg *Config) error {
	if ep == nil {
		return &tcp.ConfigError{Field: "endpoint", Problem: "is nil: the stack needs a link (link/tun, link/pipe or one of your own)"}
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &tcp.ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	a := cfg.Addr.Addr()
	switch {
	case !cfg.Addr.IsValid() || !a.Is4():
		bad("Addr", "is %v: the stack needs an IPv4 address and prefix, such as 10.0.0.1/24", cfg.Addr)
	case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback(), a == limitedBroadcast:
		bad("Addr", "is %v: a host's own address cannot be unspecified, multicast, loopback or broadcast", cfg.Addr)
	case cfg.Addr.Bits() < 31 && a == broadcast(cfg.Addr):
		bad("Addr", "is %v: the broadcast address of its prefix", cfg.Addr)
	}
	if g := cfg.Gateway; g.IsValid() && (!g.Is4() || cfg.Addr.IsValid() && !cfg.Addr.Masked().Contains(g)) {
		bad("Gateway", "is %v: a gateway must be an IPv4 address on the link's prefix %v", g, cfg.Addr.Masked())
	}
	if mtu := ep.MTU(); mtu < 68 { // RFC 791: every host must accept 68-byte datagrams
		bad("endpoint", "has MTU %d, below IPv4's minimum of 68", mtu)
	} else if cfg.TCP.MSS > mtu-40 {
		bad("TCP.MSS", "is %d, above the link's MTU %d less 40 bytes of IP and TCP headers (0 takes %d)", cfg.TCP.MSS, mtu, mtu-40)
	}
	if cfg.MaxConnections < 0 {
		bad("MaxConnections", "is %d: it cannot be negative (0 takes the default)", cfg.MaxConnections)
	}
	if cfg.MaxTimeWait < 0 {
		bad("MaxTimeWait", "is %d: it cannot be negative (0 takes the default)", cfg.MaxTimeWait)
	}
	if cfg.Shards < 0 || cfg.Shards > maxShards {
		bad("Shards", "is %d: it must be 0 (the default) to %d", cfg.Shards, maxShards)
	}
	errs = append(errs, cfg.TCP.Validate())
	return errors.Join(errs...)
}

// attached is the endpoints a live stack is attached to: two stacks on one
// endpoint would take each other's packets (Attach replaces the
// Dispatcher), so New refuses the second.
var attached sync.Map // link.Endpoint -> *Stack

// claim marks ep as s's, or says it is another stack's already.
func claim(ep link.Endpoint, s *Stack) error {
	if prev, loaded := attached.LoadOrStore(ep, s); loaded && prev != s {
		return &tcp.ConfigError{Field: "endpoint", Problem: "is attached to another stack already: close that stack first"}
	}
	return nil
}

// release lets ep go when s closes.
func release(ep link.Endpoint, s *Stack) { attached.CompareAndDelete(ep, s) }
