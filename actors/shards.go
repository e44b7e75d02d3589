package actors

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lni/dragonboat/v4"

	sc "github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/store"
)

// remoteStartTimeout bounds the wait for one replica node to start its replica: a node that does not
// answer within it is left behind (the activation proceeds with a quorum).
const remoteStartTimeout = 3 * time.Second

// ShardsName is the registered name of each node's shard manager actor: it starts and stops this node's
// replicas of channel shards whose channel actor runs on another node.
const ShardsName = "shards"

// StartShard asks a node to start (or keep running) its replica of a channel shard. Answered with
// ShardStarted.
type StartShard struct {
	ShardID   uint64
	ReplicaID uint64
	Members   map[uint64]string // replica id -> Raft address (initial members of a new shard)
	Starter   string            // the activation asking (its PID): only it may stop the replica again
	Owner     *actor.PID        // that activation, asked to passivate when this node has too many shards
	// Join: the replica was added to a running shard (a move) and starts empty, learning the members
	// from the leader.
	Join bool
}

// ShardStarted answers StartShard; Err is empty on success.
type ShardStarted struct {
	ShardID uint64
	NodeID  uint64
	Err     string
}

// StopShard asks a node to stop (unload) its replica of a shard after the channel passivated. It is
// ignored unless Starter is the activation that last started the replica: a stop from an activation that
// has been replaced (hand-off, failover) must not take down the replica its successor relies on.
type StopShard struct {
	ShardID uint64
	Starter string
}

// NewShardManager returns the props of the node's shard manager actor.
//
// Starting a replica can take milliseconds (Dragonboat bootstraps a new shard with synchronous writes
// under its NodeHost lock) and, while the previous run of the replica is still unloading, retries; a
// drop deletes data. None of it runs in the mailbox: each operation runs on its own goroutine and
// reports back, so the replicas of different channels start concurrently and one slow start holds up
// no other channel's wake. Operations on the same shard stay in arrival order (a stop never overtakes
// the start before it): while one runs, later ones for its shard wait in a per-shard queue.
func NewShardManager(env *Env) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &shardManager{env: env, queued: map[uint64][]shardOp{}} },
		actor.WithReceiverMiddleware(sc.UnwrapMiddleware))
}

type shardManager struct {
	env *Env
	// queued: shard -> operations not yet run, behind the one running (present while one runs).
	// Owned by the shard manager actor.
	queued map[uint64][]shardOp
}

type shardOp struct {
	msg    any // *StartShard, *StopShard or *DropShard
	sender *actor.PID
}

// shardOpDone tells the shard manager that the operation running for shard finished.
type shardOpDone struct{ shard uint64 }

func (s *shardManager) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *StartShard:
		s.enqueue(ctx, m.ShardID, shardOp{m, ctx.Sender()})
	case *StopShard:
		s.enqueue(ctx, m.ShardID, shardOp{m, ctx.Sender()})
	case *DropShard:
		s.enqueue(ctx, m.ShardID, shardOp{m, ctx.Sender()})
	case *shardOpDone:
		q := s.queued[m.shard]
		if len(q) == 0 {
			delete(s.queued, m.shard)
			return
		}
		s.queued[m.shard] = q[1:]
		s.run(ctx, m.shard, q[0])
	case *CatchUp:
		// A linearizable read returns once this replica has applied everything committed before it
		// was asked: the replica has caught up. It may take a while (a snapshot streaming in), so it
		// runs beside the actor and answers the asker directly.
		env, sender, root := s.env, ctx.Sender(), ctx.ActorSystem().Root
		go func() {
			err := retryTemp(time.Now().Add(catchUpTimeout), readAttempt, func(ctx context.Context) error {
				_, err := env.NodeHost.SyncRead(ctx, m.ShardID, &store.StateQuery{})
				return err
			})
			root.Send(sender, sc.WrapOrSelf(&CaughtUp{ShardID: m.ShardID, Err: errString(err)}))
		}()
	}
}

func (s *shardManager) enqueue(ctx actor.Context, shard uint64, op shardOp) {
	if q, running := s.queued[shard]; running {
		s.queued[shard] = append(q, op)
		return
	}
	s.queued[shard] = nil
	s.run(ctx, shard, op)
}

