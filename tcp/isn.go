package tcp

import (
	"crypto/rand"
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// ISNGenerator chooses initial sequence numbers as RFC 6528 §3 says:
// ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M
// is a timer ticking every 4 microseconds and F a keyed hash. An off-path
// attacker who cannot see the key cannot guess the ISN of a connection, and
// a new incarnation of the same 4-tuple starts above the old one.
type ISNGenerator struct {
	seed  maphash.Seed // the secret key: random per generator
	epoch time.Time
}

// NewISNGenerator returns a generator with a fresh random key; epoch anchors M.
func NewISNGenerator(epoch time.Time) *ISNGenerator {
	var b [8]byte
	_, _ = rand.Read(b[:]) // only mixes in extra entropy; maphash seeds itself randomly
	g := &ISNGenerator{seed: maphash.MakeSeed(), epoch: epoch.Add(-time.Duration(binary.LittleEndian.Uint32(b[:])))}
	return g
}

// ISN returns the initial sequence number for the connection local-remote at now.
func (g *ISNGenerator) ISN(now time.Time, local, remote netip.AddrPort) seqnum.Value {
	m := uint32(now.Sub(g.epoch) / (4 * time.Microsecond)) // RFC 6528: M, a 4 µs clock
	return seqnum.Value(m + uint32(g.hash(local, remote)))
}

// TimestampOffset returns the offset of the connection's timestamp clock
// (RFC 7323 §5.4): the other half of the same keyed hash, so it is as hard
// to guess as the ISN and unrelated to it.
func (g *ISNGenerator) TimestampOffset(local, remote netip.AddrPort) uint32 {
	return uint32(g.hash(local, remote) >> 32)
}

// hash is F of RFC 6528: a keyed hash of the 4-tuple.
func (g *ISNGenerator) hash(local, remote netip.AddrPort) uint64 {
	var h maphash.Hash
	h.SetSeed(g.seed)
	var b [36]byte
	l, r := local.Addr().As16(), remote.Addr().As16()
	copy(b[0:16], l[:])
	copy(b[16:32], r[:])
	binary.BigEndian.PutUint16(b[32:], local.Port())
	binary.BigEndian.PutUint16(b[34:], remote.Port())
	h.Write(b[:])
	return h.Sum64()
}
