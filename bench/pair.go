package bench

import (
	"context"
	"net"
)

// Pair is a client and a server joined by a link, as a workload sees them.
type Pair interface {
	// Listen opens a listener on the server at port (0 for any).
	Listen(port uint16) (net.Listener, error)
	// Dial connects the client to the server's port.
	Dial(ctx context.Context, port uint16) (net.Conn, error)
	// Packets returns how many packets the link has carried so far from
	// client to server (up) and back (down); ok is false where the link
	// cannot count them (the kernel's loopback).
	Packets() (up, down uint64, ok bool)
	// Retransmits returns how many segments both ends have retransmitted
	// so far.
	Retransmits() uint64
	// Close ends every connection and listener of the pair and frees the
	// link. It unblocks calls in progress where the stack allows.
	Close() error
}

// Target is one of the TCP implementations under test.
type Target struct {
	// Name is the column's name: "synack", "gvisor" or "kernel".
	Name string
	// New makes a pair whose link carries packets of up to mtu bytes.
	New func(mtu int) (Pair, error)
	// NewLossy makes a pair whose in-memory link impairs both directions
	// as im says; nil for a target without such a link (the kernel).
	NewLossy func(mtu int, im Impairment) (Pair, error)
	// Link says, for the table, what joins the pair and what it offloads.
	Link string
}

// Target names.
const (
	Synack = "synack"
	GVisor = "gvisor"
	Kernel = "kernel"
)

// Targets returns the three targets in the order runs interleave them.
// gvisorCopy makes gVisor's link copy each packet as synack's pipe does,
// instead of handing the receiving stack the sender's buffer.
func Targets(gvisorCopy bool) []Target {
	return []Target{SynackTarget(), GVisorTarget(gvisorCopy), KernelTarget()}
}

// portOf is the port a listener listens on.
func portOf(l net.Listener) uint16 {
	return uint16(l.Addr().(*net.TCPAddr).Port)
}
