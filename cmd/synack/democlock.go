package main

import (
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link/fault"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/trace"
)

// clockDriver moves the demo's virtual clock from timer to timer while the
// demo runs with faults, so that a packet lost or delayed on link/fault
// costs protocol time (a retransmission timeout, a delay) and not real
// time. It advances only when nothing but a timer can make the exchange go
// on:
//
//   - no packet is in flight: every packet a stack has made has reached
//     its link, and every packet on the pipe has been handled by the
//     stack it went to (link/fault holds the others as timers);
//   - no connection waits to be accepted, and every byte a connection has
//     received (its socket row's TCP.BytesReceived, the FIN counting as
//     one) has been returned by the application's Read;
//   - no application owes an answer: since its dial returned, or since a
//     Read brought it something (bytes or the end of the stream), it has
//     written or closed, as the demo's HTTP client and server always do;
//   - nothing above moved while the driver yielded to the other goroutines.
//
// Then it fires the earliest timers, whose packets start the next round.
// Each step of the exchange thus happens at the same protocol time and in
// the same order on every run, and so do the fault's decisions: a seed
// repeats its run.
//
// An application that has read part of a message waits for the rest,
// which may need a retransmission: the driver takes an answer owed for
// owedPatience of real time, with everything else quiet, for such a wait.
// Not the answer a dial owes, its first write, which always comes: a
// loaded machine may take longer than owedPatience to hand the dialer its
// connection, and moving the clock meanwhile would move the write.
type clockDriver struct {
	clk    *clock.Virtual
	a, b   *pipe.Endpoint   // the client's end and the server's
	fault  *fault.Endpoint  // on a, under the client
	stacks [2]*synack.Stack // client, server
	owed   atomic.Int64     // answers the applications owe
	sure   atomic.Int64     // of them, those certain to come: dials' first writes
	moves  atomic.Uint64    // trace events and application calls so far

	// mu guards apps; it is taken before an appConn's mu, never under it.
	mu   sync.Mutex
	apps []*appConn

	owingSince time.Time // run's own: since when only answers owed kept it
}

// owedPatience is how long only owed answers hold the clock back before
// the driver takes them for an application waiting for the rest of a
// message.
const owedPatience = 20 * time.Millisecond

// sideKey names one side of a connection.
type sideKey struct{ local, remote netip.AddrPort }

// event notes a trace event: progress, and a dial that succeeded, which
// owes the client's first write until the dialer has its connection.
func (d *clockDriver) event(e *trace.Event) {
	d.moves.Add(1)
	if e.Kind == trace.KindStateChange && e.From == tcp.StateSynSent.String() && e.State == tcp.StateEstablished.String() {
		d.owed.Add(1)
		d.sure.Add(1)
	}
}

// watch returns c watched as an application's connection; owes says
// whether it starts owing an answer.
func (d *clockDriver) watch(c net.Conn, owes bool) *appConn {
	ac := &appConn{Conn: c, d: d, owes: owes,
		key: sideKey{c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()}}
	d.mu.Lock()
	d.apps = append(d.apps, ac)
	d.mu.Unlock()
	d.moves.Add(1)
	return ac
}

// dialed watches the connection a dial returned: the answer the dial owed
// since it reached ESTABLISHED, its first write, is now the connection's.
func (d *clockDriver) dialed(c net.Conn) net.Conn {
	ac := d.watch(c, true)
	ac.mu.Lock()
	ac.sure = true
	ac.mu.Unlock()
	return ac
}

// listener wraps l so that the connections it accepts are watched.
func (d *clockDriver) listener(l net.Listener) net.Listener {
	return &appListener{Listener: l, d: d}
}

// How quiet the demo is.
const (
	busy   = iota // packets or bytes are on their way
	owing         // only answers are owed
	asleep        // only a timer can make it go on
)

