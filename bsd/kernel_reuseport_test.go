package bsd

import (
	"fmt"
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

// reusePortPy is the kernel's side: Python's socket module opens 64
// connections from ephemeral ports to synack's pair of SO_REUSEPORT
// listeners, each answering with its listener's number, then two
// connections from each of 8 fixed ports (one after the other, the same
// 4-tuple twice; each closed by a reset so the 4-tuple is free again at
// once), which must both reach the same listener. Then 64 UDP sockets
// each send two datagrams to synack's pair of SO_REUSEPORT UDP sockets,
// which answer with their number.
const reusePortPy = `import socket, struct
addr = ('10.7.1.2', 8000)
def ask(port=0):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('10.7.1.1', port))
    s.settimeout(10)
    s.connect(addr)
    b = s.recv(1)
    # A reset (SO_LINGER 0) frees the 4-tuple at once on both sides.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()
    return b.decode()
got = [ask() for _ in range(64)]
print('spread', got.count('0'), got.count('1'))
same = 0
for p in range(47000, 47008):
    if ask(p) == ask(p):
        same += 1
print('same', same)
spread, same = [], 0
for _ in range(64):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(10)
    u.bind(('10.7.1.1', 0))
    answers = []
    for _ in range(2):
        u.sendto(b'?', ('10.7.1.2', 8001))
        answers.append(u.recv(1).decode())
    spread.append(answers[0])
    same += answers[0] == answers[1]
    u.close()
print('udp', spread.count('0'), spread.count('1'), same)
`

// TestKernelReusePort: synack's two SO_REUSEPORT listeners on one port,
// over TUN in a namespace made for the test, serve the kernel's Python
// client: its 64 connections spread over both listeners, and a 4-tuple
// opened twice reaches the same listener both times; and the same for
// UDP datagrams. Needs root,
// /dev/net/tun, ip and python3 (CI has them); skips without.
func TestKernelReusePort(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed (.ci/run installs it with apt-get)")
	}
	ns := tuntest.Namespace(t)
	dev := ns.OpenTUN(t, "rp0", tun.Config{HostAddr: netip.MustParsePrefix("10.7.1.1/24")})
	st, err := synack.New(dev, synack.Config{Addr: netip.MustParsePrefix("10.7.1.2/24"), Host: "reuseport",
		Gateway: netip.MustParseAddr("10.7.1.1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := NewHost(st)
	for i := range 2 {
		fd, _ := h.Socket(AF_INET, SOCK_STREAM, 0)
		must(t, h.SetsockoptInt(fd, SOL_SOCKET, SO_REUSEPORT, 1))
		must(t, h.Bind(fd, netip.AddrPortFrom(anyIP, 8000)))
		must(t, h.Listen(fd, 128))
		go func() {
			for {
				c, _, err := h.Accept(fd)
				if err != nil {
					return // the stack closed
				}
				h.Send(c, []byte{byte('0' + i)}, 0)
				h.Close(c)
			}
		}()
	}
	for i := range 2 {
		fd, _ := h.Socket(AF_INET, SOCK_DGRAM, 0)
		must(t, h.SetsockoptInt(fd, SOL_SOCKET, SO_REUSEPORT, 1))
		must(t, h.Bind(fd, netip.AddrPortFrom(anyIP, 8001)))
		go func() {
			buf := make([]byte, 16)
			for {
				_, from, err := h.RecvFrom(fd, buf, 0)
				if err != nil {
					return // the stack closed
				}
				h.SendTo(fd, []byte{byte('0' + i)}, 0, from)
			}
		}()
	}
	script := filepath.Join(t.TempDir(), "reuseport.py")
	if err := os.WriteFile(script, []byte(reusePortPy), 0o644); err != nil {
		t.Fatal(err)
	}
	out := ns.Run(t, py, script)
	var a, b, same, ua, ub, usame int
	if _, err := fmt.Sscanf(out, "spread %d %d\nsame %d\nudp %d %d %d", &a, &b, &same, &ua, &ub, &usame); err != nil {
		t.Fatalf("python printed %q: %v", out, err)
	}
	t.Logf("%s", strings.TrimSpace(out))
	if a+b != 64 || a == 0 || b == 0 {
		t.Errorf("64 kernel connections went %d and %d to the two listeners: want both used", a, b)
	}
	if same != 8 {
		t.Errorf("%d of 8 4-tuples opened twice reached the same listener both times", same)
	}
	if ua+ub != 64 || ua == 0 || ub == 0 || usame != 64 {
		t.Errorf("UDP: 64 kernel sockets' datagrams went %d and %d to the two sockets, %d twice to the same: "+
			"want both used and each source's pair to one", ua, ub, usame)
	}
}
