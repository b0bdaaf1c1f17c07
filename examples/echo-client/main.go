// Command echo-client is article 004's client on synack: socket, connect
// to port 8000, send "hello-world", recv(1024), print what came back,
// close. It prints what the article's prints:
//
//	hello-world
//
//	go run ./examples/echo-client               # a synack echo server is the peer
//	go run ./examples/echo-client --tun tun0    # as root: the kernel's echo
//	                                            # server at 10.7.0.1:8000 (python3 server.py)
package main

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/synack-net/synack/bsd"
	"github.com/synack-net/synack/examples/internal/rig"
)

func main() { rig.Main("echo-client", nil, run) }

func run(l *rig.Rig, out io.Writer) error {
	if err := l.EchoServer(8000); err != nil {
		return err
	}
	h := l.Host
	address := netip.AddrPortFrom(l.PeerAddr, 8000)
	// 创建 tcp socket: make a TCP socket
	client, err := h.Socket(bsd.AF_INET, bsd.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	// 发起连接: connect (the three-way handshake)
	if err := h.Connect(client, address); err != nil {
		h.Close(client)
		return err
	}
	// 发送数据: send
	if _, err := h.Send(client, []byte("hello-world"), 0); err != nil {
		h.Close(client)
		return err
	}
	// 接受数据: receive
	data := make([]byte, 1024)
	n, err := h.Recv(client, data, 0)
	if err != nil {
		h.Close(client)
		return err
	}
	fmt.Fprintln(out, string(data[:n]))
	// 关闭连接: close (the four-way close starts)
	return h.Close(client)
}
