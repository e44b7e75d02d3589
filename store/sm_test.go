package store

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable/block"
	"github.com/cockroachdb/pebble/v2/vfs"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

func TestPublishSeqsAndFetch(t *testing.T) {
	h := newHarness(t, newMemDB(t, nil), 1024)
	res := h.apply(pub(10, "a", "b", "c"), &Command{Op: OpPublish, Time: 11, Msgs: []PublishItem{
		{Headers: map[string]string{"k": "v", "x": ""}, Payload: []byte("d")},
		{Payload: nil},
	}})
	if res[0].Value != 3 || res[1].Value != 2 {
		t.Fatalf("values %d %d", res[0].Value, res[1].Value)
	}
	if got := pubRes(t, res[0]).Seqs; !reflect.DeepEqual(got, []uint64{1, 2, 3}) {
		t.Fatalf("seqs %v", got)
	}
	if got := pubRes(t, res[1]); !reflect.DeepEqual(got.Seqs, []uint64{4, 5}) || got.Dup[0] || got.Dup[1] {
		t.Fatalf("result %+v", got)
	}
	st := h.state()
	if st.FirstSeq != 1 || st.LastSeq != 5 || st.Msgs != 5 || st.Applied != 2 || st.LastTime != 11 {
		t.Fatalf("state %+v", st)
	}
	wantBytes := 3*MsgSize(nil, []byte("a")) + MsgSize(map[string]string{"k": "v", "x": ""}, []byte("d")) + MsgSize(nil, nil)
	if st.Bytes != wantBytes {
		t.Fatalf("bytes %d want %d", st.Bytes, wantBytes)
	}
	f := h.fetch(FetchQuery{From: 0})
	if len(f.Msgs) != 5 || f.FirstSeq != 1 || f.LastSeq != 5 {
		t.Fatalf("fetch %+v", f)
	}
	m := f.Msgs[3]
	if m.Seq != 4 || m.Time != 11 || string(m.Payload) != "d" || !reflect.DeepEqual(m.Headers, map[string]string{"k": "v", "x": ""}) {
		t.Fatalf("msg %+v", m)
	}
	if f := h.fetch(FetchQuery{From: 2, MaxMsgs: 2}); len(f.Msgs) != 2 || f.Msgs[0].Seq != 2 || f.Msgs[1].Seq != 3 {
		t.Fatalf("paged fetch %+v", f)
	}
	// MaxBytes always yields at least one message, then stops before exceeding.
	one := int(MsgSize(nil, []byte("a")))
	if f := h.fetch(FetchQuery{From: 1, MaxBytes: 1}); len(f.Msgs) != 1 {
		t.Fatalf("maxbytes 1: %d msgs", len(f.Msgs))
	}
	if f := h.fetch(FetchQuery{From: 1, MaxBytes: 2*one + 1}); len(f.Msgs) != 2 {
		t.Fatalf("maxbytes 2: %d msgs", len(f.Msgs))
	}
	if f := h.fetch(FetchQuery{From: 6}); len(f.Msgs) != 0 || f.LastSeq != 5 {
		t.Fatalf("fetch past end %+v", f)
	}
}

func TestMonotonicTime(t *testing.T) {
	h := newHarness(t, newMemDB(t, nil), 1024)
	h.apply(pub(100, "a"), pub(50, "b"), tick(200), pub(150, "c"), pub(300, "d"))
	f := h.fetch(FetchQuery{})
	want := []int64{100, 100, 200, 300}
	for i, m := range f.Msgs {
		if m.Time != want[i] {
			t.Fatalf("msg %d time %d want %d", m.Seq, m.Time, want[i])
		}
	}
	for _, c := range []struct {
		t   int64
		seq uint64
	}{{0, 1}, {100, 1}, {101, 3}, {200, 3}, {250, 4}, {300, 4}, {301, 5}} {
		v, err := h.sm.Lookup(SeqForTimeQuery{Time: c.t})
		if err != nil || v.(uint64) != c.seq {
			t.Fatalf("SeqForTime(%d) = %v, %v; want %d", c.t, v, err, c.seq)
		}
	}
}

