package tcp

import "time"

// Config holds the settings shared by the connections of one stack. The
// engine reads it and never changes it; a zero field takes its default.
type Config struct {
	// MSS is the largest segment payload this host receives, announced in
	// the SYN (RFC 9293 §3.7.1). The stack derives it from the route MTU.
	MSS int
	// SendBufferSize is how many bytes Write may queue at first (default
	// 256 KiB). The limit grows to twice the window in use, up to
	// MaxSendBufferSize, so one connection can keep a fast path full.
	SendBufferSize int
	// MaxSendBufferSize caps the send buffer (default 4 MiB, Linux
	// tcp_wmem[2]). When only SendBufferSize is set, it is the cap too.
	MaxSendBufferSize int
	// ReceiveBufferSize bounds received bytes not yet read at first, and so
	// the window advertised (default 128 KiB, Linux tcp_rmem[1]). Receive
	// autotuning grows it while the application keeps up, up to
	// MaxReceiveBufferSize. Without window scaling the window, and so the
	// buffer, stays below 64 KiB.
	ReceiveBufferSize int
	// MaxReceiveBufferSize is the memory cap of one connection's receive
	// buffer (default 6 MiB, Linux tcp_rmem[2]); when only ReceiveBufferSize
	// is set, it is the cap too. It sets the window scale offered (RFC 7323 §2.3).
	MaxReceiveBufferSize int
	// NoWindowScaling, NoTimestamps and NoSACK turn off offering the
	// options of RFC 7323 (window scale, timestamps) and RFC 2018
	// (SACK-permitted) in the SYN; each is used only when both sides offer it.
	NoWindowScaling, NoTimestamps, NoSACK bool
	// DelayedACK is the longest an ACK for in-order data waits for more
	// data or a reply to ride on (RFC 1122 §4.2.3.2; default 40 ms, Linux's
	// minimum delayed-ACK time; at most 200 ms). Negative turns delayed ACKs off.
	DelayedACK time.Duration
	// SYNRetries is how many times a SYN is retransmitted before connect
	// fails with ETIMEDOUT (Linux tcp_syn_retries, default 6).
	SYNRetries int
	// SYNACKRetries is how many times a SYN,ACK is retransmitted before the
	// half-open connection is dropped (Linux tcp_synack_retries, default 5).
	SYNACKRetries int
	// Retries is how many times data is retransmitted, or how many
	// zero-window probes in a row go unanswered, before the connection
	// fails with ETIMEDOUT (Linux tcp_retries2, default 15). A user timeout
	// (Conn.SetUserTimeout) takes the place of the count for retransmissions.
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
	// MaxStackReceiveMemory bounds the bytes all connections of a stack
	// hold received and unread, in order or not (default 1 GiB: Linux's
	// tcp_mem[2] is 3/32 of memory, this on a machine of about 11 GiB).
	// At the limit out-of-order text is pruned, text in order dropped and
	// receive buffers stop growing (memory.go).
	MaxStackReceiveMemory int
	// MaxStackSendMemory bounds the bytes all connections of a stack hold
	// to send past which send buffers stop growing (default 1 GiB, as
	// MaxStackReceiveMemory).
	MaxStackSendMemory int
	// MinSendMSS is the smallest MSS taken from a peer's SYN: a smaller
	// option is raised to it (Linux tcp_min_snd_mss, default 48), so a
	// peer cannot make each byte cost a segment (limits.go).
	MinSendMSS int
	// MaxSYNBacklog bounds half-open connections per listener (default
	// 256, Linux tcp_max_syn_backlog); the listen backlog bounds them too,
	// as Linux's request queue (synqueue.go).
	MaxSYNBacklog int
	// InvalidACKRateLimit is the least time between two ACKs one
	// connection sends in answer to segments that fail a check: out of
	// window, PAWS-rejected, with an unacceptable ACK, and RFC 5961's
	// challenge ACKs (Linux tcp_invalid_ratelimit, default 500 ms; RFC
	// 5961 §7). Negative means no limit.
	InvalidACKRateLimit time.Duration
	// ChallengeACKLimit is about how many challenge ACKs (RFC 5961) the
	// stack sends per second over all connections; each second's budget
	// is drawn at random from [limit/2, 3*limit/2) so that it cannot be
	// counted from outside (Linux tcp_challenge_ack_limit after
	// CVE-2016-5696; default 1000). Negative means no limit.
	ChallengeACKLimit int
	// NewCongestionControl makes the congestion controller of a connection;
	// nil means CUBIC (RFC 9438), the default of Linux. NewReno is RFC 5681's.
	NewCongestionControl func(mss int) CongestionControl
	// MaxHalfOpen bounds the half-open connections of all the listeners
	// of a stack together (default 4096).
	MaxHalfOpen int
	// SYNCookies says when a SYN is answered with a SYN cookie (RFC 4987
	// §3.6; syncookie.go): SYNCookiesWhenNeeded (the zero value, Linux's
	// default tcp_syncookies = 1) when the SYN queue is full,
	// SYNCookiesOff never, SYNCookiesAlways for every SYN.
	SYNCookies SYNCookieMode
}

