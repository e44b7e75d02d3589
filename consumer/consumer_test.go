package consumer

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1000, 0)

// show renders effects as "deliver a 3#1, dead 5#3" (Wake left out: checked on its own).
func show(effs []Effect) string {
	var out []string
	for _, e := range effs {
		switch e.Kind {
		case Deliver:
			out = append(out, fmt.Sprintf("deliver %s %d#%d", e.Member, e.Seq, e.Attempt))
		case DeadLetter:
			out = append(out, fmt.Sprintf("dead %d#%d", e.Seq, e.Attempt))
		}
	}
	return strings.Join(out, ", ")
}

func TestStateFloor(t *testing.T) {
	s := NewState(1)
	for _, seq := range []uint64{2, 3, 5} {
		s.MarkDone(seq)
	}
	if s.Floor != 0 || len(s.Done) != 3 {
		t.Fatalf("floor %d done %v: nothing moves while 1 is pending", s.Floor, s.Done)
	}
	s.MarkDone(1)
	if s.Floor != 3 || len(s.Done) != 1 || !s.Done[5] {
		t.Fatalf("floor %d done %v, want 3 and {5}", s.Floor, s.Done)
	}
	s.MarkDone(2) // again: nothing
	if s.Floor != 3 || !s.IsDone(2) || s.IsDone(4) {
		t.Fatal("a done seq marked again changed the state")
	}
	if NewState(10).Floor != 9 || NewState(0).Floor != 0 {
		t.Fatal("a consumer from seq n starts with floor n-1")
	}
}

// Each step is an event and the deliveries and dead letters it must cause.
type step struct {
	at   time.Duration // since t0
	do   func(d *Dispatcher, now time.Time)
	want string
}

func run(t *testing.T, name string, d *Dispatcher, steps []step) {
	t.Helper()
	for i, s := range steps {
		now := t0.Add(s.at)
		s.do(d, now)
		if got := show(d.Take()); got != s.want {
			t.Fatalf("%s: step %d at %s: got %q, want %q", name, i, s.at, got, s.want)
		}
	}
}

func join(m string, credit int) func(*Dispatcher, time.Time) {
	return func(d *Dispatcher, now time.Time) { d.Join(now, m, credit) }
}
func leave(m string) func(*Dispatcher, time.Time) {
	return func(d *Dispatcher, now time.Time) { d.Leave(now, m) }
}
func stored(last uint64) func(*Dispatcher, time.Time) {
	return func(d *Dispatcher, now time.Time) { d.Stored(now, last) }
}
func ack(seq uint64) func(*Dispatcher, time.Time) {
	return func(d *Dispatcher, now time.Time) { d.Ack(now, seq) }
}
func nak(seq uint64, delay time.Duration) func(*Dispatcher, time.Time) {
	return func(d *Dispatcher, now time.Time) { d.Nak(now, seq, delay) }
}
func tick() func(*Dispatcher, time.Time) { return func(d *Dispatcher, now time.Time) { d.Tick(now) } }
func progress(seq uint64) func(*Dispatcher, time.Time) {
	return func(d *Dispatcher, now time.Time) { d.InProgress(now, seq) }
}

func TestSharedWorkQueue(t *testing.T) {
	cfg := Config{Mode: Shared, AckWait: 10 * time.Second, MaxDeliver: 3}
	st := NewState(1)
	d := NewDispatcher(cfg, st, 0, t0)
	run(t, "shared", d, []step{
		{0, join("a", 2), ""},
		{0, join("b", 2), ""},
		{0, stored(5), "deliver a 1#1, deliver b 2#1, deliver a 3#1, deliver b 4#1"},
		{time.Second, ack(1), "deliver a 5#1"},                     // a's slot came back
		{2 * time.Second, nak(2, 0), "deliver b 2#2"},              // handed out again at once
		{3 * time.Second, leave("a"), ""},                          // b is full: a's 3 and 5 wait
		{3 * time.Second, ack(4), "deliver b 3#2"},                 // oldest first
		{13 * time.Second, tick(), "deliver b 2#3, deliver b 3#3"}, // both expired with b: handed out again, lowest first; 5 still waits
		{13 * time.Second, join("c", 5), "deliver c 5#2"},
		{24 * time.Second, tick(), "dead 2#3, dead 3#3, deliver c 5#3"}, // 2 and 3 had their three deliveries
		{25 * time.Second, ack(5), ""},
	})
	if st.Floor != 5 || len(st.Done) != 0 || len(st.Deliveries) != 0 || d.Pending() != 0 {
		t.Fatalf("after all: floor %d done %v deliveries %v pending %d", st.Floor, st.Done, st.Deliveries, d.Pending())
	}
}

