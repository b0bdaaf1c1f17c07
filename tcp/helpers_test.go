package tcp

// The test harness of the engine: a Sender that records segments, fixed
// times and initial sequence numbers so that every number is exact,
// composable checkers for the segments sent (STYLE habit 10), and one
// fixture per state, each built from the previous one by real segments
// (habit 9).
//
// Unless a test says otherwise the numbers are those of SPEC.md's
// handshake: the client's ISS is x, the peer's (server's) is y, the client
// connects at base and the SYN,ACK arrives one round trip (rtt) later.

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

const (
	syn    = wire.FlagSYN
	ack    = wire.FlagACK
	fin    = wire.FlagFIN
	rst    = wire.FlagRST
	psh    = wire.FlagPSH
	synack = syn | ack
	finack = fin | ack
	rstack = rst | ack
	pshack = psh | ack
)

const (
	x seqnum.Value = 1000 // the client's ISS
	y seqnum.Value = 5000 // the server's ISS

	rtt     = 100 * time.Millisecond // the fixtures' round-trip time
	peerWnd = 65535                  // the window the scripted peer offers
)

var (
	clientAddr = netip.MustParseAddrPort("10.0.0.1:49152")
	serverAddr = netip.MustParseAddrPort("10.0.0.2:80")
)

// base is time zero of every test: no test reads the wall clock.
var base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// at is the instant d after base.
func at(d time.Duration) time.Time { return base.Add(d) }

// sentSeg is a segment the engine handed to its Sender, with the sender's
// SND.UNA, SND.WND and congestion window at that moment.
type sentSeg struct {
	wire.TCPFields
	Payload []byte
	remote  netip.AddrPort
	c       *Conn // the sender; nil for a RST answering no connection
	una     seqnum.Value
	wnd     seqnum.Size
	cwnd    int
	sacked  seqnum.Size // bytes the sender had SACKed: cwnd then bounds pipe, not the span

	// sharedText and holds, when the recorder shares (recorder.share),
	// are the text where it lies in the sender's send buffer and two
	// holds on it (Conn.ShareText), one for each copy a network may
	// deliver.
	sharedText []byte
	holds      [2]Releaser
}

// String prints the segment as RFC 9293 figures do.
func (s sentSeg) String() string {
	return fmt.Sprintf("<SEQ=%d><ACK=%d><CTL=%v><WND=%d><LEN=%d>", s.Seq, s.Ack, s.Flags, s.Window, len(s.Payload))
}

// segment is s as it arrives at the other end.
func (s *sentSeg) segment() *Segment {
	return &Segment{Seq: s.Seq, Ack: s.Ack, Flags: s.Flags, Window: s.Window, Options: s.Options, Payload: s.Payload}
}

// recorder is the fake Sender: it keeps every segment until a test takes it.
// With share set it also takes holds on each text in one piece, as a host
// that lends text to its far end does (sentSeg.holds).
type recorder struct {
	segs  []sentSeg
	share bool
}

var _ Sender = (*recorder)(nil)

func (r *recorder) Send(c *Conn, h *wire.TCPFields, payload, more []byte) {
	s := sentSeg{TCPFields: *h, Payload: append(bytes.Clone(payload), more...), remote: c.Remote, c: c, una: c.sndUna, wnd: c.sndWnd, sacked: c.sack.sacked}
	if (c.inRecovery || c.inLoss()) && c.lossOn() || c.loss != nil && c.loss.tlp.sending {
		// Sending by RFC 6675's pipe (output.go, recoveryOutput): bytes
		// deemed lost (RACK, after a timeout all of them) leave the pipe,
		// so cwnd bounds the bytes in flight, not the span from SND.UNA.
		// A loss probe goes whatever cwnd says (RFC 8985 §7.3).
		s.sacked = max(s.sacked, 1)
	}
	if c.cc != nil {
		s.cwnd = c.cwnd()
	}
	if r.share && len(payload) > 0 && len(more) == 0 {
		if h := c.ShareText(payload); h != nil {
			s.sharedText, s.holds = payload, [2]Releaser{h, c.ShareText(payload)}
		}
	}
	r.segs = append(r.segs, s)
}

