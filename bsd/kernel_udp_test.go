package bsd

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link/tun"
	"github.com/synack-net/synack/link/tun/tuntest"
)

// connectedSendToPy is the kernel's side. First Linux itself, on its
// loopback: a UDP socket connected to one port sends with sendto to
// another, which receives it (the rule synack follows). Then two sockets
// on 10.7.2.1, ports 9000 and 9001, tell synack they are ready and print
// what each receives from synack's socket connected to port 9000: the
// datagram it sent with send, and the one it sent with sendto to 9001.
const connectedSendToPy = `import socket
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(('127.0.0.1', 0))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(('127.0.0.1', 0)); b.settimeout(10)
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.connect(a.getsockname())
c.sendto(b'linux', b.getsockname())
print('kernel', b.recv(16).decode())
peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); peer.bind(('10.7.2.1', 9000)); peer.settimeout(10)
other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); other.bind(('10.7.2.1', 9001)); other.settimeout(10)
peer.sendto(b'ready', ('10.7.2.2', 9100))
print('peer', peer.recv(16).decode())
print('other', other.recv(16).decode())
`

// TestKernelUDPConnectedSendTo: a synack UDP socket connected to a kernel
// socket sends with sendto to another kernel socket, over TUN, as Linux's
// own connected socket does (checked in the same run): each datagram
// reaches the address it was sent to. Needs root, /dev/net/tun, ip and
// python3 (CI has them); skips without.
func TestKernelUDPConnectedSendTo(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed (.ci/run installs it with apt-get)")
	}
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "us0", tun.Config{HostAddr: netip.MustParsePrefix("10.7.2.1/24")})
	st, err := synack.New(dev, synack.Config{Addr: netip.MustParsePrefix("10.7.2.2/24"), Host: "sendto"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := NewHost(st)
	ready, _ := h.Socket(AF_INET, SOCK_DGRAM, 0)
	must(t, h.Bind(ready, netip.AddrPortFrom(anyIP, 9100)))
	errs := make(chan error, 1)
	go func() { // once the kernel's sockets are bound: send, then sendto
		buf := make([]byte, 16)
		if _, _, err := h.RecvFrom(ready, buf, 0); err != nil {
			errs <- err
			return
		}
		fd, _ := h.Socket(AF_INET, SOCK_DGRAM, 0)
		if err := h.Connect(fd, netip.MustParseAddrPort("10.7.2.1:9000")); err != nil {
			errs <- err
			return
		}
		if _, err := h.Send(fd, []byte("to-peer"), 0); err != nil {
			errs <- err
			return
		}
		_, err := h.SendTo(fd, []byte("to-other"), 0, netip.MustParseAddrPort("10.7.2.1:9001"))
		errs <- err
	}()
	script := filepath.Join(t.TempDir(), "sendto.py")
	if err := os.WriteFile(script, []byte(connectedSendToPy), 0o644); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(ns.Run(t, py, script))
	if err := <-errs; err != nil {
		t.Fatalf("synack's side: %v", err)
	}
	if want := "kernel linux\npeer to-peer\nother to-other"; out != want {
		t.Fatalf("python printed:\n%s\nwant:\n%s", out, want)
	}
}
