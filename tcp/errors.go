package tcp

import (
	"errors"
	"syscall"
)

// The errors a connection ends with. They are the system's error numbers, so
// errors.Is(err, syscall.ECONNRESET) and friends hold at every layer above.
var (
	// ErrConnectionRefused: the peer answered the SYN with a RST (RFC 9293 §3.10.7.3).
	ErrConnectionRefused error = syscall.ECONNREFUSED
	// ErrConnectionReset: the peer reset a synchronized connection (§3.10.7.4).
	ErrConnectionReset error = syscall.ECONNRESET
	// ErrTimeout: the peer stopped answering: the SYN or data was retransmitted, or zero-window or
	// keepalive probes were sent, the allowed number of times, or for the user timeout (RFC 5482).
	ErrTimeout error = syscall.ETIMEDOUT
	// ErrConnectionAborted: the local user aborted the connection.
	ErrConnectionAborted error = syscall.ECONNABORTED
	// ErrClosing: a send after the local side closed its direction ("connection closing", §3.10.2).
	ErrClosing error = syscall.EPIPE
	// ErrNotConnected: the call needs a connection that does not exist yet.
	ErrNotConnected error = syscall.ENOTCONN
)

// ErrWouldBlock is returned by Read and Write when the call cannot make
// progress now; the caller waits for EventReadable or EventWritable.
var ErrWouldBlock = errors.New("operation would block")
