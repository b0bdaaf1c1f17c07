// Command short-conn is article 001's short-connection client on synack:
// for each line it reads, it makes a TCP socket, connects, sends the
// line, receives the answer, prints it and closes: 建立连接——数据传输——
// 关闭连接, again for the next line. At the end it prints what that cost
// its stack: one three-way handshake per message, and the segments.
// Compare with long-conn, which sends the same lines on one connection.
//
//	printf 'one\ntwo\nthree\n' | go run ./examples/short-conn
//	printf 'one\ntwo\nthree\n' | go run ./examples/short-conn --tun tun0   # as root: the kernel's echo server at 10.7.0.1:9999
//
// The article encodes the text as GBK; Go has no GBK in its standard
// library, so this sends UTF-8, as the terminal gives it.
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

func main() { rig.Main("short-conn", nil, run) }

func run(l *rig.Rig, out io.Writer) error {
	if err := l.EchoServer(9999); err != nil {
		return err
	}
	h := l.Host
	// 目标信息: the server
	tcpIPPort := netip.AddrPortFrom(l.PeerAddr, 9999)
	input := bufio.NewScanner(stdin)
	messages := 0
	for {
		// 3、发送数据: what to send
		fmt.Fprint(out, "请输入要发送的内容:")
		if !input.Scan() {
			fmt.Fprintln(out)
			break
		}
		sendData := input.Text()
		// 1、创建一个tcp套接字: a socket for this message only
		tcpC, err := h.Socket(bsd.AF_INET, bsd.SOCK_STREAM, 0)
		if err != nil {
			return err
		}
		if err := exchange(h, tcpC, tcpIPPort, sendData, out); err != nil {
			h.Close(tcpC)
			return err
		}
		// 6、关闭连接: close, and the next message opens another
		if err := h.Close(tcpC); err != nil {
			return err
		}
		messages++
	}
	if err := l.Settle(); err != nil {
		return err
	}
	c := l.Cost()
	fmt.Fprintf(out, "short connections: messages %d, three-way handshakes %d, segments sent %d, received %d\n",
		messages, c.Handshakes, c.SegsOut, c.SegsIn)
	return nil
}

// exchange is steps 2 to 5: connect, send, receive, print.
func exchange(h *bsd.Host, tcpC int, server netip.AddrPort, sendData string, out io.Writer) error {
	// 2、连接服务器: connect (the three-way handshake)
	if err := h.Connect(tcpC, server); err != nil {
		return err
	}
	// 4、send 发送字节流信息
	if _, err := h.Send(tcpC, []byte(sendData), 0); err != nil {
		return err
	}
	// 5、接收信息: receive, and print
	recvData := make([]byte, 1024)
	n, err := h.Recv(tcpC, recvData, 0)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, string(recvData[:n]))
	return nil
}
