package actors

import (
	"testing"
	"time"
)

// The lease over a scripted timeline: a free activation delivers from its first confirmed read; one
// after an activation that did not release waits leaseWait after its settings; reads keep it valid
// while they succeed, and it lapses leaseValid after the start of the last one that did.
func TestLease(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		ms      int
		confirm bool // a read begun at ms found this activation's epoch (else: only look)
		valid   bool // valid at ms (after the step)
		due     bool // a read is due at ms (after the step)
	}
	for _, tc := range []struct {
		name  string
		free  bool
		steps []step
	}{
		{"free", true, []step{
			{0, false, false, true},    // no read yet: nothing goes out
			{0, true, true, false},     // confirmed: until 1500
			{400, false, true, false},  // 1100 left: the next read is due at 401
			{401, false, true, true},   // under leaseValid-leaseRenew left: read again
			{401, true, true, false},   // until 1901
			{1900, false, true, true},  // reads failed since: still valid to 1901
			{1901, false, false, true}, // lapsed
			{2500, true, true, false},  // a read works again
		}},
		{"after an activation that did not release", false, []step{
			{0, true, false, false},    // confirmed, but held until 2000
			{1999, true, false, false}, // still held
			{2000, false, true, false}, // the hold ended; the read at 1999 holds to 3499
			{3500, false, false, true},
		}},
	} {
		l := newLease(t0, tc.free)
		for i, s := range tc.steps {
			now := at(s.ms)
			if s.confirm {
				l.reading = true
				l.confirmed(now)
			}
			if got := l.valid(now); got != s.valid {
				t.Fatalf("%s: step %d at %d ms: valid %v, want %v", tc.name, i, s.ms, got, s.valid)
			}
			if got := l.due(now); got != s.due {
				t.Fatalf("%s: step %d at %d ms: due %v, want %v", tc.name, i, s.ms, got, s.due)
			}
		}
	}
	l := newLease(t0, true)
	l.reading = true
	if l.due(t0) {
		t.Fatal("a read is due while one is in flight")
	}
	l.confirmed(t0.Add(time.Second))
	l.reading = true
	l.confirmed(t0) // an older read answering late does not shorten the lease
	if !l.valid(t0.Add(2400 * time.Millisecond)) {
		t.Fatal("a late answer to an older read shortened the lease")
	}
}
