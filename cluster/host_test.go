package cluster

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/sampan-io/sampan/store"
)

// startTestHost starts a NodeHost and a store in a temp dir; set, if not nil, changes the default host
// config first.
func startTestHost(t testing.TB, set func(*HostConfig)) (*dragonboat.NodeHost, *store.DB, string) {
	t.Helper()
	dir, addr := t.TempDir(), freeAddr(t)
	db, err := store.OpenDB(filepath.Join(dir, "kv"), store.DBOptions{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	hc := DefaultHostConfig(filepath.Join(dir, "raft"), addr)
	if set != nil {
		set(&hc)
	}
	nh, err := StartNodeHost(hc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nh.Close()
		db.Close()
	})
	return nh, db, addr
}

// quietPebble drops the store's pebble logs (which otherwise go to the standard log package).
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// fastTicks makes elections take milliseconds.
func fastTicks(hc *HostConfig) { hc.RTTMillisecond, hc.LogDBMemory = 5, "tiny" }

func testShardConfig(shard uint64) config.Config {
	return config.Config{ShardID: shard, ReplicaID: 1, ElectionRTT: 10, HeartbeatRTT: 1}
}

// TestReplicaStartsRunConcurrently: Dragonboat bootstraps a new replica (synced writes, its snapshot
// directory, the node and its queues) under its NodeHost lock, one start at a time; Sampan's copy
// (third_party/dragonboat, decision 0017) does it outside the lock, so concurrent creates overlap their
// synced writes. Two starts whose state machine factories (called while the node is made) wait for
// each other must both get in.
func TestReplicaStartsRunConcurrently(t *testing.T) {
	nh, db, addr := startTestHost(t, fastTicks)
	channelSM := store.NewChannelStateMachine(db)
	inside, release := make(chan uint64, 2), make(chan struct{})
	factory := func(shard, replica uint64) sm.IOnDiskStateMachine {
		inside <- shard
		<-release
		return channelSM(shard, replica)
	}
	errs := make(chan error, 2)
	for _, shard := range []uint64{store.FirstChannelShardID, store.FirstChannelShardID + 1} {
		go func() {
			errs <- nh.StartOnDiskReplica(map[uint64]dragonboat.Target{1: addr}, false, factory, testShardConfig(shard))
		}()
	}
	deadline := time.After(5 * time.Second)
	var in int
	for in < 2 {
		select {
		case <-inside:
			in++
		case <-deadline:
			close(release)
			t.Fatalf("only %d of 2 replica starts got in at once", in)
		}
	}
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoppedReplicasAreReleased: once a replica is stopped, nothing in Dragonboat keeps it (and its
// queues, ~0.2 MB each) reachable. Dragonboat's tick worker kept every replica it had ticked in the
// backing array of its node slice until as many were loaded again, so a node's heap stayed at its
// peak after its channels went cold (decision 0017).
func TestStoppedReplicasAreReleased(t *testing.T) {
	nh, db, addr := startTestHost(t, fastTicks)
	channelSM := store.NewChannelStateMachine(db)
	const n = 8
	var released atomic.Int32
	factory := func(shard, replica uint64) sm.IOnDiskStateMachine {
		m := channelSM(shard, replica)
		runtime.SetFinalizer(m, func(sm.IOnDiskStateMachine) { released.Add(1) })
		return m
	}
	for i := range uint64(n) {
		shard := store.FirstChannelShardID + i
		if err := nh.StartOnDiskReplica(map[uint64]dragonboat.Target{1: addr}, false, factory, testShardConfig(shard)); err != nil {
			t.Fatal(err)
		}
	}
	// Elected: every replica has been ticked, so the tick worker has held each one.
	deadline := time.Now().Add(10 * time.Second)
	for i := range uint64(n) {
		for {
			if _, _, ok, err := nh.GetLeaderID(store.FirstChannelShardID + i); err == nil && ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("shard %d elected no leader", store.FirstChannelShardID+i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i := range uint64(n) {
		if err := nh.StopShard(store.FirstChannelShardID + i); err != nil && !errors.Is(err, dragonboat.ErrShardNotFound) {
			t.Fatal(err)
		}
	}
	// Each GC queues the finalizers of what it found unreachable; they run on their own goroutine.
	for released.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d stopped replicas still reachable", n-released.Load(), n)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}
