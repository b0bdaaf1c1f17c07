package sniff_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/link/sniff"
	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

const waitTimeout = 10 * time.Second

var (
	client = netip.MustParseAddr("10.0.0.1")
	server = netip.MustParseAddr("10.0.0.2")
)

// tcpPacket builds an IPv4 packet holding a TCP segment, both checksums
// filled in.
func tcpPacket(src, dst netip.Addr, sport, dport uint16, seq, ack uint32, flags wire.TCPFlags, opts wire.TCPOptions, payload []byte) []byte {
	tcp := wire.TCPFields{
		SrcPort: sport, DstPort: dport,
		Seq: seqnum.Value(seq), Ack: seqnum.Value(ack),
		Flags: flags, Window: 65535, Options: opts,
	}
	n := wire.IPv4MinHeaderLen + tcp.Len() + len(payload)
	b := make([]byte, n)
	ip := wire.IPv4Fields{
		TotalLength: uint16(n), ID: uint16(seq), Flags: wire.IPv4FlagDontFragment, TTL: 64,
		Protocol: wire.ProtocolTCP, Src: src, Dst: dst,
	}
	ip.Encode(b)
	seg := wire.TCP(b[wire.IPv4MinHeaderLen:])
	tcp.Encode(seg)
	copy(seg[tcp.Len():], payload)
	seg.FillChecksum(src, dst)
	return b
}

// exchange is a short TCP conversation: a handshake, a request, its
// acknowledgment and an orderly close, in the order they cross the link. fromClient
// tells the direction: client packets are written through the sniffer.
var exchange = func() []struct {
	fromClient bool
	pkt        []byte
} {
	mss := wire.TCPOptions{HasMSS: true, MSS: 1460}
	none := wire.TCPOptions{}
	const ciss, siss = 1000, 5000
	req := []byte("GET / HTTP/1.0\r\n\r\n")
	return []struct {
		fromClient bool
		pkt        []byte
	}{
		{true, tcpPacket(client, server, 40000, 80, ciss, 0, wire.FlagSYN, mss, nil)},
		{false, tcpPacket(server, client, 80, 40000, siss, ciss+1, wire.FlagSYN|wire.FlagACK, mss, nil)},
		{true, tcpPacket(client, server, 40000, 80, ciss+1, siss+1, wire.FlagACK, none, nil)},
		{true, tcpPacket(client, server, 40000, 80, ciss+1, siss+1, wire.FlagPSH|wire.FlagACK, none, req)},
		{false, tcpPacket(server, client, 80, 40000, siss+1, ciss+1+uint32(len(req)), wire.FlagACK, none, nil)},
		{true, tcpPacket(client, server, 40000, 80, ciss+1+uint32(len(req)), siss+1, wire.FlagFIN|wire.FlagACK, none, nil)},
		{false, tcpPacket(server, client, 80, 40000, siss+1, ciss+2+uint32(len(req)), wire.FlagFIN|wire.FlagACK, none, nil)},
		{true, tcpPacket(client, server, 40000, 80, ciss+2+uint32(len(req)), siss+2, wire.FlagACK, none, nil)},
	}
}()

// collector is a Dispatcher that sends a copy of every packet on a
// channel.
type collector chan []byte

func (c collector) DeliverPacket(pkt []byte) { c <- bytes.Clone(pkt) }

