package clock

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestVirtualNowStartsAtStart(t *testing.T) {
	v := NewVirtual(epoch)
	if got := v.Now(); !got.Equal(epoch) {
		t.Fatalf("Now() = %v, want %v", got, epoch)
	}
	if _, ok := v.Next(); ok {
		t.Fatal("Next() reports a timer on a new clock")
	}
	if n := v.Pending(); n != 0 {
		t.Fatalf("Pending() = %d, want 0", n)
	}
}

func TestVirtualFiresInDeadlineOrder(t *testing.T) {
	v := NewVirtual(epoch)
	var got []string
	for _, d := range []int{5, 1, 4, 2, 3} {
		name := fmt.Sprint(d)
		v.AfterFunc(time.Duration(d)*time.Second, func() { got = append(got, name) })
	}
	if next, ok := v.Next(); !ok || !next.Equal(epoch.Add(time.Second)) {
		t.Fatalf("Next() = %v, %v; want %v, true", next, ok, epoch.Add(time.Second))
	}
	v.Advance(3 * time.Second)
	if want := []string{"1", "2", "3"}; !slices.Equal(got, want) {
		t.Fatalf("after 3s fired %v, want %v", got, want)
	}
	if n := v.Pending(); n != 2 {
		t.Fatalf("Pending() = %d, want 2", n)
	}
	v.Advance(10 * time.Second)
	if want := []string{"1", "2", "3", "4", "5"}; !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	if now, want := v.Now(), epoch.Add(13*time.Second); !now.Equal(want) {
		t.Fatalf("Now() = %v, want %v", now, want)
	}
}

func TestVirtualEqualDeadlinesFireFIFO(t *testing.T) {
	v := NewVirtual(epoch)
	var got []int
	for i := range 100 {
		v.AfterFunc(time.Second, func() { got = append(got, i) })
	}
	v.Advance(time.Second)
	for i, g := range got {
		if g != i {
			t.Fatalf("firing %d was timer %d; equal deadlines must fire in arming order", i, g)
		}
	}
	if len(got) != 100 {
		t.Fatalf("fired %d timers, want 100", len(got))
	}
}

func TestVirtualNowDuringCallbackIsDeadline(t *testing.T) {
	v := NewVirtual(epoch)
	var seen []time.Time
	for _, d := range []time.Duration{7 * time.Millisecond, 2 * time.Second, 90 * time.Second} {
		v.AfterFunc(d, func() { seen = append(seen, v.Now()) })
	}
	v.Advance(time.Hour)
	want := []time.Time{epoch.Add(7 * time.Millisecond), epoch.Add(2 * time.Second), epoch.Add(90 * time.Second)}
	if !slices.EqualFunc(seen, want, time.Time.Equal) {
		t.Fatalf("Now() in callbacks = %v, want %v", seen, want)
	}
	if now := v.Now(); !now.Equal(epoch.Add(time.Hour)) {
		t.Fatalf("Now() after Advance = %v, want %v", now, epoch.Add(time.Hour))
	}
}

func TestVirtualAdvanceStopsShortOfLaterTimers(t *testing.T) {
	v := NewVirtual(epoch)
	fired := false
	v.AfterFunc(time.Second, func() { fired = true })
	v.Advance(time.Second - time.Nanosecond)
	if fired {
		t.Fatal("timer fired before its deadline")
	}
	v.Advance(time.Nanosecond)
	if !fired {
		t.Fatal("timer did not fire at its deadline")
	}
}

func TestVirtualZeroDelayFiresOnNextAdvance(t *testing.T) {
	v := NewVirtual(epoch)
	fired := 0
	v.AfterFunc(0, func() { fired++ })
	v.AfterFunc(-time.Second, func() { fired++ })
	if fired != 0 {
		t.Fatal("AfterFunc ran f synchronously")
	}
	v.Advance(0)
	if fired != 2 {
		t.Fatalf("Advance(0) fired %d timers, want 2", fired)
	}
	if !v.Now().Equal(epoch) {
		t.Fatalf("Advance(0) moved time to %v", v.Now())
	}
}

func TestVirtualStopPreventsFiring(t *testing.T) {
	v := NewVirtual(epoch)
	fired := false
	tm := v.AfterFunc(time.Second, func() { fired = true })
	if !tm.Stop() {
		t.Fatal("Stop() on an armed timer = false, want true")
	}
	if tm.Stop() {
		t.Fatal("second Stop() = true, want false")
	}
	if n := v.Pending(); n != 0 {
		t.Fatalf("Pending() after Stop = %d, want 0", n)
	}
	v.Advance(time.Minute)
	if fired {
		t.Fatal("stopped timer fired")
	}
}

