package quiesce

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// TestOthersBusy: a goroutine that spins is busy; once it blocks on a
// channel, nobody is.
func TestOthersBusy(t *testing.T) {
	var stop atomic.Bool
	spinning, blocked, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		close(spinning)
		for !stop.Load() {
			runtime.Gosched()
		}
		close(blocked)
		<-release
	}()
	<-spinning
	if !OthersBusy() {
		t.Fatal("a spinning goroutine was not seen busy")
	}
	stop.Store(true)
	<-blocked
	for i := 0; OthersBusy(); i++ { // it blocks on release within a few turns
		if i == 1000 {
			t.Fatal("a goroutine blocked on a channel is still seen busy")
		}
		runtime.Gosched()
	}
	close(release)
}
