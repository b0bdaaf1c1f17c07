package tcp

import (
	"testing"
	"unsafe"
)

// TestConnSizeClass: an idle connection costs its Conn, so the Conn must
// stay in the 768-byte size class of Go's allocator. An object of more
// than 512 bytes that holds pointers carries an 8-byte header, so that is
// 760 bytes of Conn; one byte more costs 128 bytes per connection (the
// 896-byte class), about 5% of an idle pair's heap.
func TestConnSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 760 {
		t.Fatalf("tcp.Conn is %d bytes, over the 760 that fit the 768-byte size class with its allocation header", n)
	}
}

// TestLossStateSizeClass: every connection that has sent data keeps its
// loss-recovery state until it ends, so it must stay in the 384-byte size
// class (an object of 512 bytes or less carries no allocation header);
// one byte more costs 32 bytes per such connection.
func TestLossStateSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(lossState{}); n > 384 {
		t.Fatalf("lossState is %d bytes, over the 384 of its size class", n)
	}
}

// TestCUBICSizeClass: the congestion controller of every connection that
// has sent data stays in the 208-byte size class.
func TestCUBICSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(cubic{}); n > 208 {
		t.Fatalf("cubic is %d bytes, over the 208 of its size class", n)
	}
}
