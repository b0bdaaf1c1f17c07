// Package seqnum is TCP's 32-bit sequence-number arithmetic, wrap-safe as
// RFC 9293 §3.4 requires. It sits below the TCP engine and knows nothing of
// segments, sockets or time.
//
// Sequence numbers live on a circle of 2^32 points: "a < b" means b lies in
// the half-circle after a. Nothing outside this package compares raw uint32
// sequence numbers.
package seqnum

// Value is a point in sequence space (SEG.SEQ, SND.UNA, RCV.NXT, ISS, ...).
type Value uint32

// Size is a distance in sequence space: a length or a window.
type Size uint32

// LessThan reports whether v comes before w (RFC 9293 §3.4, modulo 2^32).
func (v Value) LessThan(w Value) bool { return int32(v-w) < 0 }

// LessThanEq reports whether v comes before or is w.
func (v Value) LessThanEq(w Value) bool { return int32(v-w) <= 0 }

// GreaterThan reports whether v comes after w.
func (v Value) GreaterThan(w Value) bool { return int32(v-w) > 0 }

// GreaterThanEq reports whether v comes after or is w.
func (v Value) GreaterThanEq(w Value) bool { return int32(v-w) >= 0 }

// InRange reports whether a <= v < b.
func (v Value) InRange(a, b Value) bool { return v-a < b-a }

// InWindow reports whether v lies in the window of size s starting at first:
// first <= v < first+s. An empty window holds nothing.
func (v Value) InWindow(first Value, s Size) bool { return v.InRange(first, first.Add(s)) }

// Add returns v advanced by s.
func (v Value) Add(s Size) Value { return v + Value(s) }

// Sub returns v moved back by s.
func (v Value) Sub(s Size) Value { return v - Value(s) }

// Size returns the distance from v forward to w; w must not come before v.
func (v Value) Size(w Value) Size { return Size(w - v) }

// Max returns whichever of v and w comes later.
func Max(v, w Value) Value {
	if v.LessThan(w) {
		return w
	}
	return v
}

// Min returns whichever of v and w comes earlier.
func Min(v, w Value) Value {
	if v.LessThan(w) {
		return v
	}
	return w
}