// Defaults of Config.
const (
	DefaultMSS                  = 536 // RFC 9293 §3.7.1: when the peer sends no MSS option
	DefaultSendBufferSize       = 256 << 10
	DefaultMaxSendBufferSize    = 4 << 20
	DefaultReceiveBufferSize    = 128 << 10
	DefaultMaxReceiveBufferSize = 6 << 20
	DefaultDelayedACK           = 40 * time.Millisecond
	MaxDelayedACK               = 200 * time.Millisecond
	DefaultSYNRetries           = 6
	DefaultSYNACKRetries        = 5
	DefaultRetries              = 15
	DefaultMSL                  = 30 * time.Second
	DefaultFinWait2Timeout      = 60 * time.Second
	DefaultInitialRTO           = time.Second
	DefaultMinRTO               = 200 * time.Millisecond
	DefaultMaxRTO               = 120 * time.Second
	DefaultMaxHalfOpen          = 4096
	DefaultMaxSYNBacklog        = 256
	DefaultInvalidACKRateLimit  = 500 * time.Millisecond
	DefaultChallengeACKLimit    = 1000
	DefaultMinSendMSS           = 48
	DefaultMaxStackMemory       = 1 << 30
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
	// A buffer size set without its maximum is fixed, as setting SO_SNDBUF
	// or SO_RCVBUF on Linux turns off that buffer's autotuning.
	bufs := func(size, maxSize *int, defSize, defMax int) {
		switch {
		case *size <= 0 && *maxSize <= 0:
			*size, *maxSize = defSize, defMax
		case *maxSize <= 0:
			*maxSize = *size
		case *size <= 0:
			*size = min(defSize, *maxSize)
		}
		// The scaled window reaches at most 2^30 bytes (RFC 7323 §2.3).
		*maxSize = min(max(*maxSize, *size), 1<<30)
	}
	bufs(&c.SendBufferSize, &c.MaxSendBufferSize, DefaultSendBufferSize, DefaultMaxSendBufferSize)
	bufs(&c.ReceiveBufferSize, &c.MaxReceiveBufferSize, DefaultReceiveBufferSize, DefaultMaxReceiveBufferSize)
	switch {
	case c.DelayedACK == 0:
		c.DelayedACK = DefaultDelayedACK
	case c.DelayedACK > MaxDelayedACK:
		c.DelayedACK = MaxDelayedACK
	}
	def(&c.SYNRetries, DefaultSYNRetries)
	def(&c.SYNACKRetries, DefaultSYNACKRetries)
	def(&c.Retries, DefaultRetries)
	defd(&c.MSL, DefaultMSL)
	defd(&c.FinWait2Timeout, DefaultFinWait2Timeout)
	defd(&c.InitialRTO, DefaultInitialRTO)
	defd(&c.MinRTO, DefaultMinRTO)
	defd(&c.MaxRTO, DefaultMaxRTO)
	def(&c.MaxHalfOpen, DefaultMaxHalfOpen)
	def(&c.MaxSYNBacklog, DefaultMaxSYNBacklog)
	if c.InvalidACKRateLimit == 0 { // negative: no limit
		c.InvalidACKRateLimit = DefaultInvalidACKRateLimit
	}
	if c.ChallengeACKLimit == 0 { // negative: no limit
		c.ChallengeACKLimit = DefaultChallengeACKLimit
	}
	def(&c.MinSendMSS, DefaultMinSendMSS)
	def(&c.MaxStackReceiveMemory, DefaultMaxStackMemory)
	def(&c.MaxStackSendMemory, DefaultMaxStackMemory)
	if c.NewCongestionControl == nil {
		c.NewCongestionControl = NewCUBIC
	}
	return c
}
