package tcp

import (
	"net/netip"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// Segment is an arriving segment as the engine sees it: the header values
// and a view of the payload, valid only during the call that hands it in
// unless the host lends its buffer (Lent) and the engine keeps it.
type Segment struct {
	Seq     seqnum.Value // SEG.SEQ
	Ack     seqnum.Value // SEG.ACK
	Flags   wire.TCPFlags
	Window  uint16 // SEG.WND, unscaled
	Options wire.TCPOptions
	Payload []byte

	// Lent, when the host sets it, is the buffer the segment arrived in,
	// which Payload lies inside and which the host lends (link.Lender):
	// the engine may keep it in the receive buffer instead of copying the
	// payload out, and then sets Kept. A kept buffer is the engine's until
	// it passes it to Env.Recycle.
	Lent []byte
	Kept bool

	// Shared, when the host sets it, is a hold on memory of the sending
	// host's that Payload lies in (a far end's send buffer, lent across an
	// in-memory link: link.TextSharer): the engine may keep Payload where
	// it is, and then sets Kept and releases Shared once the text is read.
	// Lent is then nil: the buffer the headers came in is never kept.
	Shared Releaser
}

// Releaser is a hold on memory that text lies in: Release gives it back,
// once. A host that lends a segment's text (Segment.Shared) passes one,
// and ShareText hands one out.
type Releaser interface {
	Release()
}

// Len is SEG.LEN: the payload plus one for SYN and one for FIN (RFC 9293 §3.4).
func (s *Segment) Len() seqnum.Size {
	n := seqnum.Size(len(s.Payload))
	if s.Flags.Has(wire.FlagSYN) {
		n++
	}
	if s.Flags.Has(wire.FlagFIN) {
		n++
	}
	return n
}

// SegmentFrom builds a Segment from a validated TCP view. It parses the
// options and reports ErrBadOption (from wire) if they are malformed.
func SegmentFrom(t wire.TCP, s *Segment) error {
	s.Seq = t.SeqNum()
	s.Ack = t.AckNum()
	s.Flags = t.Flags()
	s.Window = t.Window()
	s.Payload = t.Payload()
	return wire.ParseTCPOptions(t.Options(), &s.Options)
}

// Sender is how the engine hands out the segments it decides to send. The
// stack implements it: it wraps h and the text in an IPv4 packet for c's
// addresses and queues it for the link. The text is payload followed by
// more: two pieces where it crosses from one of the send buffer's chunks
// into the next (sendqueue.go), so that it is copied once, into the
// packet. h is not kept after the call; the text is not either, unless
// the Sender takes a hold on it (Conn.ShareText), which lets it read the
// text from where it lies once the lock is free.
//
// SendBare sends a segment without text that belongs to no Conn, from
// local to remote: a TIME-WAIT record's ACK (timewait.go). h is not kept.
type Sender interface {
	Send(c *Conn, h *wire.TCPFields, payload, more []byte)
	SendBare(local, remote netip.Addr, h *wire.TCPFields)
}

// ResetFor returns the RST to send for a segment that reached no connection
// (RFC 9293 §3.10.7.1, state CLOSED), and false when none may be sent.
//
//	If the ACK bit is off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
//	If the ACK bit is on:  <SEQ=SEG.ACK><CTL=RST>
//
// An arriving RST is never answered. The ports are left for the caller.
func ResetFor(seg *Segment) (wire.TCPFields, bool) {
	if seg.Flags.Has(wire.FlagRST) {
		return wire.TCPFields{}, false
	}
	if seg.Flags.Has(wire.FlagACK) {
		return wire.TCPFields{Seq: seg.Ack, Flags: wire.FlagRST}, true
	}
	return wire.TCPFields{Ack: seg.Seq.Add(seg.Len()), Flags: wire.FlagRST | wire.FlagACK}, true
}