func TestExclusiveInOrder(t *testing.T) {
	cfg := Config{Mode: Exclusive, AckWait: 10 * time.Second}
	d := NewDispatcher(cfg, NewState(1), 4, t0)
	run(t, "exclusive", d, []step{
		{0, join("a", 2), "deliver a 1#1, deliver a 2#1"},
		{0, join("b", 2), ""}, // a standby gets nothing
		{time.Second, ack(1), "deliver a 3#1"},
		{2 * time.Second, nak(2, 5*time.Second), ""},                  // 2 waits, and nothing newer may pass it
		{3 * time.Second, ack(3), ""},                                 // a has room, but 4 must not go before 2
		{7 * time.Second, tick(), "deliver a 2#2, deliver a 4#1"},     // 2 is due: in order
		{8 * time.Second, leave("a"), "deliver b 2#3, deliver b 4#2"}, // the standby takes over from the oldest
	})
}

func TestInProgressAndTick(t *testing.T) {
	cfg := Config{Mode: Shared, AckWait: 10 * time.Second}
	d := NewDispatcher(cfg, NewState(1), 1, t0)
	run(t, "in progress", d, []step{
		{0, join("a", 1), "deliver a 1#1"},
		{9 * time.Second, progress(1), ""},
		{10 * time.Second, tick(), ""}, // extended to 19 s
		{19 * time.Second, tick(), "deliver a 1#2"},
	})
	var wake time.Time
	d.Ack(t0.Add(20*time.Second), 1)
	for _, e := range d.Take() {
		if e.Kind == Wake {
			wake = e.At
		}
	}
	if !wake.IsZero() {
		t.Fatalf("nothing in flight, yet a wake at %v", wake)
	}
}

func allow(from, until time.Duration) func(*Dispatcher, time.Time) {
	return func(d *Dispatcher, now time.Time) { d.Allow(now, t0.Add(from), t0.Add(until)) }
}

// Outside the lease's window nothing goes out: not at join, store, ack or an ack wait's end; acks and
// ack waits go on, and what waited goes out when the window opens again.
func TestAllowWindow(t *testing.T) {
	cfg := Config{Mode: Shared, AckWait: 10 * time.Second}
	d := NewDispatcher(cfg, NewState(1), 3, t0)
	run(t, "lease", d, []step{
		{0, allow(2*time.Second, 5*time.Second), ""}, // held: a previous activation may still deliver
		{0, join("a", 2), ""},                        // nothing before the window
		{2 * time.Second, allow(2*time.Second, 5*time.Second), "deliver a 1#1, deliver a 2#1"}, // opens
		{4 * time.Second, ack(1), "deliver a 3#1"},                                             // still inside
		{5 * time.Second, ack(2), ""},                                                          // the lease ran out: 4 waits
		{5 * time.Second, stored(4), ""},
		{14 * time.Second, tick(), ""},                                               // 3's ack wait ended: it waits too
		{15 * time.Second, allow(0, 16*time.Second), "deliver a 3#2, deliver a 4#1"}, // renewed
	})
}

func TestMaxAckPending(t *testing.T) {
	cfg := Config{Mode: Shared, AckWait: time.Minute, MaxAckPending: 2}
	d := NewDispatcher(cfg, NewState(1), 5, t0)
	run(t, "max ack pending", d, []step{
		{0, join("a", 10), "deliver a 1#1, deliver a 2#1"},
		{0, ack(2), ""}, // 1 still holds the floor at 0: 3 is too far past it
		{0, ack(1), "deliver a 3#1, deliver a 4#1"},
	})
}

// After a failover the new dispatcher treats everything above the floor not known done as still in
// flight to the member that had it (also seqs whose delivery count was not replicated yet): that
// member's late ack settles it; what is not acked within the ack wait is handed out again.
func TestResumeAfterFailover(t *testing.T) {
	resumed := func() *State {
		st := NewState(1)
		st.MarkDone(1)
		st.Delivered(2)
		st.MarkDone(3)
		st.Delivered(5) // 4 was delivered too, but its count was lost with the old activation
		return st
	}
	d := NewDispatcher(Config{Mode: Shared, AckWait: time.Minute}, resumed(), 7, t0)
	run(t, "resume shared", d, []step{
		{0, join("a", 10), "deliver a 6#1, deliver a 7#1"}, // never handed out: at once
		{time.Second, ack(4), ""},                          // the old delivery's member acks it late
		{2 * time.Second, ack(6), ""},
		{2 * time.Second, ack(7), ""},
		{59 * time.Second, tick(), ""},
		{time.Minute, tick(), "deliver a 2#2, deliver a 5#2"}, // not acked within the ack wait
	})
	d = NewDispatcher(Config{Mode: Exclusive, AckWait: time.Minute}, resumed(), 7, t0)
	run(t, "resume exclusive", d, []step{
		{0, join("a", 10), ""}, // order: nothing newer before the resumed ones
		{time.Second, ack(2), ""},
		{time.Minute, tick(), "deliver a 4#1, deliver a 5#2, deliver a 6#1, deliver a 7#1"},
	})
}