func TestRetentionMaxMsgs(t *testing.T) {
	h := newHarness(t, newMemDB(t, nil), 1024, WithDefaultConfig(ChannelConfig{MaxMsgs: 3}))
	h.apply(pub(1, "1", "2", "3", "4", "5"))
	st := h.state()
	if st.FirstSeq != 3 || st.LastSeq != 5 || st.Msgs != 3 || st.Bytes != 3*MsgSize(nil, []byte("1")) {
		t.Fatalf("state %+v", st)
	}
	if f := h.fetch(FetchQuery{From: 1}); len(f.Msgs) != 3 || f.Msgs[0].Seq != 3 {
		t.Fatalf("fetch %+v", f)
	}
	// Across Update calls (oldest read back from pebble, not the batch).
	h.apply(pub(2, "6"))
	h.apply(pub(3, "7"), pub(3, "8"))
	if st := h.state(); st.FirstSeq != 6 || st.LastSeq != 8 || st.Msgs != 3 {
		t.Fatalf("state %+v", st)
	}
	if n := countKind(dump(t, h.db, 1024), kindMsg); n != 3 {
		t.Fatalf("%d message keys stored", n)
	}
	// Reconfiguring to fewer applies at once.
	h.apply(configure(4, ChannelConfig{MaxMsgs: 1}))
	if st := h.state(); st.FirstSeq != 8 || st.Msgs != 1 || !st.Configured || st.Config.MaxMsgs != 1 {
		t.Fatalf("state %+v", st)
	}
}

func TestRetentionMaxBytes(t *testing.T) {
	size := MsgSize(nil, []byte("xxxx"))
	h := newHarness(t, newMemDB(t, nil), 1024)
	h.apply(configure(0, ChannelConfig{MaxBytes: 2*size + 1}))
	h.apply(pub(1, "xxxx", "xxxx", "xxxx"))
	if st := h.state(); st.Msgs != 2 || st.Bytes != 2*size || st.FirstSeq != 2 {
		t.Fatalf("state %+v", st)
	}
	// A message larger than MaxBytes gets a seq, then is dropped with everything older.
	h.apply(pub(2, string(make([]byte, 100))))
	if st := h.state(); st.Msgs != 0 || st.Bytes != 0 || st.FirstSeq != 5 || st.LastSeq != 4 {
		t.Fatalf("state %+v", st)
	}
}

func TestRetentionMaxAgeAndEmptyChannelKeepsSeq(t *testing.T) {
	h := newHarness(t, newMemDB(t, nil), 1024, WithDefaultConfig(ChannelConfig{MaxAge: 100}))
	h.apply(pub(0, "a"), pub(50, "b"))
	h.apply(tick(120)) // cutoff 20: a (0) goes, b (50) stays
	if st := h.state(); st.FirstSeq != 2 || st.Msgs != 1 {
		t.Fatalf("state %+v", st)
	}
	h.apply(tick(150)) // cutoff 50: b stays (not older than cutoff)
	if st := h.state(); st.Msgs != 1 {
		t.Fatalf("state %+v", st)
	}
	h.apply(tick(1000))
	st := h.state()
	if st.Msgs != 0 || st.FirstSeq != 3 || st.LastSeq != 2 || st.Bytes != 0 || st.LastTime != 50 || st.Clock != 1000 {
		t.Fatalf("empty state %+v", st)
	}
	if f := h.fetch(FetchQuery{}); len(f.Msgs) != 0 || f.FirstSeq != 3 {
		t.Fatalf("fetch %+v", f)
	}
	if v, _ := h.sm.Lookup(SeqForTimeQuery{Time: 0}); v.(uint64) != 3 {
		t.Fatalf("SeqForTime on empty = %v", v)
	}
	res := h.apply(pub(1001, "c"))
	if pubRes(t, res[0]).Seqs[0] != 3 {
		t.Fatalf("seq reused: %+v", pubRes(t, res[0]))
	}
}

