package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/synack-net/synack"
)

const dialAbout = `dial is a netcat over synack on a Linux TUN device: it connects to ADDR
(ip:port), copies standard input to the connection and the connection to
standard output. At the end of standard input it half-closes (sends its FIN)
and goes on reading until the peer closes; when the peer closes first, it
goes on sending until standard input ends (TCP's half-close works both
ways). A peer that does not answer the SYN within --timeout is given up.
SIGINT (Ctrl-C) or SIGTERM closes the connection with a FIN; if the peer
has not finished the close 2 s later, dial resets it. Needs root.

  echo hello | sudo synack dial --tun synack0 10.7.0.1:7000`

// dialGrace is how long an interrupted dial waits for the peer to finish
// the close its FIN began before it resets the connection.
const dialGrace = 2 * time.Second

func runDial(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return dialCmd(ctx, args, os.Stdin, stdout, stderr)
}

// dialCmd is runDial with its signals as ctx's cancellation and its
// standard input as stdin.
func dialCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("dial ADDR", dialAbout+"\n\n"+faultAbout, stderr)
	var tf tunFlags
	tf.register(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "give up connecting when the peer has not answered after this long")
	if err := wantArgs(fs, args, 1, "one ADDR, such as 10.7.0.1:7000"); err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(fs.Arg(0))
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("%q is not an IPv4 ip:port, such as 10.7.0.1:7000", fs.Arg(0))
	}
	if *timeout <= 0 {
		return fmt.Errorf("--timeout %v must be positive", *timeout)
	}
	tf.notes = stderr
	ts, err := tf.open("dial", nil)
	if err != nil {
		return err
	}
	defer ts.closeAndSay(stderr, "dial")
	d := dialSession{st: ts.st, to: ap, timeout: *timeout, grace: dialGrace, stdin: stdin, stdout: stdout}
	return d.run(ctx)
}

// dialSession is what dial does once its stack runs: connect, copy both
// ways, close. It knows nothing of the device, so tests run it on a pipe.
type dialSession struct {
	st      *synack.Stack
	to      netip.AddrPort
	timeout time.Duration // for the connect
	grace   time.Duration // for the close after an interrupt
	stdin   io.Reader
	stdout  io.Writer
}

// errInterrupted is what a dial interrupted before it connected returns.
var errInterrupted = errors.New("interrupted")

// run connects and copies until both sides have closed, or until ctx is
// cancelled (SIGINT, SIGTERM), which closes the connection (see interrupt).
func (d *dialSession) run(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, d.timeout)
	c, err := d.st.DialTCP(cctx, d.to)
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return fmt.Errorf("%w while connecting to %v", errInterrupted, d.to)
	case cctx.Err() != nil:
		return fmt.Errorf("no answer from %v within --timeout %v", d.to, d.timeout)
	default:
		return err
	}
	recvd := make(chan error, 1)
	go func() {
		_, err := io.Copy(d.stdout, c)
		recvd <- err
	}()
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, d.stdin)
		if err == nil {
			err = c.CloseWrite() // stdin ended: half-close, keep reading
		}
		sent <- err
	}()
	select {
	case err := <-recvd:
		if err != nil {
			c.Close()
			return err
		}
	case <-ctx.Done():
		return d.interrupt(c, recvd)
	}
	// The peer has sent its FIN: it sends no more, but the connection is
	// only half-closed (CLOSE-WAIT), and this side may go on sending
	// (RFC 9293 §3.6): send the rest of stdin, then close. If the peer has
	// closed altogether, it answers that data with a RST and the copy
	// fails.
	select {
	case err := <-sent:
		if err != nil {
			c.Close()
			return err
		}
	case <-ctx.Done():
		return d.interrupt(c, nil)
	}
	// Close and let the FIN exchange finish before the device goes away.
	c.Close()
	settle(d.st, d.grace)
	return nil
}

// interrupt ends the connection when the user asks: Close sends what is
// queued, then a FIN (RFC 9293 §3.10.4), and the peer has d.grace to
// acknowledge it and close its side too; if it has not, the connection is
// reset (§3.10.5), so that the peer is not left half-open when the process
// and its stack go away. recvd, when not nil, is the reading goroutine's
// end, awaited so that nothing is written to stdout after run returns.
func (d *dialSession) interrupt(c *synack.TCPConn, recvd <-chan error) error {
	c.Close()
	if recvd != nil {
		<-recvd // Close wakes the read with net.ErrClosed
	}
	if settle(d.st, d.grace) {
		return nil
	}
	d.st.Close() // aborts what is still open: a RST
	return fmt.Errorf("%w: %v did not finish the close within %v: reset", errInterrupted, d.to, d.grace)
}

// settle waits, at most limit, until no connection of st is still open or
// closing (TIME-WAIT is done enough: the peer has closed), and reports
// whether that happened.
func settle(st *synack.Stack, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for closingSockets(st) {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
