package tcp

import (
	"errors"
	"fmt"
	"time"
)

// ConfigError says which field of a configuration is wrong and why.
type ConfigError struct {
	Field   string // the field, as a Go selector: "TCP.MSS", "Addr"
	Problem string // what is wrong with its value
}

func (e *ConfigError) Error() string { return "synack config: " + e.Field + " " + e.Problem }

// MinMSS is the smallest MSS a host may announce: Linux's TCP_MIN_MSS,
// the 576-byte datagram every host accepts less the largest IP and TCP
// headers with options (RFC 9293 §3.7.1, RFC 6691).
const MinMSS = 88

// Validate reports, joined, every field of c whose value makes no sense:
// a negative size, count or time where zero already means the default; an
// MSS below MinMSS; MinRTO above MaxRTO once both have their defaults; a
// SYNCookies mode that does not exist. Zero fields are fine: they take
// their defaults. Negative InvalidACKRateLimit, ChallengeACKLimit and
// DelayedACK mean "none" and are fine too.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: "TCP." + field, Problem: fmt.Sprintf(format, args...)})
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"SendBufferSize", c.SendBufferSize}, {"MaxSendBufferSize", c.MaxSendBufferSize},
		{"ReceiveBufferSize", c.ReceiveBufferSize}, {"MaxReceiveBufferSize", c.MaxReceiveBufferSize},
		{"SYNRetries", c.SYNRetries}, {"SYNACKRetries", c.SYNACKRetries}, {"Retries", c.Retries},
		{"MaxStackReceiveMemory", c.MaxStackReceiveMemory}, {"MaxStackSendMemory", c.MaxStackSendMemory},
		{"MinSendMSS", c.MinSendMSS}, {"MaxSYNBacklog", c.MaxSYNBacklog}, {"MaxHalfOpen", c.MaxHalfOpen},
	} {
		if f.v < 0 {
			bad(f.name, "is %d: it cannot be negative (0 takes the default)", f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"MSL", c.MSL}, {"FinWait2Timeout", c.FinWait2Timeout},
		{"InitialRTO", c.InitialRTO}, {"MinRTO", c.MinRTO}, {"MaxRTO", c.MaxRTO},
	} {
		if f.v < 0 {
			bad(f.name, "is %v: it cannot be negative (0 takes the default)", f.v)
		}
	}
	if c.MSS < 0 || c.MSS > 0 && c.MSS < MinMSS {
		bad("MSS", "is %d: it must be at least %d (or 0 for the link's MTU less 40)", c.MSS, MinMSS)
	}
	if c.MaxSendBufferSize > 0 && c.SendBufferSize > c.MaxSendBufferSize {
		bad("SendBufferSize", "is %d, above MaxSendBufferSize %d", c.SendBufferSize, c.MaxSendBufferSize)
	}
	if c.MaxReceiveBufferSize > 0 && c.ReceiveBufferSize > c.MaxReceiveBufferSize {
		bad("ReceiveBufferSize", "is %d, above MaxReceiveBufferSize %d", c.ReceiveBufferSize, c.MaxReceiveBufferSize)
	}
	if d := c.WithDefaults(); c.MinRTO >= 0 && c.MaxRTO >= 0 && d.MinRTO > d.MaxRTO {
		bad("MinRTO", "is %v, above MaxRTO %v", d.MinRTO, d.MaxRTO)
	}
	if c.SYNCookies > SYNCookiesAlways {
		bad("SYNCookies", "is %d, not a SYNCookieMode", c.SYNCookies)
	}
	return errors.Join(errs...)
}