// SendBare records a segment of no Conn (a TIME-WAIT record's).
func (r *recorder) SendBare(local, remote netip.Addr, h *wire.TCPFields) {
	r.segs = append(r.segs, sentSeg{TCPFields: *h, remote: netip.AddrPortFrom(remote, h.DstPort)})
}

// takeFor removes and returns the segments sent towards remote.
func (r *recorder) takeFor(remote netip.AddrPort) []sentSeg {
	var got, rest []sentSeg
	for _, s := range r.segs {
		if s.remote == remote {
			got = append(got, s)
		} else {
			rest = append(rest, s)
		}
	}
	r.segs = rest
	return got
}

// end is one side of a connection under test: its Env and recorder, its
// Conn and, on a server, the Listener that makes it. Segments that reach an
// end without a live connection are answered as the stack does: by the
// listener, or by ResetFor.
type end struct {
	t             *testing.T
	env           *Env
	out           *recorder
	local, remote netip.AddrPort
	iss           seqnum.Value // the ISS of the next connection opened here
	l             *Listener
	c             *Conn
	now           time.Time // when the fixture's last step happened
}

// cfgOpt adjusts the Config of a fixture before defaults are applied.
type cfgOpt func(*Config)

// newEnv returns an Env with a recorder as Sender and the defaults applied
// after opts. Delayed ACKs are off unless an opt turns them on: the state
// tests expect each ACK at once; delayack_test.go tests the delay.
func newEnv(host string, opts ...cfgOpt) (*Env, *recorder) {
	cfg := Config{DelayedACK: -1}
	for _, o := range opts {
		o(&cfg)
	}
	out := &recorder{}
	return &Env{Config: cfg.WithDefaults(), Out: out, Host: host}, out
}

// newClient returns the client end, its Conn in CLOSED.
func newClient(t *testing.T, opts ...cfgOpt) *end {
	env, out := newEnv("client", opts...)
	e := &end{t: t, env: env, out: out, local: clientAddr, remote: serverAddr, iss: x, now: base}
	e.c = NewConn(env, e.local, e.remote)
	return e
}

// newServer returns the server end with a listener of the given backlog.
func newServer(t *testing.T, backlog int, opts ...cfgOpt) *end {
	env, out := newEnv("server", opts...)
	return &end{t: t, env: env, out: out, local: serverAddr, remote: clientAddr, iss: y, l: NewListener(env, backlog), now: base}
}

// serverFor returns another end of server s for a second client at remote:
// same Env, same listener.
func (s *end) serverFor(remote netip.AddrPort, iss seqnum.Value) *end {
	return &end{t: s.t, env: s.env, out: s.out, local: s.local, remote: remote, iss: iss, l: s.l, now: s.now}
}

// deliver hands seg to the end at now, demultiplexed as the stack does:
// the live connection, else the listener (RFC 9293 §3.10.7.2), else CLOSED
// (§3.10.7.1).
func (e *end) deliver(now time.Time, seg *Segment) {
	if e.c != nil && e.c.State() != StateClosed {
		e.c.HandleSegment(now, seg)
		return
	}
	if e.l != nil {
		switch e.l.Classify(seg) {
		case ListenOpen:
			e.c = NewConn(e.env, e.local, e.remote)
			e.l.Open(now, e.c, seg, e.iss)
			return
		case ListenDrop:
			return
		case ListenCookie:
			h := e.l.CookieSYNACK(now, seg, e.local, e.remote, 0)
			e.out.segs = append(e.out.segs, sentSeg{TCPFields: h, remote: e.remote})
			return
		case ListenReset:
			if ck, act := e.l.CheckCookie(now, seg, e.local, e.remote); act != ListenReset {
				if act == ListenOpen {
					e.c = NewConn(e.env, e.local, e.remote)
					e.l.OpenFromCookie(now, e.c, seg, ck)
				}
				return
			}
		}
	}
	if h, ok := ResetFor(seg); ok {
		h.SrcPort, h.DstPort = e.local.Port(), e.remote.Port()
		e.out.segs = append(e.out.segs, sentSeg{TCPFields: h, remote: e.remote})
	}
}

// take returns the segments the end sent since the last take.
func (e *end) take() []sentSeg { return e.out.takeFor(e.remote) }

