// Command udp-echo-client is the client of article 004 over UDP, to set
// beside the TCP one: no connect, no handshake; it sends "hello-udp" in
// one datagram to port 9999 (sendto), receives the answer (recvfrom),
// prints it and closes. Then it prints what that cost its stack: one
// datagram each way, and no TCP segment at all.
//
//	go run ./examples/udp-echo-client               # a synack UDP echo server is the peer
//	go run ./examples/udp-echo-client --tun tun0    # as root: the kernel's server at 10.7.0.1:9999
package main

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/synack-net/synack/bsd"
	"github.com/synack-net/synack/examples/internal/rig"
)

func main() { rig.Main("udp-echo-client", nil, run) }

func run(l *rig.Rig, out io.Writer) error {
	if err := l.UDPEchoServer(9999); err != nil {
		return err
	}
	h := l.Host
	address := netip.AddrPortFrom(l.PeerAddr, 9999)
	client, err := h.Socket(bsd.AF_INET, bsd.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer h.Close(client)
	// 发送数据: one datagram; the stack binds an ephemeral port for it
	if _, err := h.SendTo(client, []byte("hello-udp"), 0, address); err != nil {
		return err
	}
	// 接受数据: the answer, and who sent it
	data := make([]byte, 65535)
	n, from, err := h.RecvFrom(client, data, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s (from %v)\n", data[:n], from)
	if err := h.Close(client); err != nil {
		return err
	}
	if err := l.Settle(); err != nil {
		return err
	}
	c := l.Cost()
	fmt.Fprintf(out, "UDP: datagrams sent %d, received %d; TCP: three-way handshakes %d, segments sent %d, received %d\n",
		c.DatagramsOut, c.DatagramsIn, c.Handshakes, c.SegsOut, c.SegsIn)
	return nil
}
