package tcp

import "fmt"

// State is a TCP connection state of RFC 9293 §3.3.2.
type State uint8

// The states of RFC 9293 §3.3.2, in the order of the figure.
const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{
	StateClosed:      "CLOSED",
	StateListen:      "LISTEN",
	StateSynSent:     "SYN-SENT",
	StateSynReceived: "SYN-RECEIVED",
	StateEstablished: "ESTABLISHED",
	StateFinWait1:    "FIN-WAIT-1",
	StateFinWait2:    "FIN-WAIT-2",
	StateCloseWait:   "CLOSE-WAIT",
	StateClosing:     "CLOSING",
	StateLastAck:     "LAST-ACK",
	StateTimeWait:    "TIME-WAIT",
}

// String returns the RFC spelling of s, such as "SYN-RECEIVED".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// synchronized reports whether s is one of the synchronized states of
// RFC 9293 §3.5.2 (ESTABLISHED onwards, where sequence numbers are known on
// both sides).
func (s State) synchronized() bool { return s >= StateEstablished }

// MarshalText returns the RFC spelling of s, so that JSON shows states as
// netstat prints them.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state in its RFC spelling, such as "TIME-WAIT".
func (s *State) UnmarshalText(b []byte) error {
	st, ok := ParseState(string(b))
	if !ok {
		return fmt.Errorf("tcp: unknown state %q", b)
	}
	*s = st
	return nil
}

// ParseState returns the state spelled name as RFC 9293 spells it
// ("SYN-RECEIVED"), or false if no state is.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}
