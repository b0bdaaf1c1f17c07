package seqnum

import "testing"

func TestLessThanWraps(t *testing.T) {
	cases := []struct {
		a, b Value
		want bool
	}{
		{1, 2, true},
		{2, 1, false},
		{0xffffffff, 0, true}, // 0 comes just after 2^32-1
		{0, 0xffffffff, false},
		{0xfffffff0, 0x10, true}, // across the wrap
		{0x7fffffff, 0x80000000, true},
		{5, 5, false},
	}
	for _, c := range cases {
		if got := c.a.LessThan(c.b); got != c.want {
			t.Errorf("%#x.LessThan(%#x) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestOrderingRelations(t *testing.T) {
	a, b := Value(0xfffffffe), Value(3)
	if !a.LessThanEq(b) || !a.LessThanEq(a) || !b.GreaterThan(a) || !b.GreaterThanEq(b) || a.GreaterThanEq(b) {
		t.Fatalf("ordering across the wrap is wrong for %#x and %#x", a, b)
	}
	if Max(a, b) != b || Min(a, b) != a {
		t.Fatalf("Max/Min across the wrap: got %#x/%#x", Max(a, b), Min(a, b))
	}
}

func TestInWindow(t *testing.T) {
	first := Value(0xfffffff0)
	if !first.InWindow(first, 32) {
		t.Error("first byte of a window must be in it")
	}
	if !Value(0xf).InWindow(first, 32) {
		t.Error("byte 31 after a wrap must be in a 32-byte window")
	}
	if Value(0x10).InWindow(first, 32) {
		t.Error("byte 32 must not be in a 32-byte window")
	}
	if first.InWindow(first, 0) {
		t.Error("an empty window holds nothing")
	}
	if Value(0xffffffef).InWindow(first, 32) {
		t.Error("byte before the window must not be in it")
	}
}

func TestAddSubSize(t *testing.T) {
	v := Value(0xfffffffe)
	w := v.Add(5)
	if w != 3 {
		t.Fatalf("Add across wrap = %#x, want 3", w)
	}
	if v.Size(w) != 5 {
		t.Fatalf("Size = %d, want 5", v.Size(w))
	}
	if w.Sub(5) != v {
		t.Fatalf("Sub = %#x, want %#x", w.Sub(5), v)
	}
}
