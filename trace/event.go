package trace

import (
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// Kind says what happened in an Event.
type Kind uint8

// The kinds of event a connection reports.
const (
	KindSegmentSent     Kind = iota + 1 // a segment left the emitting side
	KindSegmentReceived                 // a segment reached the emitting side's engine
	KindStateChange                     // the emitting side moved from From to State
	KindTimer                           // a timer of the emitting side fired (Cause names it)
	KindDrop                            // the emitting side discarded a segment (Cause says why)
)

// kindNames holds the word each Kind prints as, in text and in JSON.
var kindNames = [...]string{
	KindSegmentSent:     "sent",
	KindSegmentReceived: "received",
	KindStateChange:     "state",
	KindTimer:           "timer",
	KindDrop:            "drop",
}

// String returns the kind's word: "sent", "received", "state", "timer" or
// "drop"; an unknown kind prints as "kind(N)".
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// IsSegment reports whether events of kind k describe a segment (sent,
// received or dropped), so that Flags, Seq, Ack, Window and Len mean something.
func (k Kind) IsSegment() bool {
	return k == KindSegmentSent || k == KindSegmentReceived || k == KindDrop
}

// Event is one thing that happened to one side of a connection.
type Event struct {
	Time          time.Time       // when it happened, by the emitting stack's clock
	Kind          Kind            // what happened
	Host          string          // name of the stack that emitted it ("client", "server"), may be ""
	Local, Remote netip.AddrPort  // the connection as seen by the emitting side
	Flags         wire.TCPFlags   // segments: the control bits
	Seq, Ack      seqnum.Value    // segments: SEG.SEQ and SEG.ACK
	Window        uint16          // segments: the raw header field (unscaled)
	Len           int             // segments: payload bytes
	Options       wire.TCPOptions // segments: the options, as parsed (zero when none)
	State         string          // RFC spelling of the emitting side's state after the event ("SYN-RECEIVED")
	From          string          // state changes: the old state
	Cause         string          // why: "rcv SYN,ACK", "close", "timeout 2MSL", "retransmit", "bad checksum"; "rcv ..." when a received segment caused a state change
}

// String returns the event as one line, for example
//
//	client 10.0.0.1:49152>10.0.0.2:80 sent SYN seq=1234 ack=0 win=65535 len=0 state=SYN-SENT
//	server 10.0.0.2:80<10.0.0.1:49152 received SYN seq=1234 ack=0 win=65535 len=0 state=LISTEN
//	client 10.0.0.1:49152>10.0.0.2:80 state SYN-SENT->ESTABLISHED cause="rcv SYN,ACK"
//
// The arrow between the addresses points the way the segment went: '>' from
// Local to Remote, '<' for a segment that came in (received or dropped). An
// address that is not valid (the remote end of a listener) prints as "*".
func (e *Event) String() string {
	var buf [192]byte
	return string(e.AppendTo(buf[:0]))
}

// AppendTo appends the line String returns to b and returns the result; it
// allocates only if b must grow.
func (e *Event) AppendTo(b []byte) []byte {
	if e.Host != "" {
		b = append(b, e.Host...)
		b = append(b, ' ')
	}
	b = appendAddrPort(b, e.Local)
	if e.Kind == KindSegmentReceived || e.Kind == KindDrop {
		b = append(b, '<')
	} else {
		b = append(b, '>')
	}
	b = appendAddrPort(b, e.Remote)
	b = append(b, ' ')
	b = append(b, e.Kind.String()...)
	switch {
	case e.Kind.IsSegment():
		b = append(b, ' ')
		b = append(b, e.Flags.String()...)
		b = append(b, " seq="...)
		b = strconv.AppendUint(b, uint64(e.Seq), 10)
		b = append(b, " ack="...)
		b = strconv.AppendUint(b, uint64(e.Ack), 10)
		b = append(b, " win="...)
		b = strconv.AppendUint(b, uint64(e.Window), 10)
		b = append(b, " len="...)
		b = strconv.AppendInt(b, int64(e.Len), 10)
	case e.Kind == KindStateChange:
		b = append(b, ' ')
		b = append(b, e.From...)
		b = append(b, "->"...)
		b = append(b, e.State...)
	}
	if e.Cause != "" {
		b = append(b, " cause="...)
		b = appendValue(b, e.Cause)
	}
	if e.State != "" && e.Kind != KindStateChange {
		b = append(b, " state="...)
		b = appendValue(b, e.State)
	}
	return b
}

// appendAddrPort appends a as "ip:port", or "*" when a is not valid (the
// remote end of a listening socket).
func appendAddrPort(b []byte, a netip.AddrPort) []byte {
	if !a.IsValid() {
		return append(b, '*')
	}
	return a.AppendTo(b)
}

// appendValue appends s bare when it is one plain word, quoted otherwise, so
// that a line splits unambiguously into key=value fields.
func appendValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '"' || c == '=' || c >= 0x7f {
			return strconv.AppendQuote(b, s)
		}
	}
	return append(b, s...)
}

// Sink receives events as they happen. Event may be called from several
// goroutines at once; it must not keep e after returning (copy what it keeps)
// and must not modify it.
type Sink interface {
	Event(e *Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(e *Event)

// Event calls f(e).
func (f SinkFunc) Event(e *Event) { f(e) }

// Tee returns a Sink that hands every event to each of sinks in turn; nil
// sinks are skipped.
func Tee(sinks ...Sink) Sink {
	var t tee
	for _, s := range sinks {
		if s != nil {
			t = append(t, s)
		}
	}
	return t
}

// tee is the Sink Tee returns.
type tee []Sink

// Event hands e to each sink.
func (t tee) Event(e *Event) {
	for _, s := range t {
		s.Event(e)
	}
}

// Recorder is a Sink that keeps every event in arrival order. It is safe for
// concurrent use; the zero value is ready to use.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

var _ Sink = (*Recorder)(nil)

// Event records a copy of e. It allocates nothing except when the record
// grows.
func (r *Recorder) Event(e *Event) {
	r.mu.Lock()
	r.events = append(r.events, *e)
	r.mu.Unlock()
}

// Events returns a copy of the events recorded so far, oldest first.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Len returns how many events have been recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// Reset forgets every recorded event, keeping the memory for new ones.
func (r *Recorder) Reset() {
	r.mu.Lock()
	clear(r.events)
	r.events = r.events[:0]
	r.mu.Unlock()
}
