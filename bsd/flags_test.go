package bsd

import (
	"syscall"
	"testing"
)

// TestListenerRecvOOB: Linux answers recv(MSG_OOB) on a listener
// with ENOTCONN (tcp_recvmsg checks LISTEN before MSG_OOB).
func TestListenerRecvOOB(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 1)
	_, err := h.s.Recv(lfd, make([]byte, 1), MSG_OOB)
	wantErr(t, "recv MSG_OOB on a listener", err, syscall.ENOTCONN)
}

// TestSendOOBUnconnected: send with MSG_OOB on a socket that is not
// connected is EPIPE, as any send, before the flag is looked at (Linux's
// tcp_sendmsg waits for a connection first); connected, it is EOPNOTSUPP.
func TestSendOOBUnconnected(t *testing.T) {
	h := newHosts(t)
	fd, err := h.c.Socket(AF_INET, SOCK_STREAM, 0)
	must(t, err)
	_, err = h.c.Send(fd, []byte("x"), MSG_OOB)
	wantErr(t, "send MSG_OOB unconnected", err, syscall.EPIPE)
	lfd := h.listener(t, 7, 1)
	cfd, _ := h.connected(t, lfd, 7)
	_, err = h.c.Send(cfd, []byte("x"), MSG_OOB)
	wantErr(t, "send MSG_OOB connected", err, syscall.EOPNOTSUPP)
}

// TestFinThenResetReadsEOF: Linux, after a FIN then a RST (CLOSE-WAIT, then
// reset), recv returns 0 (SOCK_DONE is read before sk_err).
func TestFinThenResetReadsEOF(t *testing.T) {
	h := newHosts(t)
	lfd := h.listener(t, 7, 1)
	cfd, sfd := h.connected(t, lfd, 7)
	must(t, h.s.Shutdown(sfd, SHUT_WR))
	h.settle(t)
	must(t, h.s.SetsockoptLinger(sfd, SOL_SOCKET, SO_LINGER, &Linger{Onoff: 1, Linger: 0}))
	must(t, h.s.Close(sfd))
	h.settle(t)
	n, err := h.c.Recv(cfd, make([]byte, 4), 0)
	if n != 0 || err != nil {
		t.Errorf("recv after FIN then RST = %d, %v; Linux: 0, nil", n, err)
	}
}
