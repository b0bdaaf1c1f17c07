package stack

// Gathering writes (link.GatherEndpoint).
//
// On a link that takes a packet in pieces, a TCP segment with text is
// queued as its headers alone, in a packet buffer, and the text stays
// where the engine handed it over: in the connection's send buffer
// (outMeta.text). The write gives the link the headers and the text's one
// or two pieces, and the link's far end copies them straight into its own
// packet (writev on a TUN device), so the text is copied once on its way
// out instead of twice. Merging (gso.go) extends the last piece when the
// next segment's text follows it in memory, as consecutive segments' text
// does in a chunk of the send buffer, and opens the second piece where
// the text crosses into the next chunk.
//
// The send buffer must then hold still until the write is done, which is
// after the shard's mu is let go. Two things make that so:
//
//   - Bytes never move or change in a send buffer while it holds them: it
//     is a list of chunks, each written once from its start, and bytes
//     acknowledged meanwhile (a retransmission's, acknowledged by an ACK
//     the link delivered while the batch waited) stay in their chunk
//     until every byte of it is acknowledged (tcp/sendqueue.go).
//   - Storage a connection lets go (a chunk acknowledged in full, a
//     drained buffer, one freed at close) is kept aside, not pooled for
//     another connection, while the shard's Env says TextHeld, which
//     holdText sets with the first gathered segment. Pooled at once,
//     another connection's bytes could leave in this connection's
//     segment. The flusher marks how much was kept aside when it takes a
//     batch to write: storage let go before then can be read by that
//     batch at most, never by one queued later, so when the write ends it
//     pools up to the mark (tcp.Env.PoolHeld), and everything once no
//     batch written or queued holds text (tcp.Env.EndTextHold; flush.go).
//     What is kept aside is thus bounded by what the shard's connections
//     let go during one write and the queueing after it, at most a buffer
//     or two per connection.
//
// A capture or any other wrapper that does not offer gathering gets the
// text copied into the packet as before: the stack gathers only when the
// link it writes to says it can.

// holdText marks the shard's send buffers as being read by the link
// (tcp.Env.TextHeld) until its batches are written (the shard's mu held).
func (s *shard) holdText() {
	s.tcp.TextHeld = true
	s.outq.held = true
}

// shorten cuts the packet just queued to its first n bytes: the headers
// of a segment whose text is gathered.
func (b *batch) shorten(n int) []byte {
	i := len(b.pkts) - 1
	b.pkts[i] = b.pkts[i][:n]
	return b.pkts[i]
}

// totalLen is the length of queued packet a with its gathered text.
func (m *outMeta) totalLen(a []byte) int {
	return len(a) + len(m.text[0]) + len(m.text[1])
}

// bodyLen is the text length of queued TCP packet a.
func (m *outMeta) bodyLen(a []byte) int {
	return m.totalLen(a) - int(m.g.HdrLen)
}

// extendText appends a merged segment's text (payload, then more) to the
// gathered pieces, and reports false, changing nothing, when it does not
// fit in two pieces that each lie in one stretch of memory.
func (m *outMeta) extendText(payload, more []byte) bool {
	t := m.text
	if !appendPiece(&t, payload) || !appendPiece(&t, more) {
		return false
	}
	m.text = t
	return true
}

// appendPiece extends the last of the pieces t with p where p follows it
// in memory, else starts the first or second piece with p if it is free.
func appendPiece(t *[2][]byte, p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if len(t[0]) == 0 {
		t[0] = p
		return true
	}
	j := 1
	if len(t[1]) == 0 {
		j = 0
	}
	if a := t[j]; cap(a)-len(a) >= len(p) && &a[:len(a)+1][len(a)] == &p[0] {
		t[j] = a[:len(a)+len(p)]
		return true
	}
	if j == 0 {
		t[1] = p
		return true
	}
	return false
}

// writeGathered writes queued packet p, whose text m gathers, in pieces
// (the shard's writing owned).
func (s *Stack) writeGathered(q *batch, p []byte, m *outMeta) error {
	q.parts[0], q.parts[1], q.parts[2] = p, m.text[0], m.text[1]
	n := 2
	if len(m.text[1]) > 0 {
		n = 3
	}
	err := s.gather.WriteGSOGather(q.parts[:n], m.g)
	q.parts = [len(q.parts)][]byte{}
	return err
}
