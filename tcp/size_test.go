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
