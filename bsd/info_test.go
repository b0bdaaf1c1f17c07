package bsd

import (
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// advanceUntil moves the virtual clock from timer to timer, each time the
// pipe is quiet, until cond holds (at most 50 timers).
func (h *hosts) advanceUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 50 {
		h.settle(t)
		if cond() {
			return
		}
		next, ok := h.clk.Next()
		if !ok {
			break
		}
		h.clk.AdvanceTo(next)
	}
	t.Fatalf("no timer made %s", what)
}

// TestTCPInfoAfterTimeout: after two retransmission timeouts TCP_INFO
// reports them as Linux does: retransmits and backoff 2, the Loss state,
// a slow-start threshold in segments (infinite before), and the time
// since the last segment arrived in milliseconds.
func TestTCPInfoAfterTimeout(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 1)
	cfd, _ := h.connected(t, lfd, 7)
	h.settle(t)
	t0 := h.clk.Now() // the client's last segment in: the SYN,ACK (the clock is frozen)
	ti, err := h.c.GetsockoptTCPInfo(cfd, IPPROTO_TCP, TCP_INFO)
	must(t, err)
	if ti.Retransmits != 0 || ti.Backoff != 0 || ti.Probes != 0 || ti.Snd_ssthresh != infiniteSsthresh || ti.Last_data_recv != 0 {
		t.Errorf("fresh connection's TCP_INFO %+v", ti)
	}
	h.b.Attach(nil) // the server hears nothing more
	must(t, h.c.SetsockoptInt(cfd, IPPROTO_TCP, TCP_NODELAY, 1))
	_, err = h.c.Send(cfd, []byte("lost"), 0)
	must(t, err)
	h.advanceUntil(t, "two RTOs", func() bool {
		ti, err = h.c.GetsockoptTCPInfo(cfd, IPPROTO_TCP, TCP_INFO)
		must(t, err)
		return ti.Backoff >= 2
	})
	c, _ := h.c.get(cfd)
	in := c.conn.Info().TCP
	wantMs := uint32(h.clk.Now().Sub(t0) / time.Millisecond)
	if ti.Retransmits != 2 || ti.Backoff != 2 || ti.Total_retrans < 2 || ti.Ca_state != 4 || ti.Probes != 0 {
		t.Errorf("after two RTOs: retransmits %d backoff %d total_retrans %d ca_state %d probes %d; want 2 2 >=2 (a tail loss probe may add one) 4 0",
			ti.Retransmits, ti.Backoff, ti.Total_retrans, ti.Ca_state, ti.Probes)
	}
	if in.Ssthresh == 0 || ti.Snd_ssthresh != uint32(in.Ssthresh/in.MSS) {
		t.Errorf("snd_ssthresh %d, want %d bytes / %d (segments)", ti.Snd_ssthresh, in.Ssthresh, in.MSS)
	}
	if wantMs == 0 || ti.Last_data_recv != wantMs || ti.Last_ack_recv != wantMs {
		t.Errorf("last_data_recv %d, last_ack_recv %d; want %d ms", ti.Last_data_recv, ti.Last_ack_recv, wantMs)
	}
	if v, _ := h.c.GetsockoptInt(cfd, IPPROTO_TCP, TCP_INFO); v != 1|4<<8|2<<16 {
		t.Errorf("TCP_INFO as an int %#x, want %#x (state, ca_state, retransmits, probes)", v, 1|4<<8|2<<16)
	}
}

