package trace

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// jsonEvent is an Event's JSON shape: kinds and flags as words, addresses as
// "ip:port", fields that are zero left out.
type jsonEvent struct {
	Time   time.Time      `json:"time,omitzero"`
	Kind   Kind           `json:"kind"`
	Host   string         `json:"host,omitempty"`
	Local  netip.AddrPort `json:"local,omitzero"`
	Remote netip.AddrPort `json:"remote,omitzero"`
	Flags  string         `json:"flags,omitempty"`
	Seq    seqnum.Value   `json:"seq,omitzero"`
	Ack    seqnum.Value   `json:"ack,omitzero"`
	Window uint16         `json:"win,omitzero"`
	Len    int            `json:"len,omitzero"`
	Opts   *jsonOptions   `json:"options,omitempty"`
	State  string         `json:"state,omitempty"`
	From   string         `json:"from,omitempty"`
	Cause  string         `json:"cause,omitempty"`
}

// MarshalJSON encodes e as one JSON object, for example
// {"kind":"sent","host":"client","local":"10.0.0.1:49152","remote":"10.0.0.2:80","flags":"SYN","seq":1234,"win":65535,"state":"SYN-SENT"}.
// Zero fields are left out; flags are written as Flags.String spells them.
func (e Event) MarshalJSON() ([]byte, error) {
	j := jsonEvent{Time: e.Time, Kind: e.Kind, Host: e.Host, Local: e.Local, Remote: e.Remote,
		Seq: e.Seq, Ack: e.Ack, Window: e.Window, Len: e.Len, State: e.State, From: e.From, Cause: e.Cause}
	if e.Flags != 0 || e.Kind.IsSegment() {
		j.Flags = e.Flags.String()
	}
	j.Opts = optionsJSON(&e.Options)
	return json.Marshal(&j)
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j jsonEvent
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	flags, err := ParseFlags(j.Flags)
	if err != nil {
		return err
	}
	*e = Event{Time: j.Time, Kind: j.Kind, Host: j.Host, Local: j.Local, Remote: j.Remote, Flags: flags,
		Seq: j.Seq, Ack: j.Ack, Window: j.Window, Len: j.Len, State: j.State, From: j.From, Cause: j.Cause}
	if j.Opts != nil {
		return j.Opts.to(&e.Options)
	}
	return nil
}

// jsonOptions is the JSON shape of a segment's options: those present
// only, as {"mss":1460,"wscale":7,"sack_ok":true,"ts":[tsval,tsecr],"sack":[[left,right]]}.
type jsonOptions struct {
	MSS    *uint16           `json:"mss,omitempty"`
	WScale *uint8            `json:"wscale,omitempty"`
	SACKOK bool              `json:"sack_ok,omitzero"`
	TS     *[2]uint32        `json:"ts,omitempty"`
	SACK   [][2]seqnum.Value `json:"sack,omitempty"`
}

// optionsJSON returns o's JSON shape, nil when it holds no option.
func optionsJSON(o *wire.TCPOptions) *jsonOptions {
	if *o == (wire.TCPOptions{}) {
		return nil
	}
	j := &jsonOptions{SACKOK: o.SACKPermitted}
	if o.HasMSS {
		j.MSS = &o.MSS
	}
	if o.HasWindowScale {
		j.WScale = &o.WindowScale
	}
	if o.HasTimestamps {
		j.TS = &[2]uint32{o.TSVal, o.TSEcr}
	}
	for _, b := range o.SACKBlocks[:min(max(o.NumSACKBlocks, 0), len(o.SACKBlocks))] {
		j.SACK = append(j.SACK, [2]seqnum.Value{b.Left, b.Right})
	}
	return j
}

// to sets o from j.
func (j *jsonOptions) to(o *wire.TCPOptions) error {
	if j.MSS != nil {
		o.HasMSS, o.MSS = true, *j.MSS
	}
	if j.WScale != nil {
		o.HasWindowScale, o.WindowScale = true, *j.WScale
	}
	o.SACKPermitted = j.SACKOK
	if j.TS != nil {
		o.HasTimestamps, o.TSVal, o.TSEcr = true, j.TS[0], j.TS[1]
	}
	if len(j.SACK) > len(o.SACKBlocks) {
		return errors.New("trace: more than " + strconv.Itoa(len(o.SACKBlocks)) + " SACK blocks")
	}
	for i, b := range j.SACK {
		o.SACKBlocks[i] = wire.SACKBlock{Left: b[0], Right: b[1]}
	}
	o.NumSACKBlocks = len(j.SACK)
	return nil
}

// MarshalText returns the kind's word, as String.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText parses what MarshalText returns.
func (k *Kind) UnmarshalText(b []byte) error {
	s := string(b)
	for i, name := range kindNames {
		if name != "" && name == s {
			*k = Kind(i)
			return nil
		}
	}
	if n, ok := strings.CutPrefix(s, "kind("); ok {
		if n, ok := strings.CutSuffix(n, ")"); ok {
			if v, err := strconv.ParseUint(n, 10, 8); err == nil {
				*k = Kind(v)
				return nil
			}
		}
	}
	return errors.New("trace: unknown event kind " + strconv.Quote(s))
}

// ParseFlags parses flags written as wire.TCPFlags.String writes them
// ("SYN,ACK", "none"); the empty string means no flags.
func ParseFlags(s string) (wire.TCPFlags, error) {
	var f wire.TCPFlags
	if s == "" || s == wire.TCPFlags(0).String() {
		return 0, nil
	}
	for name := range strings.SplitSeq(s, ",") {
		bit := wire.TCPFlags(0)
		for i := range 8 {
			if g := wire.TCPFlags(1) << i; g.String() == name {
				bit = g
				break
			}
		}
		if bit == 0 {
			return 0, errors.New("trace: unknown TCP flag " + strconv.Quote(name))
		}
		f |= bit
	}
	return f, nil
}

// WriteJSON writes events to w as JSON lines: one object per event (see
// Event.MarshalJSON), each followed by a newline.
func WriteJSON(w io.Writer, events []Event) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range events {
		if err := enc.Encode(&events[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadJSON reads the JSON lines WriteJSON writes, until the end of r.
func ReadJSON(r io.Reader) ([]Event, error) {
	var events []Event
	dec := json.NewDecoder(r)
	for {
		var e Event
		err := dec.Decode(&e)
		if err == io.EOF {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		events = append(events, e)
	}
}