// TestConfigureAdvancesTheClockLikeATick: an activation that proposes new settings proposes no Tick
// after them (one proposal fewer per create), so a Configure must expire and retain exactly as a Tick
// at its time does.
func TestConfigureAdvancesTheClockLikeATick(t *testing.T) {
	cfg := ChannelConfig{MaxAge: 100, DedupeWindow: 100}
	run := func(last *Command) []kv {
		h := newHarness(t, newMemDB(t, nil), 1024, WithDefaultConfig(cfg))
		h.apply(pubKeys(0, "a"), pubKeys(50, "b"))
		h.apply(last)
		if st := h.state(); st.Msgs != 1 || st.FirstSeq != 2 || st.Clock != 120 {
			t.Fatalf("after %v: state %+v", last.Op, st)
		}
		var data []kv // all but the state record, which records the Configure
		for _, e := range dump(t, h.db, 1024) {
			if e.k[0] != kindState {
				data = append(data, e)
			}
		}
		return data
	}
	ticked, configured := run(tick(120)), run(configure(120, cfg))
	if countKind(ticked, kindDedupe) != 1 || !equalDumps(ticked, configured) {
		t.Fatalf("store after a Tick:\n%q\nafter a Configure:\n%q", ticked, configured)
	}
}

func TestDedupe(t *testing.T) {
	h := newHarness(t, newMemDB(t, nil), 1024, WithDefaultConfig(ChannelConfig{DedupeWindow: 100}))
	r := h.apply(pubKeys(0, "a"))
	if pr := pubRes(t, r[0]); pr.Seqs[0] != 1 || pr.Dup[0] {
		t.Fatalf("%+v", pr)
	}
	// Repeats in one entry, and across entries of one Update call.
	r = h.apply(pubKeys(50, "a", "b", "b", ""), pubKeys(60, "b", "c"))
	pr := pubRes(t, r[0])
	if r[0].Value != 2 || !reflect.DeepEqual(pr.Seqs, []uint64{1, 2, 2, 3}) || !reflect.DeepEqual(pr.Dup, []bool{true, false, true, false}) {
		t.Fatalf("value %d %+v", r[0].Value, pr)
	}
	pr = pubRes(t, r[1])
	if r[1].Value != 1 || !reflect.DeepEqual(pr.Seqs, []uint64{2, 4}) || !reflect.DeepEqual(pr.Dup, []bool{true, false}) {
		t.Fatalf("value %d %+v", r[1].Value, pr)
	}
	if st := h.state(); st.LastSeq != 4 || st.Msgs != 4 {
		t.Fatalf("state %+v", st)
	}
	// At t=101 a (recorded at 0) is out of the window; b (50) and c (60) are not.
	r = h.apply(pubKeys(101, "a", "b"))
	pr = pubRes(t, r[0])
	if !reflect.DeepEqual(pr.Seqs, []uint64{5, 2}) || !reflect.DeepEqual(pr.Dup, []bool{false, true}) {
		t.Fatalf("%+v", pr)
	}
	// Expiry is driven by ticks too, and keeps the record set bounded.
	h.apply(tick(1000))
	if n := countKind(dump(t, h.db, 1024), kindDedupe); n != 0 {
		t.Fatalf("%d dedupe records left", n)
	}
	if n := countKind(dump(t, h.db, 1024), kindDedupeEx); n != 0 {
		t.Fatalf("%d expiry records left", n)
	}
	r = h.apply(pubKeys(1000, "b"))
	if pr := pubRes(t, r[0]); pr.Dup[0] || pr.Seqs[0] != 6 {
		t.Fatalf("%+v", pr)
	}
	// Disabling dedupe stores repeats and drops the records.
	h.apply(configure(1001, ChannelConfig{}))
	if n := countKind(dump(t, h.db, 1024), kindDedupe); n != 0 {
		t.Fatalf("%d dedupe records left", n)
	}
	r = h.apply(pubKeys(1002, "b", "b"))
	if pr := pubRes(t, r[0]); pr.Dup[0] || pr.Dup[1] || r[0].Value != 2 {
		t.Fatalf("%+v", pr)
	}
}

