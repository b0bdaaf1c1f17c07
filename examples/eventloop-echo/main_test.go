package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
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

// TestEventLoopSilentClientDoesNotBlock: a client that connects and says
// nothing holds its connection open while the others are served, which
// a blocking server (accept, then recv) would not do; the loop ends after
// the others, closing the silent one, whose read then ends.
func TestEventLoopSilentClientDoesNotBlock(t *testing.T) {
	peers = 0 // the test's clients come after the silent one
	t.Cleanup(func() { peers = 3 })
	var out bytes.Buffer
	err := rig.Run("eventloop-echo", []string{"-n", "3"}, &out, flags, func(l *rig.Rig, out io.Writer) error {
		l.Go(func() error {
			<-l.Serving()
			c, err := l.Peer.DialTCP(context.Background(), netip.AddrPortFrom(l.Addr, 8000))
			if err != nil {
				return err
			}
			defer c.Close()
			l.Clients(8000, 3, "hello-world") // queued behind the silent one
			b, err := io.ReadAll(c)           // nothing sent: only the server's close ends it
			l.Say("silent client: received %q, %v", b, err)
			return nil
		})
		return serve(l, out)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := ports.ReplaceAllString(out.String(), "10.7.0.1:P")
	if n := strings.Count(got, "accepted 10.7.0.1:P\n"); n != 4 {
		t.Errorf("%d connections accepted, want 4 (3 clients and the silent one):\n%s", n, got)
	}
	if n := strings.Count(got, ": echoed 13 bytes, closed\n"); n != 3 {
		t.Errorf("%d clients served, want 3:\n%s", n, got)
	}
	if !strings.Contains(got, "peer: silent client: received \"\", <nil>\n") {
		t.Errorf("the silent client's read did not end with the server's close:\n%s", got)
	}
}
