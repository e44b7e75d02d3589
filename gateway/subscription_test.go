package gateway

import (
	"math/rand"
	"testing"

	"github.com/sampan-io/sampan/store"
)

func msgs(from, to uint64) []store.Message {
	var out []store.Message
	for s := from; s <= to; s++ {
		out = append(out, store.Message{Seq: s})
	}
	return out
}

func TestCursorLiveInOrder(t *testing.T) {
	c := newCursor(10)
	c.resolve(1, 0)
	if got := c.live(msgs(1, 3), 3); len(got) != 3 || c.next != 4 || c.credit != 7 {
		t.Fatalf("got %d next %d credit %d", len(got), c.next, c.credit)
	}
	if ok, _ := c.wantFetch(); ok {
		t.Fatal("no fetch wanted when caught up")
	}
}

func TestCursorGapTriggersFetch(t *testing.T) {
	c := newCursor(10)
	c.resolve(1, 0)
	if got := c.live(msgs(3, 4), 4); len(got) != 0 {
		t.Fatalf("gap must not deliver, got %v", got)
	}
	ok, n := c.wantFetch()
	if !ok || n != 10 {
		t.Fatalf("want fetch, got %v %d", ok, n)
	}
	c.fetching = true
	if got := c.live(msgs(5, 5), 5); len(got) != 0 {
		t.Fatal("must not deliver while fetching")
	}
	got := c.fetched(msgs(1, 5), 1, 5)
	if len(got) != 5 || c.next != 6 {
		t.Fatalf("fetched %d next %d", len(got), c.next)
	}
}

func TestCursorCreditBoundsAndRetentionSkip(t *testing.T) {
	c := newCursor(2)
	c.resolve(1, 0)
	if got := c.live(msgs(1, 5), 5); len(got) != 2 {
		t.Fatalf("credit 2 gave %d", len(got))
	}
	if ok, _ := c.wantFetch(); ok {
		t.Fatal("no fetch without credit")
	}
	c.creditBack(2)
	ok, n := c.wantFetch()
	if !ok || n != 2 {
		t.Fatalf("want fetch of 2, got %v %d", ok, n)
	}
	c.fetching = true
	// Retention deleted 3..9; the store starts at 10.
	got := c.fetched(msgs(10, 11), 10, 11)
	if len(got) != 2 || got[0].Seq != 10 || c.next != 12 {
		t.Fatalf("got %v next %d", got, c.next)
	}
}

// TestCursorModel feeds random interleavings of live deliveries, fetches and credit returns and checks
// the output is exactly 1..N in order: no gap, no duplicate, whatever the schedule. Seeded and printed.
func TestCursorModel(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewSource(seed))
		const total = 200
		window := 1 + rng.Intn(8)
		c := newCursor(window)
		var committed uint64
		var out []uint64
		outstanding := 0
		var fetchFrom uint64
		pendingFetch := false
		c.resolve(1, 0)
		for step := 0; step < 5000 && uint64(len(out)) < total; step++ {
			switch rng.Intn(4) {
			case 0: // commit + live delivery (maybe lost: live is best effort)
				if committed < total {
					n := uint64(1 + rng.Intn(3))
					if committed+n > total {
						n = total - committed
					}
					batch := msgs(committed+1, committed+n)
					committed += n
					if rng.Intn(4) != 0 {
						for _, m := range c.live(batch, committed) {
							out = append(out, m.Seq)
							outstanding++
						}
					} else {
						c.seeTip(committed)
					}
				}
			case 1: // writer flushed
				if outstanding > 0 {
					k := 1 + rng.Intn(outstanding)
					outstanding -= k
					c.creditBack(k)
				}
			case 2:
				if ok, n := c.wantFetch(); ok && !pendingFetch {
					c.fetching, pendingFetch, fetchFrom = true, true, c.next
					_ = n
				}
			case 3:
				if pendingFetch {
					pendingFetch = false
					to := committed
					if to > fetchFrom+uint64(window)-1 {
						to = fetchFrom + uint64(window) - 1
					}
					var page []store.Message
					if fetchFrom <= to {
						page = msgs(fetchFrom, to)
					}
					for _, m := range c.fetched(page, 1, committed) {
						out = append(out, m.Seq)
						outstanding++
					}
				}
			}
			if outstanding > window {
				t.Fatalf("seed %d: %d outstanding over window %d", seed, outstanding, window)
			}
		}
		for i, s := range out {
			if s != uint64(i+1) {
				t.Fatalf("seed %d: position %d got seq %d (out %v)", seed, i, s, out)
			}
		}
	}
}
