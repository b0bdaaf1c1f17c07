package tcp

import "time"

// Runs of segments.
//
// A link often hands the stack many packets at once (link/pipe delivers
// what queued while its goroutine slept; a card's interrupt brings a
// ring's worth), and consecutive ones belong to one connection: a burst
// the peer sent. Handled one by one, each would answer on its own: an ACK
// every second full-sized segment (RFC 1122 §4.2.3.2), and on the sending
// side a round of output for every ACK. Linux merges such a burst before
// TCP sees it (GRO) and answers the merged segment once; here the stack
// hands the run to HandleSegmentInRun segment by segment, and the engine
// holds back what it owes, the ACK of in-order text and new data, until
// EndRun: one ACK and one round of output for the run, computed as if the
// segments had come as one.
//
// Only what may wait a few microseconds waits: the ACK of new in-order
// text, as GRO merges only segments that follow each other. A segment
// that brings none (a duplicate, a window probe, one outside the window),
// text out of order, a duplicate to report (D-SACK), text that fills a
// hole (RFC 5681 §4.2: all answered at once, so the peer's loss detection
// sees every duplicate), anything outside ESTABLISHED, a connection whose
// delayed ACKs are off (Config.DelayedACK < 0), and an ACK owed for
// maxRunAck bytes or more are answered as HandleSegment would.

// maxRunAck is the most in-order text a run leaves unacknowledged: as
// much as one merged segment carries in Linux's GRO (64 KiB), so the peer
// still hears at least once per 64 KiB. (A peer whose segments are longer
// than the MSS we offered may see one segment more.)
const maxRunAck = 64 << 10

// HandleSegmentInRun is HandleSegment for one segment of a run the stack
// hands over together, under the same lock: what the segment makes owed
// may be held back for EndRun, which the caller calls once after the run's
// last segment. It reports whether it held something back and the run may
// go on; false when it answered at once (see above), and so after
// maxRunAck bytes of text: the stack then ends the run, and its reader
// gets the text while the next run is taken.
func (c *Conn) HandleSegmentInRun(now time.Time, seg *Segment) bool {
	if c.state != StateEstablished || c.env.Trace != nil || len(seg.Payload) == 0 || c.cfg.DelayedACK < 0 {
		// Traced connections answer each segment, so their traces read
		// as the segments came. An ACK alone is answered at once too:
		// the output it lets go is sent as the window opens, which keeps
		// the next burst under way while the peer reads.
		c.HandleSegment(now, seg)
		return false
	}
	c.now = now
	c.env.Stats.InSegs.Add(1)
	c.segsIn++
	hadHole, rcvNxt := c.ooo != nil, c.rcvNxt
	c.synchronizedInput(now, seg)
	c.env.handling.ok = false
	if c.state != StateEstablished {
		if c.state != StateClosed {
			c.flush(now)
		}
		c.charge()
		return false
	}
	if c.rcvNxt == rcvNxt || hadHole || c.ooo != nil || !c.dsack.empty() || c.unacked+c.rcvMSS > maxRunAck {
		c.flush(now)
		c.charge()
		return false
	}
	return true
}

// EndRun sends what the run's segments left owed (HandleSegmentInRun).
func (c *Conn) EndRun(now time.Time) {
	c.now = now
	if c.state != StateClosed {
		c.flush(now)
	}
	c.charge()
}
