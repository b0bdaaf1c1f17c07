// Package bsd is descriptor-style sockets on a synack stack: socket,
// bind, listen, accept, connect, send, recv, shutdown, close, the socket
// options, poll and an epoll-like interest set, with the errno values and
// the behaviour Linux's man pages give, so that a program written the way
// the articles write theirs (and the way C or Python write them) runs on
// synack unchanged in shape.
//
// Layer: above package stack, beside the root package's net.Conn API. It
// knows sockets, descriptors and errno; it does not know TCP's internals
// (states, sequence numbers, timers): it asks the stack's sockets for
// their readiness (stack.Readiness) and calls their non-blocking attempts
// (TryRead, TryWrite, TryAccept). No goroutine runs per socket: each socket
// carries a hook the stack calls when its readiness may have changed, which
// wakes the pollers waiting on it; blocking calls are a non-blocking
// attempt and a wait on that hook.
//
// A Host is one descriptor table on one stack, as a process is on Linux:
// descriptors are small integers from 3 up, the lowest free one first.
// Constants (AF_INET, SOCK_STREAM, SO_REUSEADDR, MSG_PEEK, POLLIN, ...)
// have Linux's values on every system, and errors are syscall.Errno values
// (errors.Is(err, syscall.ECONNREFUSED)), as Linux's calls return them.
//
// The behaviour was checked against Linux's kernel (Python's socket
// module on loopback) where the man pages leave room: send on a TCP
// socket that is not connected is EPIPE, not the ENOTCONN send(2) names;
// a fresh TCP socket polls POLLOUT|POLLHUP; after a reset the first send
// is ECONNRESET and the next EPIPE, recv then returns 0; a non-blocking
// connect's second call after success returns 0 and the third EISCONN,
// after a failure already read by SO_ERROR it is ECONNABORTED; after
// SHUT_RD the queued text is still read, then recv returns 0, but a
// pending reset is reported first (ECONNRESET, then 0), and shutdown of a
// reset connection is ENOTCONN; reading a struct option (SO_LINGER,
// TCP_INFO) as an int gets its first four bytes; a negative SO_RCVBUF is
// taken as the largest, a negative l_linger as a very long linger (not a
// reset), and SO_LINGER with l_onoff 0 keeps the time set before; TCP's
// send ignores flags it has no use for (MSG_MORE, MSG_EOR, MSG_PEEK,
// unknown bits), recv's MSG_OOB is EINVAL with no urgent byte and
// MSG_ERRQUEUE EAGAIN; UDP refuses MSG_OOB on send and ignores it on
// receive; UDP sockets that all set SO_REUSEADDR share a port, the last
// bound receiving.
//
// Where it differs from Linux, and why:
//   - Addresses are netip.AddrPort, not sockaddr structures; only AF_INET.
//   - Listen's backlog is clamped as Linux clamps it: a value above
//     somaxconn (4096) or negative (Linux compares it unsigned) becomes
//     4096; the accept queue then holds backlog+1 connections, as Linux's
//     (its "full" test is "more than backlog"), so a backlog of 0 still
//     takes one. A second Listen keeps the first backlog (Linux changes it).
//   - SO_REUSEPORT is Linux's: sockets that all set it before Bind share
//     a port (a socket without it, bound or listening, and such sockets
//     exclude each other: EADDRINUSE). Listening, they are a group of the
//     stack (stack.ListenOptions): each new connection goes to the member
//     its 4-tuple hashes to, so one client's 4-tuple always reaches the
//     same listener and many clients spread over all; closing one resets
//     the connections it has not accepted and the rest serve on. UDP
//     sockets with it share a port the same way: a datagram goes to the
//     one connected to its source, else to the one its 4-tuple hashes
//     to. Linux also wants the same user for every socket; a Host is one
//     process. Linux lets a wildcard and a specific address share a port
//     (the specific wins); a stack has one address, so members must be
//     bound alike. Each socket's queues keep their bounds: a group adds
//     nothing a peer can grow. Linux's SO_REUSEPORT over a connection or
//     TIME-WAIT needs the old socket to have had it too; so does this.
//   - UDP sockets that all set SO_REUSEADDR share a port, as on Linux
//     (the last bound takes each datagram no connected member takes); a
//     socket with SO_REUSEPORT alone cannot join them, as on Linux. As
//     with SO_REUSEPORT, members must be bound alike: Linux also lets
//     0.0.0.0 and the host's own address share a port; here that is
//     EADDRINUSE.
//   - SO_REUSEADDR (TCP): without it, Bind fails with EADDRINUSE while any
//     connection or TIME-WAIT record of the stack has the port as its
//     local port; with it, while a listener holds the port or a
//     connection (live, or closed and still in TIME-WAIT) of one of this
//     Host's sockets that did not have it, as Linux wants both sockets to
//     have it. Connections the root package's API made count as having
//     it (Go sets it on its listeners).
//   - TCP_NOTSENT_LOWAT bounds the bytes written to a connection and not
//     yet sent, as Linux's: send blocks (EAGAIN when non-blocking) while
//     that many are unsent and takes what fits under the bound; POLLOUT,
//     like a blocked send's wakeup, waits until fewer than half of them
//     are (Linux's tcp_poll and sk_stream_write_space). Accepted sockets
//     inherit their listener's, as on Linux. 0, the default, is no bound
//     (Linux's default, the sysctl's UINT_MAX, also reads back as 0); a
//     negative value is EINVAL, where Linux takes it unsigned, as a huge
//     bound.
//   - TCP_MAXSEG set before connect is announced in the SYN and bounds
//     the connection's segments, as Linux's; on a listener it bounds the
//     segments of the connections it accepts, but their SYN,ACK has
//     already announced the stack's MSS (Linux announces the smaller).
//   - Connecting a UDP socket that is already bound closes and reopens it
//     on the same port. A UDP socket cannot be disconnected (Linux's
//     connect with AF_UNSPEC): addresses are netip.AddrPort. Connecting
//     it to port 0 or to 0.0.0.0 is EINVAL; Linux accepts both (port 0:
//     the socket is connected, getpeername is ENOTCONN and send goes to
//     port 0; 0.0.0.0: the local host). A TCP connect to port 0 or to
//     0.0.0.0 is ECONNREFUSED (Linux takes 0.0.0.0 as the local host).
//   - SO_LINGER above 0 waits at most 32,766 s (the stack's bound; a
//     negative l_linger waits that long, and reads back as set where
//     Linux reads a truncated huge value); when the time runs out, Close
//     returns EAGAIN (EWOULDBLOCK, as the BSDs') where Linux returns 0,
//     and the close goes on in the background as on Linux.
//   - Flags: there is no urgent data, corking nor Fast Open. TCP's send
//     with MSG_OOB or MSG_FASTOPEN on a connected socket is EOPNOTSUPP
//     (Linux sends an urgent byte, or opens with data: EISCONN when
//     connected); on one that is not, it is EPIPE like any send (Linux's
//     MSG_FASTOPEN there tries to open the connection); MSG_MORE is
//     ignored, the bytes sent at once (Linux holds a partial segment
//     until a send without it). UDP's send with MSG_MORE is EOPNOTSUPP
//     (Linux joins the sends into one datagram). TCP's recv with
//     MSG_TRUNC reads the bytes into p (Linux discards them uncopied).
//   - TCP_INFO has the fields synack keeps (TCPInfo). Retransmits and
//     Backoff are one count here, the RTO's expirations since new data
//     was acknowledged (Linux resets backoff on an RTT sample instead);
//     Last_data_recv is the time since the last segment, data or not
//     (Linux's counts data alone), so it equals Last_ack_recv.
//   - SIGPIPE does not exist here: MSG_NOSIGNAL is accepted and changes
//     nothing, and a send after a reset is EPIPE.
package bsd
