//go:build linux

package main

// Interop tests: the Linux kernel is synack's peer over a TUN device, in a
// network namespace each test makes of its own (link/tun/tuntest), and the
// kernel's side is its own real tools and sockets (curl, nc, ss, ping,
// Python's socket module), never synack's code. The tests run the built
// synack binary as a user would (synack serve, get, dial), except those of
// interop_close_test.go, which run a stack in-process to control each close
// step. They skip, saying why, when not root, when /dev/net/tun is missing
// or when a tool is not installed; CI runs as root with every tool.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// interopDir holds the synack binary the interop tests build, and is
// removed after the tests.
var interopDir string

// raceEnabled is set (interop_race_test.go) when the tests run with -race:
// the synack binary is then built with -race too, so that the real server
// under real traffic is checked for data races.
var raceEnabled bool

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "synack-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop: making a temporary directory:", err)
		os.Exit(1)
	}
	interopDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var synackBuild struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// synackBinary builds the synack command once per test run (with -race
// when the tests have it) and returns its path.
func synackBinary(t *testing.T) string {
	t.Helper()
	synackBuild.once.Do(func() {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		path := filepath.Join(interopDir, "synack")
		args := []string{"build", "-o", path}
		if raceEnabled {
			args = append(args, "-race")
		}
		synackBuild.out, synackBuild.err = exec.Command(goCmd, append(args, ".")...).CombinedOutput()
		synackBuild.path = path
	})
	if synackBuild.err != nil {
		t.Fatalf("building synack: %v\n%s", synackBuild.err, synackBuild.out)
	}
	return synackBuild.path
}

// requireTools skips the test unless every tool is installed.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("interop: skipped: %s is not installed (.ci/run installs it with apt-get)", tool)
		}
	}
}

// python returns the Python the kernel-side scripts run with: Debian's
// /usr/bin/python3 (what CI installs) if present, else python3 from PATH;
// it skips the test when there is none.
func python(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("interop: skipped: python3 is not installed (.ci/run installs it with apt-get)")
	}
	return p
}

// writeScript writes a kernel-side Python script into the test's
// temporary directory and returns its path.
func writeScript(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var tunSeq atomic.Uint32

// tunName returns a TUN device name no other test of this run uses.
func tunName() string {
	return fmt.Sprintf("snk%d-%d", os.Getpid()%100000, tunSeq.Add(1))
}

// eventually polls cond every few milliseconds until it holds, and fails
// the test if it does not within limit. Protocol progress is awaited this
// way, never with a fixed sleep.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(limit)
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("%s: not within %v", what, limit)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// lockedBuffer is a bytes.Buffer that a command writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}

// proc is a command running inside a test's namespace, in a process group
// of its own, which the test's cleanup kills if it is still running.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan struct{} // closed when the command has ended
	err            error         // Wait's result, once done is closed
}

// startProc starts args inside ns (ip netns exec) with stdin (nil for
// none). When stdin is an *os.File, such as the read end of an os.Pipe, it
// is handed to the command and closed here once the command has it.
func startProc(t *testing.T, ns *tuntest.NS, stdin io.Reader, args ...string) *proc {
	t.Helper()
	p := &proc{name: strings.Join(args, " "), cmd: ns.Command(args...), done: make(chan struct{})}
	p.cmd.Stdin = stdin
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
	}
	if f, ok := stdin.(*os.File); ok {
		f.Close()
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			// The group: ip netns exec execs the command, whose pid
			// leads the group it made, and any children it started.
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("%s did not end after SIGKILL", p.name)
			}
		}
		if t.Failed() {
			t.Logf("%s: stderr:\n%s", p.name, p.stderr.String())
		}
	})
	return p
}

// exited reports whether the command has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits (at most limit) for the command to end and returns Wait's
// error; it fails the test if the command is still running.
func (p *proc) wait(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		t.Fatalf("%s still running after %v; stderr:\n%s", p.name, limit, p.stderr.String())
		return nil
	}
}

