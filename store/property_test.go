package store

import (
	"math/rand"
	"reflect"
	"strconv"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// TestDeterminism applies the same random command sequence to two independent
// state machines (separate DBs), split into different Update batches, and
// requires identical results, state and stored bytes.
func TestDeterminism(t *testing.T) {
	for seed := int64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewSource(seed))
		var cmds []*Command
		now := int64(1_000)
		for i := 0; i < 400; i++ {
			now += rng.Int63n(40) - 10 // proposer clocks go backwards too
			switch r := rng.Intn(20); {
			case r < 14:
				c := &Command{Op: OpPublish, Time: now}
				for j := rng.Intn(6); j >= 0; j-- {
					it := PublishItem{Payload: make([]byte, rng.Intn(64))}
					if rng.Intn(2) == 0 {
						it.IdemKey = "k" + strconv.Itoa(rng.Intn(30))
					}
					if rng.Intn(4) == 0 {
						it.Headers = map[string]string{"h": strconv.Itoa(j)}
					}
					c.Msgs = append(c.Msgs, it)
				}
				cmds = append(cmds, c)
			case r < 18:
				cmds = append(cmds, tick(now))
			default:
				cmds = append(cmds, configure(now, ChannelConfig{
					MaxMsgs:      uint64(rng.Intn(3) * rng.Intn(50)),
					MaxBytes:     uint64(rng.Intn(2) * rng.Intn(3000)),
					MaxAge:       int64(rng.Intn(2) * rng.Intn(300)),
					DedupeWindow: int64(rng.Intn(3) * rng.Intn(200)),
				}))
			}
		}
		def := WithDefaultConfig(ChannelConfig{MaxMsgs: 40, DedupeWindow: 100})
		a := newHarness(t, newMemDB(t, nil), 1024, def)
		b := newHarness(t, newMemDB(t, nil), 1024, def)
		ra := applySplit(t, a, cmds, rng, 1)
		rb := applySplit(t, b, cmds, rng, 50)
		if !reflect.DeepEqual(ra, rb) {
			t.Fatalf("seed %d: results differ", seed)
		}
		if sa, sb := a.state(), b.state(); sa != sb {
			t.Fatalf("seed %d: state %+v vs %+v", seed, sa, sb)
		}
		if !equalDumps(dump(t, a.db, 1024), dump(t, b.db, 1024)) {
			t.Fatalf("seed %d: stored data differs", seed)
		}
		// Invariants that must hold whatever the sequence.
		st := a.state()
		f := a.fetch(FetchQuery{MaxMsgs: 1 << 20, MaxBytes: 1 << 30})
		if uint64(len(f.Msgs)) != st.Msgs || st.FirstSeq+st.Msgs != st.LastSeq+1 {
			t.Fatalf("seed %d: state %+v, %d msgs fetched", seed, st, len(f.Msgs))
		}
		var bytes uint64
		for i, m := range f.Msgs {
			bytes += MsgSize(m.Headers, m.Payload)
			if m.Seq != st.FirstSeq+uint64(i) || (i > 0 && m.Time < f.Msgs[i-1].Time) {
				t.Fatalf("seed %d: bad order at %d", seed, i)
			}
		}
		if bytes != st.Bytes {
			t.Fatalf("seed %d: bytes %d, state says %d", seed, bytes, st.Bytes)
		}
	}
}

// applySplit applies cmds in Update batches of random size up to maxBatch.
func applySplit(t *testing.T, h *harness, cmds []*Command, rng *rand.Rand, maxBatch int) []sm.Result {
	var out []sm.Result
	for len(cmds) > 0 {
		n := 1 + rng.Intn(maxBatch)
		if n > len(cmds) {
			n = len(cmds)
		}
		out = append(out, h.apply(cmds[:n]...)...)
		cmds = cmds[n:]
	}
	return out
}