// TestKeepaliveProbesTimeout: TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT
// reach the connection; unanswered probes go out at idle, then every
// interval, TCP_INFO counting them, and after the count the connection
// fails with ETIMEDOUT.
func TestKeepaliveProbesTimeout(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 1)
	cfd, err := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	must(t, h.c.SetsockoptInt(cfd, SOL_SOCKET, SO_KEEPALIVE, 1))
	must(t, h.c.SetsockoptInt(cfd, IPPROTO_TCP, TCP_KEEPIDLE, 10))
	must(t, h.c.SetsockoptInt(cfd, IPPROTO_TCP, TCP_KEEPINTVL, 3))
	must(t, h.c.SetsockoptInt(cfd, IPPROTO_TCP, TCP_KEEPCNT, 2))
	must(t, h.c.Connect(cfd, netip.AddrPortFrom(serverIP, 7)))
	_, _, err = h.s.Accept(lfd)
	must(t, err)
	c, _ := h.c.get(cfd)
	if k := c.conn.KeepAlive(); !k.Enable || k.Idle != 10*time.Second || k.Interval != 3*time.Second || k.Count != 2 {
		t.Errorf("connection's keepalive %+v, want on, 10s, 3s, 2", k)
	}
	h.settle(t)
	t0 := h.clk.Now()
	h.b.Attach(nil) // the probes go unanswered
	for i, at := range []time.Duration{10 * time.Second, 13 * time.Second} {
		var ti *TCPInfo
		h.advanceUntil(t, "a keepalive probe", func() bool {
			ti, _ = h.c.GetsockoptTCPInfo(cfd, IPPROTO_TCP, TCP_INFO)
			return int(ti.Probes) > i
		})
		if int(ti.Probes) != i+1 || h.clk.Now().Sub(t0) != at {
			t.Errorf("probes %d at %v, want %d at %v", ti.Probes, h.clk.Now().Sub(t0), i+1, at)
		}
	}
	h.advanceUntil(t, "the keepalive timeout", func() bool { return c.conn.Readiness().Err != nil })
	if d := h.clk.Now().Sub(t0); d != 16*time.Second {
		t.Errorf("keepalive timed out after %v, want 16s (idle 10 + 2 intervals of 3)", d)
	}
	_, err = h.c.Recv(cfd, make([]byte, 1), 0)
	wantErr(t, "recv after the keepalive timeout", err, syscall.ETIMEDOUT)
}

// TestConnectTimesOut: a blocking Connect whose SYNs all go unanswered
// fails with ETIMEDOUT once the retries are spent (virtual time).
func TestConnectTimesOut(t *testing.T) {
	h := newHosts(t)
	h.b.Attach(nil) // the server hears nothing
	fd, err := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- h.c.Connect(fd, netip.AddrPortFrom(serverIP, 7)) }()
	wantErr(t, "blocking connect without an answer", h.runUntil(t, done), syscall.ETIMEDOUT)
}

// TestCloseWakesRecv: Close from another goroutine wakes a Recv blocked
// on the descriptor, which returns EBADF.
func TestCloseWakesRecv(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 1)
	cfd, _ := h.connected(t, lfd, 7)
	s, _ := h.c.get(cfd)
	done := make(chan error, 1)
	go func() {
		_, err := h.c.Recv(cfd, make([]byte, 8), 0)
		done <- err
	}()
	waitFor(t, "recv to block", func() bool {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		return len(s.watchers) > 0
	})
	must(t, h.c.Close(cfd))
	wantErr(t, "recv blocked across Close", <-done, syscall.EBADF)
}

// TestShutdownRDWR: SHUT_RDWR on a connected socket sends the FIN (the
// peer reads 0), later sends are EPIPE and reads return 0.
func TestShutdownRDWR(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 1)
	cfd, sfd := h.connected(t, lfd, 7)
	must(t, h.c.Shutdown(cfd, SHUT_RDWR))
	if n, err := h.s.Recv(sfd, make([]byte, 8), 0); n != 0 || err != nil {
		t.Errorf("peer's recv after SHUT_RDWR = %d, %v; want 0 (FIN)", n, err)
	}
	_, err := h.c.Send(cfd, []byte("x"), 0)
	wantErr(t, "send after SHUT_RDWR", err, syscall.EPIPE)
	if n, err := h.c.Recv(cfd, make([]byte, 8), 0); n != 0 || err != nil {
		t.Errorf("recv after SHUT_RDWR = %d, %v; want 0", n, err)
	}
}