func TestRejectedCommandAdvancesApplied(t *testing.T) {
	h := newHarness(t, newMemDB(t, nil), 1024)
	es := []sm.Entry{{Index: 1, Cmd: []byte{1, 1, 0}}, {Index: 2, Cmd: nil}, {Index: 3, Cmd: []byte{9, 9, 9, 9, 9, 9, 9, 9, 9, 9}}}
	out, err := h.sm.Update(es)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Result.Value != ResultRejected || out[2].Result.Value != ResultRejected || out[1].Result.Value != 0 {
		t.Fatalf("results %+v", out)
	}
	if st := h.state(); st.Applied != 3 || st.LastSeq != 0 {
		t.Fatalf("state %+v", st)
	}
}

func TestReopenReturnsAppliedIndex(t *testing.T) {
	fs := vfs.NewMem()
	db := newMemDB(t, fs)
	h := newHarness(t, db, 1024, WithDefaultConfig(ChannelConfig{DedupeWindow: 1000}))
	h.apply(pubKeys(5, "a", "b"), pub(6, "c"))
	h.apply(tick(7))
	before := h.state()
	h.closeAll()

	db2 := newMemDB(t, fs)
	defer db2.Close()
	h2 := newHarness(t, db2, 1024, WithDefaultConfig(ChannelConfig{DedupeWindow: 1000}))
	if h2.index != 3 {
		t.Fatalf("Open returned %d, want 3", h2.index)
	}
	if after := h2.state(); after != before {
		t.Fatalf("state after reopen %+v, before %+v", after, before)
	}
	r := h2.apply(pubKeys(8, "a", "d"))
	if pr := pubRes(t, r[0]); !reflect.DeepEqual(pr.Seqs, []uint64{1, 4}) || !pr.Dup[0] {
		t.Fatalf("%+v", pr)
	}
	// Entries at or below the applied index are ignored.
	if _, err := h2.sm.Update([]sm.Entry{{Index: 2, Cmd: EncodeCommand(nil, pub(9, "x"))}}); err != nil {
		t.Fatal(err)
	}
	if st := h2.state(); st.LastSeq != 4 || st.Applied != 4 {
		t.Fatalf("state %+v", st)
	}
}

