package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"time"
)

// Sizes are how much work each workload does in one run.
type Sizes struct {
	// BulkBytes is what one bulk run moves, over all its connections
	// (1 GiB in the issue), after a warm-up that is not measured.
	BulkBytes int64
	// RoundTrips is the round trips of one rr run (100,000), after a
	// tenth as many to warm up.
	RoundTrips int
	// Connections is the connections of one crr run (10,000), after a
	// tenth as many to warm up.
	Connections int
	// Idle is the established idle connection pairs of one idle run (10,000).
	Idle int
	// IdleMillion is the pairs of one idle-1m run (1,000,000): what a
	// stack pair holds at a million connections, and how fast it opens them.
	IdleMillion int
	// Scale is the established connection pairs the scale workload holds
	// open while it measures (100,000); it measures first with scaleSmall.
	Scale int
	// ScaleBytes and ScaleRoundTrips are the bulk transfer and the round
	// trips measured at each size of the scale workload.
	ScaleBytes      int64
	ScaleRoundTrips int
	// LossBytes is what one run of an in-memory loss workload moves
	// (32 MiB), after a warm-up of an eighth as much.
	LossBytes int64
	// PathBytes is the download of one run of a real-path loss workload
	// (the 20 MB).
	PathBytes int64
	// TUNBytes is the download of one run of tun-offload and tun-plain.
	TUNBytes int64
	// UDPDatagrams is the datagrams of one udp-stream run (1,000,000),
	// after a tenth as many to warm up; udp-rr makes RoundTrips.
	UDPDatagrams int
}

// DefaultSizes are the sizes.
var DefaultSizes = Sizes{
	BulkBytes:       1 << 30,
	RoundTrips:      100_000,
	Connections:     10_000,
	Idle:            10_000,
	IdleMillion:     1_000_000,
	Scale:           100_000,
	ScaleBytes:      256 << 20,
	ScaleRoundTrips: 20_000,
	LossBytes:       32 << 20,
	PathBytes:       20_000_000,
	TUNBytes:        200_000_000,
	UDPDatagrams:    1_000_000,
}

// Sample is the figures one run of a workload produced, by metric key.
type Sample map[string]float64

// Metric is one figure a workload reports.
type Metric struct {
	Key    string
	Label  string // the unit, as the table prints it
	Higher bool   // higher is better
	Prec   int    // decimals shown
}

// Workload is one measurement, run on a fresh pair per target per run.
type Workload struct {
	Name    string
	MTU     int
	About   string   // one line on what it does, for BENCHMARKS.md
	Metrics []Metric // in the order the table shows them
	Only    []string // the targets it runs on; nil for all
	// Impair, if set, makes the pair with Target.NewLossy: a link that
	// drops and delays packets.
	Impair *Impairment
	run    func(e *env) (Sample, error)
	// path, if set, runs the workload on a real path (TUN or veth in
	// network namespaces) instead of run on a pair.
	path *pathSpec
}

// runsOn reports whether w runs on the named target.
func (w *Workload) runsOn(target string) bool {
	if w.Only == nil {
		return true
	}
	for _, t := range w.Only {
		if t == target {
			return true
		}
	}
	return false
}

// chunk is the size of every bulk write and read.
const chunk = 64 << 10

// scaleSmall is the connection pairs the scale workload measures with first.
const scaleSmall = 10

// portsPerListener bounds the connections the idle and scale workloads make
// to one listening port, below every target's ephemeral port range
// (Linux's and synack's 28,232 ports, gVisor's 49,536).
const portsPerListener = 20_000

// rrMetrics are the figures of a request/response workload on one
// connection or socket.
var rrMetrics = []Metric{
	{Key: "rt_per_s", Label: "round trips/s", Higher: true, Prec: 0},
	{Key: "latency_us", Label: "mean latency µs", Prec: 2},
	{Key: "cpu_us_per_rt", Label: "CPU µs/round trip", Prec: 2},
	{Key: "allocs_per_rt", Label: "allocs/round trip", Prec: 3},
}

var bulkMetrics = []Metric{
	{Key: "gbps", Label: "Gbit/s", Higher: true, Prec: 2},
	{Key: "cpu_s_per_gib", Label: "CPU s/GiB", Prec: 3},
	{Key: "cpu_us_per_seg", Label: "CPU µs/segment", Prec: 3},
	{Key: "allocs_per_seg", Label: "allocs/segment", Prec: 3},
	{Key: "bytes_per_seg", Label: "bytes/segment", Higher: true, Prec: 0},
	{Key: "retrans_per_gib", Label: "retransmitted segments/GiB", Prec: 0},
}

