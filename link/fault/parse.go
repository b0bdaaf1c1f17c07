package fault

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// rateUnits are the units ParseRate reads, in bits per second, longest
// suffix first so that "mbit" is not read as "bit". They are decimal, as in
// tc(8): 1kbit is 1000 bits per second.
var rateUnits = []struct {
	suffix string
	bits   float64
}{
	{"tbit", 1e12},
	{"gbit", 1e9},
	{"mbit", 1e6},
	{"kbit", 1e3},
	{"bit", 1},
}

// ParseRate reads a bandwidth such as "10mbit", "1.5gbit", "64kbit" or
// "9600bit" (a bare number is bits per second) and returns it in bits per
// second, for Direction.Rate. Units are decimal and case-insensitive, as in
// tc(8); "0" is unlimited. Byte units such as "mbps" are refused as
// ambiguous.
func ParseRate(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range rateUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = num, u.bits
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || v < 0 {
		return 0, fmt.Errorf("fault: bad rate %q: want bits per second such as 10mbit (units bit, kbit, mbit, gbit, tbit)", s)
	}
	bps := math.Round(v * mult)
	if bps >= math.MaxInt64 {
		return 0, fmt.Errorf("fault: rate %q too large", s)
	}
	return int64(bps), nil
}

// FormatRate writes bits per second the way ParseRate reads them, in the
// largest unit that keeps the number whole: 10000000 is "10mbit".
func FormatRate(bps int64) string {
	for _, u := range rateUnits {
		if b := int64(u.bits); bps != 0 && bps%b == 0 {
			return strconv.FormatInt(bps/b, 10) + u.suffix
		}
	}
	return strconv.FormatInt(bps, 10) + "bit"
}

// String describes d as "key value" pairs in a fixed order, leaving out
// the zero settings, for instance "loss 5% delay 10ms jitter 2ms rate
// 10mbit queue 100"; a zero Direction is "none". ParseDirection reads it
// back.
func (d Direction) String() string {
	var b strings.Builder
	add := func(key, val string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key)
		b.WriteByte(' ')
		b.WriteString(val)
	}
	pct := func(key string, p float64) {
		if p != 0 {
			add(key, strconv.FormatFloat(p*100, 'g', 12, 64)+"%")
		}
	}
	dur := func(key string, v time.Duration) {
		if v != 0 {
			add(key, v.String())
		}
	}
	pct("loss", d.Loss)
	pct("duplicate", d.Duplicate)
	pct("corrupt", d.Corrupt)
	pct("reorder", d.Reorder)
	dur("reorder-delay", d.ReorderDelay)
	dur("delay", d.Delay)
	dur("jitter", d.Jitter)
	if d.Rate != 0 {
		add("rate", FormatRate(d.Rate))
	}
	if d.QueueDepth != 0 {
		add("queue", strconv.Itoa(d.QueueDepth))
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// ParseDirection reads the form String writes: "key value" pairs
// separated by spaces, in any order, or "none" (or nothing) for the zero
// Direction. The keys are loss, duplicate, corrupt and reorder, whose
// values are percentages ("5%") or fractions ("0.05"); reorder-delay, delay
// and jitter, durations as time.ParseDuration reads them ("10ms"); rate, a
// bandwidth as ParseRate reads it ("10mbit"); and queue, a number of
// packets. For example: "loss 1% delay 20ms jitter 5ms rate 10mbit".
func ParseDirection(s string) (Direction, error) {
	var d Direction
	f := strings.Fields(s)
	if len(f) == 1 && f[0] == "none" {
		return d, nil
	}
	if len(f)%2 != 0 {
		return d, fmt.Errorf("fault: %q: want key value pairs such as \"loss 1%% delay 10ms\"", s)
	}
	for i := 0; i < len(f); i += 2 {
		key, val := f[i], f[i+1]
		var err error
		switch key {
		case "loss":
			d.Loss, err = parseProbability(val)
		case "duplicate":
			d.Duplicate, err = parseProbability(val)
		case "corrupt":
			d.Corrupt, err = parseProbability(val)
		case "reorder":
			d.Reorder, err = parseProbability(val)
		case "reorder-delay":
			d.ReorderDelay, err = parseDuration(val)
		case "delay":
			d.Delay, err = parseDuration(val)
		case "jitter":
			d.Jitter, err = parseDuration(val)
		case "rate":
			d.Rate, err = ParseRate(val)
		case "queue":
			d.QueueDepth, err = strconv.Atoi(val)
			if err == nil && d.QueueDepth < 0 {
				err = errors.New("negative")
			}
		default:
			return Direction{}, fmt.Errorf("fault: unknown setting %q in %q (want loss, duplicate, corrupt, reorder, reorder-delay, delay, jitter, rate or queue)", key, s)
		}
		if err != nil {
			return Direction{}, fmt.Errorf("fault: bad %s %q: %w", key, val, err)
		}
	}
	return d, nil
}

// parseProbability reads "5%" as 0.05 and "0.05" as itself.
func parseProbability(s string) (float64, error) {
	num, pct := strings.CutSuffix(s, "%")
	p, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, errors.New("not a number")
	}
	if pct {
		p /= 100
	}
	if !(p >= 0 && p <= 1) {
		return 0, errors.New("not between 0% and 100%")
	}
	return p, nil
}

// parseDuration is time.ParseDuration, refusing negative durations.
func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("not a duration such as 10ms")
	}
	if v < 0 {
		return 0, errors.New("negative")
	}
	return v, nil
}
