package stack

import "github.com/synack-net/synack/tcp"

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
//   - The packet holds the chunks its pieces lie in (tcp.Conn.ShareText,
//     one hold a piece, taken when a piece begins, not for each segment
//     merged into it), and lets go when the batch is written or dropped
//     (batch.empty). A chunk is pooled for another connection only when
//     its last holder lets go, so another connection's bytes never leave
//     in this one's segment, however the connection's ACKs, close or
//     abort let go of its buffer meanwhile; this is the hold the pipe's
//     shared text takes (share.go). What the holds keep is bounded by the
//     batches queued: at most the chunks of two pieces a packet.
//
// A capture or any other wrapper that does not offer gathering gets the
// text copied into the packet as before: the stack gathers only when the
// link it writes to says it can.

// textHolder is what holds a segment's text where it lies: its
// connection, whose send buffer gives a hold on the chunk text lies in
// (tcp.Conn.ShareText), or nil if it cannot.
type textHolder interface {
	ShareText(p []byte) tcp.Releaser
}

// holdText takes the holds a gathered segment's pieces need, payload's
// and more's chunks, into holds, and reports whether it could: text that
// c cannot hold (c nil: no connection) is copied into the packet.
func holdText(c textHolder, holds *[2]tcp.Releaser, payload, more []byte) bool {
	if c == nil {
		return false
	}
	for i, p := range [2][]byte{payload, more} {
		if len(p) == 0 {
			continue
		}
		if holds[i] = c.ShareText(p); holds[i] == nil {
			releaseHolds(holds)
			return false
		}
	}
	return true
}

// releaseHolds lets go of the holds a packet's gathered text took.
func releaseHolds(holds *[2]tcp.Releaser) {
	for i, h := range holds {
		if h != nil {
			h.Release()
			holds[i] = nil
		}
	}
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
// gathered pieces, holding the chunk of a piece it begins, and reports
// false, changing nothing, when it does not fit in two pieces that each
// lie in one stretch of memory (or no chunk of c holds a piece begun).
func (m *outMeta) extendText(c textHolder, payload, more []byte) bool {
	t := m.text
	if !appendPiece(&t, payload) || !appendPiece(&t, more) {
		return false
	}
	if len(m.text[1]) == 0 && len(t[1]) > 0 { // a second piece begun: a second chunk
		start := t[1][:1] // a piece begins with payload or more, whichever began it
		if c == nil {
			return false
		}
		if m.holds[1] = c.ShareText(start); m.holds[1] == nil {
			return false
		}
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