// Workloads returns the workloads at the given sizes.
func Workloads(sz Sizes) []Workload {
	return []Workload{
		{
			Name: "bulk-1500", MTU: 1500, Metrics: bulkMetrics,
			About: "one connection, 64 KiB writes read and discarded, MTU 1500",
			run:   func(e *env) (Sample, error) { return bulk(e, 1, sz.BulkBytes) },
		},
		{
			Name: "bulk-65535", MTU: 65535, Metrics: bulkMetrics,
			About: "the same at MTU 65535",
			run:   func(e *env) (Sample, error) { return bulk(e, 1, sz.BulkBytes) },
		},
		{
			Name: "bulk-1500-x4", MTU: 1500, Metrics: bulkMetrics,
			About: "four connections at once, each a quarter of the bytes, MTU 1500",
			run:   func(e *env) (Sample, error) { return bulk(e, 4, sz.BulkBytes) },
		},
		{
			Name: "bulk-1500-x16", MTU: 1500, Metrics: bulkMetrics,
			About: "sixteen connections at once, each a sixteenth of the bytes, MTU 1500",
			run:   func(e *env) (Sample, error) { return bulk(e, 16, sz.BulkBytes) },
		},
		{
			Name: "rr-x64", MTU: 1500,
			About: "64 connections at once, each making 1-byte round trips in turn, the round trips shared out among them",
			Metrics: []Metric{
				{Key: "rt_per_s", Label: "round trips/s (all)", Higher: true, Prec: 0},
				{Key: "cpu_us_per_rt", Label: "CPU µs/round trip", Prec: 2},
				{Key: "allocs_per_rt", Label: "allocs/round trip", Prec: 3},
			},
			run: func(e *env) (Sample, error) { return rrMany(e, 64, sz.RoundTrips) },
		},
		{
			Name: "rr", MTU: 1500,
			About:   "one connection, 1-byte request and 1-byte response, in turn",
			Metrics: rrMetrics,
			run:     func(e *env) (Sample, error) { return rr(e, sz.RoundTrips) },
		},
		{
			Name: "crr", MTU: 1500,
			About: "connections in turn: dial, 1 byte each way, close",
			Metrics: []Metric{
				{Key: "conn_per_s", Label: "connections/s", Higher: true, Prec: 0},
				{Key: "cpu_us_per_conn", Label: "CPU µs/connection", Prec: 1},
				{Key: "allocs_per_conn", Label: "allocs/connection", Prec: 1},
				{Key: "tw_heap_per_conn", Label: "TIME-WAIT heap bytes/connection", Prec: 0},
			},
			run: func(e *env) (Sample, error) { return crr(e, sz.Connections) },
		},
		{
			Name: "idle", MTU: 1500,
			About: "established idle connection pairs held open",
			Metrics: []Metric{
				{Key: "heap_per_pair", Label: "heap bytes/pair", Prec: 0},
				{Key: "goroutines_per_pair", Label: "goroutines/pair", Prec: 2},
				{Key: "pairs", Label: "pairs opened", Higher: true, Prec: 0},
			},
			run: func(e *env) (Sample, error) { return idle(e, sz.Idle) },
		},
		{
			// synack alone: gVisor's pairs would take some 11 GB, and the
			// kernel's two million descriptors.
			Name: "idle-1m", MTU: 1500, Only: []string{Synack},
			About: fmt.Sprintf("%d established idle connection pairs held open in one stack pair", sz.IdleMillion),
			Metrics: []Metric{
				{Key: "heap_gib", Label: "heap GiB", Prec: 3},
				{Key: "heap_per_pair", Label: "heap bytes/pair", Prec: 0},
				{Key: "open_s", Label: fmt.Sprintf("s to open %d pairs", sz.IdleMillion), Prec: 2},
			},
			run: func(e *env) (Sample, error) { return idle(e, sz.IdleMillion) },
		},
		{
			Name: "scale", MTU: 1500, Only: []string{Synack, GVisor},
			About: fmt.Sprintf("bulk (%d MiB) and rr (%d round trips) on one more connection with %d and then %d idle pairs open",
				sz.ScaleBytes>>20, sz.ScaleRoundTrips, scaleSmall, sz.Scale),
			Metrics: []Metric{
				{Key: "seg_us_small", Label: fmt.Sprintf("CPU µs/segment @%d", scaleSmall), Prec: 3},
				{Key: "seg_us_large", Label: fmt.Sprintf("CPU µs/segment @%d", sz.Scale), Prec: 3},
				{Key: "seg_cost_ratio", Label: "segment cost ratio", Prec: 3},
				{Key: "rt_us_small", Label: fmt.Sprintf("CPU µs/round trip @%d", scaleSmall), Prec: 2},
				{Key: "rt_us_large", Label: fmt.Sprintf("CPU µs/round trip @%d", sz.Scale), Prec: 2},
				{Key: "rt_cost_ratio", Label: "round trip cost ratio", Prec: 3},
				{Key: "heap_per_pair", Label: fmt.Sprintf("heap bytes/pair @%d", sz.Scale), Prec: 0},
				{Key: "open_s", Label: fmt.Sprintf("s to open %d pairs", sz.Scale), Prec: 2},
			},
			run: func(e *env) (Sample, error) { return scale(e, sz) },
		},
		lossWorkload(sz, 1),
		lossWorkload(sz, 5),
		pathWorkload(sz, 1),
		pathWorkload(sz, 5),
		tunWorkload(sz, false),
		tunWorkload(sz, true),
		udpWorkloads(sz)[0],
		udpWorkloads(sz)[1],
	}
}

