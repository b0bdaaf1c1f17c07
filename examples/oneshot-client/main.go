// Command oneshot-client is article 000's client on synack: socket,
// connect, send "I am client", recv(1024), print what came back as text,
// wait a second, close. Against article 000's server, which answers
// nothing, it prints an empty line, as the article's does. (The article
// connects to port 8081 where its server listens on 8080; this one uses
// 8080.)
//
//	go run ./examples/oneshot-client               # a synack one-shot server is the peer
//	go run ./examples/oneshot-client --tun tun0    # as root: the kernel's server at 10.7.0.1:8080
package main

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/synack-net/synack/bsd"
	"github.com/synack-net/synack/examples/internal/rig"
)

func main() { rig.Main("oneshot-client", nil, run) }

func run(l *rig.Rig, out io.Writer) error {
	if err := l.OneShotServer(8080); err != nil {
		return err
	}
	h := l.Host
	addr := netip.AddrPortFrom(l.PeerAddr, 8080)
	client, err := h.Socket(bsd.AF_INET, bsd.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer h.Close(client)
	// 连接server: connect
	if err := h.Connect(client, addr); err != nil {
		return err
	}
	// 向server发送数据: send
	if _, err := h.Send(client, []byte("I am client"), 0); err != nil {
		return err
	}
	// 接收server返回的数据: receive what the server returns
	revcdata := make([]byte, 1024)
	n, err := h.Recv(client, revcdata, 0)
	if err != nil {
		return err
	}
	// 收到的数据都是bytes类型: bytes, printed as text
	fmt.Fprintln(out, string(revcdata[:n]))
	sleep(l, time.Second)
	return nil
}

// sleep is the article's time.sleep(1): over TUN, real time; over the
// pipe, where the clock is virtual and stands still, it does not wait.
func sleep(l *rig.Rig, d time.Duration) {
	if l.Peer == nil {
		time.Sleep(d)
	}
}
