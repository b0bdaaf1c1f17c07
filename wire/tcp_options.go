package wire

import (
	"encoding/binary"

	"github.com/synack-net/synack/seqnum"
)

// TCP option kinds (RFC 9293 §3.2, RFC 7323, RFC 2018).
const (
	optEOL           = 0
	optNOP           = 1
	optMSS           = 2
	optWindowScale   = 3
	optSACKPermitted = 4
	optSACK          = 5
	optTimestamps    = 8
)

// Option lengths including kind and length bytes.
const (
	optMSSLen           = 4
	optWindowScaleLen   = 3
	optSACKPermittedLen = 2
	optTimestampsLen    = 10
	optSACKBlockLen     = 8
	maxSACKBlocks       = 4
	// tcpMaxOptionsLen is the option space a 4-bit data offset leaves.
	tcpMaxOptionsLen = tcpMaxHeaderLen - TCPMinHeaderLen
)

// SACKBlock is one block of a SACK option (RFC 2018 §3): the receiver holds
// the data from Left up to, not including, Right.
type SACKBlock struct {
	Left, Right seqnum.Value
}

// TCPOptions are the values of the TCP options synack reads and writes.
type TCPOptions struct {
	HasMSS bool
	MSS    uint16 // maximum segment size (RFC 9293 §3.7.1)

	HasWindowScale bool
	WindowScale    uint8 // the raw shift count as received; may exceed 14 (RFC 7323 §2.3), the engine clamps

	SACKPermitted bool // RFC 2018 §2

	HasTimestamps bool
	TSVal, TSEcr  uint32 // RFC 7323 §3.2

	NumSACKBlocks int // how many of SACKBlocks are in use, 0..4
	SACKBlocks    [maxSACKBlocks]SACKBlock
}

// ParseTCPOptions decodes the options b (as returned by TCP.Options) into o,
// which it zeroes first (RFC 9293 §3.2). EOL ends the list, NOP is skipped,
// every other kind needs a length byte of at least 2 that stays within b;
// MSS must have length 4, window scale 3, SACK-permitted 2, timestamps 10,
// and SACK 2+8n with 1 <= n <= 4. Options of unknown kind with a valid
// length are skipped. A violation returns ErrBadOption, with o holding the
// options before the bad one. A later option of a kind seen before wins.
func ParseTCPOptions(b []byte, o *TCPOptions) error {
	if o == nil {
		var scratch TCPOptions
		o = &scratch
	}
	*o = TCPOptions{}
	for i := 0; i < len(b); {
		kind := b[i]
		switch kind {
		case optEOL:
			return nil // RFC 9293 §3.2: end of option list
		case optNOP:
			i++
			continue
		}
		if i+1 >= len(b) {
			return ErrBadOption // no length byte
		}
		n := int(b[i+1])
		if n < 2 || n > len(b)-i {
			return ErrBadOption // RFC 9293 §3.2: length counts kind and length bytes
		}
		v := b[i+2 : i+n]
		switch kind {
		case optMSS:
			if n != optMSSLen {
				return ErrBadOption
			}
			o.HasMSS, o.MSS = true, binary.BigEndian.Uint16(v)
		case optWindowScale:
			if n != optWindowScaleLen { // RFC 7323 §2.2
				return ErrBadOption
			}
			o.HasWindowScale, o.WindowScale = true, v[0]
		case optSACKPermitted:
			if n != optSACKPermittedLen { // RFC 2018 §2
				return ErrBadOption
			}
			o.SACKPermitted = true
		case optTimestamps:
			if n != optTimestampsLen { // RFC 7323 §3.2
				return ErrBadOption
			}
			o.HasTimestamps = true
			o.TSVal, o.TSEcr = binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:])
		case optSACK:
			blocks := (n - 2) / optSACKBlockLen
			if (n-2)%optSACKBlockLen != 0 || blocks < 1 || blocks > maxSACKBlocks { // RFC 2018 §3
				return ErrBadOption
			}
			o.NumSACKBlocks = blocks
			o.SACKBlocks = [maxSACKBlocks]SACKBlock{}
			for j := range blocks {
				w := v[j*optSACKBlockLen:]
				o.SACKBlocks[j] = SACKBlock{
					Left:  seqnum.Value(binary.BigEndian.Uint32(w)),
					Right: seqnum.Value(binary.BigEndian.Uint32(w[4:])),
				}
			}
		}
		i += n
	}
	return nil
}

// layout returns the encoded length of o and how many SACK blocks fit.
// Like Linux (tcp_established_options), SACK blocks that do not fit in the
// 40 bytes of option space are left out, so the length never exceeds 40.
func (o *TCPOptions) layout() (n, sacks int) {
	if o.HasMSS {
		n += 4
	}
	if o.HasTimestamps {
		n += 12 // SACK-permitted, if any, rides in the two padding bytes
	} else if o.SACKPermitted {
		n += 4
	}
	if o.HasWindowScale {
		n += 4
	}
	sacks = min(max(o.NumSACKBlocks, 0), maxSACKBlocks)
	if fit := (tcpMaxOptionsLen - n - 4) / optSACKBlockLen; sacks > fit {
		sacks = max(fit, 0)
	}
	if sacks > 0 {
		n += 4 + sacks*optSACKBlockLen
	}
	return n, sacks
}

// Len returns the length Encode writes: a multiple of 4, at most 40.
func (o *TCPOptions) Len() int {
	n, _ := o.layout()
	return n
}

// Encode writes the options into b[:o.Len()] and returns o.Len(). The
// layout is Linux's (tcp_options_write), so that our SYNs look like the
// kernel's: MSS first; then SACK-permitted and timestamps packed together
// (kind 4 len 2, kind 8 len 10), or NOP,NOP,timestamps, or
// NOP,NOP,SACK-permitted; then NOP,window scale; then NOP,NOP,SACK blocks.
// Every option is thus 4-byte aligned and no trailing padding is needed.
func (o *TCPOptions) Encode(b []byte) int {
	n, sacks := o.layout()
	b = b[:n]
	i := 0
	if o.HasMSS {
		b[i], b[i+1] = optMSS, optMSSLen
		binary.BigEndian.PutUint16(b[i+2:], o.MSS)
		i += 4
	}
	switch {
	case o.HasTimestamps:
		b[i], b[i+1] = optNOP, optNOP
		if o.SACKPermitted {
			b[i], b[i+1] = optSACKPermitted, optSACKPermittedLen
		}
		b[i+2], b[i+3] = optTimestamps, optTimestampsLen
		binary.BigEndian.PutUint32(b[i+4:], o.TSVal)
		binary.BigEndian.PutUint32(b[i+8:], o.TSEcr)
		i += 12
	case o.SACKPermitted:
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optNOP, optSACKPermitted, optSACKPermittedLen
		i += 4
	}
	if o.HasWindowScale {
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optWindowScale, optWindowScaleLen, o.WindowScale
		i += 4
	}
	if sacks > 0 {
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optNOP, optSACK, byte(2+sacks*optSACKBlockLen)
		i += 4
		for _, s := range o.SACKBlocks[:sacks] {
			binary.BigEndian.PutUint32(b[i:], uint32(s.Left))
			binary.BigEndian.PutUint32(b[i+4:], uint32(s.Right))
			i += optSACKBlockLen
		}
	}
	return n
}