// env is what a workload runs with: its pair and the hooks that bracket
// the measured interval.
type env struct {
	ctx  context.Context
	p    Pair
	prof *profiler // nil unless this run is profiled
}

// begin starts the measured interval: a collection first, so that every
// target starts from a clean heap, then the snapshot.
func (e *env) begin() snapshot {
	runtime.GC()
	if e.prof != nil {
		e.prof.start()
	}
	return take(e.p)
}

// end closes the measured interval begun at s.
func (e *env) end(s snapshot) interval {
	iv := s.to(take(e.p))
	if e.prof != nil {
		e.prof.stop()
		e.prof = nil // a workload measuring twice is profiled once
	}
	return iv
}

// accept accepts n connections from l and sends them on the returned
// channel, or an error on errc.
func accept(l net.Listener, n int, errc chan<- error) <-chan net.Conn {
	ch := make(chan net.Conn, n)
	go func() {
		for range n {
			c, err := l.Accept()
			if err != nil {
				errc <- fmt.Errorf("accept: %w", err)
				return
			}
			ch <- c
		}
	}()
	return ch
}

// dialAccept makes n connections to l's port and returns both ends of each.
func dialAccept(e *env, l net.Listener, n int) (clients, servers []net.Conn, err error) {
	errc := make(chan error, 1)
	acc := accept(l, n, errc)
	for range n {
		c, err := e.p.Dial(e.ctx, portOf(l))
		if err != nil {
			closeAll(clients)
			return nil, nil, fmt.Errorf("dial: %w", err)
		}
		clients = append(clients, c)
	}
	for range n {
		select {
		case c := <-acc:
			servers = append(servers, c)
		case err := <-errc:
			closeAll(clients)
			closeAll(servers)
			return nil, nil, err
		case <-e.ctx.Done():
			return nil, nil, e.ctx.Err()
		}
	}
	return clients, servers, nil
}

func closeAll(cs []net.Conn) {
	for _, c := range cs {
		c.Close()
	}
}

// wait waits for wg, an error on errc, or the end of ctx.
func wait(ctx context.Context, wg *sync.WaitGroup, errc <-chan error) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// connected opens a listener and n connections to it, and returns both
// ends of each and what closes them all.
func connected(e *env, n int) (clients, servers []net.Conn, done func(), err error) {
	l, err := e.p.Listen(0)
	if err != nil {
		return nil, nil, nil, err
	}
	clients, servers, err = dialAccept(e, l, n)
	if err != nil {
		l.Close()
		return nil, nil, nil, err
	}
	return clients, servers, func() { closeAll(clients); closeAll(servers); l.Close() }, nil
}

