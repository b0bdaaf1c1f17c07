package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/signal"
	"syscall"
	"time"
)

const pingAbout = `ping sends ICMP echo requests from a synack stack on a Linux TUN device to
ADDR and prints each reply's round-trip time, as ping(8) does: replies are
matched to their request by identifier, sequence number and data. It exits
with an error when no reply came. Needs root.

  sudo synack ping --tun synack0 -c 3 10.7.0.1`

func runPing(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ping ADDR", pingAbout+"\n\n"+faultAbout, stderr)
	var tf tunFlags
	tf.register(fs)
	count := fs.Int("c", 4, "requests to send (0: until interrupted)")
	interval := fs.Duration("i", time.Second, "time between requests")
	wait := fs.Duration("W", 2*time.Second, "how long to wait for each reply")
	size := fs.Int("s", 56, "bytes of data in each request")
	if err := wantArgs(fs, args, 1, "one ADDR, such as 10.7.0.1"); err != nil {
		return err
	}
	dst, err := netip.ParseAddr(fs.Arg(0))
	if err != nil || !dst.Is4() {
		return fmt.Errorf("%q is not an IPv4 address", fs.Arg(0))
	}
	if *count < 0 || *size < 0 || *size > 65507 || *interval <= 0 || *wait <= 0 {
		return errors.New("-c and -s must not be negative (-s at most 65507), -i and -W must be positive")
	}
	tf.notes = stderr
	ts, err := tf.open("ping", nil)
	if err != nil {
		return err
	}
	defer ts.closeAndSay(stderr, "ping")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	data := make([]byte, *size)
	for i := range data {
		data[i] = byte(i)
	}
	fmt.Fprintf(stdout, "PING %v: %d data bytes\n", dst, *size)
	sent, got := 0, 0
	for seq := 1; *count == 0 || seq <= *count; seq++ {
		if seq > 1 {
			select {
			case <-ctx.Done():
			case <-time.After(*interval):
			}
		}
		if ctx.Err() != nil {
			break
		}
		wctx, cancel := context.WithTimeout(ctx, *wait)
		rtt, err := ts.st.Ping(wctx, dst, uint16(seq), data)
		cancel()
		sent++
		switch {
		case err == nil:
			got++
			fmt.Fprintf(stdout, "%d bytes from %v: icmp_seq=%d time=%.3f ms\n", *size+8, dst, seq, float64(rtt)/float64(time.Millisecond))
		case errors.Is(err, context.DeadlineExceeded):
			fmt.Fprintf(stdout, "no reply for icmp_seq=%d\n", seq)
		case ctx.Err() != nil:
			sent--
		default:
			return err
		}
	}
	fmt.Fprintf(stdout, "%d packets transmitted, %d received\n", sent, got)
	if got == 0 {
		return fmt.Errorf("no reply from %v", dst)
	}
	return nil
}
