// Tests of the sampan patch (docs/decisions/0017 in Sampan): the workers'
// incremental reload (applyShardChanges) builds what a scan of every loaded
// shard builds, and quiesced replicas are ticked rarely.

package dragonboat

import (
	"math/rand"
	"testing"

	"github.com/lni/dragonboat/v4/internal/server"
)

// scanBucket is what loadBucketNodes builds by scanning: the loaded shards
// that keep accepts.
func scanBucket(nh *NodeHost, keep func(uint64) bool) map[uint64]*node {
	m := map[uint64]*node{}
	nh.forEachShard(func(cid uint64, n *node) bool {
		if keep(cid) {
			m[cid] = n
		}
		return true
	})
	return m
}

func TestApplyShardChangesMatchesAScan(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	nh := &NodeHost{}
	instance := uint64(0)
	// Workers that look at different rates, one of them falling further
	// behind than the changes kept.
	type worker struct {
		every int
		keep  func(uint64) bool // its bucket
		csi   uint64
		nodes map[uint64]*node
		// loadedNow: each node's loaded minus offloaded count from this worker.
		loadedNow map[*node]int
	}
	all := func(uint64) bool { return true }
	odd := func(cid uint64) bool { return cid%2 == 1 }
	ws := []*worker{{every: 1, keep: all}, {every: 7, keep: odd}, {every: 97, keep: all},
		{every: 13, keep: func(cid uint64) bool { return cid%2 == 0 }}, {every: shardChangesKept + 500, keep: odd}}
	for _, w := range ws {
		w.nodes = map[uint64]*node{}
		w.loadedNow = map[*node]int{}
	}
	for step := 1; step <= 4*shardChangesKept; step++ {
		cid := uint64(rng.Intn(200) + 1)
		// startShard refuses a shard that some worker still has loaded
		// (engine.nodeLoaded): an old incarnation is gone everywhere first.
		stillLoaded := false
		for _, w := range ws {
			if _, ok := w.nodes[cid]; ok {
				stillLoaded = true
			}
		}
		nh.mu.Lock()
		if _, ok := nh.mu.shards.Load(cid); ok {
			nh.shardSetChangedLocked(cid, nil)
		} else if !stillLoaded {
			instance++
			nh.shardSetChangedLocked(cid, &node{shardID: cid, instanceID: instance})
		}
		nh.mu.Unlock()
		for _, w := range ws {
			if step%w.every != 0 {
				continue
			}
			nodes, loaded, offloaded, csi, ok := applyShardChanges(nh, w.csi, w.nodes, w.keep)
			if !ok {
				// What loadBucketNodes does instead: scan.
				nodes = scanBucket(nh, w.keep)
				csi = nh.getShardSetIndex()
				loaded, offloaded = nil, nil
				for cid, n := range nodes {
					if _, had := w.nodes[cid]; !had {
						loaded = append(loaded, n)
					}
				}
				for cid, n := range w.nodes {
					if _, has := nodes[cid]; !has {
						offloaded = append(offloaded, n)
					}
				}
			}
			want := scanBucket(nh, w.keep)
			if len(nodes) != len(want) {
				t.Fatalf("step %d, worker every %d: %d nodes, a scan finds %d", step, w.every, len(nodes), len(want))
			}
			for cid, n := range want {
				if nodes[cid] != n {
					t.Fatalf("step %d, worker every %d: shard %d differs from a scan", step, w.every, cid)
				}
			}
			for _, n := range loaded {
				w.loadedNow[n]++
			}
			for _, n := range offloaded {
				w.loadedNow[n]--
			}
			for n, c := range w.loadedNow {
				_, in := nodes[n.shardID]
				in = in && nodes[n.shardID] == n
				if (in && c != 1) || (!in && c != 0) {
					t.Fatalf("step %d, worker every %d: shard %d instance %d loaded %d times, in the map %v",
						step, w.every, n.shardID, n.instanceID, c, in)
				}
				if c == 0 {
					delete(w.loadedNow, n)
				}
			}
			w.nodes, w.csi = nodes, csi
		}
	}
}

func TestQuiescedNodesAreTickedEveryQuiescedTickEvery(t *testing.T) {
	var nodes []*node
	for id := uint64(1); id <= 100; id++ {
		n := &node{shardID: id, mq: server.NewMessageQueue(8, false, 0, 0)}
		n.quiesced.Store(id%2 == 0)
		nodes = append(nodes, n)
	}
	ticks := map[uint64]int{}
	const rounds = 10 * quiescedTickEvery
	for tick := uint64(1); tick <= rounds; tick++ {
		for _, n := range ticksDue(nodes, tick, nil) {
			ticks[n.shardID]++
		}
	}
	for _, n := range nodes {
		want := rounds
		if n.quiesced.Load() {
			want = rounds / quiescedTickEvery
		}
		if ticks[n.shardID] != want {
			t.Fatalf("shard %d (quiesced %v) ticked %d times in %d ticks, want %d", n.shardID, n.quiesced.Load(), ticks[n.shardID], rounds, want)
		}
	}
	// Waking one up: it is ticked at the next tick.
	nodes[1].quiesced.Store(false)
	if got := ticksDue(nodes[1:2], rounds+1, nil); len(got) != 1 {
		t.Fatal("a replica that left quiesce must be ticked at once")
	}
}
