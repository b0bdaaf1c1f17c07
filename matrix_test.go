package synack_test

// The loss matrix of the reliability issue: every cell is a transfer over
// link/fault on virtual time that must arrive complete and exact.

import (
	"fmt"
	"testing"
	"time"

	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/tcp"
)

// TestLossMatrix moves 1 B, 100 KiB and 32 MiB client to server, server to
// client, and both at once, under each network condition, and checks every
// byte by SHA-256. The goodput of each cell, in protocol time, is logged.
func TestLossMatrix(t *testing.T) {
	conds := []struct {
		name string
		d    fault.Direction
	}{
		{"clean", fault.Direction{Delay: time.Millisecond}},
		{"loss 1%", fault.Direction{Loss: 0.01, Delay: time.Millisecond}},
		{"loss 5%", fault.Direction{Loss: 0.05, Delay: time.Millisecond}},
		{"loss 20%", fault.Direction{Loss: 0.20, Delay: time.Millisecond}},
		{"reorder 5%", fault.Direction{Reorder: 0.05, ReorderDelay: 3 * time.Millisecond, Delay: time.Millisecond}},
		{"duplicate 5%", fault.Direction{Duplicate: 0.05, Delay: time.Millisecond}},
		{"corrupt 1%", fault.Direction{Corrupt: 0.01, Delay: time.Millisecond}},
		{"delay 10ms", fault.Direction{Delay: 10 * time.Millisecond}},
		{"delay 100ms", fault.Direction{Delay: 100 * time.Millisecond}},
	}
	sizes := []struct {
		name string
		n    int
	}{{"1B", 1}, {"100KiB", 100 << 10}, {"32MiB", 32 << 20}}
	for ci, cond := range conds {
		t.Run(cond.name, func(t *testing.T) {
			for si, size := range sizes {
				for _, dir := range []string{"up", "down", "both"} {
					t.Run(size.name+"/"+dir, func(t *testing.T) {
						seed := uint64(ci*100 + si*10 + len(dir))
						var up, down []byte
						if dir != "down" {
							up = seeded(seed, size.n)
						}
						if dir != "up" {
							down = seeded(seed+1, size.n)
						}
						checkTransfer(t, seed, cond.d, up, down)
					})
				}
			}
		})
	}
}

// checkTransfer runs one cell and checks what each side read.
func checkTransfer(t *testing.T, seed uint64, d fault.Direction, up, down []byte) {
	t.Helper()
	n := newLossyNet(t, seed, d, d, tcp.Config{})
	start := n.clk.Now()
	c, s := n.transfer(t, up, down, nil)
	elapsed := n.clk.Now().Sub(start)
	for _, x := range []struct {
		who  string
		got  *side
		want []byte
	}{{"server", s, up}, {"client", c, down}} {
		if x.got.read.Load() != int64(len(x.want)) || x.got.sum != sha256Of(x.want) {
			t.Fatalf("%s read %d bytes, want %d; SHA-256 match %v", x.who, x.got.read.Load(), len(x.want), x.got.sum == sha256Of(x.want))
		}
	}
	out, in := n.fa.Stats()
	total := len(up) + len(down)
	rate := ""
	if elapsed > 0 {
		rate = fmt.Sprintf("%.2f Mbit/s", float64(total)*8/elapsed.Seconds()/1e6)
	}
	ci, si := c.conn.Info().TCP, s.conn.Info().TCP
	t.Logf("%d bytes in %v of protocol time: %s goodput; retransmits client %d server %d; link out %+v in %+v",
		total, elapsed.Round(time.Millisecond), rate, ci.Retransmits, si.Retransmits, out, in)
}
