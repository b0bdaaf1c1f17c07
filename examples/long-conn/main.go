// Command long-conn is article 001's long-connection client on synack:
// one TCP connection, and while True: read a line, send it, receive the
// answer, print it; it closes when the input ends: 建立连接——数据传输…
// (保持连接)…数据传输——关闭连接. At the end it prints what that cost its
// stack: one three-way handshake, whatever the number of messages, and
// the segments. Compare with short-conn.
//
//	printf 'one\ntwo\nthree\n' | go run ./examples/long-conn
//	printf 'one\ntwo\nthree\n' | go run ./examples/long-conn --tun tun0   # as root: the kernel's echo server at 10.7.0.1:9999
package main

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/synack-net/synack/bsd"
	"github.com/synack-net/synack/examples/internal/rig"
)

// stdin is where the lines come from (a test sets it).
var stdin io.Reader = os.Stdin

func main() { rig.Main("long-conn", nil, run) }

func run(l *rig.Rig, out io.Writer) error {
	if err := l.EchoServer(9999); err != nil {
		return err
	}
	h := l.Host
	tcpIPPort := netip.AddrPortFrom(l.PeerAddr, 9999)
	// 创建一个tcp套接字, 连接服务器: one socket, one handshake
	tcpC, err := h.Socket(bsd.AF_INET, bsd.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	if err := h.Connect(tcpC, tcpIPPort); err != nil {
		h.Close(tcpC)
		return err
	}
	input := bufio.NewScanner(stdin)
	messages := 0
	recvData := make([]byte, 1024)
	for { // while True: the connection stays open
		fmt.Fprint(out, "请输入要发送的内容:")
		if !input.Scan() {
			fmt.Fprintln(out)
			break
		}
		if _, err := h.Send(tcpC, []byte(input.Text()), 0); err != nil {
			h.Close(tcpC)
			return err
		}
		n, err := h.Recv(tcpC, recvData, 0)
		if err != nil {
			h.Close(tcpC)
			return err
		}
		fmt.Fprintln(out, string(recvData[:n]))
		messages++
	}
	// 关闭连接: the client ends the connection
	if err := h.Close(tcpC); err != nil {
		return err
	}
	if err := l.Settle(); err != nil {
		return err
	}
	c := l.Cost()
	fmt.Fprintf(out, "long connection: messages %d, three-way handshakes %d, segments sent %d, received %d\n",
		messages, c.Handshakes, c.SegsOut, c.SegsIn)
	return nil
}
