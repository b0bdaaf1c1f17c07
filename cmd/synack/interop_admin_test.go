package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/synack-net/synack/link/tun/tuntest"
	"github.com/synack-net/synack/stack"
)

// TestServeAdmin: serve's admin endpoint, on the namespace's loopback,
// shows the connections the kernel's curl made: ss and netstat -s print
// them, /metrics parses and counts them, the device's counters included.
// It answers neither on the stack's address nor on the kernel's end of
// the device: only on loopback, which no packet from the TUN device may
// reach (Linux drops a loopback destination arriving on another
// interface as a martian).
func TestServeAdmin(t *testing.T) {
	ns := tuntest.Namespace(t)
	requireTools(t, "curl")
	const admin = "127.0.0.1:7071"
	s := startServe(t, ns, "--admin", admin)
	mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "http://"+serveAddr+"/")

	// A connection held open to discard, for ss to show.
	requireTools(t, "nc")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	startProc(t, ns, pr, "nc", serveAddr, "9")
	pw.Write([]byte("some bytes to discard\n"))
	bin := synackBinary(t)
	var ss string
	eventually(t, 10*time.Second, "synack ss shows the nc connection", func() bool {
		ss = mustRunIn(t, ns, 20*time.Second, bin, "ss", "--admin", admin, "--state", "ESTABLISHED")
		return strings.Contains(ss, serveAddr+":9 ")
	})
	for _, want := range []string{"ESTAB ", " mss:", "cubic", "timer:(keepalive,", "bytes_received:22"} {
		if !strings.Contains(ss, want) {
			t.Errorf("synack ss lacks %q:\n%s", want, ss)
		}
	}
	ss = mustRunIn(t, ns, 20*time.Second, bin, "ss", "--admin", admin)
	for _, want := range []string{"LISTEN", "0.0.0.0:80", "0.0.0.0:7"} {
		if !strings.Contains(ss, want) {
			t.Errorf("synack ss lacks %q:\n%s", want, ss)
		}
	}
	t.Logf("synack ss:\n%s", ss)
	ns2 := mustRunIn(t, ns, 20*time.Second, bin, "netstat", "-s", "--admin", admin)
	for _, want := range []string{"Tcp:\n", "passive connection openings", "LinkTun:\n"} {
		if !strings.Contains(ns2, want) {
			t.Errorf("synack netstat -s lacks %q:\n%s", want, ns2)
		}
	}
	if strings.Contains(ns2, "\n    0 passive connection openings") {
		t.Errorf("netstat -s counts no passive opening after a curl:\n%s", ns2)
	}

	metrics := mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "http://"+admin+"/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, name := range []string{"synack_Tcp_PassiveOpens", "synack_Tcp_InSegs", "synack_LinkTun_InPackets", "synack_LinkTun_OutPackets"} {
		if v, ok := promValue(mfs, name); !ok || v < 1 {
			t.Errorf("%s = %v (present: %v), want at least 1", name, v, ok)
		}
	}

	var snap stack.Snapshot
	body := mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "http://"+admin+"/snapshot")
	if err := json.Unmarshal([]byte(body), &snap); err != nil {
		t.Fatalf("/snapshot: %v", err)
	}
	if v, _ := snap.Counters.Get("Tcp", "PassiveOpens"); v < 1 {
		t.Errorf("/snapshot counts %d passive openings", v)
	}
	if _, err := runIn(t, ns, 20*time.Second, nil, nil, "curl", "-sS", "--fail", "http://"+admin+"/sockets?state=NOPE"); err == nil {
		t.Error("/sockets?state=NOPE did not fail")
	}

	// A second serve with the same admin address says so in one line
	// and leaves no device behind.
	tun := tunName()
	stderr, err := runIn(t, ns, 20*time.Second, nil, nil, bin, "serve", "--tun", tun, "--addr", "10.8.0.2/24",
		"--host-addr", "10.8.0.1/24", "--admin", admin)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || stderr != "synack serve: --admin "+admin+
		" is in use (another synack serve?): pick another address, or --admin \"\" to run without\n" {
		t.Errorf("a second serve on --admin %s: %v, stderr:\n%s\nwant exit 1 and one line saying it is in use", admin, err, stderr)
	}
	if out, err := exec.Command("ip", "-n", ns.Name, "link", "show", "dev", tun).CombinedOutput(); err == nil {
		t.Errorf("device %s still exists after serve exited:\n%s", tun, out)
	}

	for _, host := range []string{serveAddr, serveHost} {
		var out bytes.Buffer
		if _, err := runIn(t, ns, 20*time.Second, nil, &out, "curl", "-sS", "--max-time", "5", "http://"+host+":7071/metrics"); err == nil {
			t.Errorf("the admin endpoint answers on %s:\n%s", host, out.String())
		}
	}
	s.stop(t)
}
