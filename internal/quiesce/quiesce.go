// Package quiesce tells a test's virtual-clock driver whether the
// program's other goroutines have all stopped: it is test support, above
// every layer, and knows nothing of the stack.
//
// A driver that moves a virtual clock from timer to timer must move it
// only when nothing else can happen first: the link idle and every
// application goroutine blocked. Yielding with runtime.Gosched and
// watching a progress counter is not enough on a loaded machine: a
// goroutine made runnable on another processor's queue can wait there for
// milliseconds while the driver's own processor keeps finding the driver
// on the global queue, never stealing it, and the driver then fires
// timers (a peer's timeout, a zero-window probe) that the application
// would have made needless. OthersBusy looks at every goroutine's state
// instead.
package quiesce

import (
	"bytes"
	"runtime"
)

// OthersBusy reports whether any goroutine but the caller is running or
// runnable: one that can still make progress without the clock moving.
// It stops the world briefly (runtime.Stack of every goroutine), so it is
// for tests, called once before each move of the clock, not in a loop
// that spins.
func OthersBusy() bool {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	first := true // the caller's own goroutine is listed first, running
	for len(buf) > 0 {
		line := buf
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			line, buf = buf[:i], buf[i+1:]
		} else {
			buf = nil
		}
		if !bytes.HasPrefix(line, []byte("goroutine ")) {
			continue
		}
		if first {
			first = false
			continue
		}
		if bytes.Contains(line, []byte("[running")) || bytes.Contains(line, []byte("[runnable")) {
			return true
		}
	}
	return false
}
