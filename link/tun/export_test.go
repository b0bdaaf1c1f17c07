package tun

// ReaderDone returns a channel closed when d's reader goroutine has ended
// (or at Close, if it never started).
func ReaderDone(d *Device) <-chan struct{} { return d.done }