// run carries out op beside the actor, answers its sender, and reports shardOpDone.
func (s *shardManager) run(ctx actor.Context, shard uint64, op shardOp) {
	env, self, root := s.env, ctx.Self(), ctx.ActorSystem().Root
	go func() {
		defer root.Send(self, &shardOpDone{shard: shard})
		var answer any
		switch m := op.msg.(type) {
		case *StartShard:
			answer = &ShardStarted{ShardID: m.ShardID, NodeID: env.NodeID, Err: errString(env.startReplica(context.Background(), root, m))}
		case *StopShard:
			env.stopReplica(m.ShardID, m.Starter)
		case *DropShard:
			answer = &ShardStarted{ShardID: m.ShardID, NodeID: env.NodeID, Err: errString(env.dropReplica(m.ShardID, m.ReplicaID))}
		}
		if answer != nil && op.sender != nil {
			root.Send(op.sender, sc.WrapOrSelf(answer))
		}
	}()
}

// stopReplica unloads this node's replica of shard if starter is the activation that last started it,
// unless an activation on this node serves the shard: that one then owns the replica and unloads it
// when it stops. Any activation's StartShard makes it the last starter, so without that exception a
// second activation of the channel elsewhere (placement differed during a network fault) that stops
// unloads the replica this node's activation proposes and reads through; that one stays up, answers
// every read "unavailable", and nothing restarts the replica: its subscribers stall, new subscriptions
// fail, and the replica falls behind (a channel left without a usable activation after faults).
func (e *Env) stopReplica(shard uint64, starter string) {
	e.startersMu.Lock()
	if s, ok := e.serving[shard]; ok && s != starter {
		e.Log.Debug().Uint64("shard", shard).Str("starter", starter).Str("serving", s).Msg("stop replica ignored: an activation on this node serves it")
		if e.starters == nil {
			e.starters = map[uint64]string{}
		}
		e.starters[shard] = s
		e.startersMu.Unlock()
		return
	}
	if e.starters[shard] != starter {
		e.Log.Debug().Uint64("shard", shard).Str("starter", starter).Str("last_starter", e.starters[shard]).Msg("stop replica ignored: started by another activation")
		e.startersMu.Unlock()
		return
	}
	delete(e.starters, shard)
	e.startersMu.Unlock()
	e.Log.Debug().Uint64("shard", shard).Str("starter", starter).Msg("stopping replica")
	e.unloaded(shard)
	if err := e.NodeHost.StopShard(shard); err != nil && !errors.Is(err, dragonboat.ErrShardNotFound) {
		e.Log.Warn().Err(err).Uint64("shard", shard).Msg("stop replica")
	}
}

// setServing records (on) or forgets (!on) that activation serves shard on this node. It forgets only
// if activation is the one recorded. While it serves, it is the replica's owner for the resident bound
// too (asked to passivate when the replica is the least recently used), whoever started it last.
func (e *Env) setServing(shard uint64, activation *actor.PID, on bool) {
	e.startersMu.Lock()
	defer e.startersMu.Unlock()
	switch {
	case on:
		if e.serving == nil {
			e.serving = map[uint64]string{}
		}
		e.serving[shard] = activation.String()
		e.residents.serve(shard, activation)
	case e.serving[shard] == activation.String():
		delete(e.serving, shard)
		e.residents.serve(shard, nil)
	}
}

// unloaded forgets a replica this node no longer runs: in the resident bound and its activity clock.
func (e *Env) unloaded(shard uint64) {
	e.startersMu.Lock()
	delete(e.startTimes, shard)
	e.startersMu.Unlock()
	e.residents.stopped(shard)
	e.DB.Forget(shard)
}

// startReplica starts this node's replica of m's shard (or finds it running) and records who started
// it. cancel ends its retries early (an activation that stopped).
func (e *Env) startReplica(cancel context.Context, ctx actor.SenderContext, m *StartShard) error {
	if err := e.startReplicaOnce(cancel, m); err != nil {
		return err
	}
	e.startersMu.Lock()
	if e.starters == nil {
		e.starters = map[uint64]string{}
	}
	e.starters[m.ShardID] = m.Starter
	e.startersMu.Unlock()
	if victim := e.residents.started(m.ShardID, m.Owner, e.DB.Activity(m.ShardID)); victim != nil {
		// The least recently used shard's channel (here or on another node) passivates, which stops
		// its replicas everywhere, this one included.
		sc.Send(ctx, victim, &Evict{})
	}
	return nil
}

