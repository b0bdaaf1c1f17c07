package fault_test

import (
	"testing"
	"time"

	"github.com/synack-net/synack/link/fault"
)

func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"10mbit", 10_000_000},
		{"10Mbit", 10_000_000},
		{"1.5gbit", 1_500_000_000},
		{"64kbit", 64_000},
		{"9600bit", 9600},
		{"9600", 9600},
		{"1tbit", 1_000_000_000_000},
		{" 8mbit ", 8_000_000},
		{"0", 0},
	} {
		got, err := fault.ParseRate(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "mbit", "fast", "-1mbit", "10mbps", "10 mbit", "NaN", "1e30gbit"} {
		if got, err := fault.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormatRate(t *testing.T) {
	for _, c := range []struct {
		in   int64
		want string
	}{
		{10_000_000, "10mbit"},
		{1_500_000, "1500kbit"},
		{1_000_000_000, "1gbit"},
		{9601, "9601bit"},
		{0, "0bit"},
	} {
		if got := fault.FormatRate(c.in); got != c.want {
			t.Errorf("FormatRate(%d) = %q, want %q", c.in, got, c.want)
		}
		if back, err := fault.ParseRate(fault.FormatRate(c.in)); err != nil || back != c.in {
			t.Errorf("ParseRate(FormatRate(%d)) = %d, %v", c.in, back, err)
		}
	}
}

func TestDirectionStringRoundTrip(t *testing.T) {
	for _, c := range []struct {
		d    fault.Direction
		want string
	}{
		{fault.Direction{}, "none"},
		{fault.Direction{Loss: 0.05, Delay: 10 * time.Millisecond}, "loss 5% delay 10ms"},
		{fault.Direction{
			Loss: 0.01, Duplicate: 0.002, Corrupt: 0.001, Reorder: 0.25, ReorderDelay: 3 * time.Millisecond,
			Delay: 20 * time.Millisecond, Jitter: 1500 * time.Microsecond, Rate: 10_000_000, QueueDepth: 64,
		}, "loss 1% duplicate 0.2% corrupt 0.1% reorder 25% reorder-delay 3ms delay 20ms jitter 1.5ms rate 10mbit queue 64"},
	} {
		if got := c.d.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
		back, err := fault.ParseDirection(c.want)
		if err != nil {
			t.Errorf("ParseDirection(%q): %v", c.want, err)
			continue
		}
		if back.String() != c.want {
			t.Errorf("ParseDirection(%q) = %q", c.want, back)
		}
	}
	d, err := fault.ParseDirection("delay 5ms loss 0.5 rate 1.5mbit")
	if want := (fault.Direction{Loss: 0.5, Delay: 5 * time.Millisecond, Rate: 1_500_000}); err != nil || d != want {
		t.Errorf("ParseDirection in another order with a fraction = %+v, %v; want %+v", d, err, want)
	}
	if d, err := fault.ParseDirection(""); err != nil || !d.IsZero() {
		t.Errorf(`ParseDirection("") = %+v, %v; want the zero Direction`, d, err)
	}
	for _, in := range []string{"loss", "loss 5", "loss 101%", "loss -1%", "delay -1ms", "delay soon",
		"rate fast", "queue -3", "queue x", "speed 10mbit", "none none"} {
		if d, err := fault.ParseDirection(in); err == nil {
			t.Errorf("ParseDirection(%q) = %+v, want an error", in, d)
		}
	}
}

func TestDirectionIsZero(t *testing.T) {
	for _, c := range []struct {
		d    fault.Direction
		want bool
	}{
		{fault.Direction{}, true},
		{fault.Direction{QueueDepth: 5, ReorderDelay: time.Millisecond}, true},
		{fault.Direction{Loss: 0.1}, false},
		{fault.Direction{Jitter: 1}, false},
		{fault.Direction{Rate: 1}, false},
		{fault.Direction{Reorder: 0.1}, false},
	} {
		if got := c.d.IsZero(); got != c.want {
			t.Errorf("%+v.IsZero() = %v, want %v", c.d, got, c.want)
		}
	}
}
