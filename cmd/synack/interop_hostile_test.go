//go:build linux

package main

// Hostile clients on the kernel's side of serve's TUN device: a spoofed
// SYN flood (Python raw sockets: scapy sends a few thousand packets a
// second, too slow for 100,000), and blind in-window RSTs, SYNs and text
// with an ACK far below SND.UNA (scapy, from Debian's python3-scapy, which
// .ci/run installs for /usr/bin/python3). The attackers learn a
// connection's 4-tuple from ss, as any local user can, and its numbers by
// reading the device (AF_PACKET), as an on-path attacker would. Each test
// asserts outcomes, never timings: every fetch answered, the bytes intact,
// the ACKs synack sends counted against the limit for the time the attack
// took.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// scapyPython returns /usr/bin/python3 if it imports scapy, and skips the
// test otherwise.
func scapyPython(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import scapy.all").Run(); err != nil {
		t.Skip("interop: skipped: /usr/bin/python3 cannot import scapy (.ci/run installs python3-scapy with apt-get)")
	}
	return py
}

// serveStats fetches serve's /stats (netstat -s) and returns its counters
// by name ("Ip: InReceives", "Tcp: SyncookiesSent", ...).
func serveStats(t *testing.T, ns *tuntest.NS) map[string]uint64 {
	t.Helper()
	out := mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "--max-time", "15", "http://"+serveAddr+"/stats")
	m := map[string]uint64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("/stats line %q: want \"Name value\"", line)
		}
		v, err := strconv.ParseUint(line[i+1:], 10, 64)
		if err != nil {
			t.Fatalf("/stats line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// pySYNFlood sends spoofed SYNs from random addresses of 10.7.0.3-254 (on
// the device's prefix, so synack answers them into the device, where the
// kernel, which does not forward, drops the answers) and random ports to
// DST:PORT, PPS a second, through a raw socket (IP_HDRINCL): at least
// TOTAL, and on until the file STOP exists, but never more than 20 times
// TOTAL nor for more than 90 s, so that it ends by itself whatever becomes
// of the test. It prints "flooding" once under way, and at the end how
// many it sent.
const pySYNFlood = `import os, random, socket, struct, sys, time
dst, dport, total, stop, pps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
rng = random.Random(7)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
d = socket.inet_aton(dst)
dw = struct.unpack("!HH", d)
def fold(x):
    while x >> 16:
        x = (x & 0xffff) + (x >> 16)
    return x
# The pseudo-header, ports, offset and flags, window and MSS option: all
# but the source address, source port and sequence number.
base = dw[0] + dw[1] + 6 + 24 + dport + (6 << 12 | 0x02) + 64240 + 0x0204 + 1460 + (10 << 8 | 7)
sent, t0, noted = 0, time.time(), False
while (sent < total or not os.path.exists(stop)) and sent < 20 * total and time.time() - t0 < 90:
    for _ in range(200):
        a = rng.randrange(3, 255)
        sport = rng.randrange(1024, 65536)
        seq = rng.getrandbits(32)
        c = (~fold(base + a + sport + (seq >> 16) + (seq & 0xffff))) & 0xffff
        pkt = struct.pack("!BBHHHBBH4s4sHHIIBBHHH", 0x45, 0, 44, 0, 0, 64, 6, 0, bytes((10, 7, 0, a)), d,
                          sport, dport, seq, 0, 6 << 4, 2, 64240, c, 0) + b"\x02\x04\x05\xb4"
        while True:
            try:
                s.sendto(pkt, (dst, 0))
                break
            except OSError:  # ENOBUFS: the device's queue is full; wait for synack to read
                time.sleep(0.001)
        sent += 1
    if not noted:
        print("flooding", flush=True)
        noted = True
    ahead = sent / pps - (time.time() - t0)
    if ahead > 0:
        time.sleep(ahead)
print("sent=%d seconds=%.2f" % (sent, time.time() - t0), flush=True)
`

// TestServeSYNFloodServesEveryFetch: 100,000 spoofed SYNs and more
// against port 80 while curl fetches / again and again: every fetch is
// answered, and synack's counters show it answered the flood with SYN
// cookies (SyncookiesSent) once the SYN queue was full.
func TestServeSYNFloodServesEveryFetch(t *testing.T) {
	ns := tuntest.Namespace(t)
	requireTools(t, "curl")
	py := python(t)
	s := startServe(t, ns)
	// A longer queue on the kernel's side of the device than its 500, so
	// that a burst waits (the flood on ENOBUFS) rather than being lost;
	// not so long that curl's packets wait seconds behind the flood when
	// synack (built with -race, on a busy machine) falls behind its rate.
	mustRunIn(t, ns, 10*time.Second, "ip", "link", "set", "dev", s.tun, "txqueuelen", "5000")
	before := serveStats(t, ns)
	start := time.Now()

	const floodSYNs = 100_000
	stop := filepath.Join(t.TempDir(), "stop")
	flood := startProc(t, ns, nil, py, writeScript(t, "flood.py", pySYNFlood), serveAddr, "80", strconv.Itoa(floodSYNs), stop, "10000")
	eventually(t, 20*time.Second, "the flood is under way", func() bool {
		if flood.exited() {
			t.Fatalf("flood ended early (%v): %s", flood.err, flood.stderr.String())
		}
		return strings.Contains(flood.stdout.String(), "flooding")
	})

	// fetch is one curl of / that must be answered with the page.
	fetch := func(what string) {
		t.Helper()
		var out bytes.Buffer
		// The kernel sends its SYN again after 1 s, 3 s and 7 s: 15 s
		// leaves room for two lost SYNs.
		stderr, err := runIn(t, ns, 30*time.Second, nil, &out, "curl", "-sS", "--fail", "--max-time", "15", "http://"+serveAddr+"/")
		if err != nil || !strings.Contains(out.String(), "Hello from synack") {
			t.Fatalf("%s during the flood: %v: %s (body %d bytes)", what, err, stderr, out.Len())
		}
	}
	const fetches = 20
	for i := range fetches {
		fetch(fmt.Sprintf("fetch %d of /", i+1))
	}
	// Flood on until synack has taken in the whole flood; every look at
	// /stats is one more fetch that must be answered.
	var during map[string]uint64
	eventually(t, 60*time.Second, fmt.Sprintf("synack takes in %d packets", floodSYNs), func() bool {
		during = serveStats(t, ns)
		return during["Ip: InReceives"]-before["Ip: InReceives"] >= floodSYNs
	})
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := flood.wait(t, 30*time.Second); err != nil {
		t.Fatalf("flood: %v: %s", err, flood.stderr.String())
	}
	took := time.Since(start)
	fetch("a fetch after the flood")
	after := serveStats(t, ns)
	t.Logf("flood: %s; synack took in %d packets in %v; %d fetches of / during it",
		strings.TrimSpace(flood.stdout.String()), after["Ip: InReceives"]-before["Ip: InReceives"], took.Round(time.Millisecond), fetches)
	for _, k := range []string{"Tcp: SyncookiesSent", "Tcp: SyncookiesRecv", "Tcp: SyncookiesFailed", "Tcp: ListenDrops", "Tcp: DropSYNQueueFull", "Tcp: PassiveOpens"} {
		if v, ok := after[k]; ok {
			t.Logf("%s %d", k, v-before[k])
		}
	}
	if sent, ok := after["Tcp: SyncookiesSent"]; !ok || sent == before["Tcp: SyncookiesSent"] {
		t.Errorf("synack's /stats shows no SYN cookies sent (Tcp: SyncookiesSent %d, present %v)", sent, ok)
	}
	s.stop(t)
}

// pyLearn reads the device (AF_PACKET: the IP packets both ways) and
// keeps, for one connection, what an on-path attacker learns: synack's
// latest ACK (its RCV.NXT), the end of its latest segment (its SND.NXT),
// its latest TSval, and the client's latest TSval and ACK (synack's
// SND.UNA).
const pyLearn = `import socket, struct, time

class Conn:
    def __init__(self, iface, client, server):
        # ETH_P_ALL: a socket bound to IPv4 alone sees only what arrives.
        self.r = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
        self.r.bind((iface, 3))
        self.client, self.server = client, server
        self.rcv_nxt = self.snd_nxt = self.snd_una = None
        self.server_ts = self.client_ts = None

    def parse(self, p):
        if len(p) < 40 or p[0] >> 4 != 4 or p[9] != 6:
            return None
        ihl = (p[0] & 15) * 4
        t = p[ihl:struct.unpack("!H", p[2:4])[0]]
        sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", t[:14])
        doff = (off >> 4) * 4
        ts, o, i = None, t[20:doff], 0
        while i < len(o) and o[i] != 0:
            if o[i] == 1:
                i += 1
                continue
            if i + 1 >= len(o) or o[i + 1] < 2:
                break
            if o[i] == 8 and o[i + 1] == 10:
                ts = struct.unpack("!II", o[i + 2:i + 10])
            i += o[i + 1]
        src = (socket.inet_ntoa(p[12:16]), sport)
        dst = (socket.inet_ntoa(p[16:20]), dport)
        return src, dst, seq, ack, flags, ts, len(t) - doff

    def learn(self, until, timeout=10):
        """Reads packets until until(self) holds."""
        deadline = time.time() + timeout
        self.r.settimeout(0.2)
        while not until(self):
            if time.time() > deadline:
                raise SystemExit("learn: not learnt within %ds: %r" % (timeout, vars(self)))
            try:
                p = self.r.recv(65535)
            except socket.timeout:
                continue
            m = self.parse(p)
            if m is None:
                continue
            src, dst, seq, ack, flags, ts, n = m
            if src == self.server and dst == self.client:
                self.rcv_nxt = ack
                end = (seq + n + (1 if flags & 1 else 0)) % 2**32
                if self.snd_nxt is None or (end - self.snd_nxt) % 2**32 < 2**31:
                    self.snd_nxt = end
                if ts:
                    self.server_ts = ts[0]
            elif src == self.client and dst == self.server:
                if flags & 0x10:
                    self.snd_una = ack
                if ts:
                    self.client_ts = ts[0]

    def wait_out(self, payload, timeout=10):
        """Reads packets until one carrying payload goes out on the device:
        whatever is sent after it reaches synack after it."""
        deadline = time.time() + timeout
        self.r.settimeout(0.2)
        while time.time() < deadline:
            try:
                p = self.r.recv(65535)
            except socket.timeout:
                continue
            if p.endswith(payload):
                return
        raise SystemExit("wait_out: %r never went out" % payload)

    def ts_option(self):
        return [("NOP", None), ("NOP", None), ("Timestamp", (self.client_ts, self.server_ts))] if self.client_ts else []
`

// pyDownload fetches /bytes/N?seed=S over a kernel socket, stops reading
// after the first 256 KiB (synack's window to it closes), prints its
// address, and reads on when a line arrives on stdin; then it checks the
// body against the seed's rule and prints its length and SHA-256.
const pyDownload = `import hashlib, socket, sys
host, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, 80), timeout=30)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b"GET /bytes/%d?seed=%d HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (n, seed, host.encode()))
buf = b""
while len(buf) < 256 << 10:
    b = s.recv(65536)
    if not b:
        break
    buf += b
print("paused local=%s:%d" % s.getsockname(), flush=True)
sys.stdin.readline()
h = hashlib.sha256()
head, _, body = buf.partition(b"\r\n\r\n")
got, i, pend = 0, 0, body
want = hashlib.sha256()
while True:
    h.update(pend)
    got += len(pend)
    pend = s.recv(1 << 20)
    if not pend:
        break
for i in range((n + 31) // 32):
    want.update(hashlib.sha256(b"%d:%d" % (seed, i)).digest()[:min(32, n - 32 * i)])
print("done status=%s body=%d ok=%s" % (head.split(b"\r\n")[0].decode(), got, h.digest() == want.digest()), flush=True)
`

// pyBlind sends NRST RSTs and NSYN SYNs, interleaved, on the connection
// from CLIENT to SERVER, each with a sequence number inside synack's
// window but not at RCV.NXT (RCV.NXT + 1 to 40,000), with the timestamps
// an on-path attacker copies from the connection; it prints when it began
// and ended (time.time()).
const pyBlind = `import random, sys, time
from scapy.all import IP, TCP
from scapy.supersocket import L3RawSocket
exec(open(sys.argv[1]).read())
iface, cip, cport, sip, sport, nrst, nsyn = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
c = Conn(iface, (cip, cport), (sip, sport))
c.learn(lambda c: c.rcv_nxt is not None and c.client_ts is not None and c.server_ts is not None)
rng = random.Random(3)
pkts = []
for i in range(nrst + nsyn):
    flags = "S" if i % 3 == 2 and nsyn > 0 else "R"
    seq = (c.rcv_nxt + rng.randrange(1, 40000)) % 2**32
    pkts.append(IP(src=cip, dst=sip) / TCP(sport=cport, dport=sport, flags=flags, seq=seq, window=502, options=c.ts_option()))
kinds = {"R": sum(1 for p in pkts if p[TCP].flags == "R"), "S": sum(1 for p in pkts if p[TCP].flags == "S")}
sock = L3RawSocket()
start = time.time()
for p in pkts:
    sock.send(p)
end = time.time()
print("start=%.6f end=%.6f rsts=%d syns=%d rcv_nxt=%d" % (start, end, kinds["R"], kinds["S"], c.rcv_nxt), flush=True)
`

// pcapPacket is one packet of a pcap file that link/sniff wrote.
type pcapPacket struct {
	at  time.Time
	pkt []byte
}

// readPcap reads a classic pcap file with nanosecond timestamps and raw IP
// packets, as link/sniff writes it.
func readPcap(t *testing.T, file string) []pcapPacket {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	var out []pcapPacket
	for off := 24; off+16 <= len(b); {
		incl := int(le.Uint32(b[off+8:]))
		if off+16+incl > len(b) {
			t.Fatalf("%s: record at %d runs past the end", file, off)
		}
		at := time.Unix(int64(le.Uint32(b[off:])), int64(le.Uint32(b[off+4:])))
		out = append(out, pcapPacket{at, b[off+16 : off+16+incl]})
		off += 16 + incl
	}
	return out
}

// tcpSeg is the TCP of a raw IPv4 packet: addresses, numbers, flags and
// payload length; ok is false for anything else.
type tcpSeg struct {
	src, dst netip.AddrPort
	seq, ack uint32
	flags    byte
	n        int
	payload  []byte
}

func parseTCPPacket(p []byte) (s tcpSeg, ok bool) {
	if len(p) < 40 || p[0]>>4 != 4 || p[9] != 6 {
		return s, false
	}
	ihl := int(p[0]&15) * 4
	tot := int(binary.BigEndian.Uint16(p[2:]))
	if tot > len(p) || ihl+20 > tot {
		return s, false
	}
	tp := p[ihl:tot]
	doff := int(tp[12]>>4) * 4
	if doff < 20 || doff > len(tp) {
		return s, false
	}
	src, _ := netip.AddrFromSlice(p[12:16])
	dst, _ := netip.AddrFromSlice(p[16:20])
	s = tcpSeg{src: netip.AddrPortFrom(src, binary.BigEndian.Uint16(tp[0:])), dst: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tp[2:])),
		seq: binary.BigEndian.Uint32(tp[4:]), ack: binary.BigEndian.Uint32(tp[8:]), flags: tp[13], n: len(tp) - doff, payload: tp[doff:]}
	return s, true
}

