package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/synack-net/synack/stack"
)

// table is one message of the event stream: the socket table and the
// count per state at Time (the stack's clock).
type table struct {
	Time   time.Time      `json:"time"`
	States map[string]int `json:"states"`
	Conns  []row          `json:"conns"`
}

// row is one socket, with what the table and the plots show.
type row struct {
	ID      string `json:"id"` // ConnID: what /tcp/trace?conn= takes
	Local   string `json:"local"`
	Remote  string `json:"remote,omitempty"` // "" for a listener
	State   string `json:"state"`
	SendQ   int    `json:"sendq"`
	RecvQ   int    `json:"recvq"`
	SegsIn  uint64 `json:"segs_in"`
	SegsOut uint64 `json:"segs_out"`
	MSS     int    `json:"mss,omitempty"`
	CWND    int    `json:"cwnd,omitempty"`
	InFl    int    `json:"inflight"`
	SRTT    int64  `json:"srtt_us,omitempty"`
	RTO     int64  `json:"rto_us,omitempty"`
	SndWnd  int    `json:"snd_wnd,omitempty"`
	RcvWnd  int    `json:"rcv_wnd,omitempty"`
	Retrans uint64 `json:"retrans,omitempty"`
	AgeMS   int64  `json:"age_ms"` // how long the socket has lived
}

// tableOf makes the stream's message from snap.
func tableOf(snap *stack.Snapshot) table {
	t := table{Time: snap.Time, States: snap.States, Conns: make([]row, 0, len(snap.Sockets))}
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		r := row{ID: ConnID(s.Local, s.Remote), Local: s.Local.String(), State: s.State.String(),
			SendQ: s.SendQ, RecvQ: s.RecvQ, SegsIn: s.SegsIn, SegsOut: s.SegsOut,
			MSS: s.TCP.MSS, CWND: s.TCP.CWND, InFl: s.TCP.InFlight, SRTT: s.TCP.SRTT.Microseconds(),
			RTO: s.TCP.RTO.Microseconds(), SndWnd: s.TCP.SndWnd, RcvWnd: s.TCP.RcvWnd, Retrans: s.TCP.Retransmits,
			AgeMS: s.Age.Milliseconds()}
		if s.Remote.IsValid() {
			r.Remote = s.Remote.String()
		}
		t.Conns = append(t.Conns, r)
	}
	return t
}

// events serves /tcp/events: a table at once, then one every Interval,
// until the client goes or the view closes. Each table's connections are
// sampled into the history too.
func (v *View) events(w http.ResponseWriter, r *http.Request) {
	if !CheckQuery(w, r) {
		return
	}
	select {
	case v.streams <- struct{}{}:
		defer func() { <-v.streams }()
	default:
		http.Error(w, "too many event streams open: at most 16 at once", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	tick := time.NewTicker(v.cfg.Interval)
	defer tick.Stop()
	var buf bytes.Buffer
	for {
		snap := v.cfg.Snapshot()
		v.hist.sample(&snap)
		buf.Reset()
		buf.WriteString("data: ")
		json.NewEncoder(&buf).Encode(tableOf(&snap)) // one line, ending in \n
		buf.WriteString("\n")
		// A stream outlives a server's WriteTimeout: each table gets
		// its own deadline.
		rc.SetWriteDeadline(time.Now().Add(v.cfg.Interval + 30*time.Second))
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-v.done:
			return
		case <-tick.C:
		}
	}
}
