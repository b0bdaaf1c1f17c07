package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/trace"
)

// TestServeAdminTrace: with --trace-ring, serve's admin endpoint gives the
// trace of a connection the kernel's nc opened: as JSON with the kernel's
// SYN and its options, as the sequence diagram, and as a pcap tshark
// reads; a connection that does not exist is a 404.
func TestServeAdminTrace(t *testing.T) {
	ns := tuntest.Namespace(t)
	requireTools(t, "curl", "nc")
	const admin = "127.0.0.1:7072"
	startServe(t, ns, "--admin", admin, "--trace-ring", "64")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	startProc(t, ns, pr, "nc", serveAddr, "9")
	pw.Write([]byte("traced\n"))
	var est []stack.SocketInfo
	eventually(t, 10*time.Second, "the nc connection in /sockets", func() bool {
		out := mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "http://"+admin+"/sockets?state=ESTABLISHED")
		est = nil
		json.Unmarshal([]byte(out), &est)
		return len(est) == 1
	})
	url := "http://" + admin + "/trace?conn=" + est[0].Local.String() + "-" + est[0].Remote.String()

	var tr trace.ConnTrace
	if err := json.Unmarshal([]byte(mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", url)), &tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.Events) < 4 || tr.Events[0].Flags.String() != "SYN" || tr.Events[0].Seq != 0 || !tr.Events[0].Options.HasMSS {
		t.Fatalf("/trace does not start with the kernel's SYN (relative seq 0, with MSS): %+v", tr.Events)
	}
	diagram := mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", url+"&format=diagram")
	for _, want := range []string{"SYN-RECEIVED", "ESTABLISHED", "SYN,ACK seq=0 ack=1", "len=7"} {
		if !strings.Contains(diagram, want) {
			t.Errorf("diagram lacks %q:\n%s", want, diagram)
		}
	}
	t.Logf("diagram:\n%s", diagram)
	pcap := filepath.Join(t.TempDir(), "conn.pcap")
	mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "-o", pcap, url+"&format=pcap")
	if _, err := exec.LookPath("tshark"); err == nil {
		out, err := exec.Command("tshark", "-n", "-r", pcap, "-T", "fields", "-e", "tcp.flags.str").Output()
		if err != nil || strings.Count(string(out), "\n") < 3 {
			t.Errorf("tshark on the connection's pcap: %v\n%s", err, out)
		}
	}
	if _, err := runIn(t, ns, 20*time.Second, nil, nil, "curl", "-sS", "--fail", "http://"+admin+"/trace?conn=10.7.0.2:9-10.7.0.1:1"); err == nil {
		t.Error("/trace of no connection did not fail")
	}
}
