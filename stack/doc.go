// Package stack is the network layer and the socket table: it owns the
// interface address and routes, IPv4 input and output (header checks,
// checksums, TTL, reassembly of fragments and fragmentation of UDP
// datagrams over the MTU, with package ipfrag), ICMP (echo, echo requests
// for Ping, unreachable, the errors that reach their sockets, path MTU
// discovery), the
// demultiplexing of TCP segments by 4-tuple, the UDP socket table, port
// allocation (RFC 6056), the connections' timers, and the blocking sockets
// the application uses.
//
// It drives the TCP engine (package tcp) through its API only and must not
// know TCP internals: it hands the engine segments, calls and the time, and
// carries out what the engine answers.
//
// # Shards and locks
//
// There is no lock over the whole stack on the data path. The connection
// table is cut into shards (Config.Shards, a power of two; by default 64,
// or the one at or above twice GOMAXPROCS if more: Write and Read copy
// under the shard's mu, so busy connections should rarely share one),
// and a connection lives in the shard
// its 4-tuple hashes to for its whole life (shard.go). Each shard has:
//
//   - mu, which guards its table of connections, its table and heap of
//     TIME-WAIT records, its timer heap and the one clock timer that
//     serves both heaps, its output batch, and every tcp.Conn in it: the
//     engine is only ever called with its connection's shard mu held;
//   - its own tcp.Env (tcp.Env.Share): the engine's scratch space is the
//     shard's, and what the engine counts for the whole stack (tcp.Stats,
//     tcp.Memory, the half-open count, the challenge-ACK budget) is shared
//     through atomics;
//   - a flusher: which goroutine writes its batch to the link (flush.go).
//
// Connections in different shards never wait for each other, and the link
// may deliver packets from several goroutines at once (DeliverPacket is
// safe for concurrent callers: a link with several queues may use one
// goroutine per queue).
//
// Link writes happen outside every shard's mu, and nobody waits for the
// link holding it. The packets a shard's connections produce are queued
// in its batch under mu; the goroutine that finds no write under way
// swaps the batch for an empty one, releases mu and writes the batch
// (flush.go). One that finds a write under way waits for it with mu free
// and then writes what is left. On a link whose writes wait in the kernel
// (link.BlockingWriter: a TUN device) a writer goroutine of the shard's
// own writes the batches instead, one per shard and none per connection
// (so up to 64 by default, each started with its shard's first packet,
// parked when idle, ended by Close), and the goroutine that made the
// packets goes on without waiting for the system call, unless
// maxQueuedForWriter packets are already queued (flush.go: what that
// comes to for a whole stack). So
// the shard's batches, and the segments of each of its connections, leave
// in the order they were made, while the shard's connections run on
// during the write. Two shards' writes may interleave, which reorders
// nothing within a connection.
//
// A link that delivers packets in batches (link.BatchDispatcher) has a
// run of one connection's consecutive segments handled under one hold of
// its shard's mu, at most maxRunSegments, and answered once (run.go);
// anything else in the batch ends the run first, so the locks taken are
// those of a single segment.
//
// The other locks, each guarding one thing:
//
//   - TCPConn.wmu, the socket's write lock, is held by a Write for its
//     whole call, its waits for room included, so that one Write runs at
//     a time and its bytes are contiguous in the stream, as package net's
//     descriptor write lock makes them (socket.go). It is taken before
//     the shard's mu and never while holding it or any other lock; Close,
//     Abort, CloseWrite, TryWrite and the link's goroutines do not take it.
//     A Write of 16 KiB or more copies into the send buffer with the
//     shard's mu let go, into room the engine reserved for it
//     (fillUnlocked, tcp.Conn.Reserve), so the shard's ACKs and segments
//     go on meanwhile; from its first such copy until it waits for room
//     or returns, TCPConn.filling is set, and TryWrite waits on the
//     flusher's idle condition while it is, so that TryWrite's bytes fall
//     between a Write's only where the Write waits for room.
//   - TCPListener.mu guards a listener's engine state (its SYN and accept
//     queues, SYN cookie secrets), its list of children not yet accepted
//     and its ready waiter. A connection made by a listener is that
//     listener's child until Accept takes it: until then every engine call
//     on it is made with the listener's mu held too (lockListener), as the
//     engine moves it between the listener's queues. A SYN for a new
//     4-tuple is handled under its 4-tuple's shard mu, then the listener's
//     mu, and the new connection lives in that shard; a SYN cookie's ACK
//     and a SYN that takes a 4-tuple over from TIME-WAIT likewise
//     (syncookie.go, timewait.go).
//   - Stack.lmu is taken to change the table of listeners, which is
//     read without a lock: it is replaced whole (copy on write). A port's
//     entry is a group of one listener, or of several that set ReusePort
//     (reuseport.go), and a segment for no connection goes to the member
//     its 4-tuple hashes to; each member has its own mu, and a group adds
//     no lock. Routes are kept the same way under Stack.rmu.
//   - portAllocator.mu guards the ephemeral port walk (ports.go).
//   - fragTable.mu guards IPv4 reassembly (frag.go, package ipfrag): the
//     fragments held, their buffers and the one clock timer that times
//     them out. A completed datagram is delivered, and an ICMP time
//     exceeded sent, after it is let go.
//   - limitLog.mu guards the logging of limits hit; bufStore.mu the
//     packet buffers the shards' batches share; stamper.mu hands trace
//     events to the sink one at a time.
//   - The IPv4 ID, the connection count (against Config.MaxConnections),
//     the TIME-WAIT record count (against Config.MaxTimeWait) and the
//     counters are atomics.
//
// The lock order: TCPConn.wmu, then portAllocator.mu, then a shard's mu,
// then a listener's mu; Stack.lmu, Stack.rmu, limitLog.mu, bufStore.mu, stamper.mu,
// fragTable.mu and pmtuCache.mu are taken last, with nothing taken under
// them. A goroutine holds at most one shard's mu at a time. So Accept,
// which finds its connection under the listener's mu, lets it go before
// it takes the connection's shard mu to mark it accepted, and closing a
// listener collects its children under its mu, then takes each child's
// shard mu and the listener's mu again, in order, to reset it.
//
// A socket's readiness hook (SetNotify, ready.go; package bsd's poll and
// epoll use it) is called by every wakeup of the socket's waiters, under
// the lock they are signalled under (the shard's mu, the listener's mu or
// UDP's): it must take only locks of its own, never call into the stack,
// and never block.
//
// UDP (udp.go, udpsock.go) and Ping (ping.go) keep tables of their own,
// each under its own lock, never held with mu: a datagram is checked by
// package udp, queued on its socket and the reader woken under the UDP
// table's lock, and a datagram sent, an ICMP error or an echo request is
// built in a buffer of its own and written to the link holding no lock
// of the stack's. ICMP errors the stack sends are rate limited by a token
// bucket (ratelimit.go, RFC 1812 §4.3.2.8).
//
// # ICMP errors and path MTU
//
// A destination unreachable or time exceeded is acted on only when it
// quotes a datagram this stack sent (icmperr.go): a whole IPv4 header from
// the stack's address, the first fragment, TCP or UDP, and the 8 bytes of
// transport header RFC 792 promises; it must name a connection, or a UDP
// socket, and for TCP the quoted sequence number must lie in SND.UNA..SND.MAX
// (RFC 5927 §4.1; the engine checks it). Anything else is dropped and
// counted by reason (ICMPInErrorsBadQuote, ICMPInErrorsBadCode,
// ICMPInErrorsNoSocket, ICMPInErrorsOutOfWindow). A matching error ends
// a connect with the errno Linux gives (ENETUNREACH, EHOSTUNREACH,
// ECONNREFUSED, ...); on an established connection it is a soft error
// (RFC 1122 §4.2.3.9), kept and returned only if the connection then
// times out. A connected UDP socket gets a destination unreachable on its
// next call, as on Linux.
//
// Every packet carries DF, so a "fragmentation needed" (RFC 1191) that
// passes those checks lowers the path MTU for its destination in a cache
// (pmtu.go) of at most 1024 entries (maxPMTUEntries; past it the entry
// nearest expiry goes), each held ten minutes on the stack's clock, as
// Linux's mtu_expires. A reported MTU below 552 counts as 552 (Linux's
// min_pmtu); a 0 from an old router takes RFC 1191's plateau below the
// quoted datagram's length; an MTU no lower than the one in force is
// ignored. The connection quoted lowers its MSS at once and resends what
// no longer fits, without a congestion window cut (tcp.Conn.SetPathMTU);
// new connections to the destination take their MSS from the cache when
// the peer's SYN arrives (tcp.Env.PathMTU); UDP sizes datagrams by
// Stack.pathMTU. Segments merged for segmentation offload follow the MSS,
// since the cut size is that of the segments the engine makes.
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
// about 150 bytes (tcp.TimeWait, in its shard's table of records keyed by
// 4-tuple, expired from their own deadline heap by the shard's clock
// timer), and
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
//
// # Seeing inside
//
// Stack.Snapshot is the stack at one moment as plain values: the socket
// table with each connection's tcp.Info, and Counters, the counters of
// Stats, tcp.Stats and udp.Stats read by reflection into the sections
// netstat -s prints (Ip, Icmp, Tcp, Udp, IpExt, TcpExt) under their MIB or
// Linux names (counters.go), so that a counter added to one of those
// structs needs no list updated. It marshals to JSON and is what serve's
// admin endpoint, `synack ss` and `synack netstat -s` show.
package stack
