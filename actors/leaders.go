package actors

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lni/dragonboat/v4/raftio"
)

// LeaderEvents turns Dragonboat's leader-change callbacks into messages to the channel actor of the
// shard. Dragonboat calls LeaderUpdated on its own goroutines and must not be blocked: it only posts.
type LeaderEvents struct {
	mu     sync.RWMutex
	actors map[uint64]*actor.PID
	system atomic.Pointer[actor.ActorSystem]
}

// NewLeaderEvents returns an empty dispatcher; call SetSystem once the actor system runs.
func NewLeaderEvents() *LeaderEvents { return &LeaderEvents{actors: map[uint64]*actor.PID{}} }

// SetSystem sets the actor system messages are posted through.
func (l *LeaderEvents) SetSystem(s *actor.ActorSystem) { l.system.Store(s) }

func (l *LeaderEvents) register(shard uint64, pid *actor.PID) {
	l.mu.Lock()
	l.actors[shard] = pid
	l.mu.Unlock()
}

func (l *LeaderEvents) unregister(shard uint64, pid *actor.PID) {
	l.mu.Lock()
	if cur := l.actors[shard]; cur != nil && cur.Equal(pid) {
		delete(l.actors, shard)
	}
	l.mu.Unlock()
}

// LeaderUpdated implements raftio.IRaftEventListener.
func (l *LeaderEvents) LeaderUpdated(info raftio.LeaderInfo) {
	l.mu.RLock()
	pid := l.actors[info.ShardID]
	l.mu.RUnlock()
	if sys := l.system.Load(); pid != nil && sys != nil {
		sys.Root.Send(pid, &leaderChanged{leader: info.LeaderID, term: info.Term})
	}
}

type leaderChanged struct{ leader, term uint64 }
