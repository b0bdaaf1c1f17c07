// Command echo-server is article 004's echo server on synack: socket,
// SO_REUSEADDR, bind, listen(5), then accept a connection, send back
// what it receives until the client closes, close it and accept the
// next. Like the article's, it prints nothing.
//
//	go run ./examples/echo-server               # a synack peer connects once
//	go run ./examples/echo-server --tun tun0    # as root: the kernel connects
//	                                            # (python3 client.py, nc 10.7.0.2 8000)
//
// -n stops it after that many connections (over the pipe, by default,
// after the peer's one).
package main

import (
	"flag"
	"io"
	"net/netip"

	"github.com/synack-net/synack/bsd"
	"github.com/synack-net/synack/examples/internal/rig"
)

var conns = 0

func main() { rig.Main("echo-server", flags, serve) }

func flags(fs *flag.FlagSet) {
	fs.IntVar(&conns, "n", 0, "connections to serve before stopping (0: forever; over the pipe: the peer's one)")
}

func serve(l *rig.Rig, out io.Writer) error {
	h := l.Host
	address := netip.AddrPortFrom(netip.IPv4Unspecified(), 8000)
	// 创建 tcp socket: make a TCP socket
	server, err := h.Socket(bsd.AF_INET, bsd.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer h.Close(server)
	if err := h.SetsockoptInt(server, bsd.SOL_SOCKET, bsd.SO_REUSEADDR, 1); err != nil {
		return err
	}
	// 绑定地址: bind the address
	if err := h.Bind(server, address); err != nil {
		return err
	}
	// 监听: listen, with a queue of 5
	if err := h.Listen(server, 5); err != nil {
		return err
	}
	n := conns
	l.Clients(8000, 1, "hello-world") // over the pipe: the peer's; over TUN, nothing
	if l.Peer != nil && n == 0 {
		n = 1
	}
	data := make([]byte, 1024)
	for served := 0; n == 0 || served < n; served++ {
		// 获取连接: take a connection off the accept queue
		conn, _, err := h.Accept(server)
		if err != nil {
			return err
		}
		for {
			// 读取数据: read
			k, err := h.Recv(conn, data, 0)
			if err != nil {
				h.Close(conn)
				return err
			}
			// 发送数据给客户端: send it back (sendall)
			if err := sendall(h, conn, data[:k]); err != nil {
				h.Close(conn)
				return err
			}
			if k == 0 {
				// 关闭连接: the client closed; so do we
				h.Close(conn)
				break
			}
		}
	}
	return nil
}

// sendall is Python's socket.sendall: send until every byte is taken.
func sendall(h *bsd.Host, fd int, p []byte) error {
	for len(p) > 0 {
		n, err := h.Send(fd, p, 0)
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}
