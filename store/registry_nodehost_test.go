package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// registryHost is a NodeHost on a temp dir and real TCP running the on-disk registry.
type registryHost struct {
	t         *testing.T
	dir, addr string
	id        uint64
	nh        *dragonboat.NodeHost
	db        *DB
	recovered atomic.Int32 // snapshots streamed into this node's registry
}

func (n *registryHost) start(initial map[uint64]string, join bool) {
	n.t.Helper()
	db, err := OpenDB(filepath.Join(n.dir, "kv"), DBOptions{Logger: quietLogger{}})
	if err != nil {
		n.t.Fatal(err)
	}
	nhc := config.NodeHostConfig{NodeHostDir: filepath.Join(n.dir, "nh"), RTTMillisecond: 5, RaftAddress: n.addr}
	nhc.Expert.LogDB = config.GetTinyMemLogDBConfig()
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		n.t.Fatal(err)
	}
	n.nh, n.db = nh, db
	n.t.Cleanup(func() {
		if n.nh == nh {
			n.stop()
		}
	})
	factory := func(shard, replica uint64) sm.IOnDiskStateMachine {
		return &countingRegistry{registrySM: NewRegistryStateMachine(db)(shard, replica).(*registrySM), n: &n.recovered}
	}
	cfg := config.Config{ShardID: RegistryShardID, ReplicaID: n.id, ElectionRTT: 10, HeartbeatRTT: 1, CheckQuorum: true,
		SnapshotEntries: 50, CompactionOverhead: 5, IsNonVoting: join}
	if err := nh.StartOnDiskReplica(initial, join, factory, cfg); err != nil {
		n.t.Fatal(err)
	}
}

func (n *registryHost) stop() {
	n.nh.Close()
	if err := n.db.Close(); err != nil {
		n.t.Error(err)
	}
	n.nh, n.db = nil, nil
}

// Lookup reads this node's replica (StaleRead), retrying while it is not loaded yet.
func (n *registryHost) Lookup(q any) (any, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := n.nh.StaleRead(RegistryShardID, q)
		if err == nil || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (n *registryHost) propose(c *MetaCommand) sm.Result {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		r, err := n.nh.SyncPropose(ctx, n.nh.GetNoOPSession(RegistryShardID), EncodeMetaCommand(c))
		if err == nil {
			return r
		}
		if !dragonboat.IsTempError(err) || ctx.Err() != nil {
			n.t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // no leader yet
	}
}

// countingRegistry counts the snapshots streamed into a registry.
type countingRegistry struct {
	*registrySM
	n *atomic.Int32
}

func (c *countingRegistry) RecoverFromSnapshot(r io.Reader, stopc <-chan struct{}) error {
	c.n.Add(1)
	return c.registrySM.RecoverFromSnapshot(r, stopc)
}

// TestRegistryOnNodeHost: the registry under Dragonboat on real disks and TCP. Node 1 registers
// channels, restarts (its state comes back from its store, ids go on) and compacts its log; node 2
// then joins as a non-voting member and can only be brought up to date with a streamed snapshot of
// the whole registry, after which both replicas hold the same registry and apply the same commands.
func TestRegistryOnNodeHost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NodeHosts")
	}
	quietDragonboat()
	a := &registryHost{t: t, dir: t.TempDir(), addr: freeAddr(t), id: 1}
	b := &registryHost{t: t, dir: t.TempDir(), addr: freeAddr(t), id: 2}
	a.start(map[uint64]string{1: a.addr}, false)
	a.propose(registerCmd(1))
	a.propose(registerCmd(2))
	const n = 300
	for i := 0; i < n; i++ {
		if r := a.propose(&MetaCommand{Op: MetaCreateChannel, Channel: fmt.Sprintf("c.%03d", i), Replicas: 2}); r.Value != FirstChannelShardID+uint64(i) {
			t.Fatalf("create %d: %+v", i, r)
		}
	}
	before := allChannels(t, a)
	a.stop()
	a.start(nil, false)
	if got := allChannels(t, a); !reflect.DeepEqual(got, before) {
		t.Fatal("the registry changed across a restart")
	}
	if r := a.propose(&MetaCommand{Op: MetaCreateChannel, Channel: "after.restart", Replicas: 1}); r.Value != FirstChannelShardID+n {
		t.Fatalf("create after the restart: %+v", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Compact the log to the last entry. Dragonboat rejects the request when its own periodic snapshot
	// is already at the last entry: apply one more command and ask again.
	for {
		_, err := a.nh.SyncRequestSnapshot(ctx, RegistryShardID, dragonboat.SnapshotOption{OverrideCompactionOverhead: true, CompactionOverhead: 0})
		if err == nil {
			break
		}
		if !errors.Is(err, dragonboat.ErrRejected) {
			t.Fatal(err)
		}
		a.propose(registerCmd(1))
	}
	if err := a.nh.SyncRequestAddNonVoting(ctx, RegistryShardID, 2, b.addr, 0); err != nil {
		t.Fatal(err)
	}
	b.start(nil, true)
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := b.Lookup(MetaStatsQuery{})
		if err == nil && v.(MetaStats).Channels == n+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 did not catch up: %v %v", v, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b.recovered.Load() == 0 {
		t.Fatal("node 2 caught up without a streamed snapshot: the log was not compacted")
	}
	if ga, gb := allChannels(t, a), allChannels(t, b); !reflect.DeepEqual(ga, gb) || len(ga) != n+1 {
		t.Fatalf("registries differ after the snapshot: %d vs %d channels", len(ga), len(gb))
	}
	for _, q := range []any{MetaNodesQuery{}, MetaLoadsQuery{}} {
		va, _ := a.Lookup(q)
		vb, _ := b.Lookup(q)
		if !reflect.DeepEqual(va, vb) {
			t.Fatalf("%T: %v vs %v", q, va, vb)
		}
	}
	// Both apply what comes next alike: node 2's counters went over with the snapshot.
	r := a.propose(&MetaCommand{Op: MetaCreateChannel, Channel: "after.snapshot", Replicas: 2})
	want, _ := DecodeMetaResult(r)
	deadline = time.Now().Add(20 * time.Second)
	for {
		v, err := b.Lookup(&MetaChannelQuery{Name: "after.snapshot"})
		if err == nil && v.(*ChannelInfo) != nil {
			if got := v.(*ChannelInfo); !reflect.DeepEqual(got, want) {
				t.Fatalf("node 2 has %+v, node 1 %+v", got, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node 2 did not apply the create")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
