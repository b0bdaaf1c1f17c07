package bsd

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
)

// TestNotSentLowatOption: TCP_NOTSENT_LOWAT reads back 0 by default and
// then as set; a negative value is EINVAL and UDP has no such option; an
// accepted socket inherits its listener's. With the bound set and the
// peer not reading, a non-blocking send stops with EAGAIN once the bound
// is unsent, and poll reports no POLLOUT; when the peer reads, the data
// goes, a poll waiting for POLLOUT returns with it, and the bytes arrive
// intact.
func TestNotSentLowatOption(t *testing.T) {
	const L = 16 << 10
	h := newHosts(t)
	lfd, _ := h.s.Socket(AF_INET, SOCK_STREAM, 0)
	if v, err := h.s.GetsockoptInt(lfd, IPPROTO_TCP, TCP_NOTSENT_LOWAT); v != 0 || err != nil {
		t.Fatalf("default TCP_NOTSENT_LOWAT = %d, %v; want 0, nil", v, err)
	}
	wantErr(t, "TCP_NOTSENT_LOWAT -1", h.s.SetsockoptInt(lfd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, -1), syscall.EINVAL)
	ufd, _ := h.s.Socket(AF_INET, SOCK_DGRAM, 0)
	wantErr(t, "UDP TCP_NOTSENT_LOWAT", h.s.SetsockoptInt(ufd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, L), syscall.ENOPROTOOPT)
	must(t, h.s.Setsockopt(lfd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, []byte{0, L >> 8, 0, 0})) // L, little-endian
	must(t, h.s.Bind(lfd, netip.AddrPortFrom(anyIP, 7)))
	must(t, h.s.Listen(lfd, 1))
	cfd, sfd := h.connected(t, lfd, 7)
	if v, _ := h.s.GetsockoptInt(sfd, IPPROTO_TCP, TCP_NOTSENT_LOWAT); v != L {
		t.Fatalf("accepted socket's TCP_NOTSENT_LOWAT = %d, want %d (its listener's)", v, L)
	}
	s, _ := h.s.get(sfd)
	if v := s.conn.Info().TCP.NotSentLowat; v != L {
		t.Fatalf("accepted connection's bound %d, want %d", v, L)
	}
	must(t, h.c.SetsockoptInt(cfd, SOL_SOCKET, SO_RCVBUF, 16<<10)) // a small window, which the sender fills

	data := make([]byte, 256<<10)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	sent := 0
	for {
		h.settle(t)
		n, err := h.s.Send(sfd, data[sent:], MSG_DONTWAIT)
		sent += n
		if n == 0 {
			wantErr(t, "send with the bound unsent", err, syscall.EAGAIN)
			break
		}
		must(t, err)
	}
	if u := s.conn.Info().TCP.NotSent; u != L {
		t.Fatalf("send stopped with %d unsent, want the bound %d", u, L)
	}
	pf := []PollFd{{Fd: sfd, Events: POLLOUT}}
	if n, _ := h.s.Poll(pf, 0); n != 0 || pf[0].Revents != 0 {
		t.Fatalf("poll with the bound unsent = %d, revents %#x; want no POLLOUT", n, pf[0].Revents)
	}

	polled := make(chan error, 1)
	go func() {
		pf := []PollFd{{Fd: sfd, Events: POLLOUT}}
		n, err := h.s.Poll(pf, -1)
		if err == nil && (n != 1 || pf[0].Revents != POLLOUT) {
			err = errors.New("poll returned without POLLOUT")
		}
		polled <- err
	}()
	got := make(chan []byte, 1)
	read := make(chan error, 1)
	go func() {
		b := make([]byte, sent)
		n, err := h.c.Recv(cfd, b, MSG_WAITALL)
		got <- b[:n]
		read <- err
	}()
	must(t, h.runUntil(t, read))
	if b := <-got; !bytes.Equal(b, data[:sent]) {
		t.Fatalf("read %d bytes, not the %d sent", len(b), sent)
	}
	must(t, h.runUntil(t, polled))
	if u := s.conn.Info().TCP.NotSent; 2*u >= L {
		t.Fatalf("POLLOUT with %d unsent, bound %d", u, L)
	}
}
