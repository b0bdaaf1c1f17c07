package wire_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/synack-net/synack/wire"
)

// encodeOptions encodes o and checks Len and the return value agree.
func encodeOptions(t *testing.T, o *wire.TCPOptions) []byte {
	t.Helper()
	n := o.Len()
	if n%4 != 0 || n > 40 {
		t.Fatalf("Len() = %d for %+v: not a multiple of 4 within 40", n, *o)
	}
	b := make([]byte, n)
	if got := o.Encode(b); got != n {
		t.Fatalf("Encode returned %d, Len() %d", got, n)
	}
	return b
}

func TestTCPOptionsRoundTrip(t *testing.T) {
	blocks := [4]wire.SACKBlock{{1, 2}, {0xfffffff0, 0x10}, {5, 6}, {7, 8}}
	for mask := 0; mask < 16; mask++ {
		for nsack := 0; nsack <= 4; nsack++ {
			o := wire.TCPOptions{
				HasMSS: mask&1 != 0, HasWindowScale: mask&2 != 0,
				SACKPermitted: mask&4 != 0, HasTimestamps: mask&8 != 0,
				NumSACKBlocks: nsack,
			}
			if o.HasMSS {
				o.MSS = 1460
			}
			if o.HasWindowScale {
				o.WindowScale = 14
			}
			if o.HasTimestamps {
				o.TSVal, o.TSEcr = 0xdeadbeef, 0x01020304
			}
			copy(o.SACKBlocks[:nsack], blocks[:nsack])
			b := encodeOptions(t, &o)
			var got wire.TCPOptions
			if err := wire.ParseTCPOptions(b, &got); err != nil {
				t.Fatalf("%+v: ParseTCPOptions(%x): %v", o, b, err)
			}
			// Blocks that do not fit in 40 bytes are left out, as Linux does.
			want := o
			if got.NumSACKBlocks < want.NumSACKBlocks {
				if len(b)+8 <= 40 { // another block would have fit
					t.Errorf("%+v: only %d SACK blocks encoded in %d bytes", o, got.NumSACKBlocks, len(b))
				}
				want.NumSACKBlocks = got.NumSACKBlocks
				clear(want.SACKBlocks[got.NumSACKBlocks:])
			}
			if got != want {
				t.Errorf("round trip of %x:\n got %+v\nwant %+v", b, got, want)
			}
		}
	}
}

func TestTCPOptionsLinuxLayout(t *testing.T) {
	cases := []struct {
		name string
		o    wire.TCPOptions
		want string
	}{
		{"none", wire.TCPOptions{}, ""},
		{"SYN", wire.TCPOptions{HasMSS: true, MSS: 65495, SACKPermitted: true, HasTimestamps: true, TSVal: 1, TSEcr: 2, HasWindowScale: true, WindowScale: 7},
			"0204ffd7" + "0402080a" + "00000001" + "00000002" + "01030307"},
		{"timestamps only", wire.TCPOptions{HasTimestamps: true, TSVal: 0xaabbccdd, TSEcr: 0x11223344},
			"0101080a" + "aabbccdd" + "11223344"},
		{"SYN without timestamps", wire.TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasWindowScale: true, WindowScale: 0},
			"020405b4" + "01010402" + "01030300"},
		{"MSS only", wire.TCPOptions{HasMSS: true, MSS: 536}, "02040218"},
		{"timestamps and SACK", wire.TCPOptions{HasTimestamps: true, TSVal: 3, TSEcr: 4, NumSACKBlocks: 1, SACKBlocks: [4]wire.SACKBlock{{10, 20}}},
			"0101080a" + "00000003" + "00000004" + "0101050a" + "0000000a" + "00000014"},
		{"four SACK blocks", wire.TCPOptions{NumSACKBlocks: 4, SACKBlocks: [4]wire.SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}},
			"01010522" + "0000000100000002" + "0000000300000004" + "0000000500000006" + "0000000700000008"},
		{"timestamps and four SACK blocks: three fit", wire.TCPOptions{HasTimestamps: true, NumSACKBlocks: 4, SACKBlocks: [4]wire.SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}},
			"0101080a" + "00000000" + "00000000" + "0101051a" + "0000000100000002" + "0000000300000004" + "0000000500000006"},
		{"bad block count clamps", wire.TCPOptions{NumSACKBlocks: 99}, "01010522" + "0000000000000000" + "0000000000000000" + "0000000000000000" + "0000000000000000"},
		{"negative block count", wire.TCPOptions{NumSACKBlocks: -1}, ""},
	}
	for _, c := range cases {
		if got, want := encodeOptions(t, &c.o), mustHex(t, c.want); !bytes.Equal(got, want) {
			t.Errorf("%s: Encode = %x, want %x", c.name, got, want)
		}
	}
}

