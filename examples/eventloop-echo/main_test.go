package main

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/synack-net/synack/examples/internal/rig"
)

// ports are the clients' ephemeral ports, which vary from run to run.
var ports = regexp.MustCompile(`10\.7\.0\.1:\d+`)

// TestEventLoopServesClientsAtOnce runs the loop against k clients that
// connect at once, each half-closing after its text: every client gets
// its own text back, the loop prints an accept and a close for each (in
// an order that varies: ports are taken out, lines sorted), and it stops
// after the k-th.
func TestEventLoopServesClientsAtOnce(t *testing.T) {
	for _, k := range []int{3, 50} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			peers = k
			var out bytes.Buffer
			if err := rig.Run("eventloop-echo", nil, &out, flags, serve); err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := range k {
				msg := fmt.Sprintf("hello-world %d", i)
				want = append(want, "accepted 10.7.0.1:P",
					fmt.Sprintf("10.7.0.1:P: echoed %d bytes, closed", len(msg)),
					fmt.Sprintf("peer: client %d: sent %q, received %q", i, msg, msg))
			}
			got := strings.Split(strings.TrimSuffix(ports.ReplaceAllString(out.String(), "10.7.0.1:P"), "\n"), "\n")
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("output (ports as P, sorted):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// Each client's port shows on its accept line and its close line.
			seen := map[string]int{}
			for _, p := range ports.FindAllString(out.String(), -1) {
				seen[p]++
			}
			if len(seen) != k {
				t.Errorf("%d client addresses in the output, want %d", len(seen), k)
			}
			for p, n := range seen {
				if n != 2 {
					t.Errorf("%s shows %d times, want 2 (accepted, closed)", p, n)
				}
			}
		})
	}
}
