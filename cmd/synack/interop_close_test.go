//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link/tun"
	"github.com/synack-net/synack/link/tun/tuntest"
	"github.com/synack-net/synack/trace"
)

// pyAgent is the kernel's side of the close tests: one TCP socket driven a
// step at a time by commands on stdin, one answer line per command on
// stdout ("ok ..." or "err TYPE MESSAGE"). What it sends is pattern(n).
const pyAgent = `import hashlib, socket, struct, sys
def pattern(n):
    block = bytes(i % 251 for i in range(251))
    return (block * (n // 251 + 1))[:n]
def addr(a):
    return "%s:%d" % a[:2]
listener = conn = None
for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    cmd, args = words[0], words[1:]
    try:
        if cmd == "listen":
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((args[0], int(args[1])))
            listener.listen(8)
            reply = "listening"
        elif cmd == "accept":
            listener.settimeout(20)
            conn, _ = listener.accept()
            conn.settimeout(20)
            reply = addr(conn.getsockname()) + " " + addr(conn.getpeername())
        elif cmd == "connect":
            conn = socket.create_connection((args[0], int(args[1])), timeout=20)
            reply = addr(conn.getsockname()) + " " + addr(conn.getpeername())
        elif cmd == "send":
            conn.sendall(pattern(int(args[0])))
            reply = "sent"
        elif cmd == "recv":
            n, h = int(args[0]), hashlib.sha256()
            while n > 0:
                b = conn.recv(min(n, 1 << 16))
                if not b:
                    raise EOFError("EOF with %d bytes still to come" % n)
                h.update(b)
                n -= len(b)
            reply = h.hexdigest()
        elif cmd == "recveof":
            b = conn.recv(1 << 16)
            reply = "eof" if not b else "data %d" % len(b)
        elif cmd == "shutdown":
            conn.shutdown(socket.SHUT_WR)
            reply = "shut"
        elif cmd == "close":
            conn.close()
            reply = "closed"
        elif cmd == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            reply = "reset"
        else:
            raise ValueError("unknown command " + cmd)
        print("ok", reply, flush=True)
    except Exception as e:
        print("err", type(e).__name__, str(e).replace("\n", " "), flush=True)
`

// pattern is what pyAgent sends: n bytes counting 0..250 over and over.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// agent is pyAgent running in a test's namespace.
type agent struct {
	p       *proc
	in      *os.File
	answers int // lines of stdout already consumed
}

