package cluster

import (
	"sync/atomic"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// Elector makes a chosen local replica campaign at once, instead of after Dragonboat's election timer
// (ElectionRTT plus a random extra of up to as much again: 200-400 ms at Sampan's settings), which is
// ~98% of a channel's wake or create and most of a failover. Dragonboat has no public campaign call,
// but a follower that receives a TimeoutNow message campaigns at its next step (the message a leader
// sends at the end of a leadership transfer): the Elector hands such a message to the NodeHost's own
// inbound message handler, which it takes from the transport factory it wraps.
//
// Safety stays Raft's: the campaign is an ordinary election at a higher term, and voters still grant
// only to a log at least as up to date as theirs. What the caller must respect is liveness: a campaign
// skips PreVote and, like a leadership transfer, is granted even by voters that hear from a live
// leader, so it deposes one. Campaign only where the local replica knows no leader, or knows only one
// that the cluster's liveness probes report dead, or where the layer above decided that leadership
// must come here. See docs/decisions/0013-leadership-from-above.md.
type Elector struct {
	// handler: set once by the transport factory's Create (Dragonboat's NewNodeHost goroutine), read
	// by any goroutine that campaigns.
	handler atomic.Pointer[electorTarget]
}

// electorTarget is what a campaign request needs: the handler, and the deployment id it checks every
// inbound batch against (Dragonboat drops a batch of another deployment or transport version).
type electorTarget struct {
	handle     raftio.MessageHandler
	deployment uint64
}

// NewElector returns an Elector; pass it to StartNodeHost (HostConfig.Elector).
func NewElector() *Elector { return &Elector{} }

// Campaign asks the local replica of shard to start an election now. It reports false when the
// NodeHost has not started (no handler yet). A replica that is not a follower (a leader, a candidate, a
// non-voting member) ignores the request, as does a follower with committed but unapplied membership
// changes (Dragonboat skips the campaign then): callers retry with a short backoff while no leader is
// known.
func (e *Elector) Campaign(shardID, replicaID uint64) bool {
	t := e.handler.Load()
	if t == nil {
		return false
	}
	t.handle(pb.MessageBatch{DeploymentId: t.deployment, BinVer: raftio.TransportBinVersion,
		Requests: []pb.Message{{Type: pb.TimeoutNow, ShardID: shardID, To: replicaID, From: replicaID}}})
	return true
}

// wrap returns f with its Create recording the NodeHost's inbound message handler.
func (e *Elector) wrap(f config.TransportFactory) config.TransportFactory {
	return electorFactory{inner: f, e: e}
}

type electorFactory struct {
	inner config.TransportFactory
	e     *Elector
}

func (f electorFactory) Create(nhc config.NodeHostConfig, msgs raftio.MessageHandler, chunks raftio.ChunkHandler) raftio.ITransport {
	f.e.handler.Store(&electorTarget{handle: msgs, deployment: nhc.GetDeploymentID()})
	return f.inner.Create(nhc, msgs, chunks)
}

func (f electorFactory) Validate(addr string) bool { return f.inner.Validate(addr) }
