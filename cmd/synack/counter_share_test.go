package main

import (
	"encoding/binary"
	"io"
	"net/netip"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/wire"
)

// sharedTextScenario: 1 MiB over a pipe of MTU 65535 that leaves
// checksums out, whose large segments leave with their text in the
// sender's send buffer and are kept there by the receiver (link.
// TextSharer); then a packet delivered with its text apart that is no
// TCP segment as a stack shares one, copied whole.
func sharedTextScenario(e *scenarioEnv) {
	a, b := pipe.NewWithOptions(65535, pipe.Options{ChecksumOffload: true})
	p := e.pairOn(a, b, synack.Config{}, synack.Config{}, nil)
	l, err := p.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 4)
	if err != nil {
		e.t.Fatal(err)
	}
	defer l.Close()
	cc, sc := p.connect(l, 80)
	defer cc.Close()
	defer sc.Close()
	p.do(func() {
		go func() {
			cc.Write(make([]byte, 1<<20))
			cc.CloseWrite()
		}()
		if n, err := io.Copy(io.Discard, sc); n != 1<<20 || err != nil {
			e.t.Errorf("read %d bytes (%v), want 1 MiB", n, err)
		}
	})
	// A UDP datagram with its payload apart: not what a stack shares.
	hdr := ipPacket(wire.ProtocolUDP, rigPeer, make([]byte, 8))
	text := make([]byte, 100)
	binary.BigEndian.PutUint16(hdr[2:], uint16(len(hdr)+len(text))) // the total length
	wire.IPv4(hdr).FillChecksum()
	refs := []link.Releaser{nopHold{}}
	p.server.Internals().DeliverShared([][]byte{hdr}, [][]byte{text}, refs, false)
}

type nopHold struct{}

func (nopHold) Release() {}
