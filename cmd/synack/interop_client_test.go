//go:build linux

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// The addresses of the client commands' device: the kernel's side, where
// its servers listen, and synack's.
const (
	clientHost = "10.8.0.1"
	clientAddr = "10.8.0.2"
)

// clientFlags are the device flags of synack get and dial in the tests.
func clientFlags(tun string) []string {
	return []string{"--tun", tun, "--addr", clientAddr + "/24", "--host-addr", clientHost + "/24"}
}

// randomBytes returns n bytes of a seeded random stream.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// waitListening waits until the kernel listens on TCP port in ns.
func waitListening(t *testing.T, ns *tuntest.NS, port int) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("the kernel listens on port %d", port), func() bool {
		for _, r := range kernelSockets(t, ns) {
			if r.state == "LISTEN" && strings.HasSuffix(r.local, ":"+strconv.Itoa(port)) {
				return true
			}
		}
		return false
	})
}

// kernelConn returns the kernel's connection (not its listener) on local
// port port in ns, and whether there is one.
func kernelConn(t *testing.T, ns *tuntest.NS, port int) (ssRow, bool) {
	t.Helper()
	for _, r := range kernelSockets(t, ns) {
		if r.state != "LISTEN" && strings.HasSuffix(r.local, ":"+strconv.Itoa(port)) {
			return r, true
		}
	}
	return ssRow{}, false
}

// TestGetFromKernelHTTPServer: synack get, synack as the client, fetches a
// text file and a 3 MB binary file from Python's http.server on the
// kernel's sockets; the text is printed as is, the binary's size and
// SHA-256 match, the server logged synack's address, and each connection
// ends with both FINs and no RST.
func TestGetFromKernelHTTPServer(t *testing.T) {
	ns := tuntest.Namespace(t)
	py := python(t)
	requireTools(t, "ss")
	dir := t.TempDir()
	small := "hello from the kernel's http.server\n"
	big := randomBytes(3_000_000, 1)
	if err := os.WriteFile(filepath.Join(dir, "small.txt"), []byte(small), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startProc(t, ns, nil, py, "-m", "http.server", "8000", "--bind", "0.0.0.0", "--directory", dir)
	waitListening(t, ns, 8000)

	tun := tunName()
	pcaps := t.TempDir()
	get := func(path string) string {
		t.Helper()
		var out bytes.Buffer
		pcap := filepath.Join(pcaps, strings.TrimPrefix(path, "/")+".pcap")
		args := append(append([]string{synackBinary(t), "get", "--pcap", pcap}, clientFlags(tun)...), "http://"+clientHost+":8000"+path)
		stderr, err := runIn(t, ns, 60*time.Second, nil, &out, args...)
		if err != nil {
			t.Fatalf("synack get %s: %v\n%s", path, err, stderr)
		}
		checkNoPanic(t, "synack get", stderr)
		return out.String()
	}
	if got, want := get("/small.txt"), "HTTP/1.0 200 OK\n"+small; got != want {
		t.Errorf("synack get /small.txt printed %q, want %q", got, want)
	}
	sum := sha256.Sum256(big)
	if got, want := get("/big.bin"), fmt.Sprintf("HTTP/1.0 200 OK\n%d bytes sha256=%s\n", len(big), hex.EncodeToString(sum[:])); got != want {
		t.Errorf("synack get /big.bin printed %q, want %q", got, want)
	}
	for _, path := range []string{"/small.txt", "/big.bin"} {
		want := fmt.Sprintf(`"GET %s HTTP/1.1" 200`, path)
		eventually(t, 10*time.Second, "http.server logs "+want, func() bool {
			log := srv.stderr.String()
			return strings.Contains(log, want) && strings.Contains(log, clientAddr+" - - [")
		})
	}
	// Both connections ended cleanly: on the kernel's side each is in
	// TIME-WAIT (it closed first) or gone (synack closed first: the
	// kernel's LAST-ACK was answered), and synack's captures hold one FIN
	// each way and no RST: get let the close finish before its device went
	// away. A FIN sent again (its ACK late on a loaded machine, so the
	// retransmission timer fired) is the same FIN, even when it rides on a
	// resent segment that starts earlier: FINs are counted by sender and
	// the sequence number the FIN itself takes, the segment's plus its
	// length.
	for _, r := range kernelSockets(t, ns) {
		if r.local == clientHost+":8000" && strings.HasPrefix(r.peer, clientAddr+":") && r.state != "TIME-WAIT" {
			t.Errorf("kernel's connection %s -> %s is %s, want TIME-WAIT or none", r.local, r.peer, r.state)
		}
	}
	if _, err := exec.LookPath("tshark"); err == nil {
		for _, name := range []string{"small.txt", "big.bin"} {
			pcap := filepath.Join(pcaps, name+".pcap")
			out := tshark(t, pcap, "-Y", "tcp", "-T", "fields", "-e", "ip.src", "-e", "tcp.seq_raw", "-e", "tcp.len", "-e", "tcp.flags")
			fins, rsts := map[string]bool{}, 0
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(line)
				if len(f) != 4 {
					t.Fatalf("tshark printed %q, want source, sequence number, length and flags", line)
				}
				seq, err1 := strconv.ParseUint(f[1], 10, 32)
				n, err2 := strconv.ParseUint(f[2], 10, 32)
				v, err3 := strconv.ParseUint(f[3], 0, 16)
				if err := errors.Join(err1, err2, err3); err != nil {
					t.Fatalf("tshark printed %q: %v", line, err)
				}
				if v&0x01 != 0 {
					fins[fmt.Sprintf("%s %d", f[0], uint32(seq+n))] = true
				}
				if v&0x04 != 0 {
					rsts++
				}
			}
			if len(fins) != 2 || rsts != 0 {
				t.Errorf("synack get %s: capture holds %d distinct FINs (%v) and %d RSTs, want 2 and none", name, len(fins), fins, rsts)
			}
		}
	}
}