// signal sends sig to the command.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !p.exited() {
		t.Fatalf("signalling %s: %v", p.name, err)
	}
}

// exitCode is the command's exit status once it has ended (-1: killed).
func (p *proc) exitCode() int { return p.cmd.ProcessState.ExitCode() }

// runIn runs args inside ns with stdin and stdout, for at most limit, and
// returns its stderr and error.
func runIn(t *testing.T, ns *tuntest.NS, limit time.Duration, stdin io.Reader, stdout io.Writer, args ...string) (string, error) {
	t.Helper()
	cmd := ns.Command(args...)
	cmd.Stdin = stdin
	cmd.Stdout = stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return "", err
	}
	killed := atomic.Bool{}
	timer := time.AfterFunc(limit, func() {
		killed.Store(true)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	err := cmd.Wait()
	timer.Stop()
	if killed.Load() {
		err = fmt.Errorf("killed after %v: %w", limit, err)
	}
	return stderr.String(), err
}

// mustRunIn is runIn that fails the test if the command fails, and returns
// its stdout.
func mustRunIn(t *testing.T, ns *tuntest.NS, limit time.Duration, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	stderr, err := runIn(t, ns, limit, nil, &out, args...)
	if err != nil {
		t.Fatalf("in %s: %s: %v\nstdout:\n%s\nstderr:\n%s", ns.Name, strings.Join(args, " "), err, out.String(), stderr)
	}
	return out.String()
}

// checkNoPanic fails the test if a synack process's output shows a panic,
// a fatal runtime error or a data race.
func checkNoPanic(t *testing.T, who, output string) {
	t.Helper()
	for _, bad := range []string{"panic", "fatal error", "WARNING: DATA RACE", "goroutine "} {
		if strings.Contains(output, bad) {
			t.Errorf("%s: output shows %q:\n%s", who, bad, output)
			return
		}
	}
}

// The addresses of serve's device: the kernel's side and synack's.
const (
	serveHost = "10.7.0.1"
	serveAddr = "10.7.0.2"
)

// serveProc is `synack serve` running in a test's namespace.
type serveProc struct {
	*proc
	ns  *tuntest.NS
	tun string
}

// startServe starts `synack serve` in ns on a new TUN device with extra
// flags, and waits until it serves: it has logged "serving", the kernel's
// side of the device has its address, and the HTTP port answers curl.
func startServe(t *testing.T, ns *tuntest.NS, extra ...string) *serveProc {
	t.Helper()
	requireTools(t, "curl")
	name := tunName()
	args := append([]string{synackBinary(t), "serve", "--tun", name,
		"--addr", serveAddr + "/24", "--host-addr", serveHost + "/24"}, extra...)
	s := &serveProc{proc: startProc(t, ns, nil, args...), ns: ns, tun: name}
	eventually(t, 20*time.Second, "synack serve logs that it serves", func() bool {
		if s.exited() {
			t.Fatalf("synack serve exited early (%v):\n%s", s.err, s.stderr.String())
		}
		return strings.Contains(s.stderr.String(), "msg=serving")
	})
	eventually(t, 10*time.Second, "the kernel's side of "+name+" has "+serveHost, func() bool {
		out, _ := exec.Command("ip", "-n", ns.Name, "addr", "show", "dev", name).CombinedOutput()
		return strings.Contains(string(out), "inet "+serveHost+"/24")
	})
	eventually(t, 10*time.Second, "synack's HTTP port answers", func() bool {
		var out bytes.Buffer
		_, err := runIn(t, ns, 5*time.Second, nil, &out, "curl", "-sS", "--max-time", "2", "http://"+serveAddr+"/")
		return err == nil && strings.Contains(out.String(), "Hello from synack")
	})
	return s
}

// stop sends SIGTERM and checks that serve exits with status 0 and no
// panic; it returns what serve logged.
func (s *serveProc) stop(t *testing.T) string {
	t.Helper()
	s.signal(t, syscall.SIGTERM)
	if err := s.wait(t, 20*time.Second); err != nil {
		t.Errorf("synack serve exited with %v after SIGTERM; want status 0:\n%s", err, s.stderr.String())
	}
	log := s.stderr.String()
	checkNoPanic(t, "synack serve", log)
	return log
}

// seedSum is the SHA-256 of the n bytes /bytes/N?seed=S serves, from the
// rule the page states (block i is SHA-256 of the text "S:i"), computed
// here and not by the server's code.
func seedSum(seed uint64, n int64) string {
	h := sha256.New()
	label := make([]byte, 0, 48)
	for i := uint64(0); n > 0; i++ {
		label = strconv.AppendUint(append(strconv.AppendUint(label[:0], seed, 10), ':'), i, 10)
		b := sha256.Sum256(label)
		k := min(n, 32)
		h.Write(b[:k])
		n -= k
	}
	return hex.EncodeToString(h.Sum(nil))
}

// hashWriter counts and hashes what is written to it.
type hashWriter struct {
	n int64
	h hash.Hash
}

func newHashWriter() *hashWriter { return &hashWriter{h: sha256.New()} }

func (w *hashWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}

func (w *hashWriter) sum() string { return hex.EncodeToString(w.h.Sum(nil)) }

// curlBytes fetches /bytes/n?seed=seed with curl in ns and checks the body
// against the rule: its length and SHA-256.
func curlBytes(t *testing.T, ns *tuntest.NS, seed uint64, n int64) error {
	hw := newHashWriter()
	url := fmt.Sprintf("http://%s/bytes/%d?seed=%d", serveAddr, n, seed)
	stderr, err := runIn(t, ns, 60*time.Second, nil, hw, "curl", "-sS", "--fail", "--max-time", "50", url)
	if err != nil {
		return fmt.Errorf("curl %s: %v: %s", url, err, stderr)
	}
	if hw.n != n {
		return fmt.Errorf("curl %s: %d bytes, want %d", url, hw.n, n)
	}
	if got, want := hw.sum(), seedSum(seed, n); got != want {
		return fmt.Errorf("curl %s: sha256 %s, want %s (the seed's bytes)", url, got, want)
	}
	return nil
}

// ssRow is one socket of `ss -tan`, the kernel's own listing.
type ssRow struct {
	state       string // ESTAB, FIN-WAIT-2, CLOSE-WAIT, TIME-WAIT, ...
	local, peer string // ip:port
}

// kernelSockets lists the kernel's TCP sockets in ns with ss -tan.
func kernelSockets(t *testing.T, ns *tuntest.NS) []ssRow {
	t.Helper()
	out := mustRunIn(t, ns, 10*time.Second, "ss", "-tanH")
	var rows []ssRow
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 {
			rows = append(rows, ssRow{state: f[0], local: f[3], peer: f[4]})
		}
	}
	return rows
}

