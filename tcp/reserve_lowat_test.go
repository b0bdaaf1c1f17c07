package tcp

import (
	"errors"
	"testing"
)

// TestReserveCommitAtLowatBoundWouldBlock: a TCP_NOTSENT_LOWAT bound set
// while the room is filled that leaves no room at all makes Commit return
// what a Write returns then, ErrWouldBlock, having queued nothing
// (Commit's doc: "returning what Write would have for those bytes"), not
// 0 and no error, which a host reads as progress and calls again for.
func TestReserveCommitAtLowatBoundWouldBlock(t *testing.T) {
	e := synSent(t)
	c := e.c
	e.write(e.now, bytesN(2000)) // unsent until the connection opens
	r, err := c.Reserve(e.now, 16<<10)
	if err != nil || r.Len() != 16<<10 {
		t.Fatalf("Reserve(16 KiB) = %d, %v", r.Len(), err)
	}
	k := r.Fill(bytesN(16 << 10))
	c.SetNotSentLowat(e.now, 1000) // 2000 bytes unsent: no room under it
	if n, err := c.Commit(e.now, r, k); n != 0 || !errors.Is(err, ErrWouldBlock) || c.SendQueue() != 2000 {
		t.Fatalf("Commit of 16 KiB at a bound set meanwhile = %d, %v with %d queued; want 0, ErrWouldBlock with 2000", n, err, c.SendQueue())
	}
	if n, err := c.Write(e.now, []byte{1}); n != 0 || !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Write at the bound = %d, %v; want 0, ErrWouldBlock", n, err)
	}
}
