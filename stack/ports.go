package stack

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"syscall"
)

// Ephemeral ports, Linux's default ip_local_port_range.
const (
	ephemeralFirst = 32768
	ephemeralLast  = 60999
)

// portAllocator picks ephemeral ports with RFC 6056 §3.3.3, Algorithm 3
// (simple hash-based): each destination walks the range from its own
// secret, hashed offset, so ports are hard to guess and a port is reused
// for a destination only after the whole range has gone round.
type portAllocator struct {
	mu   sync.Mutex // taken before a shard's, to check a 4-tuple is free
	seed maphash.Seed
	next uint32 // next_ephemeral: moves on with every allocation
}

func (p *portAllocator) init() { p.seed = maphash.MakeSeed() }

// pickPort returns a free ephemeral port for local->remote: one no listener
// holds and no connection uses with remote. It takes the allocator's lock
// and, one at a time, the lock of each candidate's shard; the caller takes
// the chosen one's shard again to make the connection and checks anew.
func (s *Stack) pickPort(local netip.Addr, remote netip.AddrPort) (uint16, error) {
	p := &s.ports
	offset := p.offset(local, remote)
	const n = ephemeralLast - ephemeralFirst + 1
	p.mu.Lock()
	defer p.mu.Unlock()
	listeners := *s.listeners.Load()
	for i := uint32(0); i < n; i++ {
		port := uint16(ephemeralFirst + (offset+p.next+i)%n)
		if listeners[port] != nil || s.inUse(keyOf(netip.AddrPortFrom(local, port), remote)) {
			continue
		}
		p.next += i + 1
		return port, nil
	}
	return 0, syscall.EADDRNOTAVAIL
}

// offset is F(local, remote, secret) of RFC 6056 §3.3.3: where the walk
// through the range starts for this pair. A remote that is not IPv4 (an
// unconnected UDP socket's) hashes as 0.0.0.0:0.
func (p *portAllocator) offset(local netip.Addr, remote netip.AddrPort) uint32 {
	var b [10]byte
	l := local.As4()
	copy(b[0:4], l[:])
	if remote.Addr().Is4() {
		r := remote.Addr().As4()
		copy(b[4:8], r[:])
	}
	binary.BigEndian.PutUint16(b[8:], remote.Port())
	return uint32(maphash.Bytes(p.seed, b[:]))
}

// inUse reports whether a connection or a TIME-WAIT record holds the
// 4-tuple k.
func (s *Stack) inUse(k connKey) bool {
	sh := s.shardOf(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.conns[k] != nil || sh.tws[k] != nil // TIME-WAIT holds its 4-tuple
}
