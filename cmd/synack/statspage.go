package main

import (
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync/atomic"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/policy"
)

// writeStats prints every counter of st, one "Name value" line each, as
// netstat -s does: the stack's IP, ICMP and early TCP counters, then the
// TCP engine's, prefixed "Tcp:". The names are the Stats fields', which
// follow the MIB and Linux netstat names (SyncookiesSent, ListenDrops, ...).
func writeStats(w io.Writer, st *synack.Stack) {
	writeCounters(w, "Ip: ", reflect.ValueOf(st.Internals().Stats()).Elem())
	writeCounters(w, "Tcp: ", reflect.ValueOf(st.Internals().TCPStats()).Elem())
}

// writeCounters prints the atomic counters of the struct v.
func writeCounters(w io.Writer, prefix string, v reflect.Value) {
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		switch c := v.Field(i).Addr().Interface().(type) {
		case *atomic.Uint64:
			fmt.Fprintf(w, "%s%s %d\n", prefix, name, c.Load())
		case *atomic.Int64:
			fmt.Fprintf(w, "%s%s %d\n", prefix, name, c.Load())
		}
	}
}

// writePolicyStats prints the policy's counters, prefixed "Policy:".
func writePolicyStats(w io.Writer, p *policy.Policy) {
	v := reflect.ValueOf(p.Stats())
	for i := range v.NumField() {
		fmt.Fprintf(w, "Policy: %s %v\n", v.Type().Field(i).Name, v.Field(i).Interface())
	}
}

// statsPage serves /stats: writeStats and serve's policy as plain text.
func statsPage(st *synack.Stack, p *policy.Policy) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		writeStats(w, st)
		if p != nil {
			writePolicyStats(w, p)
		}
	}
}
