package bsd

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
)

// TestUDPSendToRecvFrom: an unconnected pair, MSG_PEEK, truncation, Poll.
func TestUDPSendToRecvFrom(t *testing.T) {
	h := newHosts(t)
	srv, _ := h.s.Socket(AF_INET, SOCK_DGRAM, 0)
	must(t, h.s.Bind(srv, netip.AddrPortFrom(anyIP, 53)))
	if ap, _ := h.s.Getsockname(srv); ap != netip.AddrPortFrom(anyIP, 53) {
		t.Errorf("getsockname %v", ap)
	}
	cli, _ := h.c.Socket(AF_INET, SOCK_DGRAM, 0)
	n, err := h.c.SendTo(cli, []byte("query"), 0, netip.AddrPortFrom(serverIP, 53))
	if n != 5 || err != nil {
		t.Fatalf("sendto = %d, %v", n, err)
	}
	local, _ := h.c.Getsockname(cli)
	if local.Port() == 0 {
		t.Error("sendto did not bind the socket")
	}
	pf := []PollFd{{Fd: srv, Events: POLLIN}}
	h.s.Poll(pf, -1) // waits for the datagram
	pf[0].Events |= POLLOUT
	if h.s.Poll(pf, 0); pf[0].Revents != POLLIN|POLLOUT {
		t.Errorf("revents %#x, want POLLIN|POLLOUT", pf[0].Revents)
	}
	buf := make([]byte, 64)
	n, from, err := h.s.RecvFrom(srv, buf[:3], MSG_PEEK)
	if err != nil || string(buf[:n]) != "que" || from.Port() != local.Port() {
		t.Fatalf("peek = %q from %v, %v", buf[:n], from, err)
	}
	if n, _, _ := h.s.RecvFrom(srv, buf[:3], MSG_PEEK|MSG_TRUNC); n != 5 {
		t.Errorf("MSG_TRUNC gave %d, want the datagram's length 5", n)
	}
	n, _, _ = h.s.RecvFrom(srv, buf[:3], 0)
	if string(buf[:n]) != "que" {
		t.Fatalf("short recvfrom = %q", buf[:n])
	}
	_, _, err = h.s.RecvFrom(srv, buf, MSG_DONTWAIT)
	wantErr(t, "the rest of a truncated datagram is gone", err, syscall.EAGAIN)
	_, err = h.s.SendTo(srv, []byte("answer"), 0, from)
	must(t, err)
	n, from, err = h.c.RecvFrom(cli, buf, 0)
	if err != nil || string(buf[:n]) != "answer" || from != netip.AddrPortFrom(serverIP, 53) {
		t.Fatalf("reply = %q from %v, %v", buf[:n], from, err)
	}
	// A second bind of the port is EADDRINUSE.
	other, _ := h.s.Socket(AF_INET, SOCK_DGRAM, 0)
	wantErr(t, "bind a taken UDP port", h.s.Bind(other, netip.AddrPortFrom(anyIP, 53)), syscall.EADDRINUSE)
}

