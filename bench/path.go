package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// pathSpec is a real-path loss workload: nftables drops pct% of the
// packets each way on the client's device, and curl downloads bytes.
type pathSpec struct {
	pct     int // 0: no nftables rules
	bytes   int64
	plain   bool // synack's TUN device without offloads (tun.Config.NoOffload)
	offload bool // the kernel's veth with its offloads on
}

// The addresses of every real path: the client (curl, the kernel's side
// of a TUN device, or one end of the veth pair) and the server.
var (
	pathClient = netip.MustParsePrefix("10.77.0.1/24")
	pathServer = netip.MustParsePrefix("10.77.0.2/24")
)

// pathMTU is the MTU of every real path's device.
const pathMTU = 1500

// pathWorkload is path-loss-PCT: a download by curl over a real path that
// nftables makes lossy. synack's TUN device runs without offloads, as
// gVisor's does and as the kernel's veth does with GSO off: with them, one
// packet the rules drop would be up to 44 segments, where a wire loses one.
func pathWorkload(sz Sizes, pct int) Workload {
	return Workload{
		Name: fmt.Sprintf("path-loss-%d", pct), MTU: pathMTU, path: &pathSpec{pct: pct, bytes: sz.PathBytes, plain: true},
		About: fmt.Sprintf("a %s download by curl in a network namespace whose nftables rules drop %d%% of the packets each way on the device "+
			"(numgen random mod 100 < %d, input and output hooks), MTU %d: from synack on a TUN device (offloads off), from gVisor's netstack on a TUN device "+
			"(fdbased), and from the kernel (CUBIC) over a veth pair from another namespace with TSO, GSO and GRO off. Needs root; skipped without",
			sizeText(sz.PathBytes), pct, pct, pathMTU),
		Metrics: []Metric{
			{Key: "mbps", Label: "goodput Mbit/s", Higher: true, Prec: 1},
			{Key: "timeouts_per_20mb", Label: "retransmission timeouts/20 MB", Prec: 1},
			{Key: "retrans_per_lost", Label: "retransmitted segments/segment lost", Prec: 2},
			{Key: "lost_pct", Label: "% of data packets lost", Prec: 2},
		},
	}
}

// tunWorkload is tun-offload or tun-plain: a download by curl, and an
// upload by a kernel socket, on a clean real path. tun-offload runs each
// target with what its link can offload: synack on a TUN device with its
// offloads on (the default), gVisor on a TUN device through fdbased, and
// the kernel over a veth pair with TSO, GSO and GRO on. fdbased takes its
// GSO options only for socket descriptors (AF_PACKET), not for a TUN
// device, so gVisor's TUN path moves one packet per system call however
// it is set. tun-plain is synack alone with its offloads off, to show what
// they bring.
func tunWorkload(sz Sizes, plain bool) Workload {
	name, how := "tun-offload", "each with what its link offloads: synack on a TUN device with virtio-net headers, TSO4 and checksum offload (segments of up to 64 KB both ways, each written with one writev straight from the send buffer); "+
		"gVisor on a TUN device through fdbased (which takes GSO options only for sockets, so none); the kernel over a veth pair with TSO, GSO and GRO on"
	only := []string{Synack, GVisor, Kernel}
	if plain {
		name, how = "tun-plain", "from synack on a TUN device with the offloads off (one packet of at most the MTU per system call)"
		only = []string{Synack}
	}
	return Workload{
		Name: name, MTU: pathMTU, Only: only, path: &pathSpec{bytes: sz.TUNBytes, plain: plain, offload: !plain},
		About: fmt.Sprintf("a %s download by curl in a network namespace, and as much uploaded by a kernel socket, %s; MTU %d, no loss. Needs root; skipped without",
			sizeText(sz.TUNBytes), how, pathMTU),
		Metrics: []Metric{
			{Key: "gbps", Label: "download Gbit/s", Higher: true, Prec: 2},
			{Key: "up_gbps", Label: "upload Gbit/s", Higher: true, Prec: 2},
		},
	}
}

// sizeText prints a byte count as MB when it is a whole number of them.
func sizeText(n int64) string {
	if n%1_000_000 == 0 {
		return fmt.Sprintf("%d MB", n/1_000_000)
	}
	return fmt.Sprintf("%d-byte", n)
}

// pathEnd is the server side of a real path, ready to serve.
type pathEnd struct {
	l   net.Listener
	dev string // the client namespace's device the rules apply to
	// counters returns the sender's retransmission timeouts and
	// retransmitted segments so far.
	counters func(ctx context.Context) (timeouts, retrans uint64, err error)
	close    func() error
}

