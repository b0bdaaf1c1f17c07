package stack

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
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

// lender holds any text handed to it, as a connection's send buffer
// holds its own, counting the holds taken and not yet released.
type lender struct{ out int }

func (l *lender) ShareText(p []byte) tcp.Releaser {
	l.out++
	return (*lenderHold)(l)
}

type lenderHold lender

func (h *lenderHold) Release() { h.out-- }

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
	var ln lender
	sh.mu.Lock()
	seq, off := seqnum.Value(1000), start
	for range count {
		h := ack(uint32(seq), 5, a)
		h.SrcPort, h.DstPort = gsoLocal.Port(), gsoRemote.Port()
		payload, more := ring[off:min(off+size, ringLen)], []byte(nil)
		if k := size - len(payload); k > 0 {
			more = ring[:k]
		}
		sh.sendTCP(&ln, gsoLocal.Addr(), gsoRemote.Addr(), &h, payload, more)
		seq, off = seq.Add(seqnum.Size(size)), (off+size)%ringLen
	}
	sh.unlockAndFlush()
	if ln.out != 0 {
		t.Fatalf("%d holds on the send buffer's text outlive the batch's write", ln.out)
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
// (tcp.Conn.ShareText): a gathered segment holds the chunk each piece of
// its text lies in, one hold a piece however many segments are merged
// into it, until the batch holding it is written; a link that does not
// gather takes none, nor a segment without text.
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
		var ln lender
		sh.mu.Lock()
		h := ack(1000, 5, a)
		h.SrcPort, h.DstPort = gsoLocal.Port(), gsoRemote.Port()
		sh.sendTCP(&ln, gsoLocal.Addr(), gsoRemote.Addr(), &h, nil, nil) // a pure ACK: no text to hold
		if ln.out != 0 {
			t.Fatal("a hold taken for a segment without text")
		}
		text := data(1000, 4*1448)
		for i := range 3 { // three segments, merged: their text follows on in memory
			h = ack(uint32(1000+i*1448), 5, a)
			h.SrcPort, h.DstPort = gsoLocal.Port(), gsoRemote.Port()
			sh.sendTCP(&ln, gsoLocal.Addr(), gsoRemote.Addr(), &h, text[i*1448:(i+1)*1448], nil)
		}
		if want := map[bool]int{false: 0, true: 1}[gather]; ln.out != want {
			t.Fatalf("gathering %v: %d holds after three merged segments with text, want %d", gather, ln.out, want)
		}
		other := data(2000, 1448) // the next segment's text lies elsewhere: a second piece
		h = ack(uint32(1000+3*1448), 5, a)
		h.SrcPort, h.DstPort = gsoLocal.Port(), gsoRemote.Port()
		sh.sendTCP(&ln, gsoLocal.Addr(), gsoRemote.Addr(), &h, other, nil)
		if want := map[bool]int{false: 0, true: 2}[gather]; ln.out != want {
			t.Fatalf("gathering %v: %d holds after a second piece, want %d", gather, ln.out, want)
		}
		sh.unlockAndFlush()
		if ln.out != 0 {
			t.Fatalf("%d holds left after the batch was written", ln.out)
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
	var ln lender
	flush := func() {
		sh.mu.Lock()
		for range 60 {
			h := ack(uint32(seq), 5, a)
			h.SrcPort, h.DstPort = 80, 40000
			if off+1448 > len(ring) {
				off = 0
			}
			sh.sendTCP(&ln, gsoLocal.Addr(), gsoRemote.Addr(), &h, ring[off:off+1448], nil)
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
