package synack_test

import (
	"context"
	"io"
	"net/netip"
	"testing"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link/pipe"
)

func TestSmoke(t *testing.T) {
	a, b := pipe.New(1500)
	ca, err := synack.New(a, synack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24"), Host: "client"})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := synack.New(b, synack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24"), Host: "server"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := sb.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 16)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	c, err := ca.DialTCP(context.Background(), netip.MustParseAddrPort("10.0.0.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 1<<20)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	go func() { c.Write(msg); c.CloseWrite() }()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(msg) {
		t.Fatalf("echo mismatch: %d bytes", len(got))
	}
	c.Close()
}
