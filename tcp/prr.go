package tcp

// This file is Proportional Rate Reduction (RFC 6937), which decides how
// much a fast recovery sends. Rather than stop sending until half the
// window has drained and then send in a burst (RFC 6675 run on a cut
// window), PRR spreads the reduction over the round trip: for every
// segment delivered it sends ssthresh/RecoverFS of one while more than
// ssthresh is in flight, and once the pipe falls below ssthresh it grows
// back toward it no faster than slow start would (the slow-start reduction
// bound, PRR-SSRB, the RFC's and Linux's default).

// prrState is RFC 6937 §3's variables for one recovery.
type prrState struct {
	recoverFS int // RecoverFS: the flight size when recovery began
	delivered int // prr_delivered: bytes the peer has got since
	out       int // prr_out: bytes sent since
	// cwnd is the window PRR sets on each ACK: the pipe then plus sndcnt,
	// as Linux's tcp_cwnd_reduction sets cwnd = in_flight + sndcnt.
	// Recovery sends while the pipe is below it, so a segment marked lost
	// after the ACK (by RACK's reordering timer) leaves the pipe and makes
	// room for its own retransmission.
	cwnd int
}

// prrStart begins PRR for a recovery whose flight was flight bytes.
func (c *Conn) prrStart(flight int) {
	c.lossOf().prr = prrState{recoverFS: max(flight, 1)}
}

// prrAck is RFC 6937 §3's "on every ACK during recovery": delivered is
// DeliveredData, the bytes this ACK newly acknowledged or SACKed. It sets
// how much may be sent now.
func (c *Conn) prrAck(delivered int) {
	p := &c.loss.prr
	p.delivered += delivered
	pipe := c.rackPipe()
	ssthresh := c.ccOf().CWND() // the controller set cwnd to ssthresh when recovery began
	var sndcnt int
	if pipe > ssthresh {
		// Proportional part: CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out.
		sndcnt = int((int64(p.delivered)*int64(ssthresh)+int64(p.recoverFS)-1)/int64(p.recoverFS)) - p.out
	} else {
		// Slow-start reduction bound: catch up what was held back, and
		// at most one segment more than was delivered.
		limit := max(p.delivered-p.out, delivered) + c.mss
		sndcnt = min(ssthresh-pipe, limit)
	}
	if p.out == 0 && sndcnt < c.mss {
		sndcnt = c.mss // the fast retransmit always goes (Linux tcp_cwnd_reduction)
	}
	p.cwnd = pipe + max(sndcnt, 0)
}

// prrSent counts n bytes sent in recovery.
func (c *Conn) prrSent(n int) { c.loss.prr.out += n }

// prrAllows reports whether recovery may send another segment now: the
// pipe is below the window PRR set (a segment at most past it, which the
// next ACK's share takes back through prr_out).
func (c *Conn) prrAllows() bool { return c.rackPipe() < c.loss.prr.cwnd }