func TestVirtualStopAfterFiringReturnsFalse(t *testing.T) {
	v := NewVirtual(epoch)
	tm := v.AfterFunc(time.Second, func() {})
	v.Advance(time.Second)
	if tm.Stop() {
		t.Fatal("Stop() after firing = true, want false")
	}
}

func TestVirtualResetRearmsFromNow(t *testing.T) {
	v := NewVirtual(epoch)
	var at []time.Time
	tm := v.AfterFunc(10*time.Second, func() { at = append(at, v.Now()) })
	v.Advance(4 * time.Second)
	if !tm.Reset(10 * time.Second) {
		t.Fatal("Reset() of an armed timer = false, want true")
	}
	v.Advance(9 * time.Second) // t=13s: the original deadline (10s) has passed
	if len(at) != 0 {
		t.Fatalf("reset timer fired at %v, before its new deadline", at)
	}
	v.Advance(time.Second) // t=14s
	if want := epoch.Add(14 * time.Second); len(at) != 1 || !at[0].Equal(want) {
		t.Fatalf("fired at %v, want once at %v", at, want)
	}
	// Reset after firing re-arms and reports the timer was not armed.
	if tm.Reset(time.Second) {
		t.Fatal("Reset() of a fired timer = true, want false")
	}
	v.Advance(time.Second)
	if len(at) != 2 {
		t.Fatalf("re-armed timer fired %d times in total, want 2", len(at))
	}
	// Reset after Stop re-arms too.
	tm.Stop()
	if tm.Reset(time.Second) {
		t.Fatal("Reset() of a stopped timer = true, want false")
	}
	v.Advance(time.Second)
	if len(at) != 3 {
		t.Fatalf("timer reset after Stop fired %d times in total, want 3", len(at))
	}
}

func TestVirtualResetMovesBehindEqualDeadlines(t *testing.T) {
	v := NewVirtual(epoch)
	var got []string
	a := v.AfterFunc(time.Second, func() { got = append(got, "a") })
	v.AfterFunc(time.Second, func() { got = append(got, "b") })
	a.Reset(time.Second) // same deadline, armed later: now after b
	v.Advance(time.Second)
	if want := []string{"b", "a"}; !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}

func TestVirtualTimerArmedInCallbackFiresInSameAdvance(t *testing.T) {
	v := NewVirtual(epoch)
	var at []time.Duration
	v.AfterFunc(time.Second, func() {
		at = append(at, v.Now().Sub(epoch))
		v.AfterFunc(2*time.Second, func() {
			at = append(at, v.Now().Sub(epoch))
			v.AfterFunc(time.Hour, func() { at = append(at, v.Now().Sub(epoch)) })
		})
	})
	v.Advance(5 * time.Second)
	if want := []time.Duration{time.Second, 3 * time.Second}; !slices.Equal(at, want) {
		t.Fatalf("fired at %v, want %v", at, want)
	}
	if n := v.Pending(); n != 1 {
		t.Fatalf("Pending() = %d, want 1 (the 1h timer)", n)
	}
	if next, _ := v.Next(); !next.Equal(epoch.Add(3*time.Second + time.Hour)) {
		t.Fatalf("Next() = %v, want %v", next, epoch.Add(3*time.Second+time.Hour))
	}
}

func TestVirtualCallbackMayStopAnotherTimer(t *testing.T) {
	v := NewVirtual(epoch)
	fired := false
	var later Timer
	v.AfterFunc(time.Second, func() {
		if !later.Stop() {
			t.Error("Stop() from a callback = false, want true")
		}
	})
	later = v.AfterFunc(2*time.Second, func() { fired = true })
	v.Advance(time.Minute)
	if fired {
		t.Fatal("timer stopped from a callback fired")
	}
}

func TestVirtualHoursRunInMilliseconds(t *testing.T) {
	v := NewVirtual(epoch)
	const period = 75 * time.Second // the keepalive probe interval of Linux
	fires := 0
	var tm Timer
	var last time.Time
	tm = v.AfterFunc(period, func() {
		fires++
		if now := v.Now(); !now.Equal(last.Add(period)) {
			t.Errorf("fire %d at %v, want %v", fires, now, last.Add(period))
		}
		last = v.Now()
		tm.Reset(period)
	})
	last = epoch
	wall := time.Now()
	v.Advance(10 * time.Hour)
	elapsed := time.Since(wall)
	if want := int(10 * time.Hour / period); fires != want {
		t.Fatalf("periodic timer fired %d times in 10h, want %d", fires, want)
	}
	if elapsed > 2*time.Second {
		t.Fatalf("10h of virtual time took %v of wall time", elapsed)
	}
	t.Logf("10h of virtual time, %d firings, in %v", fires, elapsed)
}