// kernelState is the state ss shows for the kernel's socket from local to
// peer, or "" when the kernel has none.
func kernelState(t *testing.T, ns *tuntest.NS, local, peer netip.AddrPort) string {
	t.Helper()
	for _, r := range kernelSockets(t, ns) {
		if r.local == local.String() && r.peer == peer.String() {
			return r.state
		}
	}
	return ""
}

// pyBulk is the kernel's client for the echo and discard services: it
// sends TOTAL bytes of a seeded random stream in writes of WS bytes, reads
// back concurrently and compares every byte read with the byte sent at that
// offset, half-closes at the end and reads until the server closes.
const pyBulk = `import random, socket, sys, threading
host, port, ws, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
data = random.Random(port * 1000003 + ws).randbytes(total)
s = socket.create_connection((host, port), timeout=60)
res = {"got": 0, "bad": -1}
def reader():
    got, bad = 0, -1
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        if bad < 0 and b != data[got:got + len(b)]:
            bad = got + next(i for i in range(len(b)) if got + i >= total or b[i] != data[got + i])
        got += len(b)
    res["got"], res["bad"] = got, bad
r = threading.Thread(target=reader)
r.start()
view = memoryview(data)
for off in range(0, total, ws):
    s.sendall(view[off:off + ws])
s.shutdown(socket.SHUT_WR)
r.join()
print("local=%s:%d sent=%d got=%d firstbad=%d" % (s.getsockname() + (total, res["got"], res["bad"])))
s.close()
`