// Retention removed seqs 1-5 while 2 and 3 were in flight (7 is done already): a Trim to 6 moves the
// floor to 5, frees the members' slots and hands out 6 and 8.
func TestTrim(t *testing.T) {
	st := NewState(1)
	d := NewDispatcher(Config{Mode: Shared, AckWait: time.Minute}, st, 3, t0)
	run(t, "trim", d, []step{
		{0, join("a", 2), "deliver a 1#1, deliver a 2#1"},
		{0, ack(1), "deliver a 3#1"},
		{0, func(d *Dispatcher, now time.Time) { st.MarkDone(7) }, ""},
		{0, stored(9), ""}, // a is full (2 and 3)
		{time.Second, func(d *Dispatcher, now time.Time) {
			if !d.Trim(now, 6) || d.Trim(now, 6) {
				t.Fatal("Trim(6) should move the floor once")
			}
		}, "deliver a 6#1, deliver a 8#1"},
	})
	if st.Floor != 5 || len(st.Done) != 1 || !st.Done[7] || d.Pending() != 2 {
		t.Fatalf("after the trim: floor %d done %v pending %d", st.Floor, st.Done, d.Pending())
	}
}

// TestDispatcherModel drives a dispatcher with random members that ack, nak, stall and leave, then
// lets one well-behaved member finish, and checks: nothing is handed out once done, nothing is in
// flight to two members at once, no seq is dead-lettered twice or after an ack, delivery counts match
// State, and in the end every seq is done (acked or dead-lettered): at-least-once, nothing lost.
func TestDispatcherModel(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewSource(seed))
		mode := Shared
		if seed%2 == 0 {
			mode = Exclusive
		}
		cfg := Config{Mode: mode, AckWait: 5 * time.Second, MaxDeliver: 1 + rng.Intn(4), MaxAckPending: 1 + rng.Intn(8)}
		st := NewState(1)
		d := NewDispatcher(cfg, st, 0, t0)
		now := t0
		const n = 60
		held := map[uint64]string{}      // in flight, by the model's account
		heldAt := map[uint64]time.Time{} // when it was handed out
		acked := map[uint64]bool{}
		dead := map[uint64]bool{}
		deliveries := map[uint64]int{}
		var wakeAt time.Time // the earliest Wake since the last Tick
		check := func() {
			for _, e := range d.Take() {
				switch e.Kind {
				case Wake:
					if wakeAt.IsZero() || e.At.Before(wakeAt) {
						wakeAt = e.At
					}
				case Deliver:
					if acked[e.Seq] || dead[e.Seq] {
						t.Fatalf("seed %d: %d handed out after it was done", seed, e.Seq)
					}
					if m, ok := held[e.Seq]; ok {
						t.Fatalf("seed %d: %d handed to %s while %s holds it", seed, e.Seq, e.Member, m)
					}
					deliveries[e.Seq]++
					if e.Attempt != deliveries[e.Seq] {
						t.Fatalf("seed %d: %d attempt %d, want %d", seed, e.Seq, e.Attempt, deliveries[e.Seq])
					}
					held[e.Seq], heldAt[e.Seq] = e.Member, now
				case DeadLetter:
					if dead[e.Seq] || acked[e.Seq] {
						t.Fatalf("seed %d: %d dead-lettered twice or after an ack", seed, e.Seq)
					}
					if cfg.MaxDeliver > 0 && deliveries[e.Seq] < cfg.MaxDeliver {
						t.Fatalf("seed %d: %d dead-lettered after %d deliveries", seed, e.Seq, deliveries[e.Seq])
					}
					dead[e.Seq] = true
				}
			}
			if len(st.Done) > cfg.maxPending() || len(st.Deliveries) > cfg.maxPending() {
				t.Fatalf("seed %d: state beyond max-ack-pending %d: %d done, %d counts", seed, cfg.maxPending(), len(st.Done), len(st.Deliveries))
			}
			// Whatever waits for time (an ack deadline, a delayed retry) has a Wake at or before it.
			for seq, f := range d.flight {
				if wakeAt.IsZero() || wakeAt.After(f.deadline) {
					t.Fatalf("seed %d: %d in flight until %v, earliest wake %v", seed, seq, f.deadline, wakeAt)
				}
			}
			for _, r := range d.retries {
				if r.notBefore.After(now) && (wakeAt.IsZero() || wakeAt.After(r.notBefore)) {
					t.Fatalf("seed %d: %d waits until %v, earliest wake %v", seed, r.seq, r.notBefore, wakeAt)
				}
			}
		}
		expire := func() { // what the dispatcher takes back at a tick: past its ack wait
			for seq, at := range heldAt {
				if !now.Before(at.Add(cfg.AckWait)) {
					delete(held, seq)
					delete(heldAt, seq)
				}
			}
		}
		members := []string{"a", "b", "c"}
		var stored uint64
		for i := 0; i < 400; i++ {
			now = now.Add(time.Duration(rng.Intn(1500)) * time.Millisecond)
			switch r := rng.Intn(10); {
			case r < 2 && stored < n:
				stored += uint64(1 + rng.Intn(5))
				stored = min(stored, n)
				d.Stored(now, stored)
			case r < 3:
				d.Join(now, members[rng.Intn(3)], 1+rng.Intn(3))
			case r < 4:
				m := members[rng.Intn(3)]
				for seq, h := range held {
					if h == m {
						delete(held, seq)
						delete(heldAt, seq)
					}
				}
				d.Leave(now, m)
			case r < 8:
				for seq := range held { // answer one message held (map order: random enough)
					delete(held, seq)
					delete(heldAt, seq)
					switch rng.Intn(3) {
					case 0:
						d.Nak(now, seq, time.Duration(rng.Intn(3))*time.Second)
					default:
						d.Ack(now, seq)
						if !dead[seq] {
							acked[seq] = true
						}
					}
					break
				}
			default:
				expire()
				wakeAt = time.Time{}
				d.Tick(now)
			}
			check()
			for seq := range held { // taken back without a Deliver (dead-lettered, or its member left)
				if _, ok := d.flight[seq]; !ok {
					delete(held, seq)
					delete(heldAt, seq)
				}
			}
		}
		// Finish: everything stored, a member that acks all it gets, time moving past every wait.
		d.Stored(now, n)
		d.Join(now, "finisher", 100)
		check()
		for round := 0; round < 100 && st.Floor < n; round++ {
			for seq, m := range held {
				if m == "finisher" {
					delete(held, seq)
					delete(heldAt, seq)
					d.Ack(now, seq)
					if !dead[seq] {
						acked[seq] = true
					}
				}
			}
			now = now.Add(6 * time.Second)
			expire()
			wakeAt = time.Time{}
			d.Tick(now)
			check()
			for seq := range held {
				if _, ok := d.flight[seq]; !ok {
					delete(held, seq)
					delete(heldAt, seq)
				}
			}
		}
		if st.Floor != n {
			t.Fatalf("seed %d (%+v): floor %d of %d at the end", seed, cfg, st.Floor, n)
		}
		for seq := uint64(1); seq <= n; seq++ {
			if !acked[seq] && !dead[seq] {
				t.Fatalf("seed %d: %d neither acked nor dead-lettered", seed, seq)
			}
		}
	}
}

