package wire

// ParseIPv4Prefix is ParseIPv4 for the start of a packet: the quoted
// datagram inside an ICMP error (RFC 792: its header and first 64 bits of
// data), whose total length says more than the bytes that are there. The
// header must be whole; the view ends at TotalLength or at the end of b,
// whichever comes first.
func ParseIPv4Prefix(b []byte) (IPv4, error) { return parseIPv4(b, true) }
