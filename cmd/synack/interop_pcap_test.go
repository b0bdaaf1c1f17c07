//go:build linux

package main

import (
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// tsharkChecks makes tshark verify the IPv4 and TCP checksums, which it
// does not by default, and turns off its Thrift heuristic, which now and
// then takes random /bytes payload for malformed Thrift.
var tsharkChecks = []string{"-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
	"--disable-heuristic", "thrift_tcp"}

// tshark runs tshark on the capture file with the checksum checks and
// args, and returns its standard output.
func tshark(t *testing.T, file string, args ...string) string {
	t.Helper()
	cmd := exec.Command("tshark", append(append(append([]string{}, tsharkChecks...), "-r", file), args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s %v: %v\n%s", file, args, err, stderr.String())
	}
	return string(out)
}

// badFilter matches the frames tshark finds malformed, with a bad IPv4 or
// TCP checksum, or with an expert item of error severity.
//
// One exception: a segment from the kernel whose checksum field is 0xffff
// where the sum came to zero. Linux writes it so on purpose (the
// CSUM_MANGLED_0 of skb_checksum_help, for packets whose checksum it
// completes in software, as it does for a TUN device), about once in 65536
// segments; 0xffff and 0x0000 are the same number in one's complement
// (RFC 1624 §3) and synack accepts it, but Wireshark marks it bad. Segments
// synack sends get no such allowance.
const badFilter = `_ws.malformed || _ws.expert.severity >= "Error" || ip.checksum.status == "Bad" || (tcp.checksum.status == "Bad" && !(` + kernelZeroAsFFFF + `))`

// kernelZeroAsFFFF matches the kernel's segments with a zero checksum
// written as 0xffff.
const kernelZeroAsFFFF = `ip.dst == ` + serveAddr + ` && tcp.checksum == 0xffff`

// TestServeCaptureIsClean: synack serve --pcap records a run with curl,
// Python's echo and discard clients, a refused port and ping; tshark reads
// the capture (tshark -r FILE -z expert -q, checksums checked) and finds no
// malformed packet, no bad checksum and no error-level expert item. The
// same checks on a copy with one byte changed do find the bad checksum,
// so they can fail. It runs with the TUN offloads on (the default), where
// the capture shows segments longer than the MTU both ways (before the
// kernel cuts them, after it glued them), and off, where it shows none.
func TestServeCaptureIsClean(t *testing.T) {
	t.Run("offload", func(t *testing.T) { captureIsClean(t, true) })
	t.Run("plain", func(t *testing.T) { captureIsClean(t, false) })
}

func captureIsClean(t *testing.T, offload bool) {
	ns := tuntest.Namespace(t)
	requireTools(t, "tshark", "curl", "nc")
	python(t)
	script := writeScript(t, "bulk.py", pyBulk)
	pcap := filepath.Join(t.TempDir(), "serve.pcap")
	s := startServe(t, ns, "--pcap", pcap, "--tun-offload="+strconv.FormatBool(offload))

	mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "http://"+serveAddr+"/")
	if err := curlBytes(t, ns, 3, 5_000_000); err != nil {
		t.Fatal(err)
	}
	if _, got, bad := bulk(t, ns, script, 7, 64<<10, 2_000_000); got != 2_000_000 || bad != -1 {
		t.Errorf("echo: %d bytes back, first wrong at %d", got, bad)
	}
	bulk(t, ns, script, 9, 1<<10, 2_000_000)
	runIn(t, ns, 10*time.Second, nil, io.Discard, "nc", "-z", "-w", "5", serveAddr, "81") // refused
	if _, err := exec.LookPath("ping"); err == nil {
		mustRunIn(t, ns, 20*time.Second, "ping", "-c", "2", "-i", "0.2", "-W", "5", serveAddr)
	}
	s.stop(t)

	expert := tshark(t, pcap, "-q", "-z", "expert")
	t.Logf("tshark -z expert:\n%s", expert)
	if strings.Contains(expert, "Errors (") {
		t.Errorf("tshark reports error-level expert items:\n%s", expert)
	}
	if bad := strings.TrimSpace(tshark(t, pcap, "-Y", badFilter)); bad != "" {
		t.Errorf("tshark finds malformed frames, bad checksums or errors:\n%s", bad)
	}
	// Every TCP segment's checksum was checked and found good.
	tcpFrames := countLines(tshark(t, pcap, "-Y", "tcp"))
	good := countLines(tshark(t, pcap, "-Y", `tcp.checksum.status == "Good" || (`+kernelZeroAsFFFF+`)`))
	// Over 9 MB of data in all: over 1000 segments of at most the MTU,
	// and at least 140 of at most 64 KB with the offloads.
	least := 1000
	if offload {
		least = 140
	}
	if tcpFrames < least || good != tcpFrames {
		t.Errorf("capture holds %d TCP segments, %d with a good checksum; want over %d, all good", tcpFrames, good, least)
	}

	// Segments longer than the MTU, each way, only with the offloads.
	for _, dir := range []string{"ip.src", "ip.dst"} {
		n := countLines(tshark(t, pcap, "-Y", "frame.len > 1500 && tcp && "+dir+" == "+serveAddr))
		if offload && n == 0 {
			t.Errorf("no segment longer than the MTU with %s %s in the capture", dir, serveAddr)
		}
		if !offload && n != 0 {
			t.Errorf("%d segments longer than the MTU with %s %s without offloads", n, dir, serveAddr)
		}
	}

	// The control: one payload byte changed, and tshark sees it.
	broken := filepath.Join(t.TempDir(), "broken.pcap")
	corruptOnePayloadByte(t, pcap, broken)
	if !strings.Contains(tshark(t, broken, "-q", "-z", "expert"), "Errors (") {
		t.Error("tshark reports no error for a capture with a bad TCP checksum: the check cannot fail")
	}
	if n := countLines(tshark(t, broken, "-Y", badFilter)); n != 1 {
		t.Errorf("tshark finds %d bad frames in the corrupted capture, want 1", n)
	}
}

func countLines(s string) int {
	if s = strings.TrimSpace(s); s == "" {
		return 0
	}
	return strings.Count(s, "\n") + 1
}

// corruptOnePayloadByte copies the classic pcap file src (link type RAW:
// each record an IPv4 packet) to dst with the last byte of the first TCP
// segment carrying over 100 payload bytes changed.
func corruptOnePayloadByte(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	for off := 24; off+16 <= len(b); {
		incl := int(le.Uint32(b[off+8:]))
		pkt := b[off+16 : off+16+incl]
		if len(pkt) > 40+100 && pkt[0]>>4 == 4 && pkt[9] == 6 { // IPv4, TCP
			ihl := int(pkt[0]&0xf) * 4
			thl := int(pkt[ihl+12]>>4) * 4
			if len(pkt)-ihl-thl > 100 {
				pkt[len(pkt)-1] ^= 0xff
				if err := os.WriteFile(dst, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
		off += 16 + incl
	}
	t.Fatalf("no TCP segment with a payload in %s (%s bytes)", src, strconv.Itoa(len(b)))
}
