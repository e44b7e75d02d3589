package store

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func saveSnapshot(t *testing.T, h *harness) []byte {
	t.Helper()
	ctx, err := h.sm.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := h.sm.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSnapshotRoundTrip(t *testing.T) {
	cfg := ChannelConfig{MaxMsgs: 50, DedupeWindow: 1000}
	src := newHarness(t, newMemDB(t, nil), 1024, WithDefaultConfig(cfg))
	src.apply(configure(0, cfg))
	for i := 0; i < 10; i++ {
		c := pubKeys(int64(i*10), "k"+string(rune('a'+i)))
		c.Msgs = append(c.Msgs, PublishItem{Headers: map[string]string{"i": string(rune('0' + i))}, Payload: bytes.Repeat([]byte{byte(i)}, 100)})
		src.apply(c, pub(int64(i*10+1), "x", "y", "z"))
	}
	snap := saveSnapshot(t, src)
	// Saving the same state twice is byte-identical (Dragonboat requires determinism).
	if again := saveSnapshot(t, src); !bytes.Equal(snap, again) {
		t.Fatal("snapshot not deterministic")
	}
	// Updates after PrepareSnapshot are not in the stream.
	ctx, err := src.sm.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	before := dump(t, src.db, 1024)
	stBefore := src.state()
	msgsBefore := src.fetch(FetchQuery{}).Msgs
	src.apply(pub(1000, "late"))
	var buf bytes.Buffer
	if err := src.sm.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), snap) {
		t.Fatal("snapshot saw a later update")
	}

	for _, shard := range []uint64{1024, 2000} {
		dstDB := newMemDB(t, nil)
		dst := newHarness(t, dstDB, shard)
		dst.apply(pub(5, "old", "data"), pubKeys(6, "zz")) // replaced by the snapshot
		if err := dst.sm.RecoverFromSnapshot(bytes.NewReader(snap), nil); err != nil {
			t.Fatal(err)
		}
		if got := dump(t, dstDB, shard); !equalDumps(got, before) {
			t.Fatalf("shard %d: %d keys after recover, want %d", shard, len(got), len(before))
		}
		if st := dst.state(); st != stBefore {
			t.Fatalf("state %+v want %+v", st, stBefore)
		}
		if got := dst.fetch(FetchQuery{}).Msgs; len(got) != 50 || !reflect.DeepEqual(got, msgsBefore) {
			t.Fatal("messages differ")
		}
		// Both continue identically: dedupe records came along.
		dst.index = stBefore.Applied
		r := dst.apply(pubKeys(1000, "ka", "kj", "new"))
		if pr := pubRes(t, r[0]); !pr.Dup[1] || pr.Dup[2] || pr.Seqs[2] != stBefore.LastSeq+1 {
			t.Fatalf("after recover: %+v", pr)
		}
		// Reopen after recover returns the snapshot's applied index + new entry.
		if idx, err := NewChannelStateMachine(dstDB)(shard, 1).Open(nil); err != nil || idx != stBefore.Applied+1 {
			t.Fatalf("reopen: %d %v", idx, err)
		}
	}

	// A corrupted stream is refused.
	bad := append([]byte{}, snap...)
	bad[len(bad)/2] ^= 0xff
	dst := newHarness(t, newMemDB(t, nil), 1024)
	if err := dst.sm.RecoverFromSnapshot(bytes.NewReader(bad), nil); err == nil {
		t.Fatal("corrupt snapshot accepted")
	}
	// And Open of the half-recovered shard (no state record) starts clean.
	if idx, err := NewChannelStateMachine(dst.db)(1024, 1).Open(nil); err != nil || idx != 0 || len(dump(t, dst.db, 1024)) != 0 {
		t.Fatalf("open after failed recover: %d %v keys=%d", idx, err, len(dump(t, dst.db, 1024)))
	}
}

func TestSnapshotStopped(t *testing.T) {
	src := newHarness(t, newMemDB(t, nil), 1024)
	for i := 0; i < 30; i++ {
		src.apply(pub(int64(i), make([]string, 100)...))
	}
	ctx, err := src.sm.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	close(stop)
	var buf bytes.Buffer
	if err := src.sm.SaveSnapshot(ctx, &buf, stop); !errors.Is(err, errSnapshotStoppedForTest()) {
		t.Fatalf("SaveSnapshot with closed stopc: %v", err)
	}
}