// CaughtUp (the channel may passivate with members connected) holds only while nothing is stored that
// was not handed out and settled: not with a delivery in flight, a nak waiting, or a message stored
// after the last handed out; a resumed activation is not caught up until what it resumed is settled.
func TestCaughtUp(t *testing.T) {
	cfg := Config{Mode: Shared, AckWait: 10 * time.Second}
	d := NewDispatcher(cfg, NewState(1), 2, t0)
	for i, s := range []struct {
		at   time.Duration
		do   func(*Dispatcher, time.Time)
		want bool
	}{
		{0, func(*Dispatcher, time.Time) {}, false}, // 1 and 2 stored, not handed out (no member)
		{0, join("a", 1), false},                    // 1 in flight, 2 waits
		{time.Second, ack(1), false},                // 2 in flight
		{time.Second, nak(2, 5*time.Second), false}, // 2 waits to go out again
		{6 * time.Second, tick(), false},            // 2 in flight again
		{6 * time.Second, ack(2), true},
		{7 * time.Second, stored(3), false}, // 3 handed out at once
		{7 * time.Second, ack(3), true},
	} {
		s.do(d, t0.Add(s.at))
		d.Take()
		if got := d.CaughtUp(); got != s.want {
			t.Fatalf("step %d: caught up %v, want %v", i, got, s.want)
		}
	}
	st := NewState(1)
	st.Delivered(1) // handed out by an earlier activation, not settled
	r := NewDispatcher(cfg, st, 1, t0)
	r.Join(t0, "a", 5)
	if r.Take(); r.CaughtUp() {
		t.Fatal("a resumed delivery not settled counts as caught up")
	}
	r.Ack(t0.Add(time.Second), 1)
	if r.Take(); !r.CaughtUp() {
		t.Fatal("resumed delivery acked: not caught up")
	}
}