// startedAt returns when this node last started its replica of shard (zero: not since this process
// started, or forgotten after it stopped).
func (e *Env) startedAt(shard uint64) time.Time {
	e.startersMu.Lock()
	defer e.startersMu.Unlock()
	return e.startTimes[shard]
}

func (e *Env) startReplicaOnce(cancel context.Context, m *StartShard) error {
	targets := map[uint64]dragonboat.Target{}
	for id, addr := range m.Members {
		targets[id] = addr
	}
	join := m.Join
	switch {
	case e.NodeHost.HasNodeInfo(m.ShardID, m.ReplicaID):
		// Started here before: Dragonboat knows the membership, and the initial members must be empty
		// or equal its first record, which they are not once replicas have moved.
		targets, join = nil, false
	case join:
		targets = nil
	}
	deadline := time.Now().Add(e.StartTimeout)
	for {
		err := e.NodeHost.StartOnDiskReplica(targets, join, store.NewChannelStateMachine(e.DB), e.ShardConfig(m.ShardID, m.ReplicaID))
		if err == nil {
			e.startersMu.Lock()
			if e.startTimes == nil {
				e.startTimes = map[uint64]time.Time{}
			}
			e.startTimes[m.ShardID] = time.Now()
			e.startersMu.Unlock()
			return nil
		}
		if !errors.Is(err, dragonboat.ErrShardAlreadyExist) {
			return err
		}
		// Already running (the usual case for a follower replica of an active channel), or still unloading
		// after a stop: either way it will be running in a moment.
		if _, err := e.NodeHost.GetNodeUser(m.ShardID); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		if !pause(cancel, 5*time.Millisecond) {
			return cancel.Err()
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// lastSeqCheck makes the actor adopt the stored last seq (adoptLastSeq).
type lastSeqCheck struct{}

// adoptLastSeq takes the last seq from the local replica when it is past the one this activation
// knows: entries it did not see the result of (another activation's, or a proposal it answered
// "timeout" that committed after all). Its consumers learn of them too.
func (a *channelActor) adoptLastSeq(ctx actor.Context) error {
	if a.env.DB == nil {
		return nil
	}
	st, ok, err := a.env.DB.ShardState(a.shardID)
	if err != nil || !ok || st.LastSeq <= a.lastSeq {
		return err
	}
	a.lastSeq, a.lastTime = st.LastSeq, max(a.lastTime, st.LastTime, st.Clock)
	if len(a.consumers) > 0 {
		a.consumerStored(ctx)
	}
	return nil
}

// stopRemoteReplicas unloads the other replicas after the channel passivated (best effort: a replica
// that missed it keeps running until its node restarts).
func (a *channelActor) stopRemoteReplicas(ctx actor.Context) {
	stopRemoteReplicas(ctx, a.env, ctx.Self(), a.shardID, a.replicas)
}

func stopRemoteReplicas(ctx actor.SenderContext, env *Env, self *actor.PID, shard uint64, replicas []store.Replica) {
	for _, r := range replicas {
		if r.NodeID == env.NodeID {
			continue
		}
		if n, ok := env.Registry.Node(r.NodeID); ok {
			sc.Send(ctx, actor.NewPID(n.Actor, ShardsName), &StopShard{ShardID: shard, Starter: self.String()})
		}
	}
}

// CatchUp asks a node whether its replica of a shard has caught up with the shard's commit index.
// Answered with CaughtUp.
type CatchUp struct{ ShardID uint64 }

// CaughtUp answers CatchUp; Err is empty once the replica has caught up.
type CaughtUp struct {
	ShardID uint64
	Err     string
}

// DropShard asks a node to unload its replica of a shard and delete its data, after the replica was
// removed from the shard (moved elsewhere). Answered with ShardStarted (Err empty on success).
type DropShard struct {
	ShardID   uint64
	ReplicaID uint64
}

const catchUpTimeout = 5 * time.Second

// dropReplica unloads this node's replica of shard and deletes its Raft and store data. The replica must
// have been removed from the shard's membership first: removing the data of a member corrupts the shard.
func (e *Env) dropReplica(shard, replica uint64) error {
	e.startersMu.Lock()
	delete(e.starters, shard)
	e.startersMu.Unlock()
	e.unloaded(shard)
	if err := e.NodeHost.StopShard(shard); err != nil && !errors.Is(err, dragonboat.ErrShardNotFound) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.NodeHost.SyncRemoveData(ctx, shard, replica); err != nil {
		return err
	}
	return e.DB.DeleteShard(shard)
}

func init() {
	sc.RegisterMessage("sampan.CatchUp", &CatchUp{})
	sc.RegisterMessage("sampan.CaughtUp", &CaughtUp{})
	sc.RegisterMessage("sampan.DropShard", &DropShard{})
	sc.RegisterMessage("sampan.StartShard", &StartShard{})
	sc.RegisterMessage("sampan.ShardStarted", &ShardStarted{})
	sc.RegisterMessage("sampan.StopShard", &StopShard{})
	sc.RegisterMessage("sampan.Evict", &Evict{})
}

// replicaCheck runs every replicaCheckEvery while the channel is active: it (re)starts the replicas
// whose node was down (at activation or since): once the node is back its replica starts and catches up
// from the leader. It sends nothing while all replica nodes stay up.
type replicaCheck struct{}

const replicaCheckEvery = time.Second

// reassertEvery is how many replica checks pass between two reassertions of every replica (and
// announcements to every gateway); reassertQuietEvery replaces it once the channel has been unused for
// quietAfter. A quiet channel commits nothing, so a replica stopped under it does not fall behind, and
// the reassertions of thousands of resident quiet channels were a fifth of an idle node's CPU; the
// first use makes the next check come at the busy cadence again.
const (
	reassertEvery      = 5
	reassertQuietEvery = 30
	quietAfter         = 30 * time.Second
)

func (a *channelActor) armReplicaCheck(ctx actor.Context) {
	if a.checkArmed || len(a.replicas) < 2 || !a.ready {
		return
	}
	a.checkArmed = true
	sendLater(ctx.ActorSystem().Root, ctx.Self(), replicaCheckEvery, &replicaCheck{})
}

func (a *channelActor) checkReplicas(ctx actor.Context) {
	a.checkArmed = false
	if !a.ready {
		return
	}
	if _, _, _, err := a.env.NodeHost.GetLeaderID(a.shardID); !a.moving && errors.Is(err, dragonboat.ErrShardNotFound) {
		// This node's replica was unloaded under the activation (as propose finds on the next publish,
		// but a channel nobody publishes to would keep an activation that answers every read
		// "unavailable" and that every new request reaches): stop, so the next request activates the
		// channel afresh and starts every replica again.
		a.log.Warn().Msg("channel's replica no longer runs on this node; stopping the activation")
		a.stop(ctx)
		return
	}
	idle := a.pipe.idle()
	if a.env.Preferred != nil && !a.moving && !a.pipe.handingOff {
		pref := a.env.Preferred(a.name, a.replicas)
		if pref != 0 && pref != a.env.NodeID && !idle {
			// Busy: a channel that is never idle would never move back, and its node would keep leading
			// more than its share (leaders follow actors). New publishes wait while the ones in flight
			// are answered; then the actor stops (complete) and the sessions resend what waited to the
			// next activation, on the preferred node.
			a.log.Info().Uint64("to", pref).Int("in_flight", len(a.pipe.queue)).Msg("handing the channel off to its preferred node once in-flight publishes are answered")
			a.pipe.handOff()
			return
		}
		if pref != 0 && pref != a.env.NodeID {
			a.log.Info().Uint64("to", pref).Msg("handing the channel off to its preferred node")
			if len(a.gateways) > 0 && a.cluster != nil {
				// Gateways registered here wait, once this activation stops, for the next one to
				// announce itself, and a subscriber that missed a Deliver (at-most-once between nodes)
				// learns of it only then: activate the successor now instead of at the next request.
				cl, name := a.cluster, a.name
				go cl.Get(name, Kind)
			}
			a.stop(ctx)
			return
		}
	}
	if idle && a.env.DB != nil && (a.activity == nil || a.activity.Load() != a.stateSeen) {
		var seen int64
		if a.activity != nil {
			seen = a.activity.Load()
		}
		// Another activation may have committed entries this one did not propose (placement differed
		// during a network fault, and the other one, busy, has had no quiet moment to hand off): adopt
		// the last seq from the local replica, so that gateways registered here learn of those messages
		// (the answer to their periodic Register carries it) and their sessions fetch them. Otherwise a
		// subscriber on the node that ran the second activation receives nothing for as long as the
		// publisher keeps publishing through the first.
		if a.adoptLastSeq(ctx) == nil {
			a.stateSeen = seen
		}
	}
	a.pullLeadership()
	a.checks++
	every := reassertEvery
	if time.Since(a.lastActive) > quietAfter {
		every = reassertQuietEvery
	}
	reassert := a.checks%every == 0
	a.announce(ctx, reassert)
	// A replica node seen down has lost its running replica (a restarted node starts none by itself):
	// remember it, and start it again once the node answers.
	for _, r := range a.replicas {
		if r.NodeID != a.env.NodeID && a.env.Up != nil && !a.env.Up(r.NodeID) {
			a.lagging[r.NodeID] = r.ReplicaID
		}
		// Down and back between two checks (a quick restart): seen by when it came up. Otherwise a node
		// crashed for half a second comes back with its replica of an active channel stopped for good,
		// falling further behind with every publish.
		if _, lag := a.lagging[r.NodeID]; !lag && r.NodeID != a.env.NodeID && a.env.UpSince != nil {
			if since := a.env.UpSince(r.NodeID); !since.IsZero() && since.After(a.started[r.NodeID]) {
				a.lagging[r.NodeID] = r.ReplicaID
			}
		}
	}
	// Every reassertEvery checks, every replica is asked to run again (StartShard is idempotent and
	// cheap on a running replica). Another activation of the channel (placement differed during a
	// network fault) that stops hands its StopShard to replicas this one relies on, and nothing tells
	// this one: a live node's replica of an active channel would stay stopped, falling further behind.
	for _, r := range a.replicas {
		if r.NodeID == a.env.NodeID || (a.env.Up != nil && !a.env.Up(r.NodeID)) {
			continue
		}
		if _, ok := a.lagging[r.NodeID]; !ok && !reassert {
			continue
		}
		if n, ok := a.env.Registry.Node(r.NodeID); ok {
			sc.Request(ctx, actor.NewPID(n.Actor, ShardsName), a.startMsg(ctx, r))
		}
	}
	a.armReplicaCheck(ctx)
}

// pullLeadership asks for the shard's leadership back when an election moved it away from this node
// (after a failure, or a follower's election timeout on a loaded machine): actors are spread evenly over
// the nodes, so keeping each leader with its actor keeps leaders balanced too, and saves the forwarding
// of every proposal. Only while nothing is in flight and the channel has been quiet a moment: Raft drops
// proposals made during the transfer.
func (a *channelActor) pullLeadership() {
	if a.moving || !a.pipe.idle() || time.Since(a.lastActive) < 200*time.Millisecond ||
		time.Now().Before(a.pinnedUntil) {
		return
	}
	mine := store.ReplicaOn(a.replicas, a.env.NodeID)
	leader, _, ok, err := a.env.NodeHost.GetLeaderID(a.shardID)
	if mine == 0 || err != nil || !ok || leader == mine {
		return
	}
	a.log.Debug().Uint64("leader", leader).Msg("pulling the shard's leadership back to the channel's actor")
	a.requestLeadership(mine)
}

func (a *channelActor) onShardStarted(m *ShardStarted) {
	if m.ShardID == a.shardID && m.Err == "" {
		if a.started != nil {
			a.started[m.NodeID] = time.Now()
		}
		if _, ok := a.lagging[m.NodeID]; ok {
			delete(a.lagging, m.NodeID)
			a.log.Info().Uint64("node", m.NodeID).Msg("replica restarted on returning node")
		}
	}
}
