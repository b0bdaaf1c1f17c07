package stack

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/seqnum"
)

// gatherNet is a gsoNet that also takes packets in pieces, recording each
// as the one packet the pieces make and how many pieces it came in.
type gatherNet struct {
	gsoNet
	parts []int // pieces of each packet; 1 for WritePacket and WriteGSO
}

func (n *gatherNet) WritePacket(p []byte) error {
	n.parts = append(n.parts, 1)
	return n.gsoNet.WritePacket(p)
}

func (n *gatherNet) WriteGSO(p []byte, g link.GSO) error {
	n.parts = append(n.parts, 1)
	return n.gsoNet.WriteGSO(p, g)
}

func (n *gatherNet) WriteGSOGather(parts [][]byte, g link.GSO) error {
	if len(parts) > link.MaxGatherParts || len(parts[0]) < int(g.HdrLen) {
		return link.ErrTooBig
	}
	n.parts = append(n.parts, len(parts))
	return n.gsoNet.WriteGSO(bytes.Join(parts, nil), g)
}

// sendRing queues count segments of size bytes from seq 1000 on, their
// text read from a ring of ringLen bytes starting at offset start, as a
// send buffer hands it over (in two pieces where it wraps), and flushes.
func sendRing(t *testing.T, ep link.Endpoint, ringLen, start, count, size int) {
	t.Helper()
	s, err := New(ep, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clock.NewVirtual(fzStart)})
	if err != nil {
		t.Fatal(err)
	}
	ring := data(7, ringLen)
	sh := s.shards[0]
	sh.mu.Lock()
	seq, off := seqnum.Value(1000), start
	for range count {
		h := ack(uint32(seq), 5, a)
		h.SrcPort, h.DstPort = gsoLocal.Port(), gsoRemote.Port()
		payload, more := ring[off:min(off+size, ringLen)], []byte(nil)
		if k := size - len(payload); k > 0 {
			more = ring[:k]
		}
		sh.sendTCP(gsoLocal.Addr(), gsoRemote.Addr(), &h, payload, more)
		seq, off = seq.Add(seqnum.Size(size)), (off+size)%ringLen
	}
	sh.unlockAndFlush()
	if sh.tcp.TextHeld {
		t.Fatal("the shard's send buffers still marked held after its batch was written")
	}
}

// TestGatherSendsWhatCopyingSends checks that a gathering link gets, once
// its large segments are cut, exactly the packets a plain link gets, in
// writes of the headers and at most two pieces of text each, and that a
// run needing a third piece (the ring wrapping twice) is cut there.
func TestGatherSendsWhatCopyingSends(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		ringLen, start, count     int
		wantWrites, wantMaxPieces int
	}{
		{"no wrap", 1 << 20, 0, 40, 1, 2},
		{"one wrap", 32768, 30000, 20, 1, 3},
		{"wraps every 16 KB", 16384, 15000, 40, 4, 3},
		{"past 64 KB", 1 << 20, 0, 100, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, off := &gsoNet{}, &gatherNet{gsoNet: gsoNet{max: link.MaxGSOSize}}
			sendRing(t, plain, tc.ringLen, tc.start, tc.count, 1448)
			sendRing(t, off, tc.ringLen, tc.start, tc.count, 1448)
			sameOnceCut(t, &off.gsoNet, plain)
			if len(off.pkts) != tc.wantWrites {
				t.Fatalf("%d writes, want %d (pieces %v)", len(off.pkts), tc.wantWrites, off.parts)
			}
			most := 0
			for _, k := range off.parts {
				most = max(most, k)
			}
			if most != tc.wantMaxPieces {
				t.Fatalf("at most %d pieces in a write, want %d (pieces %v)", most, tc.wantMaxPieces, off.parts)
			}
			for i, p := range off.pkts {
				if len(p) > link.MaxGSOSize {
					t.Fatalf("write %d is %d bytes", i, len(p))
				}
			}
		})
	}
}

// TestGatherHoldsTextUntilWritten checks the promise the engine relies on
// (tcp.Env.TextHeld): set from the first gathered segment until the batch
// holding it is written, and never set on a link that does not gather.
func TestGatherHoldsTextUntilWritten(t *testing.T) {
	for _, gather := range []bool{false, true} {
		var ep link.Endpoint = &gsoNet{max: link.MaxGSOSize}
		if gather {
			ep = &gatherNet{gsoNet: gsoNet{max: link.MaxGSOSize}}
		}
		s, err := New(ep, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clock.NewVirtual(fzStart)})
		if err != nil {
			t.Fatal(err)
		}
		sh := s.shards[0]
		sh.mu.Lock()
		h := ack(1000, 5, a)
		h.SrcPort, h.DstPort = gsoLocal.Port(), gsoRemote.Port()
		sh.sendTCP(gsoLocal.Addr(), gsoRemote.Addr(), &h, nil, nil) // a pure ACK: no text to hold
		if sh.tcp.TextHeld {
			t.Fatal("held after a segment without text")
		}
		h = ack(1000, 5, a)
		h.SrcPort, h.DstPort = gsoLocal.Port(), gsoRemote.Port()
		sh.sendTCP(gsoLocal.Addr(), gsoRemote.Addr(), &h, data(1000, 1448), nil)
		if sh.tcp.TextHeld != gather {
			t.Fatalf("gathering %v: held = %v after a segment with text", gather, sh.tcp.TextHeld)
		}
		sh.unlockAndFlush()
		if sh.tcp.TextHeld {
			t.Fatal("still held after the batch was written")
		}
		if gather && sh.spare != nil && sh.spare.meta[:cap(sh.spare.meta)][0].text[0] != nil {
			t.Fatal("the written batch still refers to the send buffer's text")
		}
	}
}

func TestGatherSteadyStateAllocs(t *testing.T) {
	n := &gatherCount{}
	s, err := New(&gatherNet{gsoNet: gsoNet{max: link.MaxGSOSize}}, Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Clock: clock.NewVirtual(fzStart)})
	if err != nil {
		t.Fatal(err)
	}
	s.gso, s.gather = n, n
	ring := make([]byte, 1<<20)
	seq, off := seqnum.Value(1000), 0
	sh := s.shards[0]
	flush := func() {
		sh.mu.Lock()
		for range 60 {
			h := ack(uint32(seq), 5, a)
			h.SrcPort, h.DstPort = 80, 40000
			if off+1448 > len(ring) {
				off = 0
			}
			sh.sendTCP(gsoLocal.Addr(), gsoRemote.Addr(), &h, ring[off:off+1448], nil)
			seq, off = seq.Add(1448), off+1448
		}
		sh.unlockAndFlush()
	}
	flush()
	flush()
	if allocs := testing.AllocsPerRun(50, flush); allocs != 0 {
		t.Fatalf("%v allocations per flush of 60 gathered segments", allocs)
	}
	if n.gathered == 0 {
		t.Fatal("nothing written in pieces")
	}
}

// gatherCount counts gathering writes without keeping them.
type gatherCount struct {
	countNet
	gathered int
}

func (c *gatherCount) WriteGSOGather(parts [][]byte, g link.GSO) error {
	c.gathered++
	return nil
}
