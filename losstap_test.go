package synack_test

// Taps on the client's link, on both sides of link/fault, and the judge
// that uses them to tell a retransmission timeout that could not be
// avoided from one that loss detection should have made unnecessary.

import (
	"fmt"
	"hash/maphash"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// newTappedNet is newLossyNetTraced with both directions of the client's
// link tapped on both sides of the faults, and the same d each way.
func newTappedNet(t testing.TB, seed uint64, d fault.Direction, sink trace.Sink) (*lossyNet, *linkTap) {
	t.Helper()
	n := &lossyNet{clk: clock.NewVirtual(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))}
	tap := &linkTap{clk: n.clk}
	n.a, n.b = pipe.New(mtu)
	inner := &tapEndpoint{Endpoint: n.a, wrote: tap.out.exited(tap), delivered: tap.in.entered(tap)}
	n.fa = fault.New(inner, fault.Config{Clock: n.clk, Seed: seed, Out: d, In: d})
	outer := &tapEndpoint{Endpoint: n.fa, wrote: tap.out.entered(tap), delivered: tap.in.exited(tap)}
	n.client, n.server = twoStacks(t, n.clk, outer, n.b, tcp.Config{}, sink, n.fa, n.b)
	return n, tap
}

// tapEndpoint passes everything through to the Endpoint it embeds, telling
// wrote of each packet written and delivered of each packet delivered.
type tapEndpoint struct {
	link.Endpoint
	wrote, delivered func(pkt []byte)
}

// WritePacket records pkt and writes it on.
func (e *tapEndpoint) WritePacket(pkt []byte) error {
	e.wrote(pkt)
	return e.Endpoint.WritePacket(pkt)
}

// Attach attaches d behind a recorder of what is delivered.
func (e *tapEndpoint) Attach(d link.Dispatcher) {
	if d == nil {
		e.Endpoint.Attach(nil)
		return
	}
	e.Endpoint.Attach(tapDispatcher{d: d, delivered: e.delivered})
}

// tapDispatcher records each packet before handing it to d.
type tapDispatcher struct {
	d         link.Dispatcher
	delivered func(pkt []byte)
}

// DeliverPacket records pkt and delivers it on.
func (d tapDispatcher) DeliverPacket(pkt []byte) {
	d.delivered(pkt)
	d.d.DeliverPacket(pkt)
}

// linkTap holds what the taps saw of each direction of the client's link:
// out (client to server) and in (server to client).
type linkTap struct {
	clk     *clock.Virtual
	order   atomic.Uint64 // orders every record of both directions
	out, in tapFlow
}

// tapFlow is one direction through the faults: the packets that entered it
// and those that came out, each in the order recorded.
type tapFlow struct {
	mu             sync.Mutex
	entries, exits []tapPacket
}

// tapPacket is one packet seen by a tap.
type tapPacket struct {
	order    uint64    // the linkTap's record order
	at       time.Time // virtual time
	key      uint64    // hash of the bytes: the same packet on both sides of the faults
	flags    wire.TCPFlags
	seq, ack seqnum.Value
	len      int // payload bytes
	sacks    []wire.SACKBlock
}

// span is the sequence space the segment occupies: payload, SYN and FIN.
func (p *tapPacket) span() int {
	n := p.len
	if p.flags&wire.FlagSYN != 0 {
		n++
	}
	if p.flags&wire.FlagFIN != 0 {
		n++
	}
	return n
}

var tapSeed = maphash.MakeSeed()

// entered returns the recorder of packets entering f.
func (f *tapFlow) entered(tap *linkTap) func([]byte) {
	return func(pkt []byte) { f.record(tap, &f.entries, pkt) }
}

// exited returns the recorder of packets leaving f.
func (f *tapFlow) exited(tap *linkTap) func([]byte) {
	return func(pkt []byte) { f.record(tap, &f.exits, pkt) }
}

func (f *tapFlow) record(tap *linkTap, list *[]tapPacket, pkt []byte) {
	p := tapPacket{at: tap.clk.Now(), key: maphash.Bytes(tapSeed, pkt)}
	if ip, err := wire.ParseIPv4(pkt); err == nil {
		if seg, err := wire.ParseTCP(ip.Payload()); err == nil {
			p.flags, p.seq, p.ack, p.len = seg.Flags(), seg.SeqNum(), seg.AckNum(), len(seg.Payload())
			var o wire.TCPOptions
			if wire.ParseTCPOptions(seg.Options(), &o) == nil && o.NumSACKBlocks > 0 {
				p.sacks = append([]wire.SACKBlock(nil), o.SACKBlocks[:o.NumSACKBlocks]...)
			}
		}
	}
	f.mu.Lock()
	p.order = tap.order.Add(1)
	*list = append(*list, p)
	f.mu.Unlock()
}

