package synack_test

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/synack-net/synack"
)

// TestUDPFragmentedBothWays sends datagrams too big for one 1,500-byte
// packet, up to the largest UDP payload, between two synack stacks over
// a pipe, both ways: each leaves in fragments, is reassembled on the far
// side and read byte for byte; the counters say so. With DF asked, the
// same write fails with EMSGSIZE, as does a payload over 65,507 bytes.
func TestUDPFragmentedBothWays(t *testing.T) {
	p := newPair(t, pairConfig{virtual: true})
	srv := listenUDP(t, p.server, 7)
	cl, err := p.client.DialUDP(serverAP(7))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	buf := make([]byte, 70000)
	frags := uint64(0)
	for i, size := range []int{1473, 4000, 65507} {
		msg := make([]byte, size)
		for j := range msg {
			msg[j] = byte(j*13 + j>>9 + i)
		}
		if n, err := cl.Write(msg); err != nil || n != size {
			t.Fatalf("Write(%d bytes) = %d, %v", size, n, err)
		}
		n, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("server read %d bytes, %v; want the %d sent", n, err, size)
		}
		if _, err := srv.WriteToUDPAddrPort(buf[:n], from); err != nil {
			t.Fatal(err)
		}
		n, err = cl.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("client read %d bytes, %v; want the %d echoed", n, err, size)
		}
		frags += uint64((size + 8 + mtu - 21) / (mtu - 20))
	}
	for name, st := range map[string]*synack.Stack{"client": p.client, "server": p.server} {
		s := st.Internals().Stats()
		if s.FragOKs.Load() != 3 || s.FragCreates.Load() != frags || s.ReasmOKs.Load() != 3 ||
			s.ReasmReqds.Load() != frags || s.ReasmFails.Load() != 0 {
			t.Errorf("%s: FragOKs %d FragCreates %d ReasmOKs %d ReasmReqds %d ReasmFails %d; want 3, %d, 3, %d, 0", name,
				s.FragOKs.Load(), s.FragCreates.Load(), s.ReasmOKs.Load(), s.ReasmReqds.Load(), s.ReasmFails.Load(), frags, frags)
		}
	}
	if _, err := cl.Write(make([]byte, 65508)); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("Write of 65,508 bytes: %v, want EMSGSIZE", err)
	}
	cl.SetDontFragment(true)
	if _, err := cl.Write(make([]byte, 4000)); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("Write of 4,000 bytes with DF asked: %v, want EMSGSIZE", err)
	}
	if n := p.client.Internals().Stats().FragFails.Load(); n != 1 {
		t.Errorf("client FragFails %d, want 1", n)
	}
}