// bulk moves total bytes over conns connections at once, each writing its
// share in 64 KiB writes that the server reads and discards. Each
// connection first moves a warm-up that is not measured.
func bulk(e *env, conns int, total int64) (Sample, error) {
	clients, servers, closeConns, err := connected(e, conns)
	if err != nil {
		return nil, err
	}
	defer closeConns()

	per := total / int64(conns)
	warm := max(chunk, min(per/8, 64<<20))
	errc := make(chan error, 2*conns)
	start := make(chan struct{})
	var warmed, done sync.WaitGroup
	warmed.Add(conns)
	done.Add(conns)
	for i := range conns {
		go discard(servers[i], warm, warm+per, &warmed, &done, errc)
		go send(clients[i], warm, per, start, errc)
	}
	if err := wait(e.ctx, &warmed, errc); err != nil {
		return nil, err
	}
	s := e.begin()
	close(start)
	if err := wait(e.ctx, &done, errc); err != nil {
		return nil, err
	}
	iv := e.end(s)

	moved := float64(per * int64(conns))
	cpu := iv.cpu.Seconds()
	smp := Sample{
		"gbps":          moved * 8 / iv.wall.Seconds() / 1e9,
		"cpu_s_per_gib": cpu / (moved / (1 << 30)),
		// A link that loses nothing should see none; a stack that
		// believes otherwise pays in recovery and a smaller window.
		"retrans_per_gib": float64(iv.retrans) / (moved / (1 << 30)),
	}
	if iv.lossy {
		smp["timeouts_per_gib"] = float64(iv.timeouts) / (moved / (1 << 30))
		if iv.lost > 0 {
			smp["retrans_per_lost"] = float64(iv.retrans) / float64(iv.lost)
		}
	}
	if iv.counted && iv.up > 0 {
		smp["cpu_us_per_seg"] = cpu * 1e6 / float64(iv.up)
		smp["allocs_per_seg"] = float64(iv.mallocs) / float64(iv.up)
		smp["bytes_per_seg"] = moved / float64(iv.up)
	}
	return smp, nil
}

// send writes warm bytes, waits for start, writes n more and closes.
func send(c net.Conn, warm, n int64, start <-chan struct{}, errc chan<- error) {
	buf := make([]byte, chunk)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range buf {
		buf[i] = byte(r.Uint32()) // checksums over real-looking data
	}
	write := func(n int64) error {
		for n > 0 {
			k := min(n, chunk)
			if _, err := c.Write(buf[:k]); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			n -= k
		}
		return nil
	}
	if err := write(warm); err != nil {
		errc <- err
		return
	}
	<-start
	if err := write(n); err != nil {
		errc <- err
		return
	}
	if err := c.Close(); err != nil {
		errc <- fmt.Errorf("close: %w", err)
	}
}

// discard reads c to its end, marking warmed once it has read warm bytes
// and done at the end; it checks that exactly want bytes came.
func discard(c net.Conn, warm, want int64, warmed, done *sync.WaitGroup, errc chan<- error) {
	buf := make([]byte, chunk)
	var got int64
	for {
		n, err := c.Read(buf)
		if got < warm && got+int64(n) >= warm {
			warmed.Done()
		}
		got += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			errc <- fmt.Errorf("read: %w", err)
			return
		}
	}
	if got != want {
		errc <- fmt.Errorf("read %d bytes, want %d", got, want)
		return
	}
	done.Done()
}

// rr makes n round trips of one byte each way on one connection, after
// n/10 to warm up.
func rr(e *env, n int) (Sample, error) {
	clients, servers, closeConns, err := connected(e, 1)
	if err != nil {
		return nil, err
	}
	defer closeConns()
	c := clients[0]

	go echo(servers[0])
	var b [1]byte
	trip := func() error {
		if _, err := c.Write(b[:]); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return readByte(c, b[:])
	}
	return timeTrips(e, n, trip)
}

// timeTrips makes n/10 round trips with trip to warm up, then n measured:
// the figures of rrMetrics.
func timeTrips(e *env, n int, trip func() error) (Sample, error) {
	for range max(n/10, 1) {
		if err := trip(); err != nil {
			return nil, err
		}
	}
	s := e.begin()
	for range n {
		if err := trip(); err != nil {
			return nil, err
		}
	}
	iv := e.end(s)
	return Sample{
		"rt_per_s":      float64(n) / iv.wall.Seconds(),
		"latency_us":    iv.wall.Seconds() * 1e6 / float64(n),
		"cpu_us_per_rt": iv.cpu.Seconds() * 1e6 / float64(n),
		"allocs_per_rt": float64(iv.mallocs) / float64(n),
	}, nil
}

