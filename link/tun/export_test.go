package tun

import "os"

// ReaderDone returns a channel closed when d's reader goroutines have ended
// (or at Close, if it never started).
func ReaderDone(d *Device) <-chan struct{} { return d.done }

// NewFromFile wraps f, one end of a SOCK_SEQPACKET socket pair standing
// in for a TUN descriptor (one packet per read and write), as a Device
// opened with virtio-net headers and the offloads o. Asking for offloads
// only records what was asked in *asked.
func NewFromFile(f *os.File, mtu int, o Offloads, asked *Offloads) *Device {
	return NewFromFiles([]*os.File{f}, mtu, o, asked)
}

// NewFromFiles is NewFromFile with one queue per file.
func NewFromFiles(files []*os.File, mtu int, o Offloads, asked *Offloads) *Device {
	d := newDevice(files, "fake0", mtu, nil, true, o)
	d.setOffloads = func(_ *os.File, o Offloads) error { *asked = o; return nil }
	return d
}
