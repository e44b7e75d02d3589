package store

import (
	"bytes"
	"log"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// harness drives one channel state machine directly, as Dragonboat would.
type harness struct {
	t     testing.TB
	db    *DB
	sm    *channelSM
	index uint64
}

func newMemDB(t testing.TB, fs vfs.FS) *DB {
	t.Helper()
	if fs == nil {
		fs = vfs.NewMem()
	}
	db, err := OpenDB("db", DBOptions{FS: fs, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newHarness(t testing.TB, db *DB, shard uint64, opts ...SMOption) *harness {
	t.Helper()
	s := NewChannelStateMachine(db, opts...)(shard, 1).(*channelSM)
	idx, err := s.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, db: db, sm: s, index: idx}
}

// closeAll syncs and closes the state machine and its DB, as a clean stop does (reopen the DB's fs).
func (h *harness) closeAll() {
	h.t.Helper()
	if err := h.sm.Sync(); err != nil {
		h.t.Fatal(err)
	}
	if err := h.sm.Close(); err != nil {
		h.t.Fatal(err)
	}
	if err := h.db.Close(); err != nil {
		h.t.Fatal(err)
	}
}

// entries encodes cmds as consecutive entries after the harness's index.
func (h *harness) entries(cmds ...*Command) []sm.Entry {
	es := make([]sm.Entry, len(cmds))
	for i, c := range cmds {
		h.index++
		es[i] = sm.Entry{Index: h.index, Cmd: EncodeCommand(nil, c)}
	}
	return es
}

// apply applies cmds in one Update call and returns the results.
func (h *harness) apply(cmds ...*Command) []sm.Result {
	h.t.Helper()
	out, err := h.sm.Update(h.entries(cmds...))
	if err != nil {
		h.t.Fatal(err)
	}
	res := make([]sm.Result, len(out))
	for i := range out {
		res[i] = out[i].Result
	}
	return res
}

func (h *harness) state() ChannelState {
	h.t.Helper()
	v, err := h.sm.Lookup(StateQuery{})
	if err != nil {
		h.t.Fatal(err)
	}
	return v.(ChannelState)
}

func (h *harness) fetch(q FetchQuery) *FetchResult {
	h.t.Helper()
	v, err := h.sm.Lookup(q)
	if err != nil {
		h.t.Fatal(err)
	}
	return v.(*FetchResult)
}

func pubRes(t testing.TB, r sm.Result) PublishResult {
	t.Helper()
	pr, err := DecodePublishResult(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

func pub(t int64, payloads ...string) *Command {
	c := &Command{Op: OpPublish, Time: t}
	for _, p := range payloads {
		c.Msgs = append(c.Msgs, PublishItem{Payload: []byte(p)})
	}
	return c
}

func pubKeys(t int64, keys ...string) *Command {
	c := &Command{Op: OpPublish, Time: t}
	for _, k := range keys {
		c.Msgs = append(c.Msgs, PublishItem{IdemKey: k, Payload: []byte("v-" + k)})
	}
	return c
}

func tick(t int64) *Command { return &Command{Op: OpTick, Time: t} }

func configure(t int64, cfg ChannelConfig) *Command {
	return &Command{Op: OpConfigure, Time: t, Config: &cfg}
}

type kv struct{ k, v []byte }

// dump returns every key (shard prefix stripped) and value of the shard.
func dump(t testing.TB, db *DB, shard uint64) []kv {
	t.Helper()
	lo, hi := shardRange(shard)
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []kv
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, kv{append([]byte{}, it.Key()[shardPrefixLen:]...), append([]byte{}, it.Value()...)})
	}
	return out
}

func equalDumps(a, b []kv) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].k, b[i].k) || !bytes.Equal(a[i].v, b[i].v) {
			return false
		}
	}
	return true
}

func countKind(d []kv, kind byte) int {
	n := 0
	for _, e := range d {
		if e.k[0] == kind {
			n++
		}
	}
	return n
}

func errSnapshotStoppedForTest() error { return sm.ErrSnapshotStopped }

// quietLogger drops pebble's info logs in tests.
type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})      {}
func (quietLogger) Errorf(f string, a ...interface{}) { log.Printf(f, a...) }
func (quietLogger) Fatalf(f string, a ...interface{}) { log.Fatalf(f, a...) }
