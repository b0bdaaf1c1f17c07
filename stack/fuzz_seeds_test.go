package stack

// The seed corpus of FuzzStack (testdata/fuzz/FuzzStack): a builder that
// writes inputs in the harness's encoding (fuzz_test.go), the seeds, and
// the test that keeps the checked-in files in step with them.

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/synack-net/synack/wire"
)

// fzSeed builds a FuzzStack input step by step, for the seed corpus.
type fzSeed []byte

// The header's option bits: MSS, window scale, SACK-permitted, timestamps.
const (
	hsMSS, hsWS, hsSACK, hsTS = 1, 2, 4, 8
	hsAll                     = hsMSS | hsWS | hsSACK | hsTS | 7<<4
)

func newSeed(opts, mss byte) fzSeed { return fzSeed{opts, mss, 0x12} }

// fzSeg is a built segment's fields in the input's encoding.
type fzSeg struct {
	tuple   byte
	flags   wire.TCPFlags
	seq     int16 // relative to the stack's RCV.NXT
	ackBack byte  // below the stack's SND.MAX
	farAck  bool  // ACK = SND.MAX - 2^30 instead
	win     uint16
	mss     uint16 // 0: none
	ts      bool
	tsOld   byte // TSval this many 256 ms ticks old (PAWS)
	sackUna uint16
	sacks   [][2]byte // blocks as (start, length) in 8-byte units from SND.MAX-sackUna
	n       byte      // payload length code
}

func (s fzSeed) seg(g fzSeg) fzSeed {
	s = append(s, 0, g.tuple, byte(g.flags), 1, byte(uint16(g.seq)>>8), byte(g.seq))
	if g.farAck {
		s = append(s, 3, 0)
	} else {
		s = append(s, 0, g.ackBack)
	}
	s = append(s, 2, byte(g.win>>8), byte(g.win))
	opt := byte(0)
	if g.mss != 0 {
		opt |= 1
	}
	if g.ts {
		opt |= 8
	}
	if len(g.sacks) > 0 {
		opt |= 16
	}
	s = append(s, opt)
	if g.mss != 0 {
		s = append(s, byte(g.mss>>8), byte(g.mss))
	}
	if g.ts {
		if g.tsOld > 0 {
			s = append(s, 1, g.tsOld)
		} else {
			s = append(s, 0)
		}
	}
	if len(g.sacks) > 0 {
		s = append(s, byte(len(g.sacks)-1), byte(g.sackUna>>8), byte(g.sackUna))
		for _, b := range g.sacks {
			s = append(s, b[0], b[1])
		}
	}
	return append(s, g.n)
}

func (s fzSeed) advance(b byte) fzSeed       { return append(s, 8, b) }
func (s fzSeed) nextTimer() fzSeed           { return append(s, 9) }
func (s fzSeed) read(conn, n16 byte) fzSeed  { return append(s, 10, conn, n16) }
func (s fzSeed) write(conn, n16 byte) fzSeed { return append(s, 11, conn, n16) }
func (s fzSeed) closeApp(conn, how byte) fzSeed {
	return append(s, 12, conn, how)
}
func (s fzSeed) accept() fzSeed               { return append(s, 12, 0, 7) }
func (s fzSeed) icmp(tuple, code byte) fzSeed { return append(s, 14, tuple, code, 0) }
func (s fzSeed) raw(mode byte, b []byte) fzSeed {
	return append(append(s, 13, mode, byte(len(b)/3)), b...)
}

// The tuples of fzSeg.tuple: the established connection, other clients
// of the listener, the closed port.
const (
	tEst    = 0
	tClient = 1 // +2*i for the i-th client, i < 16
	tClosed = 1 + 2*16
)

const (
	fACK, fSYN, fRST, fFIN, fPSH = wire.FlagACK, wire.FlagSYN, wire.FlagRST, wire.FlagFIN, wire.FlagPSH
)

