package actors

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// residents bounds the channel actors active on this node, and so the shards resident here (each costs
// memory and a tick every RTT). When an activation would exceed the bound, the least recently active
// channel is asked to passivate; it does once it has no proposal in flight. The next request for it
// reactivates it, so nothing is lost, only latency.
type residents struct {
	max int

	mu     sync.Mutex
	actors map[*actor.PID]*atomic.Int64 // last activity, unix nanos, written by the actor itself
}

// evictRequest asks a channel actor to passivate because the node has too many active channels.
type evictRequest struct{}

func (r *residents) add(pid *actor.PID, last *atomic.Int64) (victim *actor.PID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.actors == nil {
		r.actors = map[*actor.PID]*atomic.Int64{}
	}
	r.actors[pid] = last
	if r.max <= 0 || len(r.actors) <= r.max {
		return nil
	}
	oldest := int64(1<<63 - 1)
	for p, t := range r.actors {
		if p == pid {
			continue
		}
		if v := t.Load(); v < oldest {
			oldest, victim = v, p
		}
	}
	return victim
}

func (r *residents) remove(pid *actor.PID) {
	r.mu.Lock()
	delete(r.actors, pid)
	r.mu.Unlock()
}

func (r *residents) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.actors)
}

func nowNanos() int64 { return time.Now().UnixNano() }
