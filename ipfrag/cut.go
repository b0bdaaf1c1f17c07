package ipfrag

// FragmentPayload is the payload each fragment but the last carries when
// a datagram with a header of hlen bytes is cut for a link of the given
// MTU: as much as fits, rounded down to a multiple of 8 (RFC 791 §3.2,
// offsets count 8-byte units). It is 0 when not even 8 bytes fit.
func FragmentPayload(mtu, hlen int) int {
	n := (mtu - hlen) &^ 7
	if n < 8 {
		return 0
	}
	return n
}

// Count is the number of fragments that carry n payload bytes, each but
// the last carrying each (from FragmentPayload, nonzero).
func Count(n, each int) int { return (n + each - 1) / each }
