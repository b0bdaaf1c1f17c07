package synack_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// offloader is link middleware that offloads segmentation for the stack
// above it, as a TUN device does, over a pipe. With cut set it plays a
// kernel that cuts each large segment into MTU-sized ones, completing
// every checksum, before they cross; otherwise the large segment crosses
// whole (the pipe under it takes 64 KB), its checksum completed, as the
// kernel's own TCP receives what synack writes to a TUN device.
type offloader struct {
	link.Endpoint
	mtu   int
	cut   bool
	large atomic.Uint64 // large segments written
}

func (o *offloader) MTU() int        { return o.mtu }
func (o *offloader) GSOMaxSize() int { return link.MaxGSOSize }

func (o *offloader) WriteGSO(p []byte, g link.GSO) error {
	if g.Type != link.GSONone {
		o.large.Add(1)
	}
	if !o.cut || g.Type == link.GSONone {
		q := bytes.Clone(p)
		link.CompleteChecksum(q, g)
		return o.Endpoint.WritePacket(q)
	}
	for _, q := range cutTCP(p, g) {
		if err := o.Endpoint.WritePacket(q); err != nil {
			return err
		}
	}
	return nil
}

// cutTCP cuts a large TCP segment as the kernel does: each piece gets the
// headers, its IPv4 length, ID (the first's plus its index) and header
// checksum, its sequence number, PSH and FIN on the last only, and a
// complete TCP checksum.
func cutTCP(p []byte, g link.GSO) [][]byte {
	hdr, size := int(g.HdrLen), int(g.Size)
	ip := wire.IPv4(p)
	seq := wire.TCP(p[ip.HeaderLen():]).SeqNum()
	var out [][]byte
	for k, off := 0, hdr; off < len(p); k, off = k+1, off+size {
		end := min(off+size, len(p))
		q := append(bytes.Clone(p[:hdr]), p[off:end]...)
		binary.BigEndian.PutUint16(q[2:], uint16(len(q)))
		binary.BigEndian.PutUint16(q[4:], ip.ID()+uint16(k))
		wire.IPv4(q).FillChecksum()
		t := wire.TCP(q[ip.HeaderLen():])
		binary.BigEndian.PutUint32(t[4:], uint32(seq.Add(seqnum.Size(off-hdr))))
		if end < len(p) {
			t[13] &^= byte(wire.FlagPSH | wire.FlagFIN)
		}
		t.FillChecksum(ip.Src(), ip.Dst())
		out = append(out, q)
	}
	return out
}

// TestOffloadTransferIntact: two stacks on offloading links merge their
// segments into large ones and still move 16 MB each way intact, whether
// the large segments are cut on the way (each piece's checksum then
// checked by the receiver) or cross whole (the receiver's engine taking
// segments far above the MSS it offered); neither stack drops a segment
// as malformed.
func TestOffloadTransferIntact(t *testing.T) {
	for _, cut := range []bool{true, false} {
		t.Run(fmt.Sprintf("cut=%v", cut), func(t *testing.T) {
			var ca, sa *offloader
			wrap := func(o **offloader) func(link.Endpoint) link.Endpoint {
				return func(ep link.Endpoint) link.Endpoint {
					*o = &offloader{Endpoint: ep, mtu: mtu, cut: cut}
					return *o
				}
			}
			a, b := pipe.New(link.MaxGSOSize)
			p := newPairOn(t, pairConfig{clientLink: wrap(&ca), serverLink: wrap(&sa)}, a, b)
			l := p.listen(t, 80, 1)
			c, s := p.connect(t, l)
			defer c.Close()
			defer s.Close()
			transfer(t, c, s, 16<<20, 1)
			transfer(t, s, c, 16<<20, 2)
			for _, x := range []struct {
				name string
				o    *offloader
				st   interface{ Load() uint64 }
				errs interface{ Load() uint64 }
			}{
				{"client", ca, &p.client.Internals().Stats().GSOOutMerged, &p.client.Internals().Stats().TCPInErrs},
				{"server", sa, &p.server.Internals().Stats().GSOOutMerged, &p.server.Internals().Stats().TCPInErrs},
			} {
				if x.o.large.Load() == 0 || x.st.Load() == 0 {
					t.Errorf("%s wrote %d large segments, merged %d segments; want some", x.name, x.o.large.Load(), x.st.Load())
				}
				if n := x.errs.Load(); n != 0 {
					t.Errorf("%s dropped %d segments as malformed", x.name, n)
				}
			}
		})
	}
}
