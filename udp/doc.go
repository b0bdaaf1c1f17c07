// Package udp is the UDP layer (RFC 768, RFC 1122 §4.1) without I/O: it
// checks an arriving datagram against its IPv4 pseudo-header, builds the
// header and checksum of an outgoing one, keeps a socket's bounded receive
// queue, and names the counters of the UDP-MIB (RFC 4113) as Linux prints
// them in /proc/net/snmp.
//
// It sits beside package tcp, under package stack: the stack parses the
// IPv4 header, hands the IP payload here with the addresses, finds the
// socket by port and does the locking, waking and writing to the link.
// This package must not know sockets' tables, locks, goroutines, clocks
// or links, and nothing of TCP.
//
// What a peer can make a socket hold is bounded (queue.go): a receive
// queue keeps at most its byte budget of payload (default 212,992 bytes,
// Linux's net.core.rmem_default) in one ring, grown as needed up to that
// budget, and at most MaxDatagrams datagrams; a datagram that
// does not fit is dropped and counted (RcvbufErrors, Linux's
// UdpRcvbufErrors).
package udp
