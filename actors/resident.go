package actors

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
)

// residents bounds the channel shard replicas running on this node: each costs memory and a tick every
// RTT whether its channel's actor runs here or on another node, so a replica started for an actor
// elsewhere (a follower, usually) counts as much as one of a local actor. When a start would exceed the
// bound, the channel of the least recently used replica is asked to passivate (Evict), wherever its
// actor runs; it does once it has no proposal in flight, and its passivation stops its replicas on
// every node. The next request reactivates it: nothing is lost, only latency.
type residents struct {
	max   int
	gauge prometheus.Gauge // nil: none

	mu      sync.Mutex
	shards  map[uint64]*resident
	serving map[uint64]*actor.PID // shard -> the activation on this node serving it: its owner while set
}

type resident struct {
	owner *actor.PID    // the channel actor that started the replica last (nil: unknown, never evicted)
	last  *atomic.Int64 // the shard's activity clock on this node, unix nanos (store.DB.Activity)
}

func (r *residents) victim(shard uint64, s *resident) *actor.PID {
	if p := r.serving[shard]; p != nil {
		return p
	}
	return s.owner
}

// Evict asks a channel actor to passivate because a node holding one of its replicas has too many.
type Evict struct{}

// started records that shard's replica runs here for owner, and returns the owner to evict when the
// node is over its bound (nil if none). A replica that has just started counts as just used.
func (r *residents) started(shard uint64, owner *actor.PID, last *atomic.Int64) (victim *actor.PID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shards == nil {
		r.shards = map[uint64]*resident{}
	}
	if old, ok := r.shards[shard]; ok {
		// Already running: a restart asked again (every few seconds by the channel's actor) or a new
		// activation taking the replica over. Neither is a use of the channel.
		if owner != nil {
			old.owner = owner
		}
		old.last = last
		return nil
	}
	last.Store(max(last.Load(), nowNanos()))
	r.shards[shard] = &resident{owner: owner, last: last}
	r.report()
	if r.max <= 0 || len(r.shards) <= r.max {
		return nil
	}
	oldest := int64(1<<63 - 1)
	for id, s := range r.shards {
		v := r.victim(id, s)
		if id == shard || v == nil || v.Equal(owner) {
			continue
		}
		if t := s.last.Load(); t < oldest {
			oldest, victim = t, v
		}
	}
	return victim
}

// serve records the activation on this node serving shard (nil: none any more).
func (r *residents) serve(shard uint64, local *actor.PID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if local == nil {
		delete(r.serving, shard)
		return
	}
	if r.serving == nil {
		r.serving = map[uint64]*actor.PID{}
	}
	r.serving[shard] = local
}

// stopped records that shard's replica no longer runs here.
func (r *residents) stopped(shard uint64) {
	r.mu.Lock()
	delete(r.shards, shard)
	r.report()
	r.mu.Unlock()
}

func (r *residents) report() {
	if r.gauge != nil {
		r.gauge.Set(float64(len(r.shards)))
	}
}

func (r *residents) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.shards)
}

func nowNanos() int64 { return time.Now().UnixNano() }
