package stack

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/synack-net/synack/tcp"
)

// SocketInfo is one row of the socket table, as netstat -tn prints it.
type SocketInfo struct {
	// Local is the socket's address and port; a listener bound to any
	// address shows 0.0.0.0.
	Local netip.AddrPort
	// Remote is the peer; the zero AddrPort for a listener.
	Remote netip.AddrPort
	// State is the TCP state: tcp.StateListen for a listener.
	State tcp.State
	// SendQ is the bytes written but not yet acknowledged; for a listener,
	// as in Linux, the backlog.
	SendQ int
	// RecvQ is the bytes received but not yet read; for a listener, as in
	// Linux, the connections waiting for Accept.
	RecvQ int
	// SegsIn and SegsOut count the connection's segments so far.
	SegsIn, SegsOut uint64
	// Age is how long the socket has lived, on the stack's clock: a
	// connection since it was made (its SYN sent, its peer's SYN
	// received, or, from a SYN cookie, the ACK that completed it; in
	// TIME-WAIT too), a listener since Listen.
	Age time.Duration
	// TCP is the connection's inner state (options, RTT, windows), as
	// `ss -ti` shows it; zero for a listener.
	TCP tcp.Info
}

// info is c's row of the socket table at now (mu held). An ended socket
// without its tcp.Conn shows its endpoints, state and age only.
func (c *TCPConn) info(now time.Time) SocketInfo {
	age := c.s.age(now, c.born)
	if c.conn == nil {
		local, remote := c.tw.addrs()
		return SocketInfo{Local: local, Remote: remote, State: c.stateLocked(), Age: age}
	}
	return SocketInfo{Local: c.conn.Local, Remote: c.conn.Remote, State: c.stateLocked(),
		SendQ: c.conn.SendQueue(), RecvQ: c.conn.RecvQueue(), SegsIn: c.conn.SegmentsIn(), SegsOut: c.conn.SegmentsOut(),
		Age: age, TCP: c.conn.Info()}
}

// Info is the connection's row of the socket table.
func (c *TCPConn) Info() SocketInfo {
	now := c.s.clk.Now()
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.info(now)
}

// WriteSockets prints the table as netstat -tn does.
func WriteSockets(w io.Writer, t []SocketInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Proto\tRecv-Q\tSend-Q\tLocal Address\tForeign Address\tState")
	for _, r := range t {
		remote := "0.0.0.0:*"
		if r.Remote.IsValid() {
			remote = r.Remote.String()
		}
		fmt.Fprintf(tw, "tcp\t%d\t%d\t%v\t%s\t%v\n", r.RecvQ, r.SendQ, r.Local, remote, r.State)
	}
	return tw.Flush()
}

// Sockets returns the socket table: every listener and every connection
// the stack holds (TIME-WAIT included), sorted by local then remote
// address. Each shard is read under its lock in turn, so the table is not
// one instant's when connections come and go meanwhile.
func (s *Stack) Sockets() []SocketInfo { return s.sockets(s.clk.Now()) }

// sockets is Sockets with the ages counted at now.
func (s *Stack) sockets(now time.Time) []SocketInfo {
	ls := s.allListeners()
	t := make([]SocketInfo, 0, len(ls)+int(s.nconns.Load()+s.ntw.Load()))
	for _, l := range ls {
		a := l.addr
		if !a.IsValid() {
			a = netip.IPv4Unspecified()
		}
		l.mu.Lock()
		t = append(t, SocketInfo{Local: netip.AddrPortFrom(a, l.port), State: tcp.StateListen,
			SendQ: l.l.Backlog(), RecvQ: l.l.Ready(), Age: s.age(now, l.born)})
		l.mu.Unlock()
	}
	for _, sh := range s.shards {
		sh.mu.Lock()
		for _, c := range sh.conns {
			t = append(t, c.info(now))
		}
		for _, e := range sh.tws {
			local, remote := e.addrs()
			t = append(t, SocketInfo{Local: local, Remote: remote, State: tcp.StateTimeWait, Age: s.age(now, e.born)})
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(t, func(a, b SocketInfo) int {
		return cmp.Or(a.Local.Compare(b.Local), a.Remote.Compare(b.Remote))
	})
	return t
}
