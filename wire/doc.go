// Package wire is the bottom layer of synack: bytes on the wire. It reads and
// writes the headers of IPv4 (RFC 791), TCP (RFC 9293) with its options
// (RFC 7323, RFC 2018), UDP (RFC 768) and ICMPv4 (RFC 792), and computes the
// Internet checksum (RFC 1071).
//
// Each protocol has two faces:
//
//   - a zero-copy view, a named []byte such as [TCP], returned by a ParseX
//     function that checks every length and header-length field once. The
//     accessors of a view returned by ParseX never panic, and nothing in
//     this package panics on any input bytes: a malformed packet is an
//     error ([ErrTruncated], [ErrBadVersion], [ErrBadHeaderLength],
//     [ErrBadLength], [ErrBadOption]) that the caller counts as a drop.
//   - a value struct, such as [TCPFields], whose Len reports how many bytes
//     its Encode writes. Buffers being emitted are sized by Len and not
//     re-checked.
//
// Protocol logic above this package only ever sees the values.
//
// wire knows nothing of sockets, connections, time or goroutines: it holds
// no state, allocates nothing on its parse and encode paths, and every
// function is safe to call from any goroutine on buffers it does not share.
package wire