// rtoSink records, from the trace, each retransmission timeout and the
// first sequence number the sender sent after it at the same instant:
// SND.UNA, where a timeout resends from (RFC 6298 §5.4).
type rtoSink struct {
	mu      sync.Mutex
	rtos    []rtoEvent
	pending map[string]int // host: its timeout waiting for its first segment
}

// rtoEvent is one retransmission timeout.
type rtoEvent struct {
	host string
	at   time.Time
	head seqnum.Value
	sent bool // the timeout sent something: head is known
}

// Event keeps the timeouts and the segment each resent first.
func (s *rtoSink) Event(e *trace.Event) {
	switch {
	case e.Kind == trace.KindTimer && e.Cause == "retransmit":
		s.mu.Lock()
		s.rtos = append(s.rtos, rtoEvent{host: e.Host, at: e.Time})
		s.pending[e.Host] = len(s.rtos) - 1
		s.mu.Unlock()
	case e.Kind == trace.KindSegmentSent && (e.Len > 0 || e.Flags&(wire.FlagSYN|wire.FlagFIN) != 0):
		s.mu.Lock()
		if i, ok := s.pending[e.Host]; ok {
			delete(s.pending, e.Host)
			if e.Time.Equal(s.rtos[i].at) {
				s.rtos[i].head, s.rtos[i].sent = e.Seq, true
			}
		}
		s.mu.Unlock()
	}
}

// rtoVerdict is what the link did around one timeout.
type rtoVerdict struct {
	host       string
	at         time.Duration // since the transfer began
	head       int64         // SND.UNA, from the sender's first sequence number
	window     int           // segments sent since the last transmission of the head
	delivered  int           // of which arrived with data new to the receiver
	ackedBack  bool          // and an ACK sent after one of those reached the sender in time
	forced     bool
	lastHeadTx time.Duration // the head's last transmission before the timeout
	headSends  int           // how often the head was sent before the timeout
}

// String says when the timeout fired, what it resent and what the link did.
func (v rtoVerdict) String() string {
	what := "forced: every segment of the window lost"
	switch {
	case !v.forced:
		what = "NOT forced: part of the window arrived and was ACKed before the timer fired"
	case v.delivered > 0:
		what = "forced: what arrived had every ACK for it lost"
	}
	return fmt.Sprintf("%s timeout at %v, SND.UNA +%d sent %d times, last at %v; %d segments sent since, %d arrived: %s",
		v.host, v.at.Round(time.Microsecond), v.head, v.headSends, v.lastHeadTx.Round(time.Microsecond), v.window, v.delivered, what)
}

// judgeTimeouts classifies every timeout that resent something. A
// timeout that sent nothing (nothing was outstanding) is logged only.
func (r *tappedRun) judgeTimeouts(t *testing.T) []rtoVerdict {
	t.Helper()
	out, in := r.tap.out.match(), r.tap.in.match()
	r.rtos.mu.Lock()
	rtos := append([]rtoEvent(nil), r.rtos.rtos...)
	r.rtos.mu.Unlock()
	var verdicts []rtoVerdict
	for _, e := range rtos {
		if !e.sent {
			t.Logf("%s timeout at %v sent nothing", e.host, e.at)
			continue
		}
		data, acks := out, in
		if e.host == "server" {
			data, acks = in, out
		}
		v, ok := judgeRTO(e, data, acks, r.start)
		if !ok {
			t.Fatalf("%s timeout at %v resent %d, which the taps never saw sent", e.host, e.at, e.head)
		}
		verdicts = append(verdicts, v)
	}
	return verdicts
}

// tapMatch is a tapFlow with each entry matched to its exit.
type tapMatch struct {
	entries []tapPacket
	exit    []int  // per entry: index in exits, -1 if it never came out
	fresh   []bool // per entry: it came out carrying sequence space never delivered before
	exits   []tapPacket
	base    seqnum.Value // the first sequence number sent
}

// match pairs entries and exits with equal bytes, first in first out, and
// marks the deliveries that brought the receiver something new.
func (f *tapFlow) match() *tapMatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := &tapMatch{entries: f.entries, exits: f.exits, exit: make([]int, len(f.entries)), fresh: make([]bool, len(f.entries))}
	if len(f.entries) > 0 {
		m.base = f.entries[0].seq
	}
	waiting := map[uint64][]int{}
	for i, e := range f.entries {
		m.exit[i] = -1
		waiting[e.key] = append(waiting[e.key], i)
	}
	var got seqRanges
	for j, x := range f.exits {
		q := waiting[x.key]
		if len(q) == 0 {
			continue // came out but never entered: not possible without duplication
		}
		i := q[0]
		waiting[x.key] = q[1:]
		m.exit[i] = j
		if e := &f.entries[i]; e.span() > 0 {
			lo := m.rel(e.seq)
			m.fresh[i] = got.add(lo, lo+int64(e.span()))
		}
	}
	return m
}