func TestVirtualAdvanceToPastIsNoop(t *testing.T) {
	v := NewVirtual(epoch)
	v.Advance(time.Minute)
	v.AdvanceTo(epoch)
	if now := v.Now(); !now.Equal(epoch.Add(time.Minute)) {
		t.Fatalf("AdvanceTo(past) moved time to %v", now)
	}
	v.Advance(-time.Second)
	if now := v.Now(); !now.Equal(epoch.Add(time.Minute)) {
		t.Fatalf("Advance(negative) moved time to %v", now)
	}
}

func TestVirtualHeapOrderUnderRandomStops(t *testing.T) {
	v := NewVirtual(epoch)
	var got []time.Duration
	var timers []Timer
	// A deterministic shuffle of deadlines 1..500ms, then stop every third.
	for i := range 500 {
		d := time.Duration((i*7919)%500+1) * time.Millisecond
		timers = append(timers, v.AfterFunc(d, func() { got = append(got, v.Now().Sub(epoch)) }))
	}
	stopped := 0
	for i := 0; i < len(timers); i += 3 {
		if !timers[i].Stop() {
			t.Fatalf("Stop() of timer %d = false", i)
		}
		stopped++
	}
	if n := v.Pending(); n != 500-stopped {
		t.Fatalf("Pending() = %d, want %d", n, 500-stopped)
	}
	v.Advance(time.Second)
	if len(got) != 500-stopped {
		t.Fatalf("fired %d timers, want %d", len(got), 500-stopped)
	}
	if !slices.IsSorted(got) {
		t.Fatal("timers fired out of deadline order")
	}
}

func TestVirtualConcurrentUse(t *testing.T) {
	v := NewVirtual(epoch)
	var mu sync.Mutex
	fired := 0
	count := func() {
		_ = v.Now()
		mu.Lock()
		fired++
		mu.Unlock()
	}

	// Each arming fires exactly once unless a Stop, or a Reset reporting
	// the timer armed, cancels it: fired == arms - cancels, exactly.
	const workers, perWorker = 8, 500
	var wg sync.WaitGroup
	arms := make([]int, workers)
	cancels := make([]int, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				tm := v.AfterFunc(time.Duration(i%50)*time.Millisecond, count)
				arms[w]++
				if i%4 == 0 && tm.Stop() {
					cancels[w]++
				}
				if i%7 == 0 {
					arms[w]++
					if tm.Reset(time.Millisecond) {
						cancels[w]++
					}
				}
			}
		}()
	}
	done := make(chan struct{})
	advanced := make(chan struct{})
	go func() {
		defer close(advanced)
		for {
			select {
			case <-done:
				return
			default:
				v.Advance(time.Millisecond)
			}
		}
	}()
	wg.Wait()
	close(done)
	<-advanced
	v.Advance(time.Hour) // fire what is left
	if n := v.Pending(); n != 0 {
		t.Fatalf("Pending() = %d after advancing past every deadline", n)
	}
	want := 0
	for w := range workers {
		want += arms[w] - cancels[w]
	}
	if fired != want {
		t.Fatalf("fired %d timers, want %d (arms minus cancellations)", fired, want)
	}
}

func TestRealClockFires(t *testing.T) {
	c := Real()
	before := time.Now()
	if now := c.Now(); now.Before(before) {
		t.Fatalf("Real().Now() = %v, before time.Now() = %v", now, before)
	}
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("real timer did not fire")
	}
	tm := c.AfterFunc(time.Hour, func() { t.Error("stopped real timer fired") })
	if !tm.Stop() {
		t.Fatal("Stop() of an armed real timer = false")
	}
}

func BenchmarkVirtualAfterFuncAdvance(b *testing.B) {
	v := NewVirtual(epoch)
	f := func() {}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		v.AfterFunc(time.Duration(i%64)*time.Millisecond, f)
		if i%64 == 63 {
			v.Advance(64 * time.Millisecond)
		}
	}
}

func BenchmarkVirtualReset(b *testing.B) {
	v := NewVirtual(epoch)
	f := func() {}
	for i := range 1000 {
		v.AfterFunc(time.Duration(i)*time.Millisecond, f)
	}
	tm := v.AfterFunc(time.Second, f)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tm.Reset(time.Duration(i%2000) * time.Millisecond)
	}
}
