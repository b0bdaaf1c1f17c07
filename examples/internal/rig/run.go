package rig

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Main runs an example as a command: it parses the command line (the
// lab's flags and those register adds to fs), opens the rig, runs run
// and exits 1 on an error, saying it on stderr.
func Main(name string, register func(fs *flag.FlagSet), run func(l *Rig, out io.Writer) error) {
	if err := Run(name, os.Args[1:], os.Stdout, register, run); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		}
		os.Exit(1)
	}
}

// Run is Main with its arguments and output given, for tests: it returns
// run's error, or the peer's. Over the pipe, after run it stops the peer,
// waits for it and writes what the peer saw, each line after "peer: ".
func Run(name string, args []string, out io.Writer, register func(fs *flag.FlagSet), run func(l *Rig, out io.Writer) error) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var f Flags
	f.Register(fs)
	if register != nil {
		register(fs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	l, err := Open(f)
	if err != nil {
		return err
	}
	defer l.Close()
	if err = run(l, out); err != nil {
		// The peer may wait for what the example will not do now:
		// closing the stacks ends its calls, and Finish its goroutines.
		l.Close()
		l.Finish(out)
		return err
	}
	return l.Finish(out)
}

// peer is what the in-process peer is doing: its goroutines, the
// functions that stop it (closing its listeners) and its transcript.
type peer struct {
	mu    sync.Mutex
	wg    sync.WaitGroup
	stops []func() error
	errs  []error
	lines []string
}

// Go runs f as the peer's, in a goroutine; Finish waits for it.
func (l *Rig) Go(f func() error) {
	l.peer.wg.Add(1)
	go func() {
		defer l.peer.wg.Done()
		if err := f(); err != nil {
			l.peer.mu.Lock()
			l.peer.errs = append(l.peer.errs, err)
			l.peer.mu.Unlock()
		}
	}()
}

// onFinish makes Finish call stop before it waits for the peer.
func (l *Rig) onFinish(stop func() error) {
	l.peer.mu.Lock()
	l.peer.stops = append(l.peer.stops, stop)
	l.peer.mu.Unlock()
}

// Say adds a line to the peer's transcript.
func (l *Rig) Say(format string, args ...any) {
	l.peer.mu.Lock()
	l.peer.lines = append(l.peer.lines, fmt.Sprintf(format, args...))
	l.peer.mu.Unlock()
}

// Finish stops the peer (its listeners close), waits for its goroutines,
// writes its transcript to out and returns its errors.
func (l *Rig) Finish(out io.Writer) error {
	l.stopPeer()
	l.peer.mu.Lock()
	defer l.peer.mu.Unlock()
	var b bytes.Buffer
	for _, line := range l.peer.lines {
		for _, s := range strings.Split(line, "\n") {
			fmt.Fprintf(&b, "peer: %s\n", s)
		}
	}
	l.peer.lines = nil
	_, err := out.Write(b.Bytes())
	return errors.Join(append(l.peer.errs, err)...)
}

// Settle stops the peer and waits for its goroutines, then, over the
// pipe, for the last packets to be exchanged (the close's ACKs), so that
// the stacks' counters hold the whole exchange. Over TUN it only stops
// the peer (there is none): the kernel may still be closing.
func (l *Rig) Settle() error {
	l.stopPeer()
	if l.a == nil {
		return nil
	}
	// Every caller that could still make a packet has returned: what is
	// left is packets in flight and the answers they draw, which the
	// pipe's goroutines make. Wait (yielding, never sleeping) until none
	// is left; quiet twice in a row guards against a packet made between
	// the reads.
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; n < 2; {
		if time.Now().After(deadline) {
			return errors.New("rig: the pipe did not go quiet within 10 s")
		}
		if l.quiet() {
			n++
		} else {
			n = 0
		}
		runtime.Gosched()
	}
	return nil
}

// quiet reports whether no packet is on its way: each stack has written
// every packet it made, and each end has handled every packet the other
// sent. The counters are read so that a packet moving between two reads
// makes it report false (deliveries before sends, links before stacks).
func (l *Rig) quiet() bool {
	as, bs := l.a.Stats(), l.b.Stats()
	if l.Stack.Internals().Stats().OutRequests.Load() != as.Sent+as.DroppedTooBig ||
		l.Peer.Internals().Stats().OutRequests.Load() != bs.Sent+bs.DroppedTooBig {
		return false
	}
	return l.a.Stats().Sent == bs.Delivered+bs.DroppedQueueFull+bs.DroppedDetached &&
		l.b.Stats().Sent == as.Delivered+as.DroppedQueueFull+as.DroppedDetached
}

// stopPeer stops the peer (its listeners close) and waits for its goroutines.
func (l *Rig) stopPeer() {
	l.peer.mu.Lock()
	stops := l.peer.stops
	l.peer.stops = nil
	l.peer.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	l.peer.wg.Wait()
}
