package trace

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pcapConnection is a client's side of a handshake, one request and a
// reply, with a duplicate of the reply received and dropped.
func pcapConnection() []Event {
	t := newTape()
	c := &peer{host: "client", local: clientAddr, remote: serverAddr, state: "SYN-SENT"}
	t.add(c, Event{Kind: KindSegmentSent, Flags: syn, Seq: 1000, Window: 65535})
	t.add(c, Event{Kind: KindSegmentReceived, Flags: synack, Seq: 5000, Ack: 1001, Window: 65535})
	c.state = "ESTABLISHED"
	t.add(c, Event{Kind: KindStateChange, From: "SYN-SENT", Cause: "rcv SYN,ACK"})
	t.add(c, Event{Kind: KindSegmentSent, Flags: ack, Seq: 1001, Ack: 5001, Window: 512})
	t.add(c, Event{Kind: KindSegmentSent, Flags: pshack, Seq: 1001, Ack: 5001, Window: 512, Len: 100})
	t.add(c, Event{Kind: KindSegmentReceived, Flags: pshack, Seq: 5001, Ack: 1101, Window: 512, Len: 300})
	t.add(c, Event{Kind: KindSegmentReceived, Flags: pshack, Seq: 5001, Ack: 1101, Window: 512, Len: 300})
	t.add(c, Event{Kind: KindDrop, Flags: pshack, Seq: 5001, Ack: 1101, Window: 512, Len: 300, Cause: "DropOutOfWindow"})
	t.add(c, Event{Kind: KindDrop, Flags: syn, Seq: 9, Window: 1, Cause: "TCPInErrs"}) // never reported received
	return t.events
}

func TestWritePcapRecordsEachSegmentOnce(t *testing.T) {
	var buf bytes.Buffer
	if err := WritePcap(&buf, pcapConnection()); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if binary.LittleEndian.Uint32(b) != 0xa1b23c4d || binary.LittleEndian.Uint32(b[20:]) != 101 {
		t.Fatalf("not a nanosecond LINKTYPE_RAW pcap: % x", b[:24])
	}
	type want struct {
		src       string
		seq, orig uint32
	}
	wants := []want{{"10.0.0.1", 1000, 40}, {"10.0.0.2", 5000, 40}, {"10.0.0.1", 1001, 40}, {"10.0.0.1", 1001, 140},
		{"10.0.0.2", 5001, 340}, {"10.0.0.2", 5001, 340}, {"10.0.0.2", 9, 40}}
	b = b[24:]
	for i, w := range wants {
		if len(b) < 56 {
			t.Fatalf("%d records; want %d", i, len(wants))
		}
		incl, orig := binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint32(b[12:])
		ip := b[16:56]
		src := netip.AddrFrom4([4]byte(ip[12:16])).String()
		seq := binary.BigEndian.Uint32(ip[24:])
		if incl != 40 || orig != w.orig || src != w.src || seq != w.seq {
			t.Errorf("record %d: incl %d orig %d from %s seq %d; want 40 %d %s %d", i, incl, orig, src, seq, w.orig, w.src, w.seq)
		}
		b = b[56:]
	}
	if len(b) != 0 {
		t.Errorf("%d bytes after the last record", len(b))
	}
	checkTshark(t, buf.Bytes(), len(wants))
}

// checkTshark has tshark read the capture, when it is installed: it must
// list every record and report nothing malformed.
func checkTshark(t *testing.T, pcap []byte, records int) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Log("tshark not installed: skipping the check that Wireshark reads the capture (apt-get install tshark)")
		return
	}
	path := filepath.Join(t.TempDir(), "conn.pcap")
	if err := os.WriteFile(path, pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tshark", "-n", "-r", path, "-o", "ip.check_checksum:TRUE", "-T", "fields", "-e", "ip.src", "-e", "tcp.flags.str", "-e", "tcp.seq_raw").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != records || strings.Contains(string(out), "Malformed") {
		t.Fatalf("tshark lists %d packets, want %d:\n%s", len(lines), records, out)
	}
	t.Logf("tshark:\n%s", out)
}
