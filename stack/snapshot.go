package stack

import (
	"reflect"
	"time"

	"github.com/synack-net/synack/tcp"
)

// Snapshot is a stack seen at one moment, as plain values: its counters
// and its socket table. encoding/json renders it (addresses and states as
// text, durations in nanoseconds, timer deadlines as times) and
// expvar.Func can publish it; `synack ss` and `synack netstat -s` print it.
type Snapshot struct {
	// Time is the stack clock's time when the snapshot was taken: the
	// timers' deadlines in Sockets are to be read against it.
	Time time.Time `json:"time"`
	// Counters are the IP, ICMP, TCP and UDP counters (and, when the
	// caller adds them, the link's), in netstat's sections.
	Counters Counters `json:"counters"`
	// States is the number of sockets in each TCP state, listeners
	// (LISTEN) and TIME-WAIT records included, keyed by RFC spelling;
	// states with none are left out.
	States map[string]int `json:"states"`
	// Sockets is the socket table (Stack.Sockets): every listener and
	// connection, with its age at Time and its tcp.Info.
	Sockets []SocketInfo `json:"sockets"`
}

// Counters reads the stack's IP, ICMP, TCP and UDP counters and, when its
// link endpoint has a Stats method that returns a struct of uint64
// counters (link/pipe, link/tun, link/sniff), the link's as section Link
// (StructCounters: a []uint64 field, kept per queue, gives an entry each).
func (s *Stack) Counters() Counters {
	cs := ReadCounters(&s.stats, s.tcp.Stats, &s.udp.stats)
	if l, ok := linkCounters(s.ep); ok {
		cs = append(cs, l)
	}
	return cs
}

// linkCounters reads ep's counters if it has a Stats() method returning
// a struct.
func linkCounters(ep any) (Section, bool) {
	m := reflect.ValueOf(ep).MethodByName("Stats")
	if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 || m.Type().Out(0).Kind() != reflect.Struct {
		return Section{}, false
	}
	return StructCounters("Link", m.Call(nil)[0].Interface()), true
}

// Snapshot returns the stack's counters and socket table. The counters
// are read one by one and the shards one after the other, so a snapshot
// taken while packets flow is not one instant's, as with netstat.
func (s *Stack) Snapshot() Snapshot {
	now := s.clk.Now()
	snap := Snapshot{Time: now, Counters: s.Counters(), Sockets: s.sockets(now)}
	snap.States = StateCounts(snap.Sockets)
	return snap
}

// StateCounts counts the sockets of t by state, keyed by RFC spelling.
func StateCounts(t []SocketInfo) map[string]int {
	m := make(map[string]int)
	for _, r := range t {
		m[r.State.String()]++
	}
	return m
}

// States returns the number of sockets in each TCP state, indexed by
// tcp.State, without building the socket table: what a metrics scrape
// needs.
func (s *Stack) States() [tcp.StateTimeWait + 1]int {
	var n [tcp.StateTimeWait + 1]int
	n[tcp.StateListen] = s.listenerCount()
	for _, sh := range s.shards {
		sh.mu.Lock()
		for _, c := range sh.conns {
			if st := c.stateLocked(); int(st) < len(n) {
				n[st]++
			}
		}
		n[tcp.StateTimeWait] += len(sh.tws)
		sh.mu.Unlock()
	}
	return n
}
