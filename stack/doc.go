// Package stack is the network layer and the socket table: it owns the
// interface address and routes, IPv4 input and output (header checks,
// checksums, TTL), ICMP (echo, echo requests for Ping, unreachable), the
// demultiplexing of TCP segments by 4-tuple, the UDP socket table, port
// allocation (RFC 6056), one timer structure for all connections, and the
// blocking sockets the application uses.
//
// It drives the TCP engine (package tcp) through its API only and must not
// know TCP internals: it hands the engine segments, calls and the time, and
// carries out what the engine answers. All protocol state of a stack is
// guarded by one mutex; packets produced under it are written to the link
// after it is released, in order.
//
// UDP (udp.go, udpsock.go) and Ping (ping.go) keep tables of their own,
// each under its own lock, never held with mu: a datagram is checked by
// package udp, queued on its socket and the reader woken under the UDP
// table's lock, and a datagram sent, an ICMP error or an echo request is
// built in a buffer of its own and written to the link holding no lock
// of the stack's. ICMP errors the stack sends are rate limited by a token
// bucket (ratelimit.go, RFC 1812 §4.3.2.8).
//
// On a link that offloads segmentation (link.GSOEndpoint), TCP segments
// leave with partial checksums and contiguous runs of one connection's
// segments queued in one batch are merged into segments of up to 64 KB for
// the link's far end to cut; large and partially checksummed segments
// arriving (link.GSODispatcher) are checked and handed to the engine whole.
// The engine still makes MSS-sized segments and never knows. The rules
// are in gso.go.
//
// A connection that enters TIME-WAIT is replaced at once by a record of
// about 150 bytes (tcp.TimeWait, in a table of its own keyed by 4-tuple,
// expired from its own deadline heap by the stack's one clock timer), and
// its tcp.Conn, buffers and timer slot are let go; the socket the user may
// still hold answers from the record (timewait.go). Segments are
// demultiplexed to a connection, then a TIME-WAIT record, then a listener.
//
// A stack holds at most Config.MaxConnections connections and, apart from
// them, Config.MaxTimeWait TIME-WAIT records, past which a connection
// closes without TIME-WAIT (Linux's tcp_max_tw_buckets). It logs each kind
// of limit reached (connections, TIME-WAIT records, buffer memory,
// out-of-order text, SACK scoreboard) to Config.Logger at most once a
// minute (limits.go).
package stack