// coveredAt returns when the receiver first held all of [0, end) of the
// sequence space, counted from the first sequence number sent: the exit
// time of the segment that filled its last gap.
func (m *tapMatch) coveredAt(end int64) (time.Time, bool) {
	entryOf := make([]int, len(m.exits))
	for j := range entryOf {
		entryOf[j] = -1
	}
	for i, j := range m.exit {
		if j >= 0 {
			entryOf[j] = i
		}
	}
	var got seqRanges
	for j, i := range entryOf {
		if i < 0 || m.entries[i].span() == 0 {
			continue
		}
		lo := m.rel(m.entries[i].seq)
		got.add(lo, lo+int64(m.entries[i].span()))
		if got[0][0] <= 0 && got[0][1] >= end {
			return m.exits[j].at, true
		}
	}
	return time.Time{}, false
}

// rel is v as an offset from the first sequence number sent.
func (m *tapMatch) rel(v seqnum.Value) int64 { return int64(m.base.Size(v)) }

// judgeRTO finds the last transmission of e.head before the timeout, the
// segments sent since, and whether any of them arrived with new data and
// was answered by an ACK, cumulative or selective, that reached the sender
// before the timer fired. Times in the verdict are from start.
func judgeRTO(e rtoEvent, data, acks *tapMatch, start time.Time) (rtoVerdict, bool) {
	v := rtoVerdict{host: e.host, head: data.rel(e.head), at: e.at.Sub(start)}
	first := -1
	for i, p := range data.entries {
		if !p.at.Before(e.at) {
			break
		}
		if lo := data.rel(p.seq); p.span() > 0 && lo <= v.head && v.head < lo+int64(p.span()) {
			first = i
			v.headSends++
		}
	}
	if first < 0 {
		return v, false
	}
	v.lastHeadTx = data.entries[first].at.Sub(start)
	for i := first; i < len(data.entries) && data.entries[i].at.Before(e.at); i++ {
		p := &data.entries[i]
		if p.span() == 0 {
			continue
		}
		v.window++
		j := data.exit[i]
		if j < 0 || !data.fresh[i] || !data.exits[j].at.Before(e.at) {
			continue
		}
		v.delivered++
		if !v.ackedBack {
			v.ackedBack = acks.answered(p.seq, p.seq.Add(seqnum.Size(p.span())), data.exits[j].order, e.at)
		}
	}
	v.forced = !v.ackedBack
	return v, true
}

// answered reports whether a segment of m entered after record order
// since, came out before deadline and acknowledges some of [lo, hi):
// a cumulative ACK beyond lo or a SACK block overlapping it.
func (m *tapMatch) answered(lo, hi seqnum.Value, since uint64, deadline time.Time) bool {
	k := sort.Search(len(m.entries), func(k int) bool { return m.entries[k].order > since })
	for ; k < len(m.entries) && m.entries[k].at.Before(deadline); k++ {
		a := &m.entries[k]
		if j := m.exit[k]; j < 0 || !m.exits[j].at.Before(deadline) || a.flags&wire.FlagACK == 0 {
			continue
		}
		if a.ack.GreaterThan(lo) {
			return true
		}
		for _, b := range a.sacks {
			if b.Left.LessThan(hi) && b.Right.GreaterThan(lo) {
				return true
			}
		}
	}
	return false
}

// seqRanges is a set of sequence offsets, kept as sorted disjoint
// half-open ranges.
type seqRanges [][2]int64

// add puts [lo, hi) into the set and reports whether any of it was new.
func (s *seqRanges) add(lo, hi int64) bool {
	r := *s
	// The first range ending at or after lo may touch [lo, hi).
	i := sort.Search(len(r), func(k int) bool { return r[k][1] >= lo })
	if i < len(r) && r[i][0] <= lo && hi <= r[i][1] {
		return false // already covered
	}
	j := i
	for j < len(r) && r[j][0] <= hi {
		lo, hi = min(lo, r[j][0]), max(hi, r[j][1])
		j++
	}
	r = append(r[:i], append([][2]int64{{lo, hi}}, r[j:]...)...)
	*s = r
	return true
}