// expect asserts that the end sent exactly one segment and that it passes
// every check; it returns that segment.
func (e *end) expect(checks ...check) *sentSeg {
	e.t.Helper()
	segs := e.take()
	if len(segs) != 1 {
		e.t.Fatalf("%s sent %d segments, want 1: %v", e.env.Host, len(segs), segs)
	}
	for _, c := range checks {
		c(e.t, &segs[0])
	}
	return &segs[0]
}

// expectNone asserts that the end sent nothing.
func (e *end) expectNone() {
	e.t.Helper()
	if segs := e.take(); len(segs) != 0 {
		e.t.Fatalf("%s sent %v, want nothing", e.env.Host, segs)
	}
}

// state asserts the connection's state.
func (e *end) state(want State) {
	e.t.Helper()
	if got := e.c.State(); got != want {
		e.t.Fatalf("%s state = %v, want %v", e.env.Host, got, want)
	}
}

// deadline asserts when the connection next needs HandleTimer.
func (e *end) deadline(want time.Time) {
	e.t.Helper()
	if got := e.c.Deadline(); !got.Equal(want) {
		e.t.Fatalf("%s deadline = %v, want %v", e.env.Host, fmtTime(got), fmtTime(want))
	}
}

// fire runs the timer at its deadline, which must be set, and returns the time.
func (e *end) fire() time.Time {
	e.t.Helper()
	d := e.c.Deadline()
	if d.IsZero() {
		e.t.Fatalf("%s has no timer armed", e.env.Host)
	}
	e.c.HandleTimer(d)
	return d
}

// write writes p, which must fit the send buffer.
func (e *end) write(now time.Time, p []byte) {
	e.t.Helper()
	if n, err := e.c.Write(now, p); n != len(p) || err != nil {
		e.t.Fatalf("Write(%d bytes) = %d, %v", len(p), n, err)
	}
}

// fmtTime prints an instant as an offset from base.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return "base+" + t.Sub(base).String()
}

// in builds an arriving segment; the peer offers peerWnd unless wnd says otherwise.
func in(flags wire.TCPFlags, seq, ackNum seqnum.Value, opts ...func(*Segment)) *Segment {
	s := &Segment{Flags: flags, Seq: seq, Ack: ackNum, Window: peerWnd}
	for _, o := range opts {
		o(s)
	}
	return s
}

// wnd sets SEG.WND of an arriving segment.
func wnd(w uint16) func(*Segment) { return func(s *Segment) { s.Window = w } }

// data sets the payload of an arriving segment.
func data(p []byte) func(*Segment) { return func(s *Segment) { s.Payload = p } }

// mssOpt adds an MSS option to an arriving segment.
func mssOpt(m uint16) func(*Segment) {
	return func(s *Segment) { s.Options.HasMSS, s.Options.MSS = true, m }
}

// bytesN returns n recognisable bytes.
func bytesN(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}

// check is one assertion about a segment sent (gVisor checker style).
type check func(t *testing.T, s *sentSeg)

func hasFlags(f wire.TCPFlags) check {
	return func(t *testing.T, s *sentSeg) {
		t.Helper()
		if s.Flags != f {
			t.Fatalf("flags = %v, want %v in %v", s.Flags, f, s)
		}
	}
}

func hasSeq(v seqnum.Value) check {
	return func(t *testing.T, s *sentSeg) {
		t.Helper()
		if s.Seq != v {
			t.Fatalf("seq = %d, want %d in %v", s.Seq, v, s)
		}
	}
}

func hasAck(v seqnum.Value) check {
	return func(t *testing.T, s *sentSeg) {
		t.Helper()
		if s.Ack != v {
			t.Fatalf("ack = %d, want %d in %v", s.Ack, v, s)
		}
	}
}

func hasWnd(w uint16) check {
	return func(t *testing.T, s *sentSeg) {
		t.Helper()
		if s.Window != w {
			t.Fatalf("window = %d, want %d in %v", s.Window, w, s)
		}
	}
}

func hasLen(n int) check {
	return func(t *testing.T, s *sentSeg) {
		t.Helper()
		if len(s.Payload) != n {
			t.Fatalf("len = %d, want %d in %v", len(s.Payload), n, s)
		}
	}
}