// rrMany makes n round trips of one byte each way over conns connections
// at once, n/conns on each (after a tenth as many to warm up), each
// connection's client on a goroutine of its own.
func rrMany(e *env, conns, n int) (Sample, error) {
	clients, servers, closeConns, err := connected(e, conns)
	if err != nil {
		return nil, err
	}
	defer closeConns()
	for _, s := range servers {
		go echo(s)
	}
	per := max(n/conns, 1)
	trips := func(c net.Conn, k int) error {
		var b [1]byte
		for range k {
			if _, err := c.Write(b[:]); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			if err := readByte(c, b[:]); err != nil {
				return err
			}
		}
		return nil
	}
	all := func(k int) error {
		errc := make(chan error, conns)
		for _, c := range clients {
			go func() { errc <- trips(c, k) }()
		}
		var first error
		for range conns {
			if err := <-errc; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	if err := all(max(per/10, 1)); err != nil {
		return nil, err
	}
	s := e.begin()
	if err := all(per); err != nil {
		return nil, err
	}
	iv := e.end(s)
	total := float64(per * conns)
	return Sample{
		"rt_per_s":      total / iv.wall.Seconds(),
		"cpu_us_per_rt": iv.cpu.Seconds() * 1e6 / total,
		"allocs_per_rt": float64(iv.mallocs) / total,
	}, nil
}

// echo answers every byte read from c with itself until c ends.
func echo(c net.Conn) {
	var b [1]byte
	for readByte(c, b[:]) == nil {
		if _, err := c.Write(b[:]); err != nil {
			return
		}
	}
}

// readByte reads exactly one byte into b.
func readByte(c net.Conn, b []byte) error {
	for {
		n, err := c.Read(b[:1])
		if n == 1 {
			return nil
		}
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read: %w", err)
		}
	}
}

// crr opens n connections one after the other (after n/10 to warm up):
// each dials, sends a byte, reads the answer and closes; the server reads
// the byte, answers, waits for the client's FIN and closes. The client,
// which closes first, holds each connection in TIME-WAIT for the rest of
// the run (2*MSL is 60 s): the heap they retain, per connection, is
// measured outside the timed interval (for the kernel, whose TIME-WAIT is
// not on Go's heap, it is about 0).
func crr(e *env, n int) (Sample, error) {
	l, err := e.p.Listen(0)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	warm := max(n/10, 1)
	served := make(chan error, 1)
	go func() { served <- serveOne(l, warm+n) }()

	port := portOf(l)
	var b [1]byte
	one := func() error {
		c, err := e.p.Dial(e.ctx, port)
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		defer c.Close()
		if _, err := c.Write(b[:]); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return readByte(c, b[:])
	}
	var s snapshot
	var h0 uint64
	for i := range warm + n {
		if i == warm {
			h0, _ = heapState()
			s = e.begin()
		}
		if err := one(); err != nil {
			return nil, err
		}
	}
	select {
	case err := <-served:
		if err != nil {
			return nil, err
		}
	case <-e.ctx.Done():
		return nil, e.ctx.Err()
	}
	iv := e.end(s)
	h1, _ := heapState()
	smp := Sample{
		"conn_per_s":       float64(n) / iv.wall.Seconds(),
		"cpu_us_per_conn":  iv.cpu.Seconds() * 1e6 / float64(n),
		"allocs_per_conn":  float64(iv.mallocs) / float64(n),
		"tw_heap_per_conn": max(float64(h1)-float64(h0), 0) / float64(n),
	}
	return smp, nil
}

// serveOne serves crr's n connections one at a time.
func serveOne(l net.Listener, n int) error {
	var b [1]byte
	for range n {
		c, err := l.Accept()
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		err = readByte(c, b[:])
		if err == nil {
			_, err = c.Write(b[:])
		}
		if err == nil {
			if _, rerr := c.Read(b[:]); rerr != io.EOF {
				err = fmt.Errorf("read after the request: %v, want EOF", rerr)
			}
		}
		c.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// idleSet is idle connection pairs held open, and their listeners.
type idleSet struct {
	listeners       []net.Listener
	clients, server []net.Conn
}

func (s *idleSet) close() {
	closeAll(s.clients)
	closeAll(s.server)
	for _, l := range s.listeners {
		l.Close()
	}
}

// open grows s to n established pairs, opening listeners as their ports
// fill.
func (s *idleSet) open(e *env, n int) error {
	for len(s.clients) < n {
		if len(s.clients) >= len(s.listeners)*portsPerListener {
			l, err := e.p.Listen(0)
			if err != nil {
				return err
			}
			s.listeners = append(s.listeners, l)
		}
		l := s.listeners[len(s.listeners)-1]
		k := min(n, len(s.listeners)*portsPerListener) - len(s.clients)
		cs, ss, err := dialAccept(e, l, k)
		if err != nil {
			return err
		}
		s.clients = append(s.clients, cs...)
		s.server = append(s.server, ss...)
	}
	return nil
}

// pairLimiter is a Pair that can hold only so many connection pairs (the
// kernel's, under the process's open file limit).
type pairLimiter interface{ MaxPairs() int }

// idle opens n connection pairs, or as many as the pair can hold, and
// leaves them idle: the heap and goroutines they add, per pair, once two
// collections have run.
func idle(e *env, n int) (Sample, error) {
	if pl, ok := e.p.(pairLimiter); ok {
		n = min(n, pl.MaxPairs())
	}
	if n < 1 {
		return nil, errors.New("no room for a connection pair")
	}
	s := &idleSet{clients: make([]net.Conn, 0, n), server: make([]net.Conn, 0, n)}
	defer s.close()
	l, err := e.p.Listen(0) // before the baseline: it is not per pair
	if err != nil {
		return nil, err
	}
	s.listeners = append(s.listeners, l)
	h0, g0 := heapState()
	t0 := time.Now()
	if err := s.open(e, n); err != nil {
		return nil, err
	}
	opened := time.Since(t0)
	h1, g1 := heapState()
	runtime.KeepAlive(s)
	return Sample{
		"heap_per_pair":       (float64(h1) - float64(h0)) / float64(n),
		"heap_gib":            (float64(h1) - float64(h0)) / (1 << 30),
		"goroutines_per_pair": float64(g1-g0) / float64(n),
		"pairs":               float64(n),
		"open_s":              opened.Seconds(),
	}, nil
}

// scale measures bulk and rr on one more connection with scaleSmall idle
// pairs open, then again with sz.Scale: how the cost of a segment grows
// with the connections a stack holds.
func scale(e *env, sz Sizes) (Sample, error) {
	s := &idleSet{}
	defer s.close()
	if err := s.open(e, scaleSmall); err != nil {
		return nil, err
	}
	small, err := scaleStep(e, sz)
	if err != nil {
		return nil, err
	}
	h0, _ := heapState()
	t0 := time.Now()
	if err := s.open(e, sz.Scale); err != nil {
		return nil, err
	}
	opened := time.Since(t0)
	h1, _ := heapState()
	large, err := scaleStep(e, sz)
	if err != nil {
		return nil, err
	}
	runtime.KeepAlive(s)
	smp := Sample{
		"seg_us_small":   small["cpu_us_per_seg"],
		"seg_us_large":   large["cpu_us_per_seg"],
		"seg_cost_ratio": large["cpu_us_per_seg"] / small["cpu_us_per_seg"],
		"rt_us_small":    small["cpu_us_per_rt"],
		"rt_us_large":    large["cpu_us_per_rt"],
		"rt_cost_ratio":  large["cpu_us_per_rt"] / small["cpu_us_per_rt"],
		"open_s":         opened.Seconds(),
	}
	if added := sz.Scale - scaleSmall; added > 0 {
		smp["heap_per_pair"] = (float64(h1) - float64(h0)) / float64(added)
	}
	return smp, nil
}

// scaleStep is one bulk and one rr measurement.
func scaleStep(e *env, sz Sizes) (Sample, error) {
	b, err := bulk(e, 1, sz.ScaleBytes)
	if err != nil {
		return nil, err
	}
	if _, ok := b["cpu_us_per_seg"]; !ok {
		return nil, errors.New("the link does not count segments")
	}
	r, err := rr(e, sz.ScaleRoundTrips)
	if err != nil {
		return nil, err
	}
	b["cpu_us_per_rt"] = r["cpu_us_per_rt"]
	return b, nil
}