// TestLossJudgeTellsForcedTimeoutsFromAvoidable runs the judge on made-up
// link records: the head (sequence 2000) was last sent at 10 ms, a second
// segment at 11 ms, and the timer fires at 300 ms. Only when the second
// segment brought the receiver new data, and an ACK of it sent afterwards
// got back before 300 ms, could the sender have known: then the timeout
// is not forced.
func TestLossJudgeTellsForcedTimeoutsFromAvoidable(t *testing.T) {
	const ms = time.Millisecond
	none := time.Duration(-1)
	type ack struct {
		sent, back time.Duration // back: none if lost
		ack        seqnum.Value
		sack       []wire.SACKBlock
	}
	cases := []struct {
		name    string
		early   bool          // 2100 was delivered once before, at 6 ms
		between bool          // 2100 was sent at 5 ms, between two sends of the head, not at 11 ms
		arrives time.Duration // when 2100 sent at 11 ms arrives; none if lost
		acks    []ack
		forced  bool
	}{
		{name: "everything lost", arrives: none, forced: true},
		{name: "SACKed in time", arrives: 16 * ms,
			acks: []ack{{16 * ms, 21 * ms, 2000, []wire.SACKBlock{{Left: 2100, Right: 2200}}}}},
		{name: "the ACK lost", arrives: 16 * ms, forced: true,
			acks: []ack{{16 * ms, none, 2000, []wire.SACKBlock{{Left: 2100, Right: 2200}}}}},
		{name: "the ACK back after the timer", arrives: 16 * ms, forced: true,
			acks: []ack{{295 * ms, 300 * ms, 2000, []wire.SACKBlock{{Left: 2100, Right: 2200}}}}},
		{name: "an ACK sent before the arrival", arrives: 16 * ms, forced: true,
			acks: []ack{{15 * ms, 20 * ms, 2000, []wire.SACKBlock{{Left: 2100, Right: 2200}}}}},
		{name: "an ACK that does not cover it", arrives: 16 * ms, forced: true,
			acks: []ack{{16 * ms, 21 * ms, 2000, nil}}},
		{name: "a duplicate arrival", early: true, arrives: 16 * ms, forced: true,
			acks: []ack{{16 * ms, 21 * ms, 2000, []wire.SACKBlock{{Left: 2100, Right: 2200}}}}},
		{name: "sent before the head's last send", between: true, arrives: 10 * ms, forced: true,
			acks: []ack{{10 * ms, 15 * ms, 2000, []wire.SACKBlock{{Left: 2100, Right: 2200}}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			var order uint64
			var data, acks tapFlow
			key := uint64(0)
			at := func(d time.Duration) time.Time { return start.Add(d) }
			send := func(f *tapFlow, d time.Duration, p tapPacket) uint64 {
				order++
				key++
				p.order, p.at, p.key = order, at(d), key
				f.entries = append(f.entries, p)
				return key
			}
			arrive := func(f *tapFlow, d time.Duration, k uint64) {
				order++
				f.exits = append(f.exits, tapPacket{order: order, at: at(d), key: k})
			}
			seg := func(seq seqnum.Value, flags wire.TCPFlags) tapPacket {
				return tapPacket{flags: flags | wire.FlagACK, seq: seq, len: 100}
			}
			// Sends and arrivals in time order, as the taps record them.
			syn := tapPacket{flags: wire.FlagSYN, seq: 1999}
			arrive(&data, 5*ms, send(&data, 0, syn))
			send(&data, ms, seg(2000, 0)) // the head's first send, lost
			if c.early {
				arrive(&data, 6*ms, send(&data, ms, seg(2100, 0)))
			}
			k := uint64(0)
			if c.between {
				k = send(&data, 5*ms, seg(2100, 0))
			}
			send(&data, 10*ms, seg(2000, 0)) // the head's last send, lost
			if !c.between {
				k = send(&data, 11*ms, seg(2100, 0))
			}
			type ev struct {
				at time.Duration
				do func()
			}
			var evs []ev
			if c.arrives != none {
				evs = append(evs, ev{c.arrives, func() { arrive(&data, c.arrives, k) }})
			}
			for _, a := range c.acks {
				var ak uint64
				evs = append(evs, ev{a.sent, func() {
					ak = send(&acks, a.sent, tapPacket{flags: wire.FlagACK, seq: 7000, ack: a.ack, sacks: a.sack})
				}})
				if a.back != none {
					evs = append(evs, ev{a.back, func() { arrive(&acks, a.back, ak) }})
				}
			}
			sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
			for _, e := range evs {
				e.do()
			}
			v, ok := judgeRTO(rtoEvent{host: "client", at: at(300 * ms), head: 2000, sent: true}, data.match(), acks.match(), start)
			if !ok {
				t.Fatal("the judge did not find the head")
			}
			if v.forced != c.forced || v.headSends != 2 || v.lastHeadTx != 10*ms {
				t.Errorf("%v: forced %v, want %v (head sent %d times, last at %v; want 2, at 10ms)", v, v.forced, c.forced, v.headSends, v.lastHeadTx)
			}
		})
	}
}
