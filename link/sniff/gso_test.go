package sniff_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/link/sniff"
	"github.com/synack-net/synack/wire"
)

// plainEndpoint accepts every packet and keeps the Dispatcher it is given.
type plainEndpoint struct{ d link.Dispatcher }

func (e *plainEndpoint) MTU() int                 { return 1500 }
func (e *plainEndpoint) Attach(d link.Dispatcher) { e.d = d }
func (e *plainEndpoint) WritePacket([]byte) error { return nil }
func (e *plainEndpoint) Close() error             { return nil }

// gsoEndpoint is an offloading endpoint that keeps what it is given.
type gsoEndpoint struct {
	plainEndpoint
	max  int
	pkts [][]byte
	gsos []link.GSO
}

func (e *gsoEndpoint) GSOMaxSize() int { return e.max }
func (e *gsoEndpoint) WriteGSO(p []byte, g link.GSO) error {
	e.pkts, e.gsos = append(e.pkts, bytes.Clone(p)), append(e.gsos, g)
	return nil
}

// gsoCollector is a Dispatcher that takes offloaded packets.
type gsoCollector struct {
	accept bool
	pkts   [][]byte
	gsos   []link.GSO
}

func (c *gsoCollector) DeliverPacket(p []byte) { c.DeliverGSO(p, link.GSO{}) }
func (c *gsoCollector) AcceptsGSO() bool       { return c.accept }
func (c *gsoCollector) DeliverGSO(p []byte, g link.GSO) {
	c.pkts, c.gsos = append(c.pkts, bytes.Clone(p)), append(c.gsos, g)
}

// largePartial is a 20,000-byte TCP segment with a partial checksum and
// its description.
func largePartial() ([]byte, link.GSO) {
	payload := make([]byte, 20000-40)
	for i := range payload {
		payload[i] = byte(i * 13)
	}
	p := tcpPacket(client, server, 40000, 80, 1, 1, wire.FlagACK, wire.TCPOptions{}, payload)
	tcp := wire.TCP(p[20:])
	tcp.SetChecksum(wire.PseudoHeaderChecksum(wire.ProtocolTCP, client, server, uint16(len(tcp))))
	return p, link.GSO{Type: link.GSOTCPv4, NeedsCsum: true, HdrLen: 40, Size: 1460, CsumStart: 20, CsumOffset: 16}
}

func TestSniffPassesOffloadThrough(t *testing.T) {
	inner := &gsoEndpoint{max: link.MaxGSOSize}
	path := filepath.Join(t.TempDir(), "gso.pcap")
	s, err := sniff.Create(inner, path)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.GSOMaxSize(); got != link.MaxGSOSize {
		t.Fatalf("GSOMaxSize = %d, want the inner endpoint's %d", got, link.MaxGSOSize)
	}
	d := &gsoCollector{accept: true}
	s.Attach(d)
	inD, ok := inner.d.(link.GSODispatcher)
	if !ok || !inD.AcceptsGSO() {
		t.Fatal("the inner endpoint sees a Dispatcher that does not take offloaded packets")
	}
	pkt, g := largePartial()
	orig := bytes.Clone(pkt)
	if err := s.WriteGSO(pkt, g); err != nil {
		t.Fatal(err)
	}
	inD.DeliverGSO(pkt, g)
	if len(inner.pkts) != 1 || !bytes.Equal(inner.pkts[0], orig) || inner.gsos[0] != g {
		t.Fatalf("the inner endpoint got %d packets, changed or with %v", len(inner.pkts), inner.gsos)
	}
	if len(d.pkts) != 1 || !bytes.Equal(d.pkts[0], orig) || d.gsos[0] != g {
		t.Fatalf("the Dispatcher got %d packets, changed or with %v", len(d.pkts), d.gsos)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := readPcap(t, b)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for i, r := range recs {
		if len(r.data) != len(pkt) {
			t.Fatalf("record %d holds %d bytes, want the whole %d-byte segment", i, len(r.data), len(pkt))
		}
		if !wire.TCP(r.data[20:]).IsChecksumValid(client, server) {
			t.Errorf("record %d: checksum not completed", i)
		}
		if !bytes.Equal(r.data[:36], orig[:36]) || !bytes.Equal(r.data[38:], orig[38:]) {
			t.Errorf("record %d differs beyond the checksum", i)
		}
	}
	if _, err := exec.LookPath("tshark"); err == nil {
		out, err := exec.Command("tshark", "-n", "-r", path, "-o", "ip.check_checksum:TRUE",
			"-o", "tcp.check_checksum:TRUE", "-z", "expert", "-q").CombinedOutput()
		if err != nil || strings.Contains(string(out), "Errors (") || strings.Contains(string(out), "Malformed") {
			t.Errorf("tshark: %v\n%s", err, out)
		}
	}
}

func TestSniffNoOffloadWithoutIt(t *testing.T) {
	s, err := sniff.New(&plainEndpoint{}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.GSOMaxSize(); got != 0 {
		t.Fatalf("GSOMaxSize = %d over an endpoint that offloads nothing", got)
	}
	pkt, g := largePartial()
	if err := s.WriteGSO(pkt, g); err != link.ErrTooBig {
		t.Fatalf("WriteGSO = %v, want ErrTooBig", err)
	}
	inner := &gsoEndpoint{max: link.MaxGSOSize}
	s2, _ := sniff.New(inner, &bytes.Buffer{})
	s2.Attach(&gsoCollector{accept: false})
	if inner.d.(link.GSODispatcher).AcceptsGSO() {
		t.Fatal("AcceptsGSO says yes for a Dispatcher that said no")
	}
	s2.Attach(dispatchFunc(func([]byte) {}))
	if inner.d.(link.GSODispatcher).AcceptsGSO() {
		t.Fatal("AcceptsGSO says yes for a plain Dispatcher")
	}
}
