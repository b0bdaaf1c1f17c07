//go:build linux

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// The loss test against the kernel: the kernel drops packets with
// nftables rules on the TUN device, as on a lossy path it shares with
// synack, so both stacks recover from the same loss, and the kernel's own
// counters (nstat) say how it recovered.
//
// The kernel's sockets are in a namespace of their own, a router's
// namespace (the device's) away from synack, and the rules drop on the
// router's forward hook. A drop on the output hook of the namespace where
// the sending socket lives is no loss: the kernel's TCP sees its send fail
// and sends the segment again later as if for the first time, counting no
// retransmission, so the kernel would never recover from a loss at all.

// lossRules are nftables rules in the router's namespace that drop a share
// of the packets each way that it forwards through one device, at random
// (numgen random), and count both what they forward and what they drop.
type lossRules struct {
	ns    *tuntest.NS
	table string
}

// nftCount is what the rules of one direction counted: every packet of
// that direction forwarded through the device, and those dropped.
type nftCount struct{ all, lost uint64 }

// addLossRules drops percent of the packets each way that ns forwards
// through dev: those from synack (iifname) and those to it (oifname). The
// table is deleted in t.Cleanup.
func addLossRules(t *testing.T, ns *tuntest.NS, dev string, percent int) *lossRules {
	t.Helper()
	r := &lossRules{ns: ns, table: "synack_loss_" + strings.ReplaceAll(dev, "-", "_")}
	ns.Run(t, "nft", "add", "table", "inet", r.table)
	t.Cleanup(func() {
		if out, err := ns.Command("nft", "delete", "table", "inet", r.table).CombinedOutput(); err != nil {
			t.Errorf("nft delete table inet %s: %v: %s", r.table, err, out)
		}
	})
	ns.Run(t, "nft", "add", "chain", "inet", r.table, "lossy", "{ type filter hook forward priority 0; }")
	for _, c := range []struct{ dir, match string }{{"in", "iifname"}, {"out", "oifname"}} {
		ns.Run(t, "nft", "add", "rule", "inet", r.table, "lossy", c.match, dev, "counter", "comment", strconv.Quote(c.dir))
		ns.Run(t, "nft", "add", "rule", "inet", r.table, "lossy", c.match, dev,
			"numgen", "random", "mod", "100", "<", strconv.Itoa(percent), "counter", "drop", "comment", strconv.Quote(c.dir+"-lost"))
	}
	return r
}

// counts reads the rules' counters: in is synack to the kernel, out the
// kernel to synack.
func (r *lossRules) counts(t *testing.T) (in, out nftCount) {
	t.Helper()
	var doc struct {
		Nftables []struct {
			Rule *struct {
				Comment string
				Expr    []struct {
					Counter *struct{ Packets uint64 }
				}
			}
		}
	}
	text := r.ns.Run(t, "nft", "-j", "list", "table", "inet", r.table)
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("nft -j list table inet %s: %v:\n%s", r.table, err, text)
	}
	counters := map[string]*uint64{"in": &in.all, "in-lost": &in.lost, "out": &out.all, "out-lost": &out.lost}
	found := 0
	for _, o := range doc.Nftables {
		if o.Rule == nil || counters[o.Rule.Comment] == nil {
			continue
		}
		for _, e := range o.Rule.Expr {
			if e.Counter != nil {
				*counters[o.Rule.Comment] = e.Counter.Packets
				found++
			}
		}
	}
	if found != len(counters) {
		t.Fatalf("nft -j list table inet %s: %d counters, want %d:\n%s", r.table, found, len(counters), text)
	}
	return in, out
}

// The addresses of the link between the router's namespace (the TUN
// device's) and the kernel's sockets' namespace.
const (
	routerAddr = "10.9.0.1"
	kernelAddr = "10.9.0.2"
)

// kernelBehindRouter makes a namespace for the kernel's sockets, joined to
// router by a veth pair, and has router forward between it and synack
// (synack's own routes already send everything to the device). The
// kernel's end of the pair sends each segment in a packet of its own
// (gso_max_segs 1), so that a drop loses one segment, as on a wire.
func kernelBehindRouter(t *testing.T, router *tuntest.NS) *tuntest.NS {
	t.Helper()
	ns := tuntest.Namespace(t)
	veth := "snkv" + strconv.Itoa(int(tunSeq.Add(1)))
	router.Run(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", veth+"k", "netns", ns.Name)
	router.Run(t, "ip", "addr", "add", routerAddr+"/24", "dev", veth)
	router.Run(t, "ip", "link", "set", veth, "up")
	router.Run(t, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	// The kernel's TCP here runs the host's default congestion control (a
	// namespace may not default to one outside the allowed list), which
	// may be BBR: the test asserts how the kernel recovers (with SACK), not
	// how fast; the benchmark compares speeds with CUBIC on every side.
	ns.Run(t, "ip", "link", "set", veth+"k", "gso_max_segs", "1")
	ns.Run(t, "ip", "addr", "add", kernelAddr+"/24", "dev", veth+"k")
	ns.Run(t, "ip", "link", "set", veth+"k", "up")
	ns.Run(t, "ip", "route", "add", serveAddr+"/32", "via", routerAddr)
	return ns
}

// kernelCounters reads the kernel's TCP and IP counters in ns with nstat:
// absolute values (-a), every one (-z), without touching nstat's history
// file (-s), which other runs of nstat share.
func kernelCounters(t *testing.T, ns *tuntest.NS) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	for _, line := range strings.Split(mustRunIn(t, ns, 10*time.Second, "nstat", "-asz"), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("nstat line %q: %v", line, err)
		}
		m[f[0]] = v
	}
	if _, ok := m["TcpRetransSegs"]; !ok {
		t.Fatal("nstat -asz shows no TcpRetransSegs")
	}
	return m
}