// runPath runs spec once on target: a fresh client namespace, the
// target's server on its device, the nftables rules, one curl download.
func runPath(ctx context.Context, spec *pathSpec, target string, prof *profiler) (smp Sample, err error) {
	ns, err := newNetns(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, ns.delete()) }()
	var end *pathEnd
	switch target {
	case Synack:
		end, err = synackPathEnd(ns, spec.plain)
	case GVisor:
		end, err = gvisorPathEnd(ctx, ns)
	case Kernel:
		end, err = kernelPathEnd(ctx, ns, spec.offload)
	default:
		err = fmt.Errorf("no real path for target %q", target)
	}
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, end.close()) }()

	srv := &http.Server{Handler: download(spec.bytes), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(end.l)
	defer srv.Close()

	if spec.pct == 0 { // a clean path: goodput alone, each way
		if prof != nil { // the download is profiled: it is the figure with a goal
			prof.start()
		}
		got, secs, err := curl(ctx, ns, spec.bytes)
		if prof != nil {
			prof.stop()
		}
		if err != nil {
			return nil, err
		}
		upSecs, err := upload(ns, spec.bytes)
		if err != nil {
			return nil, err
		}
		return Sample{"gbps": float64(got) * 8 / secs / 1e9, "up_gbps": float64(spec.bytes) * 8 / upSecs / 1e9}, nil
	}

	table := "synack_bench_" + randomHex(4)
	if _, err := ns.run(ctx, []byte(nftRules(table, end.dev, spec.pct)), "nft", "-f", "-"); err != nil {
		return nil, err
	}
	defer func() {
		_, derr := ns.run(context.Background(), nil, "nft", "delete", "table", "inet", table)
		err = errors.Join(err, derr)
	}()

	t0, r0, err := end.counters(ctx)
	if err != nil {
		return nil, err
	}
	got, secs, err := curl(ctx, ns, spec.bytes)
	if err != nil {
		return nil, err
	}
	t1, r1, err := end.counters(ctx)
	if err != nil {
		return nil, err
	}
	lost, passed, err := nftDrops(ctx, ns, table)
	if err != nil {
		return nil, err
	}
	smp = Sample{
		"mbps":              float64(got) * 8 / secs / 1e6,
		"timeouts_per_20mb": float64(t1-t0) * 20e6 / float64(got),
		"lost_pct":          100 * float64(lost) / float64(lost+passed),
	}
	if lost > 0 {
		smp["retrans_per_lost"] = float64(r1-r0) / float64(lost)
	}
	return smp, nil
}

// download serves n bytes of a repeating pattern, with their length.
func download(n int64) http.Handler {
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost { // an upload: read it all, answer its length
			got, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r.Body}, make([]byte, 256<<10))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, got)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		w.Header().Set("Content-Type", "application/octet-stream")
		for left := n; left > 0; {
			k := min(left, chunk)
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			left -= k
		}
	})
}

// upload POSTs n bytes to the server from a kernel socket in ns, in
// writes of 256 KiB, and returns the seconds from the dial to the answer,
// which the server sends once it has read them all.
func upload(ns *netns, n int64) (float64, error) {
	var c net.Conn
	t0 := time.Now()
	if err := ns.do(func() (err error) {
		c, err = net.Dial("tcp", net.JoinHostPort(pathServer.Addr().String(), "80"))
		return err
	}); err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", n); err != nil {
		return 0, err
	}
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	for left := n; left > 0; {
		k := min(left, int64(len(buf)))
		if _, err := c.Write(buf[:k]); err != nil {
			return 0, err
		}
		left -= k
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	secs := time.Since(t0).Seconds()
	if err != nil || string(body) != strconv.FormatInt(n, 10) {
		return 0, fmt.Errorf("upload of %d bytes answered %q (%v)", n, body, err)
	}
	return secs, nil
}

// nftRules is an nftables table that drops pct% of the packets each way
// on dev, counting what it drops on input (the download's data) and what
// it lets in.
func nftRules(table, dev string, pct int) string {
	return fmt.Sprintf(`table inet %[1]s {
	chain input {
		type filter hook input priority 0; policy accept;
		iifname "%[2]s" numgen random mod 100 < %[3]d counter drop
		iifname "%[2]s" counter accept
	}
	chain output {
		type filter hook output priority 0; policy accept;
		oifname "%[2]s" numgen random mod 100 < %[3]d counter drop
	}
}
`, table, dev, pct)
}

var nftCounter = regexp.MustCompile(`counter packets (\d+) bytes \d+ (drop|accept)`)

// nftDrops reads the input chain's counters: the packets dropped and the
// packets let in on the device.
func nftDrops(ctx context.Context, ns *netns, table string) (dropped, passed uint64, err error) {
	out, err := ns.run(ctx, nil, "nft", "list", "chain", "inet", table, "input")
	if err != nil {
		return 0, 0, err
	}
	m := nftCounter.FindAllStringSubmatch(out, -1)
	if len(m) != 2 || m[0][2] != "drop" || m[1][2] != "accept" {
		return 0, 0, fmt.Errorf("nft list chain: no drop and accept counters in:\n%s", out)
	}
	dropped, _ = strconv.ParseUint(m[0][1], 10, 64)
	passed, _ = strconv.ParseUint(m[1][1], 10, 64)
	return dropped, passed, nil
}

// curl downloads from the server inside ns and returns the bytes it got
// and the seconds the transfer took by curl's own clock.
func curl(ctx context.Context, ns *netns, want int64) (int64, float64, error) {
	url := "http://" + net.JoinHostPort(pathServer.Addr().String(), "80") + "/"
	out, err := ns.run(ctx, nil, "curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url)
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("curl printed %q", out)
	}
	got, err1 := strconv.ParseInt(f[0], 10, 64)
	secs, err2 := strconv.ParseFloat(f[1], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("curl printed %q: %w", out, err)
	}
	if got != want || secs <= 0 {
		return 0, 0, fmt.Errorf("curl got %d bytes in %v s, want %d", got, secs, want)
	}
	return got, secs, nil
}
