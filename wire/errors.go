package wire

import "errors"

// Errors returned by the ParseX functions. They are sentinels, compared with
// errors.Is (or ==), so that the stack can count dropped packets by reason.
var (
	// ErrTruncated means the buffer is shorter than a fixed header, or
	// shorter than a length field says (IPv4 total length, UDP length).
	ErrTruncated = errors.New("packet truncated")

	// ErrBadVersion means the IP version field is not 4.
	ErrBadVersion = errors.New("bad IP version")

	// ErrBadHeaderLength means a header-length field is below its minimum
	// (IPv4 IHL < 5, TCP data offset < 5) or the header it describes is
	// longer than the packet.
	ErrBadHeaderLength = errors.New("bad header length")

	// ErrBadLength means a total-length field is inconsistent with the
	// packet: an IPv4 total length below the header length, or a UDP
	// length below the 8-byte header.
	ErrBadLength = errors.New("bad length field")

	// ErrBadOption means a TCP option has a bad length: missing, below 2,
	// running past the end of the options, or not the length its kind
	// requires.
	ErrBadOption = errors.New("bad TCP option")
)
