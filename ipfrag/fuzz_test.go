package ipfrag

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/synack-net/synack/wire"
)

// FuzzReassemble feeds a Reassembler with small bounds fragments built
// from the input (four datagram keys, any offset, length and MF bit,
// bytes true to the datagram or not) and time steps with Expire. After
// every step: no panic; the bytes held within MaxBytes, the datagrams
// within MaxDatagrams, nothing charged when nothing is held, a deadline
// exactly when something is held and none passed after Expire; a
// quote for ICMP is an IPv4 header of a first fragment and 8 bytes;
// every datagram returned whole is at most 65,535 bytes, has a valid
// header checksum, no MF and no offset, and each of its payload bytes
// was sent in a fragment of its key covering that byte.
func FuzzReassemble(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0x05, 0xc8, 1, 0, 0, 0, 0xb9, 0x05, 0xc8, 0})
	f.Add([]byte{0, 1, 0, 0, 0x00, 0x10, 1, 0, 1, 0, 0x01, 0x00, 0x10, 1, 3, 40, 0, 1, 0, 0, 0x00, 0x10, 0})
	f.Add([]byte{0, 2, 0x1f, 0xff, 0x05, 0xc8, 0, 3, 31, 0, 2, 0, 0, 0x00, 0x08, 1})
	f.Add([]byte{0, 0, 0, 0, 0x00, 0x10, 1, 0, 0, 0, 0x00, 0x10, 1, 0, 0, 0, 0x01, 0x08, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Config{MaxBytes: 32 << 10, MaxDatagrams: 8, MaxFragments: 16}
		r := New(cfg)
		now := t0
		type sent struct {
			off, end int
			flip     byte
		}
		frags := map[Key][]sent{}
		for steps := 0; len(data) > 0 && steps < 300; steps++ {
			op := data[0]
			data = data[1:]
			if op%4 == 3 {
				var d byte
				if len(data) > 0 {
					d, data = data[0], data[1:]
				}
				now = now.Add(time.Duration(d) * time.Second)
				for {
					q, ok := r.Expire(now)
					if !ok {
						break
					}
					checkQuote(t, q)
				}
				if dl := r.Deadline(); !dl.IsZero() && !dl.After(now) {
					t.Fatalf("deadline %v not after now %v once expired", dl, now)
				}
				continue
			}
			if len(data) < 5 {
				return
			}
			id := uint16(op>>2) % 4
			off := int(binary.BigEndian.Uint16(data)&0x1fff) * 8
			n := int(binary.BigEndian.Uint16(data[2:])) % 3000
			flags := data[4]
			data = data[5:]
			flip := byte(0)
			if flags&2 != 0 {
				flip = 0xff
			}
			payload := make([]byte, n)
			for i := range payload {
				payload[i] = truth(id, off+i) ^ flip
			}
			fr := frag(id, off, payload, flags&1 != 0)
			k := KeyOf(fr)
			frags[k] = append(frags[k], sent{off, off + n, flip})
			whole, res, _ := r.Add(now, fr)
			if (res == Done) != (whole != nil) {
				t.Fatalf("result %v with whole %v", res, whole != nil)
			}
			if whole != nil {
				checkFuzzWhole(t, whole, func(i int, b byte) bool {
					for _, s := range frags[k] {
						if s.off <= i && i < s.end && b == truth(id, i)^s.flip {
							return true
						}
					}
					return false
				})
				r.Release(whole)
			}
			if r.Bytes() > cfg.MaxBytes || r.Len() > cfg.MaxDatagrams || r.Bytes() < 0 {
				t.Fatalf("held %d bytes in %d datagrams; bounds %d, %d", r.Bytes(), r.Len(), cfg.MaxBytes, cfg.MaxDatagrams)
			}
			if (r.Len() == 0) != (r.Bytes() == 0) || (r.Len() == 0) != r.Deadline().IsZero() {
				t.Fatalf("%d datagrams, %d bytes, deadline %v", r.Len(), r.Bytes(), r.Deadline())
			}
		}
	})
}

// truth is byte i of datagram id as the fuzzer's sender means it.
func truth(id uint16, i int) byte { return byte(i*7 + int(id)*13) }

func checkQuote(t *testing.T, q []byte) {
	t.Helper()
	if q == nil {
		return
	}
	ip, err := wire.ParseIPv4Prefix(q)
	if err != nil || len(q) != ip.HeaderLen()+8 || ip.FragmentOffset() != 0 || ip.Flags()&wire.IPv4FlagMoreFragments == 0 {
		t.Fatalf("quote %x is not a first fragment's header and 8 bytes (%v)", q, err)
	}
}

func checkFuzzWhole(t *testing.T, whole wire.IPv4, sentAt func(i int, b byte) bool) {
	t.Helper()
	ip, err := wire.ParseIPv4(whole)
	if err != nil || len(ip) != len(whole) || len(whole) > MaxDatagram || !ip.IsChecksumValid() {
		t.Fatalf("whole datagram of %d bytes: %v, checksum valid %v", len(whole), err, err == nil && ip.IsChecksumValid())
	}
	if ip.FragmentOffset() != 0 || ip.Flags()&wire.IPv4FlagMoreFragments != 0 {
		t.Fatalf("whole datagram has offset %d flags %#x", ip.FragmentOffset(), ip.Flags())
	}
	for i, b := range ip.Payload() {
		if !sentAt(i, b) {
			t.Fatalf("byte %d of the whole datagram (%#x) was never sent there", i, b)
		}
	}
}
