package bsd

// Linux's values, on every system (consts_linux_test.go checks them
// against golang.org/x/sys/unix).
const (
	AF_INET = 2

	SOCK_STREAM   = 1
	SOCK_DGRAM    = 2
	SOCK_NONBLOCK = 0x800
	SOCK_CLOEXEC  = 0x80000

	IPPROTO_IP  = 0
	IPPROTO_TCP = 6
	IPPROTO_UDP = 17

	IP_MTU_DISCOVER   = 10
	IP_PMTUDISC_DONT  = 0
	IP_PMTUDISC_WANT  = 1
	IP_PMTUDISC_DO    = 2
	IP_PMTUDISC_PROBE = 3

	SOL_SOCKET    = 1
	SO_REUSEADDR  = 2
	SO_TYPE       = 3
	SO_ERROR      = 4
	SO_SNDBUF     = 7
	SO_RCVBUF     = 8
	SO_KEEPALIVE  = 9
	SO_LINGER     = 13
	SO_REUSEPORT  = 15
	SO_ACCEPTCONN = 30
	SO_PROTOCOL   = 38
	SO_DOMAIN     = 39

	TCP_NODELAY      = 1
	TCP_MAXSEG       = 2
	TCP_KEEPIDLE     = 4
	TCP_KEEPINTVL    = 5
	TCP_KEEPCNT      = 6
	TCP_INFO         = 11
	TCP_USER_TIMEOUT = 18

	TCP_NOTSENT_LOWAT = 25

	MSG_OOB      = 0x1
	MSG_PEEK     = 0x2
	MSG_TRUNC    = 0x20
	MSG_DONTWAIT = 0x40
	MSG_EOR      = 0x80
	MSG_WAITALL  = 0x100
	MSG_ERRQUEUE = 0x2000
	MSG_NOSIGNAL = 0x4000
	MSG_MORE     = 0x8000
	MSG_FASTOPEN = 0x20000000

	SHUT_RD   = 0
	SHUT_WR   = 1
	SHUT_RDWR = 2

	POLLIN    = 0x1
	POLLPRI   = 0x2
	POLLOUT   = 0x4
	POLLERR   = 0x8
	POLLHUP   = 0x10
	POLLNVAL  = 0x20
	POLLRDHUP = 0x2000

	EPOLLIN      = 0x1
	EPOLLOUT     = 0x4
	EPOLLERR     = 0x8
	EPOLLHUP     = 0x10
	EPOLLRDHUP   = 0x2000
	EPOLLONESHOT = 1 << 30
	EPOLLET      = 1 << 31

	EPOLL_CTL_ADD = 1
	EPOLL_CTL_DEL = 2
	EPOLL_CTL_MOD = 3

	// SOMAXCONN is Linux's default net.core.somaxconn, Listen's clamp.
	SOMAXCONN = 4096
)

// Linux's defaults and bounds for the buffer options (net.core.rmem_max
// and wmem_max, tcp_rmem[1] and tcp_wmem[1], SOCK_MIN_RCVBUF and
// SOCK_MIN_SNDBUF on a 64-bit kernel).
const (
	rmemMax       = 212992
	wmemMax       = 212992
	tcpRmemDef    = 131072
	tcpWmemDef    = 16384
	udpMemDef     = 212992
	minRcvbuf     = 2304
	minSndbuf     = 4608
	tcpMSSDefault = 536 // TCP_MSS_DEFAULT: what TCP_MAXSEG reports before a connection
)