// startAgent starts pyAgent in ns.
func startAgent(t *testing.T, ns *tuntest.NS) *agent {
	t.Helper()
	py := python(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	a := &agent{in: w}
	a.p = startProc(t, ns, r, py, writeScript(t, "agent.py", pyAgent))
	return a
}

// try sends one command and returns its answer line.
func (a *agent) try(t *testing.T, cmd string) string {
	t.Helper()
	if _, err := io.WriteString(a.in, cmd+"\n"); err != nil {
		t.Fatalf("agent %q: %v; stderr:\n%s", cmd, err, a.p.stderr.String())
	}
	var line string
	eventually(t, 30*time.Second, "the kernel's agent answers "+cmd, func() bool {
		if a.p.exited() {
			t.Fatalf("agent ended (%v) at %q; stderr:\n%s", a.p.err, cmd, a.p.stderr.String())
		}
		lines := strings.SplitAfter(a.p.stdout.String(), "\n")
		if len(lines) <= a.answers+1 { // the last piece is what follows the last newline
			return false
		}
		line = strings.TrimSuffix(lines[a.answers], "\n")
		return true
	})
	a.answers++
	return line
}

// do sends one command and returns the answer after "ok", failing the test
// on an error.
func (a *agent) do(t *testing.T, cmd string) string {
	t.Helper()
	line := a.try(t, cmd)
	rest, ok := strings.CutPrefix(line, "ok ")
	if !ok {
		t.Fatalf("the kernel's agent: %s: %s", cmd, line)
	}
	return rest
}

// The close tests' device: the kernel's side and synack's.
var (
	closeHost = netip.MustParsePrefix("10.9.0.1/24")
	closeAddr = netip.MustParsePrefix("10.9.0.2/24")
)

// synackState is the state synack's socket table shows for the
// connection from local to remote, or "" when it holds none.
func synackState(st *synack.Stack, local, remote netip.AddrPort) string {
	for _, r := range st.Sockets() {
		if r.Local == local && r.Remote == remote {
			return r.State.String()
		}
	}
	return ""
}

// stateChanges are the states synack's trace shows the connection from
// local to remote going through, in order, starting with the first state
// it left.
func stateChanges(rec *trace.Recorder, local, remote netip.AddrPort) []string {
	var states []string
	for _, e := range rec.Events() {
		if e.Kind == trace.KindStateChange && e.Local == local && e.Remote == remote {
			if len(states) == 0 {
				states = append(states, e.From)
			}
			states = append(states, e.State)
		}
	}
	return states
}

// TestCloseStatesWithKernel runs a synack stack in-process on a TUN device
// in a namespace, with the kernel's socket (Python) as the peer, and closes
// a connection in each order, with synack as the server and as the client.
// After each step both sides' states are checked: synack's in its socket
// table (Sockets) and trace, the kernel's with ss -tan.
//
// Kernel closes first: kernel FIN-WAIT-2 while synack is CLOSE-WAIT (and
// still sends); synack closes: synack LAST-ACK then CLOSED (gone from its
// table), kernel TIME-WAIT. Synack closes first: synack FIN-WAIT-2 while
// the kernel is CLOSE-WAIT (and, after a half-close, still sends); the
// kernel closes: kernel LAST-ACK then gone, synack TIME-WAIT.
func TestCloseStatesWithKernel(t *testing.T) {
	tuntest.Require(t) // skip the whole test, not each case
	requireTools(t, "ss")
	python(t)
	cases := []struct {
		name         string
		synackListen bool // synack is the server; else it dials the kernel
		kernelFirst  bool // the kernel closes first
		halfClose    bool // the first to close uses shutdown(SHUT_WR)/CloseWrite and the other side still sends
	}{
		{"server/kernel-first-half-close", true, true, true},
		{"server/synack-first", true, false, false},
		{"client/kernel-first", false, true, false},
		{"client/synack-first-half-close", false, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := tuntest.Namespace(t)
			requireTools(t, "ss")
			py := startAgent(t, ns)
			dev := ns.OpenTUN(t, tunName(), tun.Config{HostAddr: closeHost})
			rec := new(trace.Recorder)
			st, err := synack.New(dev, synack.Config{Addr: closeAddr, Gateway: closeHost.Addr(), Trace: rec, Host: "synack"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() }) // before the device closes

			// Connect, and learn both ends' addresses.
			var c *synack.TCPConn
			var kernelSide string
			if tc.synackListen {
				l, err := st.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 7100), 8)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				kernelSide = py.do(t, "connect "+closeAddr.Addr().String()+" 7100")
				l.SetDeadline(time.Now().Add(10 * time.Second))
				if c, err = l.AcceptTCP(); err != nil {
					t.Fatal(err)
				}
			} else {
				py.do(t, "listen 0.0.0.0 7200")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, err = st.DialTCP(ctx, netip.AddrPortFrom(closeHost.Addr(), 7200))
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				kernelSide = py.do(t, "accept")
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			local, remote := c.Info().Local, c.Info().Remote
			if want := remote.String() + " " + local.String(); kernelSide != want {
				t.Fatalf("the kernel's socket is %s, synack's %v -> %v", kernelSide, local, remote)
			}
			states := func() (synackS, kernelS string) {
				return synackState(st, local, remote), kernelState(t, ns, remote, local)
			}
			waitStates := func(what, wantSynack, wantKernel string) {
				t.Helper()
				var s, k string
				eventually(t, 10*time.Second, what, func() bool {
					s, k = states()
					return s == wantSynack && k == wantKernel
				})
				t.Logf("%s: synack %q, kernel %q", what, s, k)
			}
			waitStates("connected", "ESTABLISHED", "ESTAB")

			// Data both ways first.
			py.do(t, "send 10000")
			got := make([]byte, 10000)
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, pattern(10000)) {
				t.Fatalf("synack read %v from the kernel; want its pattern", err)
			}
			sendToKernel(t, c, py, 10000)

			if tc.kernelFirst {
				py.do(t, map[bool]string{true: "shutdown", false: "close"}[tc.halfClose])
				waitStates("the kernel closed", "CLOSE-WAIT", "FIN-WAIT-2")
				if n, err := c.Read(got); n != 0 || err != io.EOF {
					t.Fatalf("synack Read after the kernel's FIN: %d, %v; want 0, EOF", n, err)
				}
				if tc.halfClose {
					// The kernel only half-closed: it still reads.
					sendToKernel(t, c, py, 64<<10)
				}
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				waitStates("synack closed", "", "TIME-WAIT")
				checkPath(t, stateChanges(rec, local, remote), "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED")
				return
			}

			if tc.halfClose {
				err = c.CloseWrite()
			} else {
				err = c.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			waitStates("synack closed", "FIN-WAIT-2", "CLOSE-WAIT")
			if got := py.do(t, "recveof"); got != "eof" {
				t.Fatalf("the kernel read %q after synack's FIN, want EOF", got)
			}
			if tc.halfClose {
				// synack only half-closed: it still reads.
				py.do(t, "send 65536")
				got := make([]byte, 65536)
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, pattern(65536)) {
					t.Fatalf("synack read %v in FIN-WAIT-2; want the kernel's pattern", err)
				}
			}
			py.do(t, "close")
			waitStates("the kernel closed", "TIME-WAIT", "")
			if tc.halfClose {
				if n, err := c.Read(got); n != 0 || err != io.EOF {
					t.Fatalf("synack Read after the kernel's FIN: %d, %v; want 0, EOF", n, err)
				}
			}
			checkPath(t, stateChanges(rec, local, remote), "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT")
		})
	}
}

// sendToKernel writes n random bytes on c and checks that the kernel's
// agent reads exactly them.
func sendToKernel(t *testing.T, c *synack.TCPConn, py *agent, n int) {
	t.Helper()
	data := randomBytes(n, uint64(n))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		errc <- err
	}()
	sum := sha256.Sum256(data)
	if got := py.do(t, "recv "+strconv.Itoa(n)); got != hex.EncodeToString(sum[:]) {
		t.Errorf("the kernel read %d bytes with sha256 %s, not the ones synack sent", n, got)
	}
	if err := <-errc; err != nil {
		t.Fatalf("synack Write: %v", err)
	}
}

// checkPath checks that synack's trace shows the connection going through
// want, in order (the states before them, the handshake's, may differ by
// side).
func checkPath(t *testing.T, got []string, want ...string) {
	t.Helper()
	i := slices.Index(got, want[0])
	if i < 0 || !slices.Equal(got[i:], want) {
		t.Errorf("synack's states were %v; want them to end %v", got, want)
	} else {
		t.Logf("synack's states: %s", strings.Join(got, " -> "))
	}
}