// quietness says how quiet the demo is. It reads what the applications
// returned before the stacks' queues, and those before the
// acknowledgements, so that a change while it reads makes it say busy.
func (d *clockDriver) quietness() int {
	type app struct {
		key      sideKey
		consumed int64
	}
	var open []app
	d.mu.Lock()
	for _, ac := range d.apps {
		ac.mu.Lock()
		if !ac.closed {
			open = append(open, app{ac.key, ac.consumed})
		}
		ac.mu.Unlock()
	}
	d.mu.Unlock()

	// Packets reaching a link are counted before the packets made, and
	// deliveries before sends: a count equal to the count it waits for,
	// read later, means nothing was on its way in between.
	out, _ := d.fault.Stats()
	sw := d.b.Stats()
	if d.stacks[0].Internals().Stats().OutRequests.Load() != out.Packets ||
		d.stacks[1].Internals().Stats().OutRequests.Load() != sw.Sent+sw.DroppedTooBig {
		return busy // a stack has made a packet it has not written yet
	}
	as, bs := d.a.Stats(), d.b.Stats()
	if d.a.Stats().Sent != bs.Delivered+bs.DroppedQueueFull+bs.DroppedDetached ||
		d.b.Stats().Sent != as.Delivered+as.DroppedQueueFull+as.DroppedDetached {
		return busy
	}
	received := make(map[sideKey]int64)
	for _, st := range d.stacks {
		for _, r := range st.Sockets() {
			if r.RecvQ > 0 { // bytes to read, or connections to accept
				return busy
			}
			n := int64(r.TCP.BytesReceived)
			if r.TCP.FinReceived {
				n++
			}
			received[sideKey{r.Local, r.Remote}] = n
		}
	}
	for _, a := range open {
		if a.consumed < received[a.key] {
			return busy // a Read has taken bytes it has not returned yet
		}
	}
	if d.sure.Load() != 0 {
		return busy // a dialer's first write is on its way
	}
	if d.owed.Load() != 0 {
		return owing
	}
	return asleep
}

// settled reports whether only a timer can make the demo go on: it is
// quiet and stays so while the driver yields to the other goroutines for
// a moment.
func (d *clockDriver) settled() bool {
	before := d.moves.Load()
	q := d.quietness()
	if q == busy {
		d.owingSince = time.Time{}
		return false
	}
	for range 20 {
		runtime.Gosched()
	}
	time.Sleep(100 * time.Microsecond) // real time, for goroutines on other processors
	if d.quietness() != q || d.moves.Load() != before {
		d.owingSince = time.Time{}
		return false
	}
	if q == asleep {
		return true
	}
	if d.owingSince.IsZero() {
		d.owingSince = time.Now()
	}
	return time.Since(d.owingSince) >= owedPatience
}

// run advances the clock whenever the demo has settled, until stop is
// closed.
func (d *clockDriver) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		if !d.settled() {
			continue
		}
		d.owingSince = time.Time{}
		if next, ok := d.clk.Next(); ok {
			d.clk.AdvanceTo(next)
		}
	}
}

// appConn is an application's connection as the clock driver watches it:
// it counts the bytes Read returned, and after a Read that brought
// something (bytes or the end of the stream) it owes an answer, a write or
// a close.
type appConn struct {
	net.Conn
	d   *clockDriver
	key sideKey

	mu       sync.Mutex
	consumed int64 // bytes Read returned, the end of the stream counting as one
	eof      bool
	owes     bool
	sure     bool // what it owes is a dial's first write (clockDriver.sure)
	closed   bool
}

func (c *appConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.consumed += int64(n)
	if err == io.EOF && !c.eof {
		c.eof = true
		c.consumed++
	}
	if n > 0 || err == io.EOF {
		c.setOwes(true)
	}
	c.mu.Unlock()
	c.d.moves.Add(1)
	return n, err
}

func (c *appConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.setOwes(false)
	c.mu.Unlock()
	c.d.moves.Add(1)
	return n, err
}

func (c *appConn) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	c.setOwes(false)
	c.closed = true
	c.mu.Unlock()
	c.d.moves.Add(1)
	return err
}

// setOwes records whether the connection owes an answer; a closed one owes
// none (c.mu held).
func (c *appConn) setOwes(owes bool) {
	owes = owes && !c.closed
	if owes == c.owes {
		return
	}
	c.owes = owes
	if owes {
		c.d.owed.Add(1)
	} else {
		c.d.owed.Add(-1)
		if c.sure {
			c.sure = false
			c.d.sure.Add(-1)
		}
	}
}

// appListener hands out watched connections.
type appListener struct {
	net.Listener
	d *clockDriver
}

func (l *appListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.d.watch(c, false), nil
}