// TestMsgFlagsAsLinux: flags are taken as Linux takes them (checked on its
// kernel with Python): on TCP, MSG_MORE, MSG_EOR, MSG_PEEK, MSG_WAITALL
// and unknown bits are ignored by send, recv ignores what it does not
// use, recv's MSG_OOB is EINVAL with no urgent byte and MSG_ERRQUEUE
// EAGAIN; UDP refuses MSG_OOB on send and ignores it on receive.
func TestMsgFlagsAsLinux(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 1)
	cfd, sfd := h.connected(t, lfd, 7)
	must(t, h.c.SetsockoptInt(cfd, IPPROTO_TCP, TCP_NODELAY, 1))
	for _, f := range []int{MSG_MORE, MSG_EOR, MSG_PEEK, MSG_WAITALL, MSG_NOSIGNAL, 0x10000000} {
		if n, err := h.c.Send(cfd, []byte("x"), f); n != 1 || err != nil {
			t.Fatalf("TCP send with flags %#x = %d, %v; want 1, nil", f, n, err)
		}
	}
	recvAll(t, h.s, sfd, 6)
	_, err := h.s.Recv(sfd, make([]byte, 1), MSG_OOB)
	wantErr(t, "TCP recv MSG_OOB with no urgent data", err, syscall.EINVAL)
	_, err = h.s.Recv(sfd, make([]byte, 1), MSG_ERRQUEUE)
	wantErr(t, "TCP recv MSG_ERRQUEUE", err, syscall.EAGAIN)
	_, err = h.c.Send(cfd, []byte("y"), 0)
	must(t, err)
	if n, err := h.s.Recv(sfd, make([]byte, 1), MSG_EOR|MSG_MORE|0x10000000); n != 1 || err != nil {
		t.Errorf("TCP recv with flags it does not use = %d, %v; want 1, nil", n, err)
	}

	u, _ := h.c.Socket(AF_INET, SOCK_DGRAM, 0)
	v, _ := h.s.Socket(AF_INET, SOCK_DGRAM, 0)
	must(t, h.s.Bind(v, netip.AddrPortFrom(anyIP, 9)))
	dst := netip.AddrPortFrom(serverIP, 9)
	_, err = h.c.SendTo(u, []byte("x"), MSG_OOB, dst)
	wantErr(t, "UDP send MSG_OOB", err, syscall.EOPNOTSUPP)
	if _, err := h.c.SendTo(u, []byte("z"), MSG_EOR|0x10000000, dst); err != nil {
		t.Errorf("UDP send with flags it ignores: %v", err)
	}
	_, _, err = h.s.RecvFrom(v, make([]byte, 4), MSG_ERRQUEUE)
	wantErr(t, "UDP recv MSG_ERRQUEUE", err, syscall.EAGAIN)
	if n, _, err := h.s.RecvFrom(v, make([]byte, 4), MSG_OOB); n != 1 || err != nil {
		t.Errorf("UDP recv with MSG_OOB = %d, %v; want the datagram", n, err)
	}
}

// TestShutRDThenReset: after SHUT_RD a pending reset is still reported
// first, then reads return 0, as Linux reads sk_err before the shutdown;
// a shutdown after the reset is ENOTCONN (the socket is in CLOSE).
func TestShutRDThenReset(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 2)
	reset := func(sfd int) {
		must(t, h.s.SetsockoptLinger(sfd, SOL_SOCKET, SO_LINGER, &Linger{Onoff: 1, Linger: 0}))
		must(t, h.s.Close(sfd))
		h.settle(t)
	}
	for _, before := range []bool{true, false} {
		cfd, sfd := h.connected(t, lfd, 7)
		if before {
			must(t, h.c.Shutdown(cfd, SHUT_RD))
			reset(sfd)
		} else {
			reset(sfd)
			wantErr(t, "SHUT_RD after a reset", h.c.Shutdown(cfd, SHUT_RD), syscall.ENOTCONN)
		}
		_, err := h.c.Recv(cfd, make([]byte, 4), 0)
		wantErr(t, "recv after SHUT_RD and a reset", err, syscall.ECONNRESET)
		if n, err := h.c.Recv(cfd, make([]byte, 4), 0); n != 0 || err != nil {
			t.Errorf("second recv = %d, %v; want 0", n, err)
		}
		h.c.Close(cfd)
	}
}