var (
	pausedLine = regexp.MustCompile(`paused local=(\S+)`)
	doneLine   = regexp.MustCompile(`done status=(.*) body=(\d+) ok=(\w+)`)
	blindLine  = regexp.MustCompile(`start=([\d.]+) end=([\d.]+) rsts=(\d+) syns=(\d+)`)
)

// unixTime is a time.time() value.
func unixTime(s string) time.Time {
	f, _ := strconv.ParseFloat(s, 64)
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// TestServeBlindRSTSYNDuringDownloadIntact: during a download from port
// 80, an attacker who knows the 4-tuple (ss) and RCV.NXT (from the device)
// sends 2,000 RSTs and 1,000 SYNs inside synack's window but not at
// RCV.NXT. None resets the connection: the download completes with every
// byte right (RFC 5961 §3, §4); and the ACKs synack sends the client for
// them (challenge ACKs, in the capture: bare ACKs that are not zero-window
// probes) stay within one per 500 ms (Linux tcp_invalid_ratelimit) for
// the time the attack lasted, where without a limit there is one each.
func TestServeBlindRSTSYNDuringDownloadIntact(t *testing.T) {
	ns := tuntest.Namespace(t)
	requireTools(t, "ss")
	spy := scapyPython(t)
	pcap := filepath.Join(t.TempDir(), "blind.pcap")
	s := startServe(t, ns, "--pcap", pcap)
	// Room on the device's queue for the whole attack: a full queue would
	// fail the attacker's sends (ENOBUFS) while synack catches up.
	mustRunIn(t, ns, 10*time.Second, "ip", "link", "set", "dev", s.tun, "txqueuelen", "5000")

	const size, seed = 4_000_000, 21
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	client := startProc(t, ns, r, python(t), writeScript(t, "download.py", pyDownload), serveAddr, strconv.Itoa(size), strconv.Itoa(seed))
	eventually(t, 20*time.Second, "the download pauses", func() bool {
		if client.exited() {
			t.Fatalf("download ended early (%v): %s", client.err, client.stderr.String())
		}
		return pausedLine.MatchString(client.stdout.String())
	})
	// The attacker finds the connection as any local user can.
	ss := mustRunIn(t, ns, 10*time.Second, "ss", "-tniH", "state", "established", "dst", serveAddr+":80")
	m := regexp.MustCompile(`(\d+\.\d+\.\d+\.\d+):(\d+)\s+` + regexp.QuoteMeta(serveAddr) + `:80`).FindStringSubmatch(ss)
	if m == nil {
		t.Fatalf("ss shows no connection to %s:80:\n%s", serveAddr, ss)
	}
	if want := pausedLine.FindStringSubmatch(client.stdout.String())[1]; m[1]+":"+m[2] != want {
		t.Fatalf("ss shows %s:%s, the client is %s", m[1], m[2], want)
	}
	lib := writeScript(t, "learn.py", pyLearn)
	out := mustRunIn(t, ns, 60*time.Second, spy, writeScript(t, "blind.py", pyBlind), lib, s.tun, m[1], m[2], serveAddr, "80", "2000", "1000")
	b := blindLine.FindStringSubmatch(out)
	if b == nil {
		t.Fatalf("attacker printed %q", out)
	}
	if _, err := io.WriteString(w, "go\n"); err != nil {
		t.Fatal(err)
	}
	if err := client.wait(t, 60*time.Second); err != nil {
		t.Fatalf("download: %v: %s", err, client.stderr.String())
	}
	d := doneLine.FindStringSubmatch(client.stdout.String())
	if d == nil || d[1] != "HTTP/1.1 200 OK" || d[2] != strconv.Itoa(size) || d[3] != "True" {
		t.Errorf("download after the attack: %q; want status 200, %d bytes, ok=True (the seed's bytes)", client.stdout.String(), size)
	}
	s.stop(t)

	// Count what synack sent the client while the attack lasted, and a
	// second after (packets still queued to synack).
	start, end := unixTime(b[1]), unixTime(b[2]).Add(time.Second)
	clientAP := netip.MustParseAddrPort(m[1] + ":" + m[2])
	var una uint32 // the client's latest ACK: synack's SND.UNA
	acks, probes, rsts, attack := 0, 0, 0, 0
	for _, p := range readPcap(t, pcap) {
		sg, ok := parseTCPPacket(p.pkt)
		if !ok {
			continue
		}
		if sg.src == clientAP && sg.flags&0x10 != 0 {
			una = sg.ack
		}
		if sg.src == clientAP && sg.flags&0x06 != 0 && !p.at.Before(start) {
			attack++ // RST or SYN
		}
		if sg.dst != clientAP || p.at.Before(start) || p.at.After(end) {
			continue
		}
		switch {
		case sg.flags&0x04 != 0:
			rsts++
		case sg.flags == 0x10 && sg.n == 0 && sg.seq == una-1:
			probes++ // zero-window probe: the client is not reading
		case sg.flags == 0x10 && sg.n == 0:
			acks++
		}
	}
	secs := end.Sub(start).Seconds()
	limit := int(math.Ceil(secs/0.5)) + 1
	t.Logf("attack: %s rsts, %s syns in %.2fs (%d reached synack); synack sent the client %d bare ACKs and %d zero-window probes in %.2fs; limit %d",
		b[3], b[4], unixTime(b[2]).Sub(start).Seconds(), attack, acks, probes, secs, limit)
	if attack < 3000 {
		t.Errorf("the capture holds %d of the attacker's 3,000 segments", attack)
	}
	if rsts > 0 {
		t.Errorf("synack sent the client %d RSTs", rsts)
	}
	if acks > limit {
		t.Errorf("synack sent the client %d bare ACKs for 3,000 blind RSTs and SYNs in %.2fs; want at most %d (one per 500 ms)", acks, secs, limit)
	}
}

// pyEchoInject connects to echo (port 7), sends a line and reads it back,
// learns synack's numbers from the device, then sends, as if from the
// client, the text INJECTED at exactly RCV.NXT with the connection's
// timestamps but ACK = SND.UNA - 2^30. It then sends a second line and
// reads everything echoed until synack closes: the stream must be the two
// lines and nothing else.
const pyEchoInject = `import socket, sys
from scapy.all import IP, TCP
from scapy.supersocket import L3RawSocket
exec(open(sys.argv[1]).read())
iface, host = sys.argv[2], sys.argv[3]
s = socket.socket()
s.settimeout(10)
# The device's packets are read from before the connection opens.
c = Conn(iface, None, (host, 7))
s.connect((host, 7))
c.client = s.getsockname()
sent = b"first line;"
s.sendall(sent)
got = b""
while len(got) < len(sent):
    got += s.recv(100)
# Wait for the client's ACK of the echo: then SND.UNA = SND.NXT.
c.learn(lambda c: c.snd_nxt is not None and c.snd_una == c.snd_nxt and c.client_ts and c.server_ts)
old = (c.snd_una - 2**30) % 2**32
pkt = IP(src=c.client[0], dst=host) / TCP(sport=c.client[1], dport=7, flags="PA", seq=c.rcv_nxt, ack=old,
                                          window=502, options=c.ts_option()) / b"INJECTED"
L3RawSocket().send(pkt)
print("injected seq=%d ack=%d (SND.UNA %d)" % (c.rcv_nxt, old, c.snd_una), flush=True)
c.wait_out(b"INJECTED")  # on the device's queue: it reaches synack before the next line
more = b"second line;"
s.sendall(more)
sent += more
s.shutdown(socket.SHUT_WR)
while True:
    b = s.recv(1000)
    if not b:
        break
    got += b
print("sent=%r got=%r" % (sent, got), flush=True)
`

// TestServeEchoIgnoresTextWithOldACK: text at exactly RCV.NXT, with the
// connection's timestamps, but with ACK = SND.UNA - 2^30 is not accepted
// (RFC 5961 §5: its ACK is below SND.UNA - MAX.SND.WND): echo never sends
// it back, and the kernel client's stream stays exactly what it sent.
func TestServeEchoIgnoresTextWithOldACK(t *testing.T) {
	ns := tuntest.Namespace(t)
	spy := scapyPython(t)
	pcap := filepath.Join(t.TempDir(), "inject.pcap")
	s := startServe(t, ns, "--pcap", pcap)
	lib := writeScript(t, "learn.py", pyLearn)
	out := mustRunIn(t, ns, 60*time.Second, spy, writeScript(t, "inject.py", pyEchoInject), lib, s.tun, serveAddr)
	t.Logf("client: %s", strings.TrimSpace(out))
	if !strings.Contains(out, `sent=b'first line;second line;' got=b'first line;second line;'`) {
		t.Errorf("echo's stream after the injection: %q; want exactly the two lines sent", out)
	}
	s.stop(t)
	// The injected segment did reach synack.
	reached := false
	for _, p := range readPcap(t, pcap) {
		if sg, ok := parseTCPPacket(p.pkt); ok && sg.dst.Port() == 7 && bytes.Equal(sg.payload, []byte("INJECTED")) {
			reached = true
		}
	}
	if !reached {
		t.Errorf("the capture holds no INJECTED segment to port 7: the test sent nothing")
	}
}
