package tcp

import "time"

// Config holds the settings shared by the connections of one stack. The
// engine reads it and never changes it; a zero field takes its default.
type Config struct {
	// MSS is the largest segment payload this host receives, announced in
	// the SYN (RFC 9293 §3.7.1). The stack derives it from the route MTU.
	MSS int
	// SendBufferSize bounds the bytes Write may queue (default 256 KiB).
	SendBufferSize int
	// ReceiveBufferSize bounds received bytes not yet read; it is the
	// largest window advertised (default 64 KiB - 1: no window scaling yet).
	ReceiveBufferSize int
	// SYNRetries is how many times a SYN is retransmitted before connect
	// fails with ETIMEDOUT (Linux tcp_syn_retries, default 6).
	SYNRetries int
	// SYNACKRetries is how many times a SYN,ACK is retransmitted before the
	// half-open connection is dropped (Linux tcp_synack_retries, default 5).
	SYNACKRetries int
	// Retries is how many times data is retransmitted before the connection
	// fails with ETIMEDOUT (Linux tcp_retries2, default 15).
	Retries int
	// MSL is the maximum segment lifetime; TIME-WAIT lasts 2*MSL
	// (default 30 s, so TIME-WAIT lasts Linux's 60 s).
	MSL time.Duration
	// FinWait2Timeout ends an orphaned FIN-WAIT-2 connection whose user has
	// closed it fully (Linux tcp_fin_timeout, default 60 s).
	FinWait2Timeout time.Duration
	// InitialRTO is the retransmission timeout before any RTT sample
	// (RFC 6298 §2.1: 1 s).
	InitialRTO time.Duration
	// MinRTO is the floor of the computed RTO. RFC 6298 §2.4 says 1 s;
	// the default is Linux's 200 ms.
	MinRTO time.Duration
	// MaxRTO caps the backed-off RTO (Linux: 120 s; RFC 6298 §2.5 allows it).
	MaxRTO time.Duration
	// MaxSYNBacklog bounds half-open connections per listener (default 256).
	MaxSYNBacklog int
	// NewCongestionControl makes the congestion controller of a connection;
	// nil means Reno (slow start and congestion avoidance, RFC 5681).
	NewCongestionControl func(mss int) CongestionControl
}

// Defaults of Config.
const (
	DefaultMSS               = 536 // RFC 9293 §3.7.1: when the peer sends no MSS option
	DefaultSendBufferSize    = 256 << 10
	DefaultReceiveBufferSize = 65535
	DefaultSYNRetries        = 6
	DefaultSYNACKRetries     = 5
	DefaultRetries           = 15
	DefaultMSL               = 30 * time.Second
	DefaultFinWait2Timeout   = 60 * time.Second
	DefaultInitialRTO        = time.Second
	DefaultMinRTO            = 200 * time.Millisecond
	DefaultMaxRTO            = 120 * time.Second
	DefaultMaxSYNBacklog     = 256
)

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MSS, DefaultMSS)
	def(&c.SendBufferSize, DefaultSendBufferSize)
	def(&c.ReceiveBufferSize, DefaultReceiveBufferSize)
	if c.ReceiveBufferSize > 65535 {
		c.ReceiveBufferSize = 65535 // no window scaling yet: the window field is 16 bits
	}
	def(&c.SYNRetries, DefaultSYNRetries)
	def(&c.SYNACKRetries, DefaultSYNACKRetries)
	def(&c.Retries, DefaultRetries)
	defd(&c.MSL, DefaultMSL)
	defd(&c.FinWait2Timeout, DefaultFinWait2Timeout)
	defd(&c.InitialRTO, DefaultInitialRTO)
	defd(&c.MinRTO, DefaultMinRTO)
	defd(&c.MaxRTO, DefaultMaxRTO)
	def(&c.MaxSYNBacklog, DefaultMaxSYNBacklog)
	if c.NewCongestionControl == nil {
		c.NewCongestionControl = NewReno
	}
	return c
}