// pyHalfCloseServer accepts one connection on port argv[1], copies it to
// stdout until the client's FIN, then sends its own stdin and closes.
const pyHalfCloseServer = `import socket, sys
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", int(sys.argv[1])))
l.listen(1)
c, _ = l.accept()
l.close()
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    sys.stdout.buffer.write(b)
sys.stdout.buffer.flush()
c.sendall(sys.stdin.buffer.read())
c.close()
`

// TestDialHalfClose: synack dial, synack as the client, against a server
// on the kernel's sockets (nc -l, and Python where nc cannot), in both
// directions of half-close. Each side's data
// arrives byte for byte, and the side that has received the other's FIN
// still sends, as RFC 9293 §3.6 allows.
func TestDialHalfClose(t *testing.T) {
	tuntest.Require(t) // skip the whole test, not each case
	requireTools(t, "nc", "ss")
	python(t)
	// synack's stdin ends first: it sends its FIN; the kernel's socket is
	// then CLOSE-WAIT, and the reply still reaches synack. The kernel's
	// side is a Python server that does what nc -N -l would, had Debian's
	// nc not quit when it reads the network's EOF: copy the connection to
	// stdout until EOF, then send stdin and close.
	t.Run("synack-first", func(t *testing.T) {
		ns := tuntest.Namespace(t)
		py := python(t)
		requireTools(t, "ss")
		request, reply := randomBytes(300_000, 2), randomBytes(200_000, 3)
		srvIn, srvInW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer srvInW.Close()
		srv := startProc(t, ns, srvIn, py, writeScript(t, "halfserver.py", pyHalfCloseServer), "7000")
		waitListening(t, ns, 7000)
		dial := startProc(t, ns, bytes.NewReader(request),
			append(append([]string{synackBinary(t), "dial"}, clientFlags(tunName())...), clientHost+":7000")...)
		eventually(t, 30*time.Second, "the server has read synack's request", func() bool { return srv.stdout.Len() >= len(request) })
		eventually(t, 10*time.Second, "the kernel's socket is CLOSE-WAIT (synack's FIN came)", func() bool {
			r, ok := kernelConn(t, ns, 7000)
			return ok && r.state == "CLOSE-WAIT"
		})
		if dial.exited() {
			t.Fatalf("synack dial ended after its FIN, before the peer's reply: %v\n%s", dial.err, dial.stderr.String())
		}
		go func() {
			srvInW.Write(reply) // fails only if the server is gone, which the checks below report
			srvInW.Close()
		}()
		if err := dial.wait(t, 30*time.Second); err != nil {
			t.Errorf("synack dial: %v\n%s", err, dial.stderr.String())
		}
		if err := srv.wait(t, 30*time.Second); err != nil {
			t.Errorf("server: %v\n%s", err, srv.stderr.String())
		}
		checkNoPanic(t, "synack dial", dial.stderr.String())
		if !bytes.Equal(srv.stdout.Bytes(), request) {
			t.Errorf("the server read %d bytes, not the %d synack sent", srv.stdout.Len(), len(request))
		}
		if !bytes.Equal(dial.stdout.Bytes(), reply) {
			t.Errorf("synack dial printed %d bytes, not the %d the server sent", dial.stdout.Len(), len(reply))
		}
		// The server closed last: its LAST-ACK was answered and nothing is left.
		eventually(t, 10*time.Second, "the kernel's connection is gone", func() bool {
			_, ok := kernelConn(t, ns, 7000)
			return !ok
		})
	})

	// nc's stdin ends first: the kernel sends its FIN and waits in
	// FIN-WAIT-2 while synack, in CLOSE-WAIT, goes on sending.
	t.Run("kernel-first", func(t *testing.T) {
		ns := tuntest.Namespace(t)
		requireTools(t, "nc", "ss")
		request, reply := randomBytes(300_000, 4), randomBytes(200_000, 5)
		nc := startProc(t, ns, bytes.NewReader(reply), "nc", "-4", "-N", "-l", "7001")
		waitListening(t, ns, 7001)
		dialIn, dialInW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer dialInW.Close()
		dial := startProc(t, ns, dialIn,
			append(append([]string{synackBinary(t), "dial"}, clientFlags(tunName())...), clientHost+":7001")...)
		eventually(t, 30*time.Second, "synack dial has printed nc's reply", func() bool { return dial.stdout.Len() >= len(reply) })
		var kernel ssRow
		eventually(t, 10*time.Second, "the kernel's socket is FIN-WAIT-2 (its FIN acknowledged)", func() bool {
			r, ok := kernelConn(t, ns, 7001)
			kernel = r
			return ok && r.state == "FIN-WAIT-2"
		})
		if nc.exited() || dial.exited() {
			t.Fatalf("a side ended while half-closed: nc %v, dial %v\n%s", nc.err, dial.err, dial.stderr.String())
		}
		go func() {
			dialInW.Write(request)
			dialInW.Close()
		}()
		if err := dial.wait(t, 30*time.Second); err != nil {
			t.Errorf("synack dial: %v\n%s", err, dial.stderr.String())
		}
		if err := nc.wait(t, 30*time.Second); err != nil {
			t.Errorf("nc: %v\n%s", err, nc.stderr.String())
		}
		checkNoPanic(t, "synack dial", dial.stderr.String())
		if !bytes.Equal(nc.stdout.Bytes(), request) {
			t.Errorf("nc read %d bytes, not the %d synack sent", nc.stdout.Len(), len(request))
		}
		if !bytes.Equal(dial.stdout.Bytes(), reply) {
			t.Errorf("synack dial printed %d bytes, not the %d nc sent", dial.stdout.Len(), len(reply))
		}
		// The kernel closed first: synack's FIN moved it to TIME-WAIT. It
		// is normally still there; but if synack resent its FIN (its ACK
		// late on a loaded machine), the kernel's second ACK reached a
		// connection synack had closed and drew a RST, which ends a
		// TIME-WAIT (Linux's default, tcp_rfc1337 0): then the namespace's
		// count of connections that entered TIME-WAIT says it was reached.
		local, peer := netip.MustParseAddrPort(kernel.local), netip.MustParseAddrPort(kernel.peer)
		if s := kernelState(t, ns, local, peer); s != "TIME-WAIT" {
			if n := kernelCounter(t, ns, "TcpExtTW"); s != "" || n < 1 {
				t.Errorf("the kernel's connection is %q after both FINs and %d entered TIME-WAIT, want TIME-WAIT", s, n)
			}
		}
	})
}

// kernelCounter is one of the namespace's kernel counters, as nstat -az
// prints it (absolute, since the namespace was made).
func kernelCounter(t *testing.T, ns *tuntest.NS, name string) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns.Name, "nstat", "-az", name).CombinedOutput()
	if err != nil {
		t.Fatalf("nstat -az %s: %v\n%s", name, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("nstat printed %q", line)
			}
			return n
		}
	}
	t.Fatalf("nstat -az %s printed no such counter:\n%s", name, out)
	return 0
}
