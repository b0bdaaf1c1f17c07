package trace

import (
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// DiagramOptions tunes DiagramWith.
type DiagramOptions struct {
	// Relative prints sequence and acknowledgement numbers relative to each
	// side's initial sequence number, as Wireshark does: a SYN has seq=0 and
	// the first data byte is 1.
	Relative bool
	// Timers draws every timer that fired as a note on its side's timeline.
	Timers bool
}

// Diagram writes the text sequence diagram of the connection between left
// and right, drawn as textbooks draw the three-way handshake and the four-way
// close. It is DiagramWith with the zero DiagramOptions.
func Diagram(w io.Writer, events []Event, left, right netip.AddrPort) error {
	return DiagramWith(w, events, left, right, DiagramOptions{})
}

// DiagramWith writes the text sequence diagram of the one connection between
// left and right: the events whose Local and Remote are that pair, from
// either side; every other event is ignored. The first line names the two
// endpoints (with their Host). Below it each side has a timeline with its
// state column on the outside: the states the sides start in on top, then
// one row per moment, in event order:
//
//	client 10.0.0.1:49152                                         server 10.0.0.2:80
//	CLOSED       |                                             |  LISTEN
//	SYN-SENT     |---- SYN seq=1000 win=65535 ---------------->|  SYN-RECEIVED
//	ESTABLISHED  |<--- SYN,ACK seq=5000 ack=1001 win=65535 ----|
//	             |---- ACK seq=1001 ack=5001 ----------------->|  ESTABLISHED
//
// A segment is an arrow built from the event of the side that sent it (or,
// when that side reported nothing at all, from the receiver's event), with
// its flags, seq, ack (when ACK is set), len (when not zero) and win (on the
// side's first segment and whenever it differs from the side's last one).
//
// A state is written in its side's column where it changes. A change shares
// the row of the segment that explains it: the segment the side reported
// receiving just before the change, when the change's Cause says a received
// segment made it ("rcv FIN"; the receiver's column), or the segment the
// side sends right after it (the sender's column: close, then FIN). Any
// other change gets a row of its own with its Cause as a note. So a stack
// should report a received segment before the change it causes, and a change
// before the segment it makes the side send.
//
// A segment lost in flight, one the peer never reported receiving although
// it reported receiving others, is drawn ending in an X short of the peer's
// timeline. A segment that arrived and that the peer discarded (a counted
// drop, KindDrop) reaches the peer's timeline, and the row below it says
// why by that timeline, "(drop: ListenOverflows)". A diagram with either
// ends in a legend line saying what the marks mean. A segment that a side
// reported receiving but the other side never reported sending (a copy the
// network made, an old duplicate, a forged segment) is drawn where it
// arrived.
//
// With Relative, a number below the side's initial sequence number (an old
// duplicate's) is written negative: seq=-99999.
func DiagramWith(w io.Writer, events []Event, left, right netip.AddrPort, opts DiagramOptions) error {
	d := diagram{ends: [2]netip.AddrPort{left, right}, opts: opts, unseen: make(map[segKey][]int)}
	d.scan(events)
	for i := range events {
		if s, ok := d.sideOf(&events[i]); ok {
			d.add(s, &events[i])
		}
	}
	d.markLost()
	_, err := w.Write(d.render())
	return err
}

// Filter returns the events of the connection between a and b, from either
// side, in their order.
func Filter(events []Event, a, b netip.AddrPort) []Event {
	var out []Event
	for _, e := range events {
		if e.Local == a && e.Remote == b || e.Local == b && e.Remote == a {
			out = append(out, e)
		}
	}
	return out
}

// Connections returns the connections that events mention, each once, as the
// (Local, Remote) pair of the first event seen for it, in order of first
// appearance. Events without a valid Remote (a listening socket) name none.
func Connections(events []Event) [][2]netip.AddrPort {
	var out [][2]netip.AddrPort
	seen := make(map[[2]netip.AddrPort]bool)
	for _, e := range events {
		if !e.Local.IsValid() || !e.Remote.IsValid() || e.Remote.Port() == 0 {
			continue
		}
		if seen[[2]netip.AddrPort{e.Local, e.Remote}] || seen[[2]netip.AddrPort{e.Remote, e.Local}] {
			continue
		}
		seen[[2]netip.AddrPort{e.Local, e.Remote}] = true
		out = append(out, [2]netip.AddrPort{e.Local, e.Remote})
	}
	return out
}

// Sides of a diagram: index 0 is drawn on the left, 1 on the right.
const (
	leftSide  = 0
	rightSide = 1
)

// row is one line of a diagram below the title.
type row struct {
	state [2]string // the state each side entered here, "" when it did not change
	note  [2]string // for a row without a segment: why the state changed, or the timer that fired

	seg     bool          // the row carries a segment
	from    int           // the side that sent it
	flags   wire.TCPFlags // the segment's fields
	seq     seqnum.Value
	ack     seqnum.Value
	win     uint16
	n       int
	got     bool   // the receiver reported it (received or dropped)
	dropped bool   // the receiver dropped it
	why     string // why the receiver dropped it: its drop's Cause
	lost    bool   // the receiver never reported it
}

// diagram gathers the rows of one connection.
type diagram struct {
	ends     [2]netip.AddrPort
	opts     DiagramOptions
	host     [2]string
	traced   [2]bool // the side reported at least one event
	receives [2]bool // the side reported receiving or dropping at least one segment
	cur      [2]string
	justGot  [2]int // row of the segment each side's last event received, -1 if that event was no receipt
	lastGot  [2]int // row of the last segment each side reported receiving, -1 before any
	rows     []row
	unseen   map[segKey][]int // rows of segments sent, not yet reported by their receiver, oldest first
}

// sideOf says which side of the diagram e was emitted by, if it belongs to
// the connection.
func (d *diagram) sideOf(e *Event) (int, bool) {
	switch {
	case e.Local == d.ends[leftSide] && e.Remote == d.ends[rightSide]:
		return leftSide, true
	case e.Local == d.ends[rightSide] && e.Remote == d.ends[leftSide]:
		return rightSide, true
	}
	return 0, false
}

// scan finds, before any row is drawn, each side's name, whether it reported
// anything, and the state it starts in.
func (d *diagram) scan(events []Event) {
	d.justGot = [2]int{-1, -1}
	d.lastGot = [2]int{-1, -1}
	var first [2]int // index+1 of each side's first event
	var initial [2]string
	var fromKnown [2]bool
	for i := range events {
		e := &events[i]
		s, ok := d.sideOf(e)
		if !ok {
			continue
		}
		if !d.traced[s] {
			d.traced[s] = true
			first[s] = i + 1
			initial[s] = e.State
			if e.Kind == KindStateChange {
				initial[s] = e.From
			}
		}
		if d.host[s] == "" {
			d.host[s] = e.Host
		}
		if e.Kind == KindSegmentReceived || e.Kind == KindDrop {
			d.receives[s] = true
		}
		if e.Kind == KindStateChange && !fromKnown[s] {
			fromKnown[s] = true
			if e.From != "" {
				initial[s] = e.From
			}
		}
	}
	for s := range 2 {
		if initial[s] == "" && d.traced[s] {
			initial[s] = d.listenerState(events[:first[s]-1], d.ends[s])
		}
	}
	d.cur = initial
	d.rows = append(d.rows[:0], row{state: initial})
}

// listenerState returns the state of the listening socket on a, from the
// last state change it reported among events; "" when none did.
func (d *diagram) listenerState(events []Event, a netip.AddrPort) string {
	state := ""
	for _, e := range events {
		if e.Kind != KindStateChange || e.Remote.IsValid() && e.Remote.Port() != 0 || e.Local.Port() != a.Port() {
			continue
		}
		if e.Local.Addr() == a.Addr() || e.Local.Addr().IsUnspecified() {
			state = e.State
		}
	}
	return state
}

// add draws event e of side s.
func (d *diagram) add(s int, e *Event) {
	o := 1 - s
	got := d.justGot[s]
	d.justGot[s] = -1
	switch e.Kind {
	case KindSegmentSent:
		d.addSegment(s, e)
	case KindSegmentReceived, KindDrop:
		i := -1
		if k := d.lastGot[s]; e.Kind == KindDrop && k >= 0 && d.rows[k].key() == keyOf(o, e) {
			i = k // the segment it reported receiving, then dropped
		} else if d.traced[o] {
			i = d.match(o, e)
		}
		if i < 0 {
			// The sender did not report it: it reported nothing at all, or
			// the segment is not one it sent (a copy the network made, an
			// old duplicate, a forgery). Drawn from the receiver's event,
			// where it arrived.
			i = d.addSegment(o, e)
		}
		r := &d.rows[i]
		r.got = true
		if e.Kind == KindDrop && !r.dropped {
			r.dropped, r.why = true, e.Cause
		}
		d.justGot[s], d.lastGot[s] = i, i
	case KindStateChange:
		if e.State == "" || e.State == d.cur[s] {
			return
		}
		d.cur[s] = e.State
		last := len(d.rows) - 1
		r := &d.rows[last]
		if last > 0 && got == last && r.state[s] == "" && causedByReceipt(e.Cause) {
			r.state[s] = e.State // the segment it just received moved it
			return
		}
		var nr row
		nr.state[s], nr.note[s] = e.State, e.Cause
		d.rows = append(d.rows, nr)
	case KindTimer:
		if d.opts.Timers {
			var nr row
			nr.note[s] = "timer " + e.Cause
			d.rows = append(d.rows, nr)
		}
	}
}

// causedByReceipt reports whether a state change's cause is the segment
// just received: its Cause starts with "rcv " (or is not given). A change
// a call or a timer made ("close", "timeout 2MSL") is not drawn on the row
// of a segment that happened to arrive before it.
func causedByReceipt(cause string) bool { return cause == "" || strings.HasPrefix(cause, "rcv ") }

// addSegment draws the segment of e as sent by side s and returns its row.
// A segment sent right after its sender's state changed shares that row.
func (d *diagram) addSegment(s int, e *Event) int {
	last := len(d.rows) - 1
	if r := &d.rows[last]; last == 0 || r.seg || r.state[s] == "" || r.state[1-s] != "" {
		d.rows = append(d.rows, row{})
		last++
	}
	r := &d.rows[last]
	r.seg, r.from = true, s
	r.flags, r.seq, r.ack, r.win, r.n = e.Flags, e.Seq, e.Ack, e.Window, e.Len
	if d.traced[s] && e.Kind == KindSegmentSent {
		k := keyOf(s, e)
		d.unseen[k] = append(d.unseen[k], last)
	}
	return last
}

// segKey identifies a segment by its sender and fields, to find the row of
// a segment its receiver reports.
type segKey struct {
	from     int
	flags    wire.TCPFlags
	seq, ack seqnum.Value
	win      uint16
	n        int
}

// key returns the key of the row's segment.
func (r *row) key() segKey { return segKey{r.from, r.flags, r.seq, r.ack, r.win, r.n} }

// keyOf returns the key of e's segment as sent by side from.
func keyOf(from int, e *Event) segKey {
	return segKey{from, e.Flags, e.Seq, e.Ack, e.Window, e.Len}
}

// match returns the row of the newest segment sent by side from that e (an
// event of the other side) reports, not reported yet; -1 when there is none.
func (d *diagram) match(from int, e *Event) int {
	k := keyOf(from, e)
	rows := d.unseen[k]
	if len(rows) == 0 {
		return -1
	}
	i := rows[len(rows)-1]
	if len(rows) == 1 {
		delete(d.unseen, k)
	} else {
		d.unseen[k] = rows[:len(rows)-1]
	}
	return i
}

// markLost marks the segments that their receiver, who reported receiving
// others, never reported.
func (d *diagram) markLost() {
	for i := range d.rows {
		r := &d.rows[i]
		r.lost = r.seg && !r.got && d.receives[1-r.from]
	}
}

// Layout of a row: the left state column, a gap, the left timeline, the
// arrow, the right timeline, a gap, the right state column.
const (
	gap         = "  "
	timelineBar = '|'
	minArrow    = 36 // the shortest arrow, so that short labels still look like arrows
	arrowStub   = 4  // dashes (or head and dashes) before a label
	arrowTail   = 3  // the fewest dashes after a label
	noteMargin  = 2  // spaces between a timeline and a note

	// The heads of a lost arrow, which ends short of the receiver's timeline.
	lostHeadRight = "X  "
	lostHeadLeft  = "  X"

	// The legend's entries, for a diagram that has lost or dropped segments.
	lostLegend    = "X = lost on the way, never received"
	droppedLegend = "(drop: reason) = arrived, and its receiver discarded it"
)

// dropNote is the note under a dropped segment's arrow.
func (r *row) dropNote() string {
	if r.why == "" {
		return "dropped"
	}
	return "drop: " + r.why
}

// layout is what rendering a diagram needs to know before it writes a
// row: each segment row's label, the state columns' widths and the
// arrows' width, and where the right side's column starts.
type layout struct {
	labels   []string
	sw       [2]int
	aw       int
	rightCol int
	title    [2]string
}

// layout measures d's rows and titles.
func (d *diagram) layout() layout {
	lay := layout{labels: make([]string, len(d.rows)), aw: minArrow}
	var base [2]seqnum.Value
	var haveBase [2]bool
	if d.opts.Relative {
		base, haveBase = d.bases()
	}
	var sentBefore [2]bool
	var lastWin [2]uint16
	for i := range d.rows {
		r := &d.rows[i]
		for s := range 2 {
			lay.sw[s] = max(lay.sw[s], len(r.state[s]))
			lay.aw = max(lay.aw, len(r.note[s])+2+2*noteMargin)
		}
		if r.dropped {
			lay.aw = max(lay.aw, len(r.dropNote())+2+2*noteMargin)
		}
		if r.seg {
			lay.labels[i] = r.label(base, haveBase, !sentBefore[r.from] || r.win != lastWin[r.from])
			sentBefore[r.from], lastWin[r.from] = true, r.win
			lay.aw = max(lay.aw, arrowStub+1+len(lay.labels[i])+1+arrowTail+1)
		}
	}
	lay.title = [2]string{d.ends[leftSide].String(), d.ends[rightSide].String()}
	for s := range 2 {
		if d.host[s] != "" {
			lay.title[s] = d.host[s] + " " + lay.title[s]
		}
	}
	// Each title heads its side's state column.
	lay.rightCol = lay.sw[0] + len(gap) + 1 + lay.aw + 1 + len(gap)
	if need := len(lay.title[0]) + len(gap); need > lay.rightCol {
		lay.aw += need - lay.rightCol
		lay.rightCol = need
	}
	return lay
}

// render lays the rows out as text.
func (d *diagram) render() []byte {
	lay := d.layout()
	var b []byte
	var lost, dropped bool
	b = append(b, lay.title[0]...)
	b = appendSpaces(b, lay.rightCol-len(lay.title[0]))
	b = append(b, lay.title[1]...)
	b = append(b, '\n')
	for i := range d.rows {
		b = d.rows[i].appendTo(b, &lay, lay.labels[i])
		lost, dropped = lost || d.rows[i].lost, dropped || d.rows[i].dropped
	}
	switch {
	case lost && dropped:
		b = append(b, lostLegend+"; "+droppedLegend+"\n"...)
	case lost:
		b = append(b, lostLegend+"\n"...)
	case dropped:
		b = append(b, droppedLegend+"\n"...)
	}
	return b
}

// appendTo appends r's line (and, for a dropped segment, the line saying
// why) to b, laid out as lay says; label is its arrow's label.
func (r *row) appendTo(b []byte, lay *layout, label string) []byte {
	start := len(b)
	b = append(b, r.state[leftSide]...)
	b = appendSpaces(b, lay.sw[0]-len(r.state[leftSide]))
	b = append(b, gap...)
	b = append(b, timelineBar)
	switch {
	case r.seg:
		b = appendArrow(b, label, lay.aw, r.from == leftSide, r.lost)
	case r.note[leftSide] != "":
		b = appendNote(b, r.note[leftSide], lay.aw, true /* nearLeft */)
	case r.note[rightSide] != "":
		b = appendNote(b, r.note[rightSide], lay.aw, false /* nearLeft */)
	default:
		b = appendSpaces(b, lay.aw)
	}
	b = append(b, timelineBar)
	b = append(b, gap...)
	b = append(b, r.state[rightSide]...)
	b = trimRight(b, start)
	b = append(b, '\n')
	if r.dropped {
		// Why, by the timeline of the side that dropped it.
		b = appendSpaces(b, lay.sw[0]+len(gap))
		b = append(b, timelineBar)
		b = appendNote(b, r.dropNote(), lay.aw, r.from == rightSide)
		b = append(b, timelineBar, '\n')
	}
	return b
}

// appendArrow appends an arrow of width aw with label on it, pointing right
// (toRight) or left; a lost one stops short of its head's timeline in an X.
func appendArrow(b []byte, label string, aw int, toRight, lost bool) []byte {
	start := len(b)
	if toRight {
		b = appendDashes(b, arrowStub)
	} else {
		b = append(b, '<')
		b = appendDashes(b, arrowStub-1)
	}
	b = append(b, ' ')
	b = append(b, label...)
	b = append(b, ' ')
	if toRight {
		b = appendDashes(b, aw-(len(b)-start)-1)
		b = append(b, '>')
	} else {
		b = appendDashes(b, aw-(len(b)-start))
	}
	if lost {
		if toRight {
			copy(b[len(b)-len(lostHeadRight):], lostHeadRight)
		} else {
			copy(b[start:], lostHeadLeft)
		}
	}
	return b
}

// appendNote appends note in parentheses in a space aw wide, next to the
// left timeline or the right one.
func appendNote(b []byte, note string, aw int, nearLeft bool) []byte {
	pad := aw - noteMargin - len(note) - 2
	if nearLeft {
		b = appendSpaces(b, noteMargin)
	} else {
		b = appendSpaces(b, pad)
	}
	b = append(b, '(')
	b = append(b, note...)
	b = append(b, ')')
	if nearLeft {
		return appendSpaces(b, pad)
	}
	return appendSpaces(b, noteMargin)
}

// label returns the text written on the segment's arrow; win is written
// only when showWin.
func (r *row) label(base [2]seqnum.Value, haveBase [2]bool, showWin bool) string {
	var b []byte
	b = append(b, r.flags.String()...)
	b = append(b, " seq="...)
	b = appendSeq(b, r.seq, base[r.from], haveBase[r.from])
	if r.flags.Has(wire.FlagACK) {
		b = append(b, " ack="...)
		b = appendSeq(b, r.ack, base[1-r.from], haveBase[1-r.from])
	}
	if r.n != 0 {
		b = append(b, " len="...)
		b = strconv.AppendInt(b, int64(r.n), 10)
	}
	if showWin {
		b = append(b, " win="...)
		b = strconv.AppendUint(b, uint64(r.win), 10)
	}
	return string(b)
}

// bases returns each side's initial sequence number: the seq of the first
// SYN it sent, else the first seq it used.
func (d *diagram) bases() (base [2]seqnum.Value, have [2]bool) {
	var syn [2]bool
	for i := range d.rows {
		r := &d.rows[i]
		if !r.seg || syn[r.from] {
			continue
		}
		if r.flags.Has(wire.FlagSYN) {
			base[r.from], have[r.from], syn[r.from] = r.seq, true, true
		} else if !have[r.from] {
			base[r.from], have[r.from] = r.seq, true
		}
	}
	return base, have
}

// appendSeq appends v, relative to base when relative: negative when v
// is before base.
func appendSeq(b []byte, v, base seqnum.Value, relative bool) []byte {
	if relative {
		if v.LessThan(base) {
			return strconv.AppendInt(b, -int64(v.Size(base)), 10)
		}
		return strconv.AppendUint(b, uint64(base.Size(v)), 10)
	}
	return strconv.AppendUint(b, uint64(v), 10)
}

func appendSpaces(b []byte, n int) []byte {
	for range n {
		b = append(b, ' ')
	}
	return b
}

func appendDashes(b []byte, n int) []byte {
	for range n {
		b = append(b, '-')
	}
	return b
}

// trimRight removes the spaces that end b after start.
func trimRight(b []byte, start int) []byte {
	for len(b) > start && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}