var bulkResult = regexp.MustCompile(`local=(\S+) sent=(\d+) got=(\d+) firstbad=(-?\d+)`)

// bulk runs pyBulk against port and returns the client's address, the
// bytes it got back and the offset of the first wrong one (-1: none).
func bulk(t *testing.T, ns *tuntest.NS, script string, port, ws, total int) (local string, got int, firstBad int) {
	t.Helper()
	out := mustRunIn(t, ns, 90*time.Second, python(t), script, serveAddr, strconv.Itoa(port), strconv.Itoa(ws), strconv.Itoa(total))
	m := bulkResult.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("python bulk client: unexpected output %q", out)
	}
	got, _ = strconv.Atoi(m[3])
	firstBad, _ = strconv.Atoi(m[4])
	return m[1], got, firstBad
}

// TestServeCurl: curl, the kernel's HTTP client, fetches / and 50 MB of
// /bytes (checked against the seed's bytes), uploads 5 MB, then makes 200
// connections one after the other and 20 at once, all of which succeed;
// afterwards synack's socket table holds no leftover connection and the
// kernel holds the TIME-WAITs of the closes curl started.
func TestServeCurl(t *testing.T) {
	ns := tuntest.Namespace(t)
	requireTools(t, "curl", "sh", "ss")
	s := startServe(t, ns)

	page := mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "http://"+serveAddr+"/")
	for _, want := range []string{"Hello from synack", "you (client)   " + serveHost + ":", "me (synack)    " + serveAddr + ":80", "state          ESTABLISHED"} {
		if !strings.Contains(page, want) {
			t.Errorf("GET / lacks %q:\n%s", want, page)
		}
	}

	if err := curlBytes(t, ns, 7, 50_000_000); err != nil {
		t.Fatal(err)
	}

	// Upload: the server answers the body's length and SHA-256.
	body := make([]byte, 5_000_000)
	for i := range body {
		body[i] = byte(i*7 + i>>11)
	}
	file := filepath.Join(t.TempDir(), "upload.bin")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	up := mustRunIn(t, ns, 30*time.Second, "curl", "-sS", "--fail", "--data-binary", "@"+file, "http://"+serveAddr+"/upload")
	if want := fmt.Sprintf("%d %s\n", len(body), hex.EncodeToString(sum[:])); up != want {
		t.Errorf("POST /upload answered %q, want %q", up, want)
	}

	// 200 curls one after the other, each a new connection.
	const sequential = 200
	loop := fmt.Sprintf(`for i in $(seq %d); do curl -sS --fail --max-time 10 http://%s/ || echo CURL-FAILED; done`, sequential, serveAddr)
	out := mustRunIn(t, ns, 120*time.Second, "sh", "-c", loop)
	if n := strings.Count(out, "Hello from synack"); n != sequential || strings.Contains(out, "CURL-FAILED") {
		t.Errorf("%d sequential curls: %d pages, failures: %v", sequential, n, strings.Contains(out, "CURL-FAILED"))
	}

	// 20 at once, each 1 MB with its own seed.
	const concurrent = 20
	errs := make(chan error, concurrent)
	for i := range concurrent {
		go func() { errs <- curlBytes(t, ns, uint64(100+i), 1_000_000) }()
	}
	for range concurrent {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}

	// curl closes first, so its side keeps the TIME-WAITs and synack's
	// side is gone (LAST-ACK, then CLOSED): synack's table holds only its
	// listeners and the connection asking for it.
	tw := 0
	for _, r := range kernelSockets(t, ns) {
		if r.state == "TIME-WAIT" && r.peer == serveAddr+":80" {
			tw++
		}
	}
	if tw < sequential {
		t.Errorf("the kernel holds %d TIME-WAIT sockets to port 80, want at least %d (curl closed first)", tw, sequential)
	}
	var table string
	eventually(t, 10*time.Second, "synack's socket table holds no leftover connection", func() bool {
		table = mustRunIn(t, ns, 10*time.Second, "curl", "-sS", "--fail", "http://"+serveAddr+"/netstat")
		conns := 0
		for _, line := range strings.Split(table, "\n")[1:] {
			if f := strings.Fields(line); len(f) == 6 && f[5] != "LISTEN" {
				conns++
			}
		}
		return conns == 1 && strings.Contains(table, "ESTABLISHED")
	})
	t.Logf("synack's sockets:\n%s", table)
	s.stop(t)
}

