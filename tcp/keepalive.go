package tcp

import "time"

// Keepalive (RFC 1122 §4.2.3.6, article 003): after the connection has been
// idle for KeepAlive.Idle, send a probe every Interval; after Count probes
// go unanswered the peer is taken for dead and the connection ends with
// ETIMEDOUT. Off unless the application turns it on, as SO_KEEPALIVE.

// KeepAlive is a connection's keepalive setting.
type KeepAlive struct {
	// Enable turns keepalive on.
	Enable bool
	// Idle is how long the connection must be idle before the first probe
	// (default 2 h, Linux tcp_keepalive_time).
	Idle time.Duration
	// Interval is the time between probes (default 75 s, tcp_keepalive_intvl).
	Interval time.Duration
	// Count is how many unanswered probes end the connection (default 9,
	// tcp_keepalive_probes; article 003 says 10).
	Count int
}

// Keepalive defaults, as Linux.
const (
	DefaultKeepAliveIdle     = 2 * time.Hour
	DefaultKeepAliveInterval = 75 * time.Second
	DefaultKeepAliveCount    = 9
)

// withDefaults fills zero fields.
func (k KeepAlive) withDefaults() KeepAlive {
	if k.Idle <= 0 {
		k.Idle = DefaultKeepAliveIdle
	}
	if k.Interval <= 0 {
		k.Interval = DefaultKeepAliveInterval
	}
	if k.Count <= 0 {
		k.Count = DefaultKeepAliveCount
	}
	return k
}

// SetKeepAlive changes the connection's keepalive; zero durations and
// count take the defaults. The idle time counts from now or the last
// acceptable segment received, whichever is later.
func (c *Conn) SetKeepAlive(now time.Time, k KeepAlive) {
	c.now = now
	c.ka = k.withDefaults()
	c.kaProbes = 0
	if c.lastRecv < monoAt(now) {
		c.lastRecv = monoAt(now)
	}
	c.armKeepAlive()
}

// KeepAliveSetting is the connection's keepalive setting, defaults applied.
func (c *Conn) KeepAliveSetting() KeepAlive { return c.ka.withDefaults() }

// armKeepAlive sets the keepalive deadline from the last acceptable
// segment received.
func (c *Conn) armKeepAlive() {
	if !c.ka.Enable || (c.state != StateEstablished && c.state != StateCloseWait) {
		c.kaAt = 0
		return
	}
	c.kaAt = c.lastRecv + mono(c.ka.Idle)
	if c.kaProbes > 0 {
		c.kaAt = c.lastProbe + mono(c.ka.Interval)
	}
}

// keepAliveTimer runs when kaAt is due. An acceptable segment from the
// peer since the last probe (lastRecv moved, see peerAlive) means it is
// alive: start over. With data
// outstanding the retransmission timer watches the peer instead (Linux).
func (c *Conn) keepAliveTimer(now time.Time) {
	if c.kaProbes > 0 && c.lastRecv >= c.lastProbe { // an answer, even in the same instant
		c.kaProbes = 0
	}
	if c.kaProbes == 0 && since(now, c.lastRecv) < c.ka.Idle || c.sndUna != c.sndMax {
		c.kaProbes = 0
		c.armKeepAlive()
		if c.kaAt.due(now) {
			c.kaAt = after(now, c.ka.Interval)
		}
		return
	}
	if c.keepAliveGiveUp(now) {
		c.traceTimer("keepalive")
		c.sendReset(c.rstSeq()) // as Linux does when it gives up on the peer
		c.timedOut("keepalive: peer not answering")
		return
	}
	c.traceTimer("keepalive")
	// The probe is an ACK one byte below SND.UNA, old for the peer, which
	// must answer with an ACK (RFC 1122 §4.2.3.6).
	c.sendProbe()
	c.kaProbes++
	c.lastProbe = monoAt(now)
	c.kaAt = after(now, c.ka.Interval)
}
