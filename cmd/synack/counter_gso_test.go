package main

import (
	"bytes"
	"encoding/binary"
	"sync"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/wire"
)

// gsoLink makes the stack's end of a raw rig's pipe an offloading link
// (link.GSOEndpoint): it passes packets of at most the MTU on with their
// checksum completed, as the far end of such a link would, and drops the
// large segments (the raw peer needs none of them); and it keeps the
// stack's Dispatcher, a link.GSODispatcher, for the test to deliver
// described packets to.
type gsoLink struct {
	link.Endpoint
	mu sync.Mutex
	d  link.Dispatcher
}

func (l *gsoLink) GSOMaxSize() int { return link.MaxGSOSize }

func (l *gsoLink) WriteGSO(p []byte, g link.GSO) error {
	if len(p) > l.MTU() {
		return nil
	}
	p = bytes.Clone(p)
	link.CompleteChecksum(p, g)
	return l.Endpoint.WritePacket(p)
}

func (l *gsoLink) Attach(d link.Dispatcher) {
	l.mu.Lock()
	l.d = d
	l.mu.Unlock()
	l.Endpoint.Attach(d)
}

// gsoScenario: segments merged into large ones on the way out; on the
// way in, a segment with a partial checksum taken and one whose
// description does not fit its headers dropped.
func gsoScenario(e *scenarioEnv) {
	var gl *gsoLink
	r := e.rawOn(synack.Config{}, func(ep link.Endpoint) link.Endpoint { gl = &gsoLink{Endpoint: ep}; return gl })
	l := r.listen(80, 8)
	_, s := r.accept(l, 46600, 80, wire.TCPOptions{HasMSS: true, MSS: 1460})
	if _, err := s.Write(make([]byte, 8*1460)); err != nil {
		e.t.Fatal(err)
	}
	r.send()
	gl.mu.Lock()
	gd, ok := gl.d.(link.GSODispatcher)
	gl.mu.Unlock()
	if !ok || !gd.AcceptsGSO() {
		e.t.Fatal("the stack's dispatcher takes no described packets")
	}
	// A SYN to a closed port whose checksum field holds the pseudo
	// header's sum only (a partial checksum).
	h := wire.TCPFields{SrcPort: 46601, DstPort: 81, Seq: 1, Flags: wire.FlagSYN, Window: 1000}
	t := make([]byte, h.Len())
	h.Encode(t)
	binary.BigEndian.PutUint16(t[16:], wire.PseudoHeaderChecksum(wire.ProtocolTCP, rigPeer, rigServer, uint16(len(t))))
	pkt := ipPacket(wire.ProtocolTCP, rigPeer, t)
	gd.DeliverGSO(bytes.Clone(pkt), link.GSO{NeedsCsum: true, HdrLen: uint16(len(pkt)), CsumStart: 20, CsumOffset: 16})
	// The same described as a large segment without a partial checksum.
	gd.DeliverGSO(bytes.Clone(pkt), link.GSO{Type: link.GSOTCPv4, HdrLen: uint16(len(pkt)), Size: 100})
	r.barrier()
}