// TestServeEchoDiscardPython: a Python client, on the kernel's sockets,
// sends 20 MB to discard and 20 MB through echo, in writes of 1 KiB, 64 KiB
// and 1 MiB; echo's bytes come back in order, each one checked, and discard
// reads all 20 MB (as serve logs) and closes on the client's FIN.
func TestServeEchoDiscardPython(t *testing.T) {
	ns := tuntest.Namespace(t)
	python(t) // skips without it
	script := writeScript(t, "bulk.py", pyBulk)
	s := startServe(t, ns)
	const total = 20_000_000
	for _, ws := range []int{1 << 10, 64 << 10, 1 << 20} {
		t.Run(fmt.Sprintf("write=%d", ws), func(t *testing.T) {
			local, got, bad := bulk(t, ns, script, 7, ws, total)
			if got != total || bad != -1 {
				t.Errorf("echo: %d of %d bytes came back, first wrong byte at %d (-1: none)", got, total, bad)
			}
			local, got, _ = bulk(t, ns, script, 9, ws, total)
			if got != 0 {
				t.Errorf("discard sent back %d bytes", got)
			}
			// discard logs how many bytes it read when it closes.
			want := fmt.Sprintf("msg=closed service=discard remote=%s bytes=%d", local, total)
			eventually(t, 10*time.Second, "serve logs "+want, func() bool { return strings.Contains(s.stderr.String(), want) })
		})
	}
	log := s.stop(t)
	if strings.Contains(log, "level=WARN") || strings.Contains(log, "level=ERROR") {
		t.Errorf("serve logged a warning or error:\n%s", log)
	}
}

// TestServeRefusedPort: a connect from the kernel to a port synack does not
// listen on fails at once with "Connection refused" (no SYN is sent again),
// because synack answers the SYN with RST,ACK, seq 0 and ack = the SYN's
// seq + 1 (RFC 9293 §3.10.7.1), as the capture shows.
func TestServeRefusedPort(t *testing.T) {
	ns := tuntest.Namespace(t)
	requireTools(t, "nc", "curl", "tshark")
	pcap := filepath.Join(t.TempDir(), "refused.pcap")
	s := startServe(t, ns, "--pcap", pcap)

	start := time.Now()
	stderr, err := runIn(t, ns, 20*time.Second, nil, io.Discard, "nc", "-z", "-v", "-w", "5", serveAddr, "81")
	took := time.Since(start)
	if err == nil || !strings.Contains(stderr, "Connection refused") {
		t.Errorf("nc -z %s 81: %v, stderr %q; want a failure saying Connection refused", serveAddr, err, stderr)
	}
	// The kernel sends its SYN again after 1 s (its initial RTO) when it
	// gets no answer: failing sooner means the first SYN was answered.
	if took >= time.Second {
		t.Errorf("nc took %v to be refused; want at once (under the kernel's 1 s SYN RTO)", took)
	}

	stderr, err = runIn(t, ns, 20*time.Second, nil, io.Discard, "curl", "-sS", "--max-time", "5", "http://"+serveAddr+":81/")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("curl to port 81: %v, stderr %q; want exit status 7 (could not connect)", err, stderr)
	}
	s.stop(t)

	// Every SYN to port 81 has one answer: RST,ACK with seq 0 and ack =
	// its seq + 1, and none was sent twice.
	out, err := exec.Command("tshark", "-r", pcap, "-Y", "tcp.port == 81", "-T", "fields",
		"-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.flags", "-e", "tcp.seq_raw", "-e", "tcp.ack_raw").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", pcap, err)
	}
	t.Logf("port 81 in the capture (srcport dstport flags seq ack):\n%s", out)
	syns := map[string]uint64{} // client port -> SYN's seq
	rsts := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			t.Fatalf("tshark line %q: want 5 fields", line)
		}
		flags, _ := strconv.ParseUint(f[2], 0, 16)
		seq, _ := strconv.ParseUint(f[3], 10, 32)
		ack, _ := strconv.ParseUint(f[4], 10, 32)
		switch {
		case flags == 0x002 && f[1] == "81":
			if _, dup := syns[f[0]]; dup {
				t.Errorf("the kernel sent the SYN from port %s again: the first was not answered", f[0])
			}
			syns[f[0]] = seq
		case f[0] == "81":
			rsts++
			synSeq, ok := syns[f[1]]
			if !ok {
				t.Errorf("segment to port %s with no SYN before it: %q", f[1], line)
				continue
			}
			if flags != 0x014 || seq != 0 || ack != uint64(uint32(synSeq+1)) {
				t.Errorf("answer to the SYN seq=%d: flags %#x seq=%d ack=%d; want RST,ACK (0x014) seq=0 ack=%d",
					synSeq, flags, seq, ack, uint32(synSeq+1))
			}
		default:
			t.Errorf("unexpected segment on port 81: %q", line)
		}
	}
	if len(syns) != 2 || rsts != 2 {
		t.Errorf("capture holds %d SYNs and %d answers to port 81; want 2 of each (nc and curl)", len(syns), rsts)
	}
}