// lossPhase is one transfer over the lossy path and what each side and
// the rules counted while it ran.
type lossPhase struct {
	name    string
	bytes   int
	took    time.Duration
	kernel  map[string]uint64 // nstat's counters: growth during the transfer
	synack  map[string]uint64 // serve's /stats: growth, the /stats fetch included
	in, out nftCount          // the rules' counters: growth during the transfer
}

// measure runs transfer, which moves n bytes and checks them, and returns
// the counters' growth while it ran: synack's (serve's /stats, fetched from
// router), the kernel's in kns and the rules'.
func measure(t *testing.T, router, kns *tuntest.NS, rules *lossRules, name string, n int, transfer func() error) lossPhase {
	t.Helper()
	s0 := serveStats(t, router)
	k0 := kernelCounters(t, kns)
	in0, out0 := rules.counts(t)
	start := time.Now()
	if err := transfer(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p := lossPhase{name: name, bytes: n, took: time.Since(start)}
	in1, out1 := rules.counts(t)
	p.in = nftCount{in1.all - in0.all, in1.lost - in0.lost}
	p.out = nftCount{out1.all - out0.all, out1.lost - out0.lost}
	p.kernel = growth(k0, kernelCounters(t, kns))
	p.synack = growth(s0, serveStats(t, router))
	return p
}

// growth is after - before for each counter that grew.
func growth(before, after map[string]uint64) map[string]uint64 {
	d := map[string]uint64{}
	for k, v := range after {
		if v > before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// log writes what the phase took and counted, for comparing the stacks'
// recoveries: every TCP counter of either side that grew.
func (p lossPhase) log(t *testing.T) {
	t.Helper()
	mbit := float64(p.bytes) * 8 / p.took.Seconds() / 1e6
	t.Logf("%s: %d bytes in %v (%.1f Mbit/s); nftables: synack->kernel %d packets, %d dropped; kernel->synack %d packets, %d dropped",
		p.name, p.bytes, p.took.Round(time.Millisecond), mbit, p.in.all, p.in.lost, p.out.all, p.out.lost)
	t.Logf("%s: synack: Timeouts %d RetransSegs %d FastRetransmits %d OutSegs %d; kernel: TcpExtTCPTimeouts %d TcpRetransSegs %d TcpOutSegs %d",
		p.name, p.synack["Tcp: Timeouts"], p.synack["Tcp: RetransSegs"], p.synack["Tcp: FastRetransmits"], p.synack["Tcp: OutSegs"],
		p.kernel["TcpExtTCPTimeouts"], p.kernel["TcpRetransSegs"], p.kernel["TcpOutSegs"])
	for _, side := range []struct {
		who    string
		m      map[string]uint64
		prefix string
	}{{"synack /stats", p.synack, "Tcp: "}, {"kernel nstat", p.kernel, "Tcp"}} {
		var names []string
		for k := range side.m {
			if strings.HasPrefix(k, side.prefix) {
				names = append(names, k)
			}
		}
		slices.Sort(names)
		var b strings.Builder
		for _, k := range names {
			fmt.Fprintf(&b, " %s=%d", strings.TrimPrefix(k, side.prefix), side.m[k])
		}
		t.Logf("%s: %s grew:%s", p.name, side.who, b.String())
	}
}

// checkLoss fails the test unless the rules dropped between 2% and 10% of
// a direction's packets (5% at random: with thousands of packets, a share
// outside that range is a wrong rule, not chance), and some at all.
func checkLoss(t *testing.T, dir string, c nftCount) {
	t.Helper()
	if c.lost == 0 || c.lost*50 < c.all || c.lost*10 > c.all {
		t.Errorf("%s: the nftables rules dropped %d of %d packets; want 2%% to 10%% of them (the rules drop 5%%)", dir, c.lost, c.all)
	}
}

// lossyDownloadCurl fetches n bytes of /bytes with curl in ns and checks
// their length and SHA-256. Its time limit is a safety net, far above the
// time the transfer takes.
func lossyDownloadCurl(t *testing.T, ns *tuntest.NS, seed uint64, n int) error {
	hw := newHashWriter()
	url := fmt.Sprintf("http://%s/bytes/%d?seed=%d", serveAddr, n, seed)
	stderr, err := runIn(t, ns, 200*time.Second, nil, hw, "curl", "-sS", "--fail", "--max-time", "180", url)
	if err != nil {
		return fmt.Errorf("curl %s: %v: %s", url, err, stderr)
	}
	if hw.n != int64(n) {
		return fmt.Errorf("curl %s: %d bytes, want %d", url, hw.n, n)
	}
	if got, want := hw.sum(), seedSum(seed, int64(n)); got != want {
		return fmt.Errorf("curl %s: sha256 %s, want %s (the seed's bytes)", url, got, want)
	}
	return nil
}

// lossyUploadCurl posts the n bytes of a seeded random stream to /upload
// with curl in ns and checks that synack read them: it answers their length
// and SHA-256.
func lossyUploadCurl(t *testing.T, ns *tuntest.NS, seed uint64, n int) error {
	body := randomBytes(n, seed)
	file := filepath.Join(t.TempDir(), "upload.bin")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		return err
	}
	var out bytes.Buffer
	stderr, err := runIn(t, ns, 200*time.Second, nil, &out, "curl", "-sS", "--fail", "--max-time", "180",
		"--data-binary", "@"+file, "http://"+serveAddr+"/upload")
	if err != nil {
		return fmt.Errorf("curl upload: %v: %s", err, stderr)
	}
	sum := sha256.Sum256(body)
	if want := fmt.Sprintf("%d %s\n", n, hex.EncodeToString(sum[:])); out.String() != want {
		return fmt.Errorf("POST /upload answered %q, want %q", out.String(), want)
	}
	return nil
}

// fewNonData bounds the packets other than data segments that a sender of
// the loss test sends: SYN or SYN-ACK, the HTTP response's ACK, FIN.
const fewNonData = 5

// TestServeNftablesLossSACKRecovery: the kernel drops 5% of the packets
// each way that it forwards through synack serve's TUN device (nftables,
// at random), and 20 MB still go byte for byte each way between synack and
// curl on the kernel's sockets one hop away: a download, then an upload.
// The rules dropped about 5% each way; synack, the sender of the download,
// sent again each segment lost; and the kernel, the sender of the upload,
// did too and recovered with SACK (nstat: TcpExtTCPSackRecovery), never with
// Reno's duplicate ACKs, so synack's SACK blocks served it. Each side's
// recovery counters are logged, for comparing the stacks.
func TestServeNftablesLossSACKRecovery(t *testing.T) {
	router := tuntest.Namespace(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("interop: skipped: nft is not installed (.ci/run installs the nftables package with apt-get)")
	}
	requireTools(t, "nstat", "curl", "sh")
	// Without offloads: with them a packet the rules drop could be a 64 KB
	// segment, up to 44 segments at once, where a wire loses one.
	s := startServe(t, router, "--tun-offload=false")
	kns := kernelBehindRouter(t, router)
	rules := addLossRules(t, router, s.tun, 5)
	const n = 20_000_000

	down := measure(t, router, kns, rules, "download", n, func() error { return lossyDownloadCurl(t, kns, 21, n) })
	down.log(t)
	up := measure(t, router, kns, rules, "upload", n, func() error { return lossyUploadCurl(t, kns, 22, n) })
	up.log(t)

	checkLoss(t, "synack->kernel, download (data)", down.in)
	checkLoss(t, "kernel->synack, download (ACKs)", down.out)
	checkLoss(t, "synack->kernel, upload (ACKs)", up.in)
	checkLoss(t, "kernel->synack, upload (data)", up.out)
	// Each sender's lost packets are its data segments, but for a few
	// (the handshake's, the response's, the closes'), and every one lost
	// was sent again for the bytes to arrive.
	if r := down.synack["Tcp: RetransSegs"]; r+fewNonData < down.in.lost {
		t.Errorf("download: synack's RetransSegs grew by %d, though the rules dropped %d of its packets", r, down.in.lost)
	}
	if r := up.kernel["TcpRetransSegs"]; r+fewNonData < up.out.lost {
		t.Errorf("upload: the kernel's TcpRetransSegs grew by %d, though the rules dropped %d of its packets", r, up.out.lost)
	}
	// The kernel's segments crossed the rules one a packet (its OutSegs
	// leaves out retransmissions), so each drop lost one segment.
	if sent := up.kernel["TcpOutSegs"] + up.kernel["TcpRetransSegs"]; up.out.all+fewNonData < sent || sent+fewNonData < up.out.all {
		t.Errorf("upload: the rules saw %d packets from the kernel, which sent %d segments (TcpOutSegs + TcpRetransSegs); want one packet a segment",
			up.out.all, sent)
	}
	if up.kernel["TcpExtTCPSackRecovery"] == 0 {
		t.Errorf("upload: the kernel's TcpExtTCPSackRecovery did not grow; want > 0 (the rules dropped %d of its packets)", up.out.lost)
	}
	if r := up.kernel["TcpExtTCPRenoRecovery"]; r != 0 {
		t.Errorf("upload: the kernel entered Reno recovery %d times; want 0 (SACK is on)", r)
	}
	s.stop(t)
}
