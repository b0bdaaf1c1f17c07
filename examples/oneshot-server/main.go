// Command oneshot-server is article 000's server on synack: socket,
// SO_REUSEADDR, bind to port 8080, listen(1), accept one connection,
// recv(1024), close it and the listening socket. Like the article's, it
// answers nothing and prints nothing: its client's recv gets the end of
// the stream.
//
//	go run ./examples/oneshot-server               # a synack peer connects
//	go run ./examples/oneshot-server --tun tun0    # as root: the kernel connects
package main

import (
	"io"
	"net/netip"

	"github.com/synack-net/synack/bsd"
	"github.com/synack-net/synack/examples/internal/rig"
)

func main() { rig.Main("oneshot-server", nil, run) }

func run(l *rig.Rig, out io.Writer) error {
	h := l.Host
	// 指定协议: a TCP socket
	server, err := h.Socket(bsd.AF_INET, bsd.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer h.Close(server)
	// 让端口可以重复使用: let the port be reused (over TIME-WAIT)
	if err := h.SetsockoptInt(server, bsd.SOL_SOCKET, bsd.SO_REUSEADDR, 1); err != nil {
		return err
	}
	// 绑定ip和端口: bind 0.0.0.0:8080
	if err := h.Bind(server, netip.MustParseAddrPort("0.0.0.0:8080")); err != nil {
		return err
	}
	// 监听: listen
	if err := h.Listen(server, 1); err != nil {
		return err
	}
	l.Clients(8080, 1, "I am client")
	// 等待消息: wait for a connection
	clientsocket, _, err := h.Accept(server)
	if err != nil {
		return err
	}
	// 接收消息: receive
	data := make([]byte, 1024)
	if _, err := h.Recv(clientsocket, data, 0); err != nil {
		h.Close(clientsocket)
		return err
	}
	// 关闭socket: close both
	return h.Close(clientsocket)
}
