// Command udp-echo-server is the echo server of article 004 over UDP, to
// set beside the TCP one: no listen, no accept, no connection; one
// socket bound to port 9999 receives each datagram with its sender's
// address (recvfrom) and sends it back there (sendto). It prints a line
// per datagram.
//
//	go run ./examples/udp-echo-server               # a synack peer sends one datagram
//	go run ./examples/udp-echo-server --tun tun0    # as root: the kernel sends (nc -u 10.7.0.2 9999)
//
// -n stops it after that many datagrams (over the pipe, by default, after
// the peer's one).
package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"

	"github.com/synack-net/synack/bsd"
	"github.com/synack-net/synack/examples/internal/rig"
)

var datagrams = 0

func main() { rig.Main("udp-echo-server", flags, serve) }

func flags(fs *flag.FlagSet) {
	fs.IntVar(&datagrams, "n", 0, "datagrams to echo before stopping (0: forever; over the pipe: the peer's one)")
}

func serve(l *rig.Rig, out io.Writer) error {
	h := l.Host
	// 创建 udp socket: SOCK_DGRAM, no connection to make
	server, err := h.Socket(bsd.AF_INET, bsd.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer h.Close(server)
	// 绑定地址: bind; there is nothing to listen for
	if err := h.Bind(server, netip.AddrPortFrom(netip.IPv4Unspecified(), 9999)); err != nil {
		return err
	}
	n := datagrams
	l.UDPClient(9999, "hello-udp") // over the pipe: the peer's; over TUN, nothing
	if l.Peer != nil && n == 0 {
		n = 1
	}
	data := make([]byte, 65535)
	for echoed := 0; n == 0 || echoed < n; echoed++ {
		// 接收数据, 和发送者的地址: a datagram and who sent it
		k, addr, err := h.RecvFrom(server, data, 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%v: %q\n", addr, data[:k])
		// 发送回去: back to that address
		if _, err := h.SendTo(server, data[:k], 0, addr); err != nil {
			return err
		}
	}
	return nil
}
