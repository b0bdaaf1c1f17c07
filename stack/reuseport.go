package stack

import (
	"net/netip"
	"syscall"
)

// Listener groups (SO_REUSEPORT, as Linux has it since 3.9).
//
// A port's listeners are a listenGroup: one listener, or several that
// every one asked for port sharing (ListenOptions.ReusePort) and are bound
// to the same address. A SYN for a new 4-tuple goes to the member its
// 4-tuple hashes to (pick), so one client's 4-tuple always reaches the same
// member while the group is unchanged and different clients spread over
// the members; the final ACK of a SYN cookie handshake hashes the same and
// reaches the member whose cookie secret made the cookie. A connection
// lives in its shard and is found by its 4-tuple once made, so only
// segments for no connection are steered.
//
// Linux also wants every member to have the same effective user id; a
// stack serves one process, so there is nothing to compare. Linux lets a
// listener on the wildcard address and one on a specific address share
// a port (the specific one wins the lookup); a stack has one address, so
// a group's members must be bound alike: a wildcard listener and one on
// the stack's address do not join (EADDRINUSE).
//
// When a member closes, the connections it made and nobody accepted are
// reset, as Linux resets them when a listener closes (Linux can move them
// to another member, net.ipv4.tcp_migrate_req, off by default: not done
// here); the others keep serving, and the 4-tuples that hashed to the
// closed member spread over those left. A handshake in flight when the
// group changes may hash to another member: a connection in SYN-RECEIVED
// is found by its 4-tuple and is not affected, but a cookie ACK then meets
// another member's secret and is answered with a RST, as a cookie of a
// closed listener is (Linux's cookie secrets are per host, so it would
// accept it).
//
// Bounds: each member keeps its own SYN and accept queues with their
// bounds (tcp.Listener), and the stack's connection limit holds across
// them; a group adds no state a peer can grow. The group itself is made
// by the application's Listen calls, one slice entry each.

// listenGroup is a port's listeners: one, or several that all set
// ReusePort. It is never changed once stored in the table: a change
// stores a new slice (copy on write, under Stack.lmu).
type listenGroup []*TCPListener

// ListenOptions are the options of ListenTCPOptions.
type ListenOptions struct {
	// ReusePort puts the listener in a group with the other listeners
	// of its address and port that set it (SO_REUSEPORT): each new
	// connection goes to one member, chosen by a hash of its 4-tuple.
	// A listener without it and a group exclude each other (EADDRINUSE).
	ReusePort bool
	// ReuseAddr, for UDP sockets only (SO_REUSEADDR), lets sockets that
	// all set it share a port too; each datagram goes to the last of
	// them bound (udpLookup), as Linux's. TCP listeners ignore it.
	ReuseAddr bool
}

// ListenTCPOptions is ListenTCP with options.
func (s *Stack) ListenTCPOptions(local netip.AddrPort, backlog int, o ListenOptions) (*TCPListener, error) {
	return s.listenTCP(local, backlog, o.ReusePort)
}

// ReusePort reports whether the listener was made with ReusePort.
func (l *TCPListener) ReusePort() bool { return l.reusePort }

// pick is the member the 4-tuple k is steered to: the top 32 bits of the
// 4-tuple's hash scaled to the group's size (Linux's reciprocal_scale),
// so the choice does not follow the shard's, which takes the low bits.
func (g listenGroup) pick(k connKey) *TCPListener {
	if len(g) == 1 {
		return g[0]
	}
	return g[(tupleHash(k)>>32)*uint64(len(g))>>32]
}

// joins reports whether a listener on addr with reusePort may take the
// port g holds: EADDRINUSE unless g is a group it may join.
func (g listenGroup) joins(addr netip.Addr, reusePort bool) error {
	if len(g) == 0 {
		return nil
	}
	if !reusePort || !g[0].reusePort || g[0].addr != addr {
		return syscall.EADDRINUSE
	}
	return nil
}

// without is g less l (a new slice), or nil when l was the last member.
func (g listenGroup) without(l *TCPListener) listenGroup {
	var out listenGroup
	for _, m := range g {
		if m != l {
			out = append(out, m)
		}
	}
	return out
}

// listenerCount is the number of listening sockets, group members each.
func (s *Stack) listenerCount() int {
	n := 0
	for _, g := range *s.listeners.Load() {
		n += len(g)
	}
	return n
}

// allListeners is every listening socket.
func (s *Stack) allListeners() []*TCPListener {
	var ls []*TCPListener
	for _, g := range *s.listeners.Load() {
		ls = append(ls, g...)
	}
	return ls
}

// UDP sockets share a port the same way (udpTable): every socket of the
// port set ReusePort and is bound alike. A datagram goes to the socket
// connected to its source, if one is (a connected socket is the closer
// match, as in Linux's scoring), else to the unconnected socket its
// 4-tuple hashes to, so one peer's datagrams keep reaching one socket
// while the group is unchanged; with none, no socket takes it. Each
// socket keeps its own bounded receive queue (udp.Queue). Sockets that
// share a port by ReuseAddr (SO_REUSEADDR: some member lacks ReusePort)
// are not balanced: the last unconnected one bound takes what no
// connected one does, as on Linux.

// udpLookup is the socket of g (a port's sockets, UDP's lock held) that
// a datagram from src to local goes to, or nil. It allocates nothing.
func udpLookup(g []*UDPSocket, local, src netip.AddrPort) *UDPSocket {
	if len(g) == 1 { // the common case: no group
		if sk := g[0]; !sk.remote.IsValid() || sk.remote == src {
			return sk
		}
		return nil
	}
	if sk := udpConnected(g, src); sk != nil {
		return sk
	}
	n, hash := 0, true
	var last *UDPSocket
	for _, sk := range g {
		if !sk.remote.IsValid() {
			n, last = n+1, sk
		}
		hash = hash && sk.reusePort
	}
	if !hash {
		return last // a SO_REUSEADDR group: the last bound (nil: none unconnected)
	}
	if n == 0 {
		return nil
	}
	i := int((tupleHash(keyOf(local, src)) >> 32) * uint64(n) >> 32)
	for _, sk := range g {
		if !sk.remote.IsValid() {
			if i == 0 {
				return sk
			}
			i--
		}
	}
	return nil
}

// udpConnected is the socket of g connected to remote, or nil.
func udpConnected(g []*UDPSocket, remote netip.AddrPort) *UDPSocket {
	for _, sk := range g {
		if sk.remote == remote && remote.IsValid() {
			return sk
		}
	}
	return nil
}