func hasData(p []byte) check {
	return func(t *testing.T, s *sentSeg) {
		t.Helper()
		if !bytes.Equal(s.Payload, p) {
			t.Fatalf("payload = %q, want %q in %v", s.Payload, p, s)
		}
	}
}

func hasMSS(m uint16) check {
	return func(t *testing.T, s *sentSeg) {
		t.Helper()
		if !s.Options.HasMSS || s.Options.MSS != m {
			t.Fatalf("MSS option = %v/%d, want %d in %v", s.Options.HasMSS, s.Options.MSS, m, s)
		}
	}
}

// is checks flags, seq and ack at once: the three columns of an RFC figure.
func is(f wire.TCPFlags, seq, ackNum seqnum.Value) check {
	return func(t *testing.T, s *sentSeg) {
		t.Helper()
		hasFlags(f)(t, s)
		hasSeq(seq)(t, s)
		if f.Has(ack) {
			hasAck(ackNum)(t, s)
		}
	}
}

// tcb is the part of a connection a fixture pins down.
type tcb struct {
	State          State
	SndUna, SndNxt seqnum.Value
	SndWnd         seqnum.Size
	RcvNxt         seqnum.Value
	RcvWnd         seqnum.Size
	SendQ, RecvQ   int
}

func snapshot(c *Conn) tcb {
	return tcb{c.State(), c.SndUna(), c.SndNxt(), c.SndWnd(), c.RcvNxt(), c.rcvWnd(), c.SendQueue(), c.RecvQueue()}
}

// sanity asserts that c, reached by some transition, is the connection the
// fixture want builds (smoltcp's sanity!).
//
// The windows are compared only when both negotiated window scaling alike:
// the fixtures' scripted peer offers no options, two engines scale.
func sanity(t *testing.T, c *Conn, want *end) {
	t.Helper()
	got, w := snapshot(c), snapshot(want.c)
	if c.wsOK != want.c.wsOK {
		got.SndWnd, got.RcvWnd, w.SndWnd, w.RcvWnd = 0, 0, 0, 0
	}
	if got != w {
		t.Fatalf("connection is\n\t%+v\nwant the fixture's\n\t%+v", got, w)
	}
}

// synSent is a client that called Connect at base: it sent <SEQ=x><CTL=SYN>.
func synSent(t *testing.T, opts ...cfgOpt) *end {
	t.Helper()
	e := newClient(t, opts...)
	if err := e.c.Connect(base, x); err != nil {
		t.Fatal(err)
	}
	e.expect(is(syn, x, 0), hasMSS(uint16(e.env.Config.MSS)))
	e.state(StateSynSent)
	e.c.TakeEvents()
	return e
}

// established is synSent after <SEQ=y><ACK=x+1><CTL=SYN,ACK> arrived one
// rtt later: it answered <SEQ=x+1><ACK=y+1><CTL=ACK>.
func established(t *testing.T, opts ...cfgOpt) *end {
	t.Helper()
	e := synSent(t, opts...)
	e.now = at(rtt)
	e.c.HandleSegment(e.now, in(synack, y, x+1))
	e.expect(is(ack, x+1, y+1))
	e.state(StateEstablished)
	e.c.TakeEvents()
	return e
}

// finWait1 is established after Close: it sent <SEQ=x+1><ACK=y+1><CTL=FIN,ACK>.
func finWait1(t *testing.T, opts ...cfgOpt) *end {
	t.Helper()
	e := established(t, opts...)
	e.c.Close(e.now)
	e.expect(is(finack, x+1, y+1))
	e.state(StateFinWait1)
	return e
}

// finWait2 is finWait1 after the peer acknowledged the FIN (ack=x+2), one rtt later.
func finWait2(t *testing.T, opts ...cfgOpt) *end {
	t.Helper()
	e := finWait1(t, opts...)
	e.now = e.now.Add(rtt)
	e.c.HandleSegment(e.now, in(ack, y+1, x+2))
	e.expectNone()
	e.state(StateFinWait2)
	return e
}

// timeWait is finWait2 after the peer's FIN (seq=y+1): it answered with the last ACK.
func timeWait(t *testing.T, opts ...cfgOpt) *end {
	t.Helper()
	e := finWait2(t, opts...)
	e.c.HandleSegment(e.now, in(finack, y+1, x+2))
	e.expect(is(ack, x+2, y+2))
	e.state(StateTimeWait)
	return e
}