// TestServeAnswersPing: the kernel's ping gets synack's ICMP echo replies.
func TestServeAnswersPing(t *testing.T) {
	ns := tuntest.Namespace(t)
	requireTools(t, "ping")
	s := startServe(t, ns)
	out := mustRunIn(t, ns, 20*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "5", serveAddr)
	if !strings.Contains(out, "3 packets transmitted, 3 received") {
		t.Errorf("ping %s:\n%s", serveAddr, out)
	}
	s.stop(t)
}

// TestServeVerboseLogsEveryStep: serve -v logs each segment and state
// change of a curl's connection, from the kernel's SYN to synack's CLOSED.
func TestServeVerboseLogsEveryStep(t *testing.T) {
	ns := tuntest.Namespace(t)
	s := startServe(t, ns, "-v")
	var out strings.Builder
	stderr, err := runIn(t, ns, 20*time.Second, nil, &out, "curl", "-sS", "--fail", "-w", "%{local_port}", "-o", "/dev/null", "http://"+serveAddr+"/")
	if err != nil {
		t.Fatalf("curl: %v: %s", err, stderr)
	}
	// Each event is one record with its fields as attributes (logging.go).
	ends := fmt.Sprintf("host=serve local=%s:80 remote=%s:%s ", serveAddr, serveHost, out.String())
	rcv, sent, state := "kind=received "+ends, "kind=sent "+ends, "kind=state "+ends
	steps := []string{rcv + "flags=SYN ", state + "from=LISTEN state=SYN-RECEIVED", sent + "flags=SYN,ACK ",
		state + "from=SYN-RECEIVED state=ESTABLISHED", rcv + "flags=FIN,ACK ", state + "from=ESTABLISHED state=CLOSE-WAIT",
		state + "from=CLOSE-WAIT state=LAST-ACK", state + "from=LAST-ACK state=CLOSED"}
	eventually(t, 10*time.Second, "serve -v logs the connection's last step", func() bool {
		return strings.Contains(s.stderr.String(), steps[len(steps)-1])
	})
	log := s.stop(t)
	rest := log
	for _, step := range steps {
		i := strings.Index(rest, step)
		if i < 0 {
			t.Fatalf("serve -v does not log %q after the steps before it:\n%s", step, log)
		}
		rest = rest[i+len(step):]
	}
}
