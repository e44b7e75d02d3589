package bridge

import (
	"errors"
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		caps          []string // nil: no match
	}{
		{"orders.eu", "orders.eu", []string{}},
		{"orders.eu", "orders.us", nil},
		{"orders.eu", "orders", nil},
		{"orders.eu", "orders.eu.x", nil},
		{"orders.*", "orders.eu", []string{"eu"}},
		{"orders.*", "orders", nil},
		{"orders.*", "orders.eu.x", nil},
		{"orders.*", "orders.", nil},
		{"*.*", "a.b", []string{"a", "b"}},
		{"*.b.*", "a.b.c", []string{"a", "c"}},
		{"*.b.*", "a.x.c", nil},
		{">", "a", []string{"a"}},
		{">", "a.b.c", []string{"a.b.c"}},
		{">", "", nil},
		{">", "a..b", nil},
		{"a.>", "a", nil},
		{"a.>", "a.b", []string{"b"}},
		{"a.>", "a.b.c", []string{"b.c"}},
		{"a.>", "a.", nil},
		{"*.>", "x.y.z", []string{"x", "y.z"}},
		{"*", "", nil},
		{"*", "a", []string{"a"}},
		{"a", "", nil},
	}
	for _, c := range cases {
		p, err := ParsePattern(c.pattern, KindSubject)
		if err != nil {
			t.Fatalf("parse %q: %v", c.pattern, err)
		}
		caps, ok := p.Match(c.name)
		if ok != (c.caps != nil) {
			t.Errorf("%q matching %q: got %v, want match=%v", c.pattern, c.name, ok, c.caps != nil)
			continue
		}
		if ok && strings.Join(caps, "|") != strings.Join(c.caps, "|") {
			t.Errorf("%q matching %q captured %q, want %q", c.pattern, c.name, caps, c.caps)
		}
	}
}

func TestParsePatternRejects(t *testing.T) {
	cases := []struct {
		s    string
		k    Kind
		want string
	}{
		{"", KindChannel, "empty"},
		{"a..b", KindSubject, "empty token"},
		{".a", KindSubject, "empty token"},
		{"a.", KindChannel, "empty token"},
		{"a.>.b", KindSubject, "must be the last"},
		{"a*", KindSubject, "wildcards are whole tokens"},
		{"a.b>", KindChannel, "wildcards are whole tokens"},
		{"a b", KindSubject, "space"},
		{"a:b", KindChannel, "channel tokens are"},
		{strings.Repeat("a", 256), KindChannel, "over 255"},
	}
	for _, c := range cases {
		_, err := ParsePattern(c.s, c.k)
		if err == nil || !errors.Is(err, ErrInvalidPattern) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParsePattern(%q, %s) = %v, want an ErrInvalidPattern saying %q", c.s, c.k, err, c.want)
		}
	}
	if _, err := ParsePattern("a:b.*.>", KindSubject); err != nil {
		t.Errorf("a subject may hold ':': %v", err)
	}
}

func TestMapping(t *testing.T) {
	m, err := NewMapping("orders.*", KindChannel, "sampan.orders.*", KindSubject)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := m.Map("orders.eu"); !ok || got != "sampan.orders.eu" {
		t.Fatalf("orders.eu -> %q %v", got, ok)
	}
	if _, ok := m.Map("orders.eu.x"); ok {
		t.Fatal("orders.eu.x matched orders.*")
	}
	m, err = NewMapping("ext.*.>", KindSubject, "fromnats.*.x.>", KindChannel)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Map("ext.a.b.c"); got != "fromnats.a.x.b.c" {
		t.Fatalf("ext.a.b.c -> %q", got)
	}
	lit, err := NewMapping("a.b", KindChannel, "c", KindSubject)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := lit.Map("a.b"); !ok || got != "c" {
		t.Fatalf("literal mapping: %q %v", got, ok)
	}
	for _, bad := range [][2]string{{"orders.*", "x"}, {"orders.*", "x.>"}, {"a.*.>", "b.>"}, {"a", "b.*"}, {"*.*", "*"}} {
		_, err := NewMapping(bad[0], KindChannel, bad[1], KindSubject)
		if !errors.Is(err, ErrInvalidPattern) || !strings.Contains(err.Error(), "wildcards do not match") {
			t.Errorf("%s=%s: %v, want a wildcard mismatch error", bad[0], bad[1], err)
		}
	}
}

// FuzzMapping checks, for any pattern and name, that a match maps to a name the destination pattern
// matches, and that mapping back with the reverse mapping gives the original name.
func FuzzMapping(f *testing.F) {
	f.Add("orders.*", "sampan.orders.*", "orders.eu")
	f.Add("a.>", "b.c.>", "a.x.y")
	f.Add("*.b.*", "*.*.z", "q.b.r")
	f.Add(">", ">", "..")
	f.Add("x", "y", "x")
	f.Fuzz(func(t *testing.T, from, to, name string) {
		m, err := NewMapping(from, KindSubject, to, KindSubject)
		if err != nil {
			return
		}
		out, ok := m.Map(name)
		if !ok {
			return
		}
		if _, err := ParsePattern(name, KindSubject); err != nil {
			// Matching tolerates bytes a pattern may not hold (a wildcard capture is any token); such
			// names only round-trip when they are valid literals.
			return
		}
		if _, ok := m.To.Match(out); !ok {
			t.Fatalf("%s maps %q to %q, which %q does not match", m, name, out, m.To)
		}
		back := Mapping{From: m.To, To: m.From}
		if got, ok := back.Map(out); !ok || got != name {
			t.Fatalf("%s: %q -> %q -> %q (ok %v)", m, name, out, got, ok)
		}
	})
}
