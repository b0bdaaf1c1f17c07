package stack

import (
	"net/netip"
	"slices"
	"syscall"
)

// Route says that destinations in Dst are reached through the stack's link,
// via Gateway when it is set (the next hop of a default route).
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr
}

// route finds the route to dst: the longest matching prefix. The table is
// read without a lock: it is replaced whole when it changes.
func (s *Stack) route(dst netip.Addr) (Route, error) {
	best := -1
	var r Route
	for _, rt := range *s.routes.Load() {
		if rt.Dst.Contains(dst) && rt.Dst.Bits() > best {
			best, r = rt.Dst.Bits(), rt
		}
	}
	if best < 0 {
		return Route{}, syscall.ENETUNREACH
	}
	return r, nil
}

// AddRoute adds a route; a default route is 0.0.0.0/0.
func (s *Stack) AddRoute(r Route) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	t := append(slices.Clip(*s.routes.Load()), Route{Dst: r.Dst.Masked(), Gateway: r.Gateway})
	s.routes.Store(&t)
}

// Routes returns the routing table.
func (s *Stack) Routes() []Route {
	return slices.Clone(*s.routes.Load())
}