// fzSeeds are the seed corpus: handshakes, RSTs, SYNs, data in and out of
// order, SACK, timestamps, timers, closes, ICMP and raw bytes.
func fzSeeds() map[string]fzSeed {
	ack := func(g fzSeg) fzSeg { g.flags |= fACK; g.win = 0xffff; return g }
	seeds := map[string]fzSeed{
		"established-idle": newSeed(hsAll, 180),
		"data-in-order": newSeed(hsAll, 180).
			seg(ack(fzSeg{ts: true, n: 100})).seg(ack(fzSeg{seq: 100, ts: true, n: 128 + 12})).read(0, 20).advance(2),
		"data-out-of-order-overlap": newSeed(hsAll, 180).
			seg(ack(fzSeg{seq: 300, ts: true, n: 128 + 20})).seg(ack(fzSeg{seq: 301, ts: true, n: 128 + 20})).
			seg(ack(fzSeg{seq: 302, ts: true, n: 128 + 20})).seg(ack(fzSeg{seq: 200, ts: true, n: 128 + 30})).
			seg(ack(fzSeg{seq: 0, ts: true, n: 128 + 40})).read(0, 200),
		"write-sack-recovery": newSeed(hsAll, 180).write(0, 150).
			seg(ack(fzSeg{ackBack: 255, ts: true, sackUna: 2000, sacks: [][2]byte{{50, 25}}})).
			seg(ack(fzSeg{ackBack: 255, ts: true, sackUna: 2000, sacks: [][2]byte{{50, 50}, {120, 10}}})).
			seg(ack(fzSeg{ackBack: 255, ts: true, sackUna: 2000, sacks: [][2]byte{{50, 75}, {120, 20}, {200, 5}}})).
			advance(3).nextTimer().nextTimer().seg(ack(fzSeg{ts: true})),
		"rst-in-window": newSeed(hsAll, 180).
			seg(fzSeg{flags: fRST, seq: 1000, ts: true}).seg(fzSeg{flags: fRST, seq: 5, ts: true}).
			seg(ack(fzSeg{ts: true, n: 10})).read(0, 1),
		"rst-at-rcvnxt": newSeed(hsAll, 180).seg(fzSeg{flags: fRST}),
		"syn-in-established": newSeed(hsAll, 180).
			seg(fzSeg{flags: fSYN, seq: 100, ts: true}).seg(fzSeg{flags: fSYN, seq: -1000}).seg(ack(fzSeg{ts: true, n: 5})),
		"ack-far-below-una": newSeed(hsAll, 180).write(0, 20).
			seg(fzSeg{flags: fACK | fPSH, farAck: true, win: 0xffff, ts: true, n: 50}).read(0, 10),
		"old-timestamp-paws": newSeed(hsAll, 180).advance(4|3<<3).
			seg(ack(fzSeg{ts: true, n: 10})).seg(ack(fzSeg{ts: true, tsOld: 40, seq: 10, n: 10})).read(0, 4),
		"zero-window-probes": newSeed(hsAll, 180).write(0, 200).
			seg(fzSeg{flags: fACK, ts: true}).nextTimer().nextTimer().nextTimer().nextTimer().nextTimer().nextTimer(),
		"peer-closes": newSeed(hsAll, 180).
			seg(ack(fzSeg{flags: fFIN, ts: true, n: 7})).read(0, 2).closeApp(0, 2).seg(ack(fzSeg{seq: 8, ts: true})).nextTimer(),
		"app-closes-first": newSeed(hsMSS, 40).write(0, 40).closeApp(0, 3).
			seg(ack(fzSeg{})).seg(ack(fzSeg{flags: fFIN})).advance(5),
		"mss-1":            newSeed(hsMSS, 0).write(0, 10).seg(ack(fzSeg{ackBack: 0})).advance(1).nextTimer(),
		"no-options":       newSeed(0, 0).seg(ack(fzSeg{n: 128 + 60})).write(0, 64).read(0, 64).advance(9),
		"icmp-unreachable": newSeed(hsAll, 180).write(0, 5).icmp(tEst, 1).icmp(tEst, 3).icmp(tEst, 4),
		"icmp-pmtu":        newSeed(hsAll, 180).write(0, 5).icmp(tEst, 4|0x20).icmp(tEst, 4|0x40).icmp(tEst, 4|0x60).write(0, 5),
		"icmp-garbage":     newSeed(hsAll, 180).write(0, 5).icmp(tEst, 0x81).icmp(tEst, 0x11).icmp(tEst, 9).icmp(tEst, 13).icmp(tEst, 15),
		"raw-garbage": newSeed(hsAll, 180).raw(0, []byte{0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x9c, 0x40, 0, 80}).
			raw(1, []byte{0x46, 0, 0, 44, 0, 1, 0x20, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 2, 3, 4}).
			raw(6, []byte{0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0, 1, 1, 1}),
	}
	// Overlapping segments beyond a hole, each nearly the window: held as
	// copies they would take many times the receive buffer.
	ooo := newSeed(hsSACK|hsTS, 0)
	for i := range 12 {
		ooo = ooo.seg(ack(fzSeg{seq: int16(100 + 8*i), ts: true, n: 128 + 120}))
	}
	seeds["ooo-overlap-inflation"] = ooo.seg(ack(fzSeg{ts: true, n: 128 + 20})).read(0, 255)
	// A SYN flood on the listener from the 16 other clients, then the
	// final ACKs of some, accepts, and data on one of them.
	flood := newSeed(hsAll, 180)
	for i := range byte(16) {
		flood = flood.seg(fzSeg{tuple: tClient + 2*i, flags: fSYN, seq: int16(i) * 1000, win: 0xffff, mss: 1460, ts: true})
	}
	for i := range byte(6) {
		flood = flood.seg(ack(fzSeg{tuple: tClient + 2*i, ts: true}))
	}
	flood = flood.accept().accept().seg(ack(fzSeg{tuple: tClient, ts: true, n: 30})).read(1, 2).write(1, 3).advance(4).nextTimer()
	seeds["syn-flood-listener"] = flood
	handshake := newSeed(hsSACK|hsTS, 0).
		seg(fzSeg{tuple: tClient + 6, flags: fSYN, win: 0xffff, mss: 536, ts: true}).
		seg(ack(fzSeg{tuple: tClient + 6, ts: true, n: 40})).accept().read(1, 3).write(1, 80).
		seg(ack(fzSeg{tuple: tClient + 6, seq: 40, ts: true, sackUna: 600, sacks: [][2]byte{{30, 10}}})).
		seg(fzSeg{tuple: tClosed, flags: fSYN}).seg(ack(fzSeg{tuple: tClosed + 2}))
	seeds["handshake-accept-data"] = handshake
	// One byte in every third beyond a hole, more ranges than the cap on
	// held ranges (64 here) allows; then the hole fills and all is read.
	held := newSeed(hsMSS|hsWS, 25)
	for i := range 72 {
		held = held.seg(ack(fzSeg{seq: int16(10 + 3*i), n: 1}))
	}
	seeds["ooo-many-ranges"] = held.seg(ack(fzSeg{n: 128 + 30})).read(0, 255)
	// SACK blocks of 8 bytes with holes between, four to a segment: the
	// scoreboard holds many disjoint ranges, then recovery resends.
	sacks := newSeed(hsMSS|hsSACK, 25).write(0, 150)
	for j := range byte(4) {
		var b [][2]byte
		for i := range byte(4) {
			b = append(b, [2]byte{2 * (4*j + i), 1})
		}
		sacks = sacks.seg(ack(fzSeg{ackBack: 255, sackUna: 255, sacks: b}))
	}
	seeds["sack-many-ranges"] = sacks.nextTimer().nextTimer()
	// Three half-open connections fill the SYN queue (more than the
	// backlog of 2), three more clients get cookies, and their ACKs come
	// back, each accepted in turn: with the established connection the
	// first two reach MaxConnections (fzMaxConns), and the third is
	// dropped at the limit.
	limit := newSeed(hsAll, 180)
	for i := range byte(6) {
		limit = limit.seg(fzSeg{tuple: tClient + 2*i, flags: fSYN, seq: int16(i) * 1000, win: 0xffff, mss: 1460})
	}
	for i := range byte(3) {
		limit = limit.seg(ack(fzSeg{tuple: tClient + 2*(5-i)})).accept()
	}
	seeds["cookie-ack-at-conn-limit"] = limit.advance(5)
	// The application closes first, the established connection sits in
	// TIME-WAIT, and the peer opens the 4-tuple again while the accept
	// queue is full (two other clients): the SYN is dropped and TIME-WAIT
	// kept; after an accept the retransmitted SYN takes the tuple over.
	tw := newSeed(hsMSS, 40).closeApp(0, 3).seg(ack(fzSeg{})).seg(ack(fzSeg{flags: fFIN}))
	for i := range byte(2) {
		tw = tw.seg(fzSeg{tuple: tClient + 2*i, flags: fSYN, win: 0xffff}).seg(ack(fzSeg{tuple: tClient + 2*i}))
	}
	tw = tw.seg(fzSeg{flags: fSYN, seq: 1000, win: 0xffff}).accept().advance(4).
		seg(fzSeg{flags: fSYN, seq: 1000, win: 0xffff}).seg(ack(fzSeg{n: 20})).accept().write(3, 2).read(3, 2)
	seeds["timewait-takeover-full-queue"] = tw
	return seeds
}

// TestFuzzStackCorpus checks that the seed corpus in testdata holds every
// seed fzSeeds builds; with FUZZSTACK_WRITE_CORPUS=1 it writes them.
func TestFuzzStackCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzStack")
	write := os.Getenv("FUZZSTACK_WRITE_CORPUS") == "1"
	for name, seed := range fzSeeds() {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", []byte(seed))
		path := filepath.Join(dir, name)
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale: run FUZZSTACK_WRITE_CORPUS=1 go test -run TestFuzzStackCorpus ./stack", path)
		}
	}
}
