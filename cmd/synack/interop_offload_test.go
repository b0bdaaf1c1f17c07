//go:build linux

package main

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// offloadBytes is the size of the offload tests' download and upload.
const offloadBytes = 200_000_000

// patternReader yields n bytes of a fixed pattern and hashes them.
type patternReader struct {
	n, off int64
	h      *hashWriter
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)]
	for i := range p {
		k := r.off + int64(i)
		p[i] = byte(k*7 + k>>11)
	}
	r.off += int64(len(p))
	r.h.Write(p)
	return len(p), nil
}

// upload POSTs n pattern bytes to /upload with curl in ns, streamed from
// its standard input, and checks the server's answer: length and SHA-256.
func upload(t *testing.T, ns *tuntest.NS, n int64) {
	t.Helper()
	r := &patternReader{n: n, h: newHashWriter()}
	var out strings.Builder
	stderr, err := runIn(t, ns, 120*time.Second, r, &out, "curl", "-sS", "--fail", "--max-time", "110",
		"-H", "Expect:", "--data-binary", "@-", "http://"+serveAddr+"/upload")
	if err != nil {
		t.Fatalf("curl upload: %v: %s", err, stderr)
	}
	if r.off != n {
		t.Fatalf("curl read %d bytes of %d", r.off, n)
	}
	if want := fmt.Sprintf("%d %s\n", n, r.h.sum()); out.String() != want {
		t.Fatalf("POST /upload answered %q, want %q", out.String(), want)
	}
}

// tunLog is what serve logged about its device when it stopped.
type tunLog map[string]uint64

var tunLine = regexp.MustCompile(`msg=tun (.*)`)

// deviceLog parses serve's closing "tun" line.
func deviceLog(t *testing.T, log string) tunLog {
	t.Helper()
	m := tunLine.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("serve logged no tun line:\n%s", log)
	}
	l := tunLog{}
	for _, kv := range strings.Fields(m[1]) {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("tun line: %q is not a count", kv)
		}
		l[k] = n
	}
	return l
}

// TestServeOffloadCurl200MB: with the offloads on (the default), curl
// downloads 200 MB from synack serve and uploads 200 MB to it, both
// checked by SHA-256; the kernel took checksum offload and TSO4, and the
// device carried packets longer than the MTU both ways, described as
// segments by their virtio-net headers (counted by the device from the
// header on reads and from the GSO writes), and dropped no header as bad.
func TestServeOffloadCurl200MB(t *testing.T) {
	ns := tuntest.Namespace(t)
	s := startServe(t, ns)
	if !strings.Contains(s.stderr.String(), "offload=csum|tso4") {
		t.Fatalf("serve does not report checksum offload and TSO4 on:\n%s", s.stderr.String())
	}
	if err := curlBytes200(t, ns, 11); err != nil {
		t.Fatal(err)
	}
	upload(t, ns, offloadBytes)
	l := deviceLog(t, s.stop(t))
	t.Logf("device: %v", l)
	if l["in-gso"] == 0 || l["in-longest"] <= 1500 {
		t.Errorf("the kernel handed over no segment longer than the MTU: in-gso %d, longest %d", l["in-gso"], l["in-longest"])
	}
	if l["out-gso"] == 0 || l["out-longest"] <= 1500 {
		t.Errorf("synack wrote no segment longer than the MTU: out-gso %d, longest %d", l["out-gso"], l["out-longest"])
	}
	if l["in-longest"] > 65535 || l["out-longest"] > 65535 {
		t.Errorf("a packet over 64 KB: in %d, out %d", l["in-longest"], l["out-longest"])
	}
	for _, k := range []string{"in-bad-gso-type", "in-bad-csum", "in-bad-hdr-len"} {
		if l[k] != 0 {
			t.Errorf("%s = %d: the kernel's headers were refused", k, l[k])
		}
	}
}

// curlBytes200 is curlBytes for offloadBytes with a longer time limit.
func curlBytes200(t *testing.T, ns *tuntest.NS, seed uint64) error {
	hw := newHashWriter()
	url := fmt.Sprintf("http://%s/bytes/%d?seed=%d", serveAddr, offloadBytes, seed)
	stderr, err := runIn(t, ns, 120*time.Second, nil, hw, "curl", "-sS", "--fail", "--max-time", "110", url)
	if err != nil {
		return fmt.Errorf("curl %s: %v: %s", url, err, stderr)
	}
	if hw.n != offloadBytes {
		return fmt.Errorf("curl %s: %d bytes, want %d", url, hw.n, offloadBytes)
	}
	if got, want := hw.sum(), seedSum(seed, offloadBytes); got != want {
		return fmt.Errorf("curl %s: sha256 %s, want %s", url, got, want)
	}
	return nil
}

// TestServeNoOffloadCurl: --tun-offload=false is the plain path: no
// virtio-net headers, no packet over the MTU either way, and a download
// and an upload still arrive whole.
func TestServeNoOffloadCurl(t *testing.T) {
	ns := tuntest.Namespace(t)
	s := startServe(t, ns, "--tun-offload=false")
	if !strings.Contains(s.stderr.String(), "offload=off") {
		t.Fatalf("serve does not report the offloads off:\n%s", s.stderr.String())
	}
	if err := curlBytes(t, ns, 12, 20_000_000); err != nil {
		t.Fatal(err)
	}
	upload(t, ns, 20_000_000)
	l := deviceLog(t, s.stop(t))
	if l["in-gso"] != 0 || l["out-gso"] != 0 || l["in-longest"] > 1500 || l["out-longest"] > 1500 {
		t.Errorf("plain path carried offloaded packets: %v", l)
	}
	if l["in-packets"] < 10000 || l["out-packets"] < 10000 {
		t.Errorf("plain path counted too few packets for 40 MB: %v", l)
	}
}