func (c collector) await(t *testing.T, want []byte) {
	t.Helper()
	select {
	case got := <-c:
		if !bytes.Equal(got, want) {
			t.Fatalf("delivered % x, want % x", got, want)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("packet not delivered within %v", waitTimeout)
	}
}

// fakeClock returns, on each call, start plus one more millisecond.
type fakeClock struct {
	start time.Time
	n     int
}

func (c *fakeClock) now() time.Time {
	t := c.start.Add(time.Duration(c.n) * time.Millisecond)
	c.n++
	return t
}

var clockStart = time.Unix(1700000000, 999_500_000) // the second ticks over after the first packet

// record is one parsed pcap record.
type record struct {
	sec, nsec       uint32
	caplen, origlen uint32
	data            []byte
}

// readPcap checks the file header of a capture byte by byte and returns
// its records.
func readPcap(t *testing.T, b []byte) []record {
	t.Helper()
	if len(b) < 24 {
		t.Fatalf("capture is %d bytes, shorter than a pcap header", len(b))
	}
	le := binary.LittleEndian
	for _, f := range []struct {
		name      string
		got, want uint32
	}{
		{"magic", le.Uint32(b[0:]), 0xa1b23c4d},
		{"version major", uint32(le.Uint16(b[4:])), 2},
		{"version minor", uint32(le.Uint16(b[6:])), 4},
		{"thiszone", le.Uint32(b[8:]), 0},
		{"sigfigs", le.Uint32(b[12:]), 0},
		{"snaplen", le.Uint32(b[16:]), 262144},
		{"linktype", le.Uint32(b[20:]), 101},
	} {
		if f.got != f.want {
			t.Errorf("pcap header %s = %#x, want %#x", f.name, f.got, f.want)
		}
	}
	var recs []record
	for b = b[24:]; len(b) > 0; {
		if len(b) < 16 {
			t.Fatalf("%d trailing bytes, shorter than a record header", len(b))
		}
		r := record{sec: le.Uint32(b[0:]), nsec: le.Uint32(b[4:]), caplen: le.Uint32(b[8:]), origlen: le.Uint32(b[12:])}
		b = b[16:]
		if uint32(len(b)) < r.caplen {
			t.Fatalf("record %d: caplen %d but %d bytes left", len(recs), r.caplen, len(b))
		}
		r.data, b = b[:r.caplen], b[r.caplen:]
		recs = append(recs, r)
	}
	return recs
}

// runExchange sends exchange across a pipe whose client end is wrapped by
// a sniffer made with mk, each packet waiting for the previous one to
// arrive, so the capture's order is fixed. It returns the sniffer, open.
func runExchange(t *testing.T, mk func(link.Endpoint) *sniff.Endpoint) *sniff.Endpoint {
	t.Helper()
	a, b := pipe.New(1500)
	t.Cleanup(func() { b.Close() })
	s := mk(a)
	t.Cleanup(func() { s.Close() })
	atClient, atServer := make(collector, 1), make(collector, 1)
	s.Attach(atClient)
	b.Attach(atServer)
	for i, x := range exchange {
		if x.fromClient {
			if err := s.WritePacket(x.pkt); err != nil {
				t.Fatalf("packet %d: WritePacket: %v", i, err)
			}
			atServer.await(t, x.pkt)
		} else {
			if err := b.WritePacket(x.pkt); err != nil {
				t.Fatalf("packet %d: WritePacket: %v", i, err)
			}
			atClient.await(t, x.pkt)
		}
	}
	return s
}

func TestSniffRecordsBothDirections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exchange.pcap")
	clock := &fakeClock{start: clockStart}
	s := runExchange(t, func(inner link.Endpoint) *sniff.Endpoint {
		s, err := sniff.Create(inner, path, sniff.WithClock(clock.now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
	st := s.Stats()
	if st.OutPackets != 5 || st.InPackets != 3 || st.Lost != 0 {
		t.Errorf("Stats() = %+v, want 5 out, 3 in, none lost", st)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := readPcap(t, b)
	if len(recs) != len(exchange) {
		t.Fatalf("%d records, want %d", len(recs), len(exchange))
	}
	for i, r := range recs {
		ts := clockStart.Add(time.Duration(i) * time.Millisecond)
		if r.sec != uint32(ts.Unix()) || r.nsec != uint32(ts.Nanosecond()) {
			t.Errorf("record %d: time %d.%09d, want %d.%09d", i, r.sec, r.nsec, ts.Unix(), ts.Nanosecond())
		}
		want := exchange[i].pkt
		if r.caplen != uint32(len(want)) || r.origlen != uint32(len(want)) {
			t.Errorf("record %d: caplen %d origlen %d, want %d", i, r.caplen, r.origlen, len(want))
		}
		if !bytes.Equal(r.data, want) {
			t.Errorf("record %d:\n got % x\nwant % x", i, r.data, want)
		}
	}

	checkWithTshark(t, path)
}

// checkWithTshark has tshark read the capture: it must find nothing to
// warn about, and the addresses and flags of every packet.
func checkWithTshark(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Log("tshark not installed: skipping the check that Wireshark reads the capture (apt-get install tshark)")
		return
	}
	tshark := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("tshark", append([]string{"-n", "-r", path}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tshark %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
		}
		return string(out)
	}

	// Checksum validation is off by default in Wireshark: turn it on.
	expert := tshark("-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-z", "expert", "-q")
	// tshark titles the sections "Errors (N)", "Warns (N)", "Notes (N)"
	// and "Chats (N)"; notes (the close) and chats (the SYN, the request)
	// are expected, errors and warnings are not.
	for _, bad := range []string{"Errors (", "Warns (", "Warnings (", "Malformed"} {
		if strings.Contains(expert, bad) {
			t.Errorf("tshark expert info has %q:\n%s", bad, expert)
		}
	}

	fields := tshark("-T", "fields", "-e", "ip.src", "-e", "tcp.flags.str")
	lines := strings.Split(strings.TrimSpace(fields), "\n")
	if len(lines) != len(exchange) {
		t.Fatalf("tshark lists %d packets, want %d:\n%s", len(lines), len(exchange), fields)
	}
	want := []string{
		"10.0.0.1 S", "10.0.0.2 AS", "10.0.0.1 A", "10.0.0.1 AP",
		"10.0.0.2 A", "10.0.0.1 AF", "10.0.0.2 AF", "10.0.0.1 A",
	}
	for i, line := range lines {
		src, flags, _ := strings.Cut(line, "\t")
		// tcp.flags.str is a row of letters with "·" for a clear bit
		// ("·······A··S·"): keep the letters, which every version agrees on.
		got := src + " " + strings.NewReplacer("·", "", " ", "").Replace(flags)
		if got != want[i] {
			t.Errorf("packet %d: tshark says %q (%q), want %q", i, got, line, want[i])
		}
	}
}

func TestSniffDefaultClockIsWallClock(t *testing.T) {
	var buf bytes.Buffer
	before := time.Now()
	s := runExchange(t, func(inner link.Endpoint) *sniff.Endpoint {
		s, err := sniff.New(inner, &buf)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	for i, r := range readPcap(t, buf.Bytes()) {
		ts := time.Unix(int64(r.sec), int64(r.nsec))
		if ts.Before(before.Truncate(time.Second)) || ts.After(after) {
			t.Errorf("record %d: time %v outside [%v, %v]", i, ts, before, after)
		}
	}
}

func TestSniffTooBigNotRecorded(t *testing.T) {
	a, b := pipe.New(100)
	defer b.Close()
	var buf bytes.Buffer
	s, err := sniff.New(a, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WritePacket(make([]byte, 101)); !errors.Is(err, link.ErrTooBig) {
		t.Errorf("WritePacket(101 bytes) = %v, want ErrTooBig", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if recs := readPcap(t, buf.Bytes()); len(recs) != 0 {
		t.Errorf("%d records, want none", len(recs))
	}
	if got := a.Stats().DroppedTooBig; got != 1 {
		t.Errorf("inner DroppedTooBig = %d, want 1", got)
	}
}

func TestSniffCloseClosesInner(t *testing.T) {
	a, b := pipe.New(1500)
	defer b.Close()
	path := filepath.Join(t.TempDir(), "x.pcap")
	s, err := sniff.Create(a, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	pkt := exchange[0].pkt
	if err := a.WritePacket(pkt); !errors.Is(err, link.ErrClosed) {
		t.Errorf("inner WritePacket after Close = %v, want ErrClosed", err)
	}
	if err := s.WritePacket(pkt); !errors.Is(err, link.ErrClosed) {
		t.Errorf("WritePacket after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 24 {
		t.Errorf("file after Close: %v, %v; want the 24-byte header alone", fi, err)
	}
}

func TestSniffCreateBadPath(t *testing.T) {
	a, b := pipe.New(1500)
	defer a.Close()
	defer b.Close()
	_, err := sniff.Create(a, filepath.Join(t.TempDir(), "no", "such", "dir.pcap"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Create in a missing directory = %v, want ErrNotExist", err)
	}
}

// failWriter accepts ok bytes, then fails every write.
type failWriter struct {
	ok int
}

var errDiskFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) <= w.ok {
		w.ok -= len(p)
		return len(p), nil
	}
	n := w.ok
	w.ok = 0
	return n, errDiskFull
}

func TestSniffHeaderWriteErrorFailsNew(t *testing.T) {
	a, b := pipe.New(1500)
	defer a.Close()
	defer b.Close()
	if _, err := sniff.New(a, &failWriter{ok: 10}); !errors.Is(err, errDiskFull) {
		t.Errorf("New with a failing writer = %v, want errDiskFull", err)
	}
}

func TestSniffWriteErrorKeepsTrafficFlowing(t *testing.T) {
	w := &failWriter{ok: 24} // the header, then nothing
	s := runExchange(t, func(inner link.Endpoint) *sniff.Endpoint {
		s, err := sniff.New(inner, w)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	// runExchange saw every packet arrive: the failure stayed off the path.
	if err := s.Err(); !errors.Is(err, errDiskFull) {
		t.Errorf("Err() = %v, want errDiskFull", err)
	}
	st := s.Stats()
	if st.Lost != uint64(len(exchange)) || st.InPackets != 0 || st.OutPackets != 0 {
		t.Errorf("Stats() = %+v, want all %d lost", st, len(exchange))
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after a write error = %v, want nil (already reported by Err)", err)
	}
}

func TestSniffAttachNilDetachesInner(t *testing.T) {
	a, b := pipe.New(1500)
	defer b.Close()
	s, err := sniff.New(a, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Attach(make(collector, 1))
	s.Attach(nil)
	if err := b.WritePacket(exchange[1].pkt); err != nil {
		t.Fatal(err)
	}
	if got := a.Stats().DroppedDetached; got != 1 {
		t.Errorf("inner DroppedDetached = %d, want 1", got)
	}
}

func TestSniffConcurrentWritersProduceWholeRecords(t *testing.T) {
	const writers, perWriter = 8, 200
	a, b := pipe.New(1500)
	defer b.Close()
	var buf bytes.Buffer
	s, err := sniff.New(a, &buf)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, writers*perWriter)
	b.Attach(link.Dispatcher(dispatchFunc(func([]byte) { got <- struct{}{} })))
	s.Attach(dispatchFunc(func([]byte) {}))

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				pkt := tcpPacket(client, server, uint16(40000+w), 80, uint32(i), 0, wire.FlagSYN, wire.TCPOptions{}, nil)
				if err := s.WritePacket(pkt); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for range writers * perWriter {
		select {
		case <-got:
		case <-time.After(waitTimeout):
			t.Fatal("packets not delivered")
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readPcap(t, buf.Bytes())
	if len(recs) != writers*perWriter {
		t.Fatalf("%d records, want %d", len(recs), writers*perWriter)
	}
	for i, r := range recs {
		if _, err := wire.ParseIPv4(r.data); err != nil {
			t.Fatalf("record %d is not an IPv4 packet: %v", i, err)
		}
	}
}

type dispatchFunc func([]byte)

func (f dispatchFunc) DeliverPacket(pkt []byte) { f(pkt) }