// closing is finWait1 after the peer's own FIN crossed ours (simultaneous
// close): the FIN does not acknowledge ours yet.
func closing(t *testing.T, opts ...cfgOpt) *end {
	t.Helper()
	e := finWait1(t, opts...)
	e.c.HandleSegment(e.now, in(finack, y+1, x+1))
	e.expect(is(ack, x+2, y+2))
	e.state(StateClosing)
	return e
}

// closeWait is established after the peer's FIN (seq=y+1).
func closeWait(t *testing.T, opts ...cfgOpt) *end {
	t.Helper()
	e := established(t, opts...)
	e.c.HandleSegment(e.now, in(finack, y+1, x+1))
	e.expect(is(ack, x+1, y+2))
	e.state(StateCloseWait)
	e.c.TakeEvents()
	return e
}

// lastAck is closeWait after Close: it sent its FIN (seq=x+1).
func lastAck(t *testing.T, opts ...cfgOpt) *end {
	t.Helper()
	e := closeWait(t, opts...)
	e.c.Close(e.now)
	e.expect(is(finack, x+1, y+2))
	e.state(StateLastAck)
	return e
}

// synReceived is a server whose listener got <SEQ=x><CTL=SYN> at base: it
// answered <SEQ=y><ACK=x+1><CTL=SYN,ACK>.
func synReceived(t *testing.T, opts ...cfgOpt) *end {
	t.Helper()
	e := newServer(t, 16, opts...)
	e.deliver(base, in(syn, x, 0, mssOpt(1460)))
	e.expect(is(synack, y, x+1), hasMSS(uint16(e.env.Config.MSS)))
	e.state(StateSynReceived)
	if e.l.HalfOpen() != 1 {
		t.Fatalf("HalfOpen = %d, want 1", e.l.HalfOpen())
	}
	return e
}

// serverEstablished is synReceived after the client's ACK (seq=x+1,
// ack=y+1) one rtt later: the connection waits in the accept queue.
func serverEstablished(t *testing.T, opts ...cfgOpt) *end {
	t.Helper()
	e := synReceived(t, opts...)
	e.now = at(rtt)
	e.deliver(e.now, in(ack, x+1, y+1))
	e.expectNone()
	e.state(StateEstablished)
	e.c.TakeEvents()
	return e
}

// pair joins two ends so that what one sends can be handed to the other.
type pair struct {
	t              *testing.T
	client, server *end
}

// other is the end that receives what e sends.
func (p *pair) other(e *end) *end {
	if e == p.client {
		return p.server
	}
	return p.client
}

// flow takes the one segment from sent, checks it, and delivers it to the
// other end at now.
func (p *pair) flow(now time.Time, from *end, checks ...check) *sentSeg {
	p.t.Helper()
	s := from.expect(checks...)
	p.other(from).deliver(now, s.segment())
	return s
}

// exchange is one line of an RFC 9293 figure: the segment one end sends,
// when it arrives, and the states of both ends after it did.
type exchange struct {
	from           string // "client" or "server"
	arrive         time.Duration
	want           check
	client, server State
}

// replay plays the lines of a figure in order.
func (p *pair) replay(lines []exchange) {
	p.t.Helper()
	for i, l := range lines {
		from := p.client
		if l.from == "server" {
			from = p.server
		}
		p.flow(at(l.arrive), from, l.want)
		if got := p.client.c.State(); got != l.client {
			p.t.Fatalf("line %d: client %v, want %v", i+1, got, l.client)
		}
		if got := p.server.c.State(); got != l.server {
			p.t.Fatalf("line %d: server %v, want %v", i+1, got, l.server)
		}
	}
}

// readAll reads c until io.EOF and asserts it got want.
func readAll(t *testing.T, c *Conn, want string) {
	t.Helper()
	var got []byte
	buf := make([]byte, 7)
	for range 1 << 16 {
		n, err := c.Read(base, buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			if string(got) != want {
				t.Fatalf("read %q then EOF, want %q", got, want)
			}
			return
		}
		if err != nil {
			t.Fatalf("Read after %q = %v, want more then io.EOF", got, err)
		}
	}
	t.Fatal("Read never reached io.EOF")
}
