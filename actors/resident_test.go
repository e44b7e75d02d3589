package actors

import (
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

// TestResidentsEvictLeastRecentlyUsed: the bound counts every replica started here, whichever node runs
// its actor; past it the owner of the least recently used replica is named, never the one starting; a
// restart of a running replica (asked every few seconds) neither counts again nor makes it look used.
func TestResidentsEvictLeastRecentlyUsed(t *testing.T) {
	r := residents{max: 2}
	clocks := map[uint64]*atomic.Int64{1: {}, 2: {}, 3: {}}
	local, remote := actor.NewPID("node-a", "c1"), actor.NewPID("node-b", "c2")
	if v := r.started(1, local, clocks[1]); v != nil {
		t.Fatalf("victim %v under the bound", v)
	}
	if v := r.started(2, remote, clocks[2]); v != nil {
		t.Fatalf("victim %v under the bound", v)
	}
	clocks[1].Store(nowNanos() + 1e9) // shard 1 used since: shard 2 (a follower here) is the oldest
	if v := r.started(2, remote, clocks[2]); v != nil || r.count() != 2 {
		t.Fatalf("restarting a running replica: victim %v, count %d", v, r.count())
	}
	if v := r.started(3, actor.NewPID("node-c", "c3"), clocks[3]); !v.Equal(remote) {
		t.Fatalf("victim %v, want the least recently used replica's owner %v", v, remote)
	}
	r.stopped(2)
	if r.count() != 2 {
		t.Fatalf("count %d after the victim stopped, want 2", r.count())
	}
	// An activation on this node serving shard 3 is asked, not whoever restarted the replica last.
	r.serve(3, actor.NewPID("node-a", "c3-here"))
	if v := r.started(4, nil, new(atomic.Int64)); !v.Equal(actor.NewPID("node-a", "c3-here")) {
		t.Fatalf("victim %v, want shard 3's serving activation (shard 1 was used later)", v)
	}
}