func TestTCPOptionsBadLength(t *testing.T) {
	cases := []struct {
		name string
		hex  string
	}{
		{"kind without length byte", "02"},
		{"NOP then kind without length", "0101" + "08"},
		{"length 0", "1e00"},
		{"length 1", "1e01"},
		{"length past the end", "1e05" + "0000"},
		{"MSS length 3", "020305"},
		{"MSS length 5", "0205050000"},
		{"MSS length 2", "0202"},
		{"WS length 2", "0302"},
		{"WS length 4", "03040000"},
		{"SACK-permitted length 3", "040300"},
		{"SACK-permitted length 4", "04040000"},
		{"timestamps length 9", "0809" + "00000000000000"},
		{"timestamps length 11", "080b" + "000000000000000000"},
		{"timestamps length 8", "0808" + "000000000000"},
		{"SACK no blocks", "0502"},
		{"SACK length 9", "0509" + "00000000000000"},
		{"SACK length 11", "050b" + "000000000000000000"},
		{"SACK five blocks", "052a" + "00000000000000000000000000000000000000000000000000000000000000000000000000000000"},
		{"MSS truncated", "0204ff"},
		{"good MSS then bad WS", "02040578" + "0304000000"},
	}
	for _, c := range cases {
		var o wire.TCPOptions
		if err := wire.ParseTCPOptions(mustHex(t, c.hex), &o); !errors.Is(err, wire.ErrBadOption) {
			t.Errorf("%s (%s): err = %v, want ErrBadOption", c.name, c.hex, err)
		}
	}
	// What came before the bad option is kept.
	var o wire.TCPOptions
	_ = wire.ParseTCPOptions(mustHex(t, "02040578"+"0304000000"), &o)
	if !o.HasMSS || o.MSS != 1400 || o.HasWindowScale {
		t.Errorf("options before the bad one: %+v", o)
	}
	// A nil destination does not panic.
	if err := wire.ParseTCPOptions(mustHex(t, "0202"), nil); !errors.Is(err, wire.ErrBadOption) {
		t.Errorf("nil options: err = %v", err)
	}
}

func TestTCPOptionsSkipsUnknownAndStopsAtEOL(t *testing.T) {
	// Unknown kind 30 (length 4) and 253 (length 2) skipped; EOL ends the
	// list, so the malformed bytes after it are not read.
	b := mustHex(t, "1e04abcd"+"fd02"+"030308"+"01"+"00"+"0201ffff")
	o := wire.TCPOptions{HasMSS: true, MSS: 1, NumSACKBlocks: 3} // zeroed first
	if err := wire.ParseTCPOptions(b, &o); err != nil {
		t.Fatalf("ParseTCPOptions: %v", err)
	}
	if want := (wire.TCPOptions{HasWindowScale: true, WindowScale: 8}); o != want {
		t.Errorf("got %+v, want %+v", o, want)
	}
	// A raw shift count above 14 is kept as received (RFC 7323 §2.3 says
	// the receiver clamps, which is the engine's job).
	if err := wire.ParseTCPOptions(mustHex(t, "030320"), &o); err != nil || o.WindowScale != 32 {
		t.Errorf("WS 32: %+v, %v", o, err)
	}
	// A later SACK option replaces an earlier one, blocks and all.
	b = mustHex(t, "0512"+"0000000100000002"+"0000000300000004"+"050a"+"0000000900000010")
	if err := wire.ParseTCPOptions(b, &o); err != nil {
		t.Fatalf("ParseTCPOptions: %v", err)
	}
	if o.NumSACKBlocks != 1 || o.SACKBlocks != [4]wire.SACKBlock{{9, 16}} {
		t.Errorf("SACK blocks %d %v", o.NumSACKBlocks, o.SACKBlocks)
	}
}
