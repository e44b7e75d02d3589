package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// regHarness drives one registry state machine on a real pebble store in a temp dir, as Dragonboat
// would: Open, Update with consecutive entries, Close and Open again on restart.
type regHarness struct {
	t     testing.TB
	dir   string
	db    *DB
	sm    *registrySM
	index uint64
}

func newRegHarness(t testing.TB) *regHarness {
	t.Helper()
	h := &regHarness{t: t, dir: filepath.Join(t.TempDir(), "kv")}
	h.open()
	t.Cleanup(func() { h.db.Close() })
	return h
}

func (h *regHarness) open() {
	h.t.Helper()
	db, err := OpenDB(h.dir, DBOptions{Logger: quietLogger{}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.db = db
	h.sm = NewRegistryStateMachine(db)(RegistryShardID, 1).(*registrySM)
	idx, err := h.sm.Open(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.index = idx
}

// restart closes the state machine and the store and opens both again, as a node restart does.
func (h *regHarness) restart() {
	h.t.Helper()
	before := h.index
	_ = h.sm.Sync()
	_ = h.sm.Close()
	if err := h.db.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
	if h.index != before {
		h.t.Fatalf("Open returned applied index %d, want %d", h.index, before)
	}
}

// update applies cmds as consecutive entries in one Update call.
func (h *regHarness) update(cmds ...*MetaCommand) []sm.Result {
	h.t.Helper()
	es := make([]sm.Entry, len(cmds))
	for i, c := range cmds {
		h.index++
		es[i] = sm.Entry{Index: h.index, Cmd: EncodeMetaCommand(c)}
	}
	out, err := h.sm.Update(es)
	if err != nil {
		h.t.Fatal(err)
	}
	res := make([]sm.Result, len(out))
	for i := range out {
		res[i] = out[i].Result
	}
	return res
}

func (h *regHarness) lookup(q any) any {
	h.t.Helper()
	v, err := h.sm.Lookup(q)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func registerCmd(id uint64) *MetaCommand {
	return &MetaCommand{Op: MetaRegisterNode, Node: NodeInfo{ID: id, Raft: fmt.Sprintf("n%d:7100", id), Registry: RegistryVersion}}
}

func TestRegistryCreateLookupPlacementRestart(t *testing.T) {
	h := newRegHarness(t)
	if r := h.update(&MetaCommand{Op: MetaCreateChannel, Channel: "x", Replicas: 1}); r[0].Value != ResultRejected {
		t.Fatalf("placed a channel with no node: %+v", r[0])
	}
	h.update(registerCmd(1), registerCmd(2), registerCmd(3), registerCmd(4))
	var cmds []*MetaCommand
	for i := 0; i < 40; i++ {
		cmds = append(cmds, &MetaCommand{Op: MetaCreateChannel, Channel: fmt.Sprintf("c%02d", i), Replicas: 3})
	}
	cmds = append(cmds, &MetaCommand{Op: MetaCreateChannel, Channel: "c07", Replicas: 3}) // again, same batch
	res := h.update(cmds...)
	shards := map[uint64]bool{}
	for i, r := range res[:40] {
		ch, err := DecodeMetaResult(r)
		if err != nil || len(ch.Replicas) != 3 || shards[ch.ShardID] || ch.ShardID != FirstChannelShardID+uint64(i) {
			t.Fatalf("create %d: %+v %v", i, ch, err)
		}
		shards[ch.ShardID] = true
	}
	if again, _ := DecodeMetaResult(res[40]); again.ShardID != FirstChannelShardID+7 {
		t.Fatalf("second create of c07 allocated: %+v", again)
	}
	check := func() {
		t.Helper()
		want := map[uint64]int{1: 30, 2: 30, 3: 30, 4: 30} // 40 channels x 3 replicas over 4 nodes
		if got := h.lookup(MetaLoadsQuery{}); !reflect.DeepEqual(got, want) {
			t.Fatalf("loads %v", got)
		}
		if st := h.lookup(MetaStatsQuery{}).(MetaStats); st.Channels != 40 {
			t.Fatalf("stats %+v", st)
		}
		ch := h.lookup(&MetaChannelQuery{Name: "c12"}).(*ChannelInfo)
		if ch == nil || ch.ShardID != FirstChannelShardID+12 || len(ch.Replicas) != 3 {
			t.Fatalf("lookup c12: %+v", ch)
		}
		if ch := h.lookup(&MetaChannelQuery{Name: "nope"}).(*ChannelInfo); ch != nil {
			t.Fatalf("lookup of an unknown channel: %+v", ch)
		}
		p := h.lookup(&MetaChannelsQuery{Prefix: "c1", Limit: 4}).(*ChannelPage)
		if len(p.Channels) != 4 || p.Channels[0].Name != "c10" || p.Next != "c13" {
			t.Fatalf("page %+v", p)
		}
		p = h.lookup(&MetaChannelsQuery{Prefix: "c1", After: p.Next, Limit: 100}).(*ChannelPage)
		if len(p.Channels) != 6 || p.Channels[0].Name != "c14" || p.Next != "" {
			t.Fatalf("second page %+v", p)
		}
		on := 0
		for after := ""; ; {
			p := h.lookup(&MetaNodeChannelsQuery{Node: 2, After: after, Limit: 7}).(*ChannelPage)
			for _, ch := range p.Channels {
				if ch.ReplicaOn(2) == 0 {
					t.Fatalf("node 2's index lists %+v", ch)
				}
			}
			on += len(p.Channels)
			if after = p.Next; after == "" {
				break
			}
		}
		if on != 30 {
			t.Fatalf("node 2's index lists %d channels, want 30", on)
		}
	}
	check()
	h.restart()
	check()
	// Placement goes on from the counters after the restart: a new channel lands on the three nodes
	// with the fewest replicas once node 4 has fewer.
	h.update(&MetaCommand{Op: MetaRegisterNode, Node: NodeInfo{ID: 5, Raft: "n5:7100"}})
	ch, _ := DecodeMetaResult(h.update(&MetaCommand{Op: MetaCreateChannel, Channel: "new", Replicas: 2})[0])
	if ch.ReplicaOn(5) == 0 || ch.ReplicaOn(1) == 0 {
		t.Fatalf("new channel placed on %+v, want nodes 1 and 5", ch.Replicas)
	}
}

// randomMetaCommand is one command of the model tests: registrations, additions, drains and removals
// of up to 8 nodes, creates, replica moves and bridge cursors over 60 channel names.
func randomMetaCommand(rng *rand.Rand, known func(string) *ChannelInfo) *MetaCommand {
	name := fmt.Sprintf("ch.%d", rng.Intn(60))
	switch rng.Intn(12) {
	case 0:
		return &MetaCommand{Op: MetaRegisterNode, Node: NodeInfo{ID: uint64(1 + rng.Intn(6)), Raft: fmt.Sprint(rng.Intn(8)), Client: fmt.Sprint(rng.Intn(100))}}
	case 1:
		return &MetaCommand{Op: MetaAddNode, Node: NodeInfo{ID: uint64(1 + rng.Intn(8)), Raft: fmt.Sprint(rng.Intn(8))}}
	case 2:
		return &MetaCommand{Op: []MetaOp{MetaDrainNode, MetaRemoveNode}[rng.Intn(2)], Node: NodeInfo{ID: uint64(1 + rng.Intn(8))}}
	case 3, 4:
		c := &MetaCommand{Op: MetaAddReplica, Channel: name, Node: NodeInfo{ID: uint64(1 + rng.Intn(8))}, Avoid: []uint64{uint64(rng.Intn(8))}}
		if ch := known(name); ch != nil {
			c.Node.ID = ch.Replicas[rng.Intn(len(ch.Replicas))].NodeID
		}
		return c
	case 5, 6:
		c := &MetaCommand{Op: MetaFinishMove, Channel: name, Removed: uint64(rng.Intn(40)), Joined: uint64(rng.Intn(40))}
		if ch := known(name); ch != nil {
			for _, r := range ch.Replicas {
				if r.Joining {
					c.Joined = r.ReplicaID
				} else if rng.Intn(2) == 0 {
					c.Removed = r.ReplicaID
				}
			}
		}
		return c
	case 7:
		return &MetaCommand{Op: MetaSetBridgeCursors, Bridge: &BridgeCursors{Rule: fmt.Sprintf("r%d", rng.Intn(3)),
			Cursors: map[string]uint64{name: uint64(rng.Intn(50)), fmt.Sprintf("ch.%d", rng.Intn(60)): uint64(rng.Intn(50))}}}
	default:
		return &MetaCommand{Op: MetaCreateChannel, Channel: name, Replicas: 1 + rng.Intn(4)}
	}
}

// recount counts each node's replicas from a full listing.
func recount(chans []ChannelInfo) map[uint64]int {
	out := map[uint64]int{}
	for _, ch := range chans {
		for _, r := range ch.Replicas {
			out[r.NodeID]++
		}
	}
	return out
}

// sameRegistry fails unless the registry state machine and the legacy state hold the same nodes,
// channels and cursors, the registry's counters equal a recount of its channels, and its per-node
// index lists exactly the channels with a replica on each node.
func sameRegistry(t *testing.T, what string, h *regHarness, legacy *MetaState) {
	t.Helper()
	wantNodes, _ := legacy.lookup(MetaNodesQuery{}, nil)
	gotNodes := h.lookup(MetaNodesQuery{}).([]NodeInfo)
	for i := range gotNodes {
		gotNodes[i].Migrating = false // the legacy group has no such step
	}
	if !reflect.DeepEqual(gotNodes, wantNodes) {
		t.Fatalf("%s: nodes\n%+v\nwant\n%+v", what, gotNodes, wantNodes)
	}
	chans := allChannels(t, h.sm)
	legacyChans := allChannels(t, &metaSM{state: legacy})
	if !reflect.DeepEqual(chans, legacyChans) {
		t.Fatalf("%s: channels differ:\n%+v\nwant\n%+v", what, chans, legacyChans)
	}
	want := recount(chans)
	if got := h.lookup(MetaLoadsQuery{}).(map[uint64]int); !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: counters %v, recount %v", what, got, want)
	}
	if st := h.lookup(MetaStatsQuery{}).(MetaStats); st.Channels != uint64(len(chans)) {
		t.Fatalf("%s: %d channels counted, %d listed", what, st.Channels, len(chans))
	}
	for node := uint64(0); node <= 8; node++ {
		var got, want []string
		for after := ""; ; {
			p := h.lookup(&MetaNodeChannelsQuery{Node: node, After: after, Limit: 5}).(*ChannelPage)
			for _, ch := range p.Channels {
				got = append(got, ch.Name)
			}
			if after = p.Next; after == "" {
				break
			}
		}
		for _, ch := range chans {
			if ch.ReplicaOn(node) != 0 {
				want = append(want, ch.Name)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: node %d's index %v, want %v", what, node, got, want)
		}
	}
	for _, rule := range []string{"r0", "r1", "r2"} {
		got := h.lookup(&MetaBridgeCursorsQuery{Rule: rule})
		if want := legacy.bridgeCursors(rule); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: rule %s cursors %v, want %v", what, rule, got, want)
		}
	}
}

// TestRegistryMatchesLegacyModel: random command sequences applied to the on-disk registry (in
// batches of random size, with restarts and snapshot round trips into another store) and to the
// legacy in-memory state give the same results, and the same nodes, channels and cursors; the
// registry's placement counters always equal a recount and its per-node index matches the entries.
func TestRegistryMatchesLegacyModel(t *testing.T) {
	for seed := int64(1); seed <= 8; seed++ {
		rng := rand.New(rand.NewSource(seed))
		h := newRegHarness(t)
		legacy := NewMetaState()
		known := func(name string) *ChannelInfo { return legacy.Channels[name] }
		for step := 0; step < 400; {
			n := 1 + rng.Intn(5)
			cmds := make([]*MetaCommand, n)
			var want []sm.Result
			for i := range cmds {
				cmds[i] = randomMetaCommand(rng, known)
				want = append(want, metaResult(legacy.Apply(cmds[i])))
			}
			got := h.update(cmds...)
			for i := range got {
				if got[i].Value != want[i].Value || !bytes.Equal(got[i].Data, want[i].Data) {
					t.Fatalf("seed %d step %d (%+v): registry answered %d %q, legacy %d %q", seed, step+i, cmds[i],
						got[i].Value, got[i].Data, want[i].Value, want[i].Data)
				}
			}
			step += n
			switch rng.Intn(12) {
			case 0:
				h.restart()
			case 1:
				h = shipSnapshot(t, h)
			}
			if rng.Intn(4) == 0 {
				sameRegistry(t, fmt.Sprintf("seed %d step %d", seed, step), h, legacy)
			}
		}
		sameRegistry(t, fmt.Sprintf("seed %d end", seed), h, legacy)
	}
}

// shipSnapshot streams h's registry (PrepareSnapshot, SaveSnapshot) into a new state machine on
// another store (RecoverFromSnapshot), as Dragonboat does for a joining replica, and returns the new
// one's harness.
func shipSnapshot(t *testing.T, h *regHarness) *regHarness {
	t.Helper()
	ctx, err := h.sm.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := h.sm.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	to := newRegHarness(t)
	to.update(registerCmd(99)) // whatever the receiver held is replaced
	if err := to.sm.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	to.index = h.index
	if got := to.lookup(MetaNodesQuery{}); !reflect.DeepEqual(got, h.lookup(MetaNodesQuery{})) {
		t.Fatalf("nodes after the snapshot %+v", got)
	}
	// The received state survives a restart: Open returns the snapshot's index.
	to.restart()
	bad := append([]byte(nil), buf.Bytes()...)
	bad[len(bad)/2] ^= 1
	if err := newRegHarness(t).sm.RecoverFromSnapshot(bytes.NewReader(bad), nil); err == nil {
		t.Fatal("a corrupted snapshot was restored")
	}
	return to
}

// frozenLegacy builds a legacy state machine from random commands, with nodes that registered with
// this build, and freezes it with MetaMigrate. It returns it and an unfrozen copy of its state.
func frozenLegacy(t *testing.T, rng *rand.Rand, steps int) (*metaSM, *MetaState) {
	t.Helper()
	m := NewMetaStateMachine(LegacyMetaShardID, 1).(*metaSM)
	idx := uint64(0)
	apply := func(c *MetaCommand) sm.Result {
		idx++
		r, err := m.Update(sm.Entry{Index: idx, Cmd: EncodeMetaCommand(c)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := uint64(1); i <= 5; i++ {
		apply(&MetaCommand{Op: MetaRegisterNode, Node: NodeInfo{ID: i, Raft: fmt.Sprintf("n%d", i)}})
	}
	for i := 0; i < steps; i++ {
		apply(randomMetaCommand(rng, func(name string) *ChannelInfo { return m.state.Channels[name] }))
	}
	migrate := &MetaCommand{Op: MetaMigrate, Migrate: &MigrateInfo{Voters: map[uint64]string{1: "n1", 2: "n2", 3: "n3"}}}
	if r := apply(migrate); r.Value != ResultRejected || !bytes.Contains(r.Data, []byte("without the on-disk registry")) {
		t.Fatalf("migrated while nodes run an older build: %+v %s", r, r.Data)
	}
	for _, n := range m.state.nodeList() {
		c := *n
		c.Registry = RegistryVersion
		apply(&MetaCommand{Op: MetaRegisterNode, Node: c})
	}
	var snap bytes.Buffer
	if err := m.SaveSnapshot(&snap, nil, nil); err != nil {
		t.Fatal(err)
	}
	twin := NewMetaStateMachine(LegacyMetaShardID, 2).(*metaSM)
	if err := twin.RecoverFromSnapshot(&snap, nil, nil); err != nil {
		t.Fatal(err)
	}
	if r := apply(migrate); r.Value != 0 {
		t.Fatalf("migrate: %+v %s", r, r.Data)
	}
	if r := apply(&MetaCommand{Op: MetaCreateChannel, Channel: "late", Replicas: 1}); r.Value != ResultMigrated {
		t.Fatalf("the frozen state took a create: %+v", r)
	}
	if _, ok := m.state.Channels["late"]; ok {
		t.Fatal("the frozen state changed")
	}
	if v, _ := m.Lookup(MetaMigrationQuery{}); v.(*MigrateInfo) == nil || v.(*MigrateInfo).Index != idx-1 {
		t.Fatalf("migration record %+v", v)
	}
	return m, twin.state
}

// TestRegistryImportFromFrozenLegacy: a frozen legacy state exported in small chunks and imported into
// the registry gives the same state, and then the same answers to the same commands; a chunk
// proposed twice is applied once, other commands wait for the import, and a registry already in use
// takes no import.
func TestRegistryImportFromFrozenLegacy(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewSource(seed))
		legacy, twin := frozenLegacy(t, rng, 300)
		h := newRegHarness(t)
		from, chunks := uint64(0), 0
		var last *ImportChunk
		for {
			v, err := legacy.Lookup(&MetaExportQuery{From: from, MaxBytes: 600})
			if err != nil {
				t.Fatal(err)
			}
			c := v.(*ImportChunk)
			res := h.update(&MetaCommand{Op: MetaImport, Import: c})
			if res[0].Value == ResultRejected {
				t.Fatalf("chunk %d rejected: %s", chunks, res[0].Data)
			}
			if chunks == 1 {
				// A retry of the previous chunk and a create while importing are both refused.
				res := h.update(&MetaCommand{Op: MetaImport, Import: last}, &MetaCommand{Op: MetaCreateChannel, Channel: "early", Replicas: 1})
				if res[0].Value != ResultRejected || res[1].Value != ResultRejected {
					t.Fatalf("while importing: %+v", res)
				}
				h.restart()
			}
			chunks++
			last = c
			from = c.From + uint64(len(c.Records))
			if from == c.Total {
				break
			}
		}
		st := h.lookup(MetaImportQuery{}).(ImportStatus)
		if !st.Done || chunks < 5 {
			t.Fatalf("import status %+v after %d chunks", st, chunks)
		}
		for _, n := range h.lookup(MetaNodesQuery{}).([]NodeInfo) {
			if n.Migrating != (!n.Removed && !n.Pending) {
				t.Fatalf("node %+v: Migrating should mark every node that holds a legacy replica", n)
			}
		}
		sameRegistry(t, fmt.Sprintf("seed %d after the import", seed), h, twin)
		if r := h.update(&MetaCommand{Op: MetaImport, Import: last}); r[0].Value != ResultRejected {
			t.Fatal("an import chunk was taken after the import finished")
		}
		known := func(name string) *ChannelInfo { return twin.Channels[name] }
		for i := 0; i < 200; i++ {
			c := randomMetaCommand(rng, known)
			want := metaResult(twin.Apply(c))
			got := h.update(c)[0]
			if got.Value != want.Value || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("seed %d command %d after the import (%+v): %d %q, legacy %d %q", seed, i, c, got.Value, got.Data, want.Value, want.Data)
			}
		}
		sameRegistry(t, fmt.Sprintf("seed %d end", seed), h, twin)
	}
	fresh := newRegHarness(t)
	fresh.update(registerCmd(1))
	legacy, _ := frozenLegacy(t, rand.New(rand.NewSource(9)), 10)
	v, _ := legacy.Lookup(&MetaExportQuery{})
	if r := fresh.update(&MetaCommand{Op: MetaImport, Import: v.(*ImportChunk)}); r[0].Value != ResultRejected {
		t.Fatal("a registry in use took an import")
	}
	if r := fresh.update(&MetaCommand{Op: MetaMigrate, Migrate: &MigrateInfo{Voters: map[uint64]string{1: "a"}}}); r[0].Value != ResultRejected {
		t.Fatal("the registry took MetaMigrate")
	}
}

// TestRegistryBadInput: garbage commands and malformed chunks are rejected and change nothing.
func TestRegistryBadInput(t *testing.T) {
	h := newRegHarness(t)
	h.index++
	out, err := h.sm.Update([]sm.Entry{{Index: h.index, Cmd: []byte{0xc1}}})
	if err != nil || out[0].Result.Value != ResultRejected {
		t.Fatalf("%+v %v", out, err)
	}
	bad := []*ImportChunk{
		nil,
		{Total: 3},
		{Total: 2, Records: []ImportRecord{{Node: &NodeInfo{ID: 1}}}},                                  // record 0 must be the header
		{Total: 2, Records: []ImportRecord{{Head: &ImportHead{}, Node: &NodeInfo{ID: 1}}}},             // two parts
		{Total: 1, Records: []ImportRecord{{Head: &ImportHead{}}, {Node: &NodeInfo{ID: 1}}}},           // past the total
		{Total: 2, Records: []ImportRecord{{Head: &ImportHead{}}, {Channel: &ChannelInfo{Name: "x"}}}}, // no replica
	}
	for i, c := range bad {
		if r := h.update(&MetaCommand{Op: MetaImport, Import: c}); r[0].Value != ResultRejected {
			t.Fatalf("bad chunk %d applied", i)
		}
	}
	if st := h.lookup(MetaImportQuery{}).(ImportStatus); st.Started || st.Next != 0 {
		t.Fatalf("bad chunks changed the import: %+v", st)
	}
	if got := h.lookup(MetaNodesQuery{}).([]NodeInfo); len(got) != 0 {
		t.Fatalf("bad chunks added nodes: %+v", got)
	}
}

// TestChannelEncoding round-trips entries and rejects truncated ones.
func TestChannelEncoding(t *testing.T) {
	ch := &ChannelInfo{Name: "a.b", ShardID: 1 << 40, Replicas: []Replica{{1, 2, false}, {300, 4, true}}}
	b := encodeChannel(nil, ch)
	got, err := decodeChannel("a.b", b)
	if err != nil || !reflect.DeepEqual(got, ch) {
		t.Fatalf("%+v %v", got, err)
	}
	for i := 0; i < len(b); i++ {
		if _, err := decodeChannel("a.b", b[:i]); err == nil {
			t.Fatalf("truncated to %d bytes decoded", i)
		}
	}
	if _, err := decodeChannel("a.b", append(b, 0)); err == nil {
		t.Fatal("trailing byte decoded")
	}
	names := []string{"b", "a.c", "a", "a.b.c"}
	sort.Strings(names)
	for i := 1; i < len(names); i++ {
		if bytes.Compare(regChannelKey(nil, names[i-1]), regChannelKey(nil, names[i])) >= 0 {
			t.Fatal("channel keys do not sort as names")
		}
	}
}

// TestOwnerLimit: a user with OwnerLimit creates that many channels and no more; creating one that
// exists costs nothing; the count survives a restart and a snapshot, and the legacy state agrees.
func TestOwnerLimit(t *testing.T) {
	h := newRegHarness(t)
	legacy := NewMetaState()
	both := func(c *MetaCommand) (*ChannelInfo, error) {
		t.Helper()
		ch, err := DecodeMetaResult(h.update(c)[0])
		lch, lerr := legacy.Apply(c)
		if (err == nil) != (lerr == nil) || (ch == nil) != (lch == nil) {
			t.Fatalf("%+v: registry %v %v, legacy %v %v", c, ch, err, lch, lerr)
		}
		return ch, err
	}
	h.update(registerCmd(1))
	legacy.Apply(registerCmd(1))
	create := func(name, owner string) error {
		_, err := both(&MetaCommand{Op: MetaCreateChannel, Channel: name, Replicas: 1, Owner: owner, OwnerLimit: 3})
		return err
	}
	for i := 0; i < 3; i++ {
		if err := create(fmt.Sprintf("a.%d", i), "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if err := create("a.0", "alice"); err != nil {
		t.Fatalf("an existing channel counted against the limit: %v", err)
	}
	if err := create("a.3", "alice"); !errors.Is(err, ErrOwnerLimit) {
		t.Fatalf("fourth channel: %v, want ErrOwnerLimit", err)
	}
	if err := create("b.0", "bob"); err != nil {
		t.Fatalf("another user's limit is its own: %v", err)
	}
	// Without an owner, nothing is counted or bounded.
	if _, err := both(&MetaCommand{Op: MetaCreateChannel, Channel: "free", Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	owned := func(h *regHarness) {
		t.Helper()
		if n := h.lookup(MetaOwnedQuery{Owner: "alice"}).(int); n != 3 {
			t.Fatalf("alice owns %d, want 3", n)
		}
		if n := h.lookup(&MetaOwnedQuery{Owner: "bob"}).(int); n != 1 {
			t.Fatalf("bob owns %d, want 1", n)
		}
	}
	owned(h)
	if n, _ := legacy.lookup(MetaOwnedQuery{Owner: "alice"}, nil); n.(int) != 3 {
		t.Fatalf("legacy: alice owns %v", n)
	}
	h.restart()
	owned(h)
	to := shipSnapshot(t, h)
	owned(to)
	if _, err := DecodeMetaResult(to.update(&MetaCommand{Op: MetaCreateChannel, Channel: "a.4", Replicas: 1, Owner: "alice", OwnerLimit: 3})[0]); !errors.Is(err, ErrOwnerLimit) {
		t.Fatalf("after a snapshot: %v, want ErrOwnerLimit", err)
	}
}