// TestUDPConnected: send and recv on a connected socket, and an ICMP
// port unreachable reported as ECONNREFUSED on the next call (and as
// POLLERR and SO_ERROR).
func TestUDPConnected(t *testing.T) {
	h := newHosts(t)
	srv, _ := h.s.Socket(AF_INET, SOCK_DGRAM, 0)
	must(t, h.s.Bind(srv, netip.AddrPortFrom(anyIP, 7)))
	cli, _ := h.c.Socket(AF_INET, SOCK_DGRAM, 0)
	must(t, h.c.Bind(cli, netip.AddrPortFrom(anyIP, 4000)))
	must(t, h.c.Connect(cli, netip.AddrPortFrom(serverIP, 7)))
	if p, _ := h.c.Getpeername(cli); p != netip.AddrPortFrom(serverIP, 7) {
		t.Errorf("getpeername %v", p)
	}
	if l, _ := h.c.Getsockname(cli); l.Port() != 4000 {
		t.Errorf("connect moved the socket off its port: %v", l)
	}
	_, err := h.c.Send(cli, []byte("ping"), 0)
	must(t, err)
	buf := make([]byte, 16)
	n, from, err := h.s.RecvFrom(srv, buf, 0)
	if err != nil || string(buf[:n]) != "ping" || from != netip.AddrPortFrom(clientIP, 4000) {
		t.Fatalf("server got %q from %v, %v", buf[:n], from, err)
	}
	_, err = h.s.SendTo(srv, []byte("pong"), 0, from)
	must(t, err)
	if n, err := h.c.Recv(cli, buf, 0); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("client got %q, %v", buf[:n], err)
	}

	// Nobody on port 8: the ICMP error comes back to the connected socket.
	dead, _ := h.c.Socket(AF_INET, SOCK_DGRAM, 0)
	must(t, h.c.Connect(dead, netip.AddrPortFrom(serverIP, 8)))
	_, err = h.c.Send(dead, []byte("anyone?"), 0)
	must(t, err)
	pf := []PollFd{{Fd: dead, Events: POLLIN}}
	h.c.Poll(pf, -1)
	if pf[0].Revents&POLLERR == 0 {
		t.Errorf("revents %#x: no POLLERR after port unreachable", pf[0].Revents)
	}
	if e, _ := h.c.GetsockoptInt(dead, SOL_SOCKET, SO_ERROR); syscall.Errno(e) != syscall.ECONNREFUSED {
		t.Errorf("SO_ERROR = %v, want ECONNREFUSED", syscall.Errno(e))
	}
	_, err = h.c.Send(dead, []byte("anyone?"), 0)
	must(t, err)
	_, err = h.c.Recv(dead, buf, 0)
	wantErr(t, "recv after port unreachable", err, syscall.ECONNREFUSED)
	must(t, h.c.Shutdown(cli, SHUT_WR))
	_, err = h.c.Send(cli, []byte("x"), 0)
	wantErr(t, "send after SHUT_WR", err, syscall.EPIPE)
}

// TestUDPConnectedSendToOther: sendto with an address on a connected UDP
// socket sends to that address, as Linux does (checked with Python's
// socket module on the kernel: EISCONN is for stream sockets only); the
// socket stays connected, so the other address's answer does not reach it.
func TestUDPConnectedSendToOther(t *testing.T) {
	h := newHosts(t)
	peer, _ := h.s.Socket(AF_INET, SOCK_DGRAM, 0)
	must(t, h.s.Bind(peer, netip.AddrPortFrom(anyIP, 7)))
	other, _ := h.s.Socket(AF_INET, SOCK_DGRAM, 0)
	must(t, h.s.Bind(other, netip.AddrPortFrom(anyIP, 9)))
	cli, _ := h.c.Socket(AF_INET, SOCK_DGRAM, 0)
	must(t, h.c.Bind(cli, netip.AddrPortFrom(anyIP, 4000)))
	must(t, h.c.Connect(cli, netip.AddrPortFrom(serverIP, 7)))
	n, err := h.c.SendTo(cli, []byte("elsewhere"), 0, netip.AddrPortFrom(serverIP, 9))
	if n != 9 || err != nil {
		t.Fatalf("sendto another address on a connected socket = %d, %v; want 9, nil", n, err)
	}
	buf := make([]byte, 16)
	n, from, err := h.s.RecvFrom(other, buf, 0)
	if err != nil || string(buf[:n]) != "elsewhere" || from != netip.AddrPortFrom(clientIP, 4000) {
		t.Fatalf("port 9 got %q from %v, %v", buf[:n], from, err)
	}
	h.settle(t)
	if _, _, err := h.s.RecvFrom(peer, buf, MSG_DONTWAIT); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("the connected peer got a datagram sent elsewhere (err %v)", err)
	}
	// Still connected: a plain send goes to the peer, and the other
	// address's answer is not for this socket.
	_, err = h.c.Send(cli, []byte("to peer"), 0)
	must(t, err)
	if n, _, err := h.s.RecvFrom(peer, buf, 0); err != nil || string(buf[:n]) != "to peer" {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
	if p, _ := h.c.Getpeername(cli); p != netip.AddrPortFrom(serverIP, 7) {
		t.Errorf("getpeername after sendto = %v, want the peer still", p)
	}
	_, err = h.s.SendTo(other, []byte("answer"), 0, from)
	must(t, err)
	h.settle(t)
	if _, _, err := h.c.RecvFrom(cli, buf, MSG_DONTWAIT); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("a connected socket took a datagram from another address (err %v)", err)
	}
}