// TestOpenClearsOnlyLeftovers: Open of a shard without a state record deletes the keys it finds
// (what a snapshot recovery cut short leaves), and writes nothing at all, not even a range
// tombstone, for a shard that holds none (every new channel).
func TestOpenClearsOnlyLeftovers(t *testing.T) {
	db := newMemDB(t, nil)
	defer db.Close()
	if err := db.pdb.Set(msgKey(nil, 1025, 7), []byte("left over"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	newHarness(t, db, 1024)
	newHarness(t, db, 1025)
	if n := len(dump(t, db, 1025)); n != 0 {
		t.Fatalf("%d keys left in the shard opened without a state record", n)
	}
	var dels [][2]string
	err := db.pdb.ScanInternal(context.Background(), block.CategoryUnknown, nil, nil,
		func(*pebble.InternalKey, pebble.LazyValue, pebble.IteratorLevel) error { return nil },
		func(start, end []byte, _ pebble.SeqNum) error {
			dels = append(dels, [2]string{string(start), string(end)})
			return nil
		}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := shardRange(1025)
	if want := [][2]string{{string(lo), string(hi)}}; !reflect.DeepEqual(dels, want) {
		t.Fatalf("range deletions %q, want only shard 1025's %q", dels, want)
	}
}

func TestLookupAfterClose(t *testing.T) {
	db := newMemDB(t, nil)
	h := newHarness(t, db, 1024)
	h.apply(pub(1, "a"))
	if err := h.sm.Close(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []interface{}{StateQuery{}, FetchQuery{}, &SeqForTimeQuery{}} {
		if _, err := h.sm.Lookup(q); !errors.Is(err, ErrClosed) {
			t.Fatalf("Lookup(%T) after Close: %v", q, err)
		}
	}
	// A second state machine on a closed DB errors as well instead of panicking.
	h2 := newHarness(t, db, 1025)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h2.sm.Lookup(FetchQuery{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lookup on closed DB: %v", err)
	}
	if _, err := h2.sm.Update(h2.entries(pub(1, "a"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Update on closed DB: %v", err)
	}
}

func TestShardsAreIsolated(t *testing.T) {
	db := newMemDB(t, nil)
	a := newHarness(t, db, 1024)
	b := newHarness(t, db, 1025)
	a.apply(pub(1, "a1", "a2"))
	b.apply(pub(1, "b1"))
	if sa, sb := a.state(), b.state(); sa.LastSeq != 2 || sb.LastSeq != 1 {
		t.Fatalf("a %+v b %+v", sa, sb)
	}
	if f := b.fetch(FetchQuery{}); len(f.Msgs) != 1 || !bytes.Equal(f.Msgs[0].Payload, []byte("b1")) {
		t.Fatalf("b fetch %+v", f)
	}
}

// TestConcurrentLookups runs readers against Update, snapshots and Close
// (run with -race). Readers must see consistent pages and, after Close, ErrClosed.
func TestConcurrentLookups(t *testing.T) {
	h := newHarness(t, newMemDB(t, nil), 1024, WithDefaultConfig(ChannelConfig{MaxMsgs: 100}))
	done := make(chan error, 2)
	for r := 0; r < 2; r++ {
		go func() {
			for {
				v, err := h.sm.Lookup(FetchQuery{From: 0, MaxMsgs: 50})
				if errors.Is(err, ErrClosed) {
					done <- nil
					return
				}
				if err != nil {
					done <- err
					return
				}
				f := v.(*FetchResult)
				for i, m := range f.Msgs {
					if m.Seq != f.FirstSeq+uint64(i) {
						done <- errors.New("non-contiguous page")
						return
					}
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		h.apply(pub(int64(i), "a", "b", "c"))
		if i%50 == 0 {
			ctx, err := h.sm.PrepareSnapshot()
			if err != nil {
				t.Fatal(err)
			}
			if err := h.sm.SaveSnapshot(ctx, &bytes.Buffer{}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.sm.Close()
	for r := 0; r < 2; r++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// A Configure or Tick answers the channel's state once it applied (an activation uses it instead of a
// read): last seq, last message time, the clock, which never goes back, and the epoch (the last
// Configure's own index).
func TestSettingsAnswerTheChannelState(t *testing.T) {
	h := newHarness(t, newMemDB(t, nil), 7)
	h.apply(pub(100, "a", "b"), pub(200, "c"))
	res := h.apply(configure(150, ChannelConfig{DedupeWindow: 60e9}), tick(300))
	for i, want := range []StateResult{{LastSeq: 3, LastTime: 200, Clock: 200, Epoch: 3, Free: true}, {LastSeq: 3, LastTime: 200, Clock: 300, Epoch: 3}} {
		got, err := DecodeStateResult(res[i])
		if err != nil || got != want {
			t.Fatalf("result %d: %+v, %v; want %+v", i, got, err, want)
		}
	}
	if _, err := DecodeStateResult(h.apply(pub(400, "d"))[0]); err == nil {
		t.Fatal("a publish's result decoded as a state result")
	}
}
