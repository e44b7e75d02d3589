package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lni/dragonboat/v4"

	sc "github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/store"
)

// Moving a channel's replica off a node that is being removed. The channel's actor runs the move because
// it keeps the shard running on a quorum for the whole of it (a cold channel is activated for it) and
// must learn the new replica set. The steps make the shard gain a replica before it loses one, so the
// channel never drops below its replica count, and each step checks what is already done, so a move cut
// short (crash, node restart) is completed by the next attempt:
//
//  1. metadata: a Joining replica on another node (MetaAddReplica; chosen once, kept on retries);
//  2. that node starts the replica with Dragonboat's join flag (it waits, idle, for the leader);
//  3. Raft: the joining replica added to the shard's membership, and it catches up (a read-index read
//     there returns);
//  4. Raft: the old replica removed from the membership; its node drops the replica and its data;
//  5. metadata: the move recorded (MetaFinishMove).

// MoveReplica asks a channel's actor to move the channel's replica off node From. Answered with
// ReplicaMoved once the move is complete (or failed; the caller retries).
type MoveReplica struct {
	Channel string
	From    uint64
}

// ReplicaMoved answers MoveReplica; Err is empty on success.
type ReplicaMoved struct {
	Channel string
	Err     string
}

func init() {
	sc.RegisterMessage("sampan.MoveReplica", &MoveReplica{})
	sc.RegisterMessage("sampan.ReplicaMoved", &ReplicaMoved{})
	sc.RegisterMessage("sampan.TransferLeader", &TransferLeader{})
	sc.RegisterMessage("sampan.LeaderTransferred", &LeaderTransferred{})
}

// Mover is the part of the registry a move changes (the metadata group, cluster.Meta).
type Mover interface {
	// AddReplica gives the channel a Joining replica on a live node other than its replica nodes, unless
	// it has one already (see store.MetaAddReplica).
	AddReplica(ctx context.Context, channel string, from uint64) (*store.ChannelInfo, error)
	// FinishMove drops replica removed and makes replica joined a full member.
	FinishMove(ctx context.Context, channel string, removed, joined uint64) (*store.ChannelInfo, error)
}

// moveTimeout bounds one move; a replica that needs longer to catch up (a large channel) is finished by
// the next attempt, which finds the earlier steps done.
const moveTimeout = 2 * time.Minute

type moveDone struct {
	info *store.ChannelInfo
	err  error
}

func (a *channelActor) move(ctx actor.Context, m *MoveReplica) {
	answer := func(err error) {
		sc.Respond(ctx, &ReplicaMoved{Channel: a.name, Err: errString(err)})
	}
	switch {
	case !a.ready:
		answer(a.unavailable())
		return
	case a.env.Mover == nil:
		answer(errors.New("replica moves are not supported by this node"))
		return
	case a.moving && time.Since(a.movingSince) < moveTimeout+10*time.Second:
		answer(fmt.Errorf("a replica move of %s is under way", a.name))
		return
	case a.moving:
		// The move's goroutine ends within moveTimeout and always reports back; seen once in a loaded
		// test run without a report ever being handled (cause not found yet, README "known bugs"). Do
		// not let that hold the drain forever: the steps are idempotent, so start again.
		a.log.Error().Time("since", a.movingSince).Msg("replica move never reported its result; starting it again")
	}
	a.moving, a.movingSince = true, time.Now()
	reply, self, root := ctx.Sender(), ctx.Self(), ctx.ActorSystem().Root
	name, shard, owner := a.name, a.shardID, ctx.Self()
	go func() {
		info, err := a.env.moveReplica(root, name, shard, m.From, owner)
		// The asker (a node's drain) is answered from here, not by the actor: the actor can be gone
		// by now (its own node's replica was the one moved, and an activation whose replica is gone
		// stops), and the drain then waited for its whole 3-minute timeout. That was the "move never
		// reported its result" seen in loaded runs of TestClusterAddAndRemoveNode.
		if reply != nil {
			sc.Send(root, reply, &ReplicaMoved{Channel: name, Err: errString(err)})
		}
		root.Send(self, &moveDone{info: info, err: err})
	}()
}

func (a *channelActor) onMoveDone(ctx actor.Context, m *moveDone) {
	a.moving = false
	if m.info != nil {
		if err := a.setMembers(m.info.Replicas); err != nil {
			a.log.Warn().Err(err).Msg("replica set after a move")
		}
		for node := range a.lagging {
			if m.info.ReplicaOn(node) == 0 {
				delete(a.lagging, node)
			}
		}
	}
	if m.err != nil {
		a.log.Warn().Err(m.err).Msg("replica move failed; it is retried")
	} else {
		a.log.Info().Interface("replicas", a.replicas).Msg("replica moved")
	}
	_, _, _, shardErr := a.env.NodeHost.GetLeaderID(a.shardID)
	if (m.info != nil && m.info.ReplicaOn(a.env.NodeID) == 0) || errors.Is(shardErr, dragonboat.ErrShardNotFound) {
		// This node's replica was the one moved (or is gone): the actor cannot propose here any more.
		// The next request activates the channel on a node that holds a replica.
		a.stop(ctx)
	}
}

// moveReplica runs the steps above. It runs beside the actor (which keeps serving) and touches nothing
// of it; the result comes back as moveDone.
func (e *Env) moveReplica(root *actor.RootContext, channel string, shard, from uint64, owner *actor.PID) (*store.ChannelInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), moveTimeout)
	defer cancel()
	info, err := e.Mover.AddReplica(ctx, channel, from)
	if err != nil {
		return nil, fmt.Errorf("add replica: %w", err)
	}
	log := e.Log.With().Str("channel", channel).Uint64("shard", shard).Uint64("from", from).Logger()
	var old, joining *store.Replica
	for i := range info.Replicas {
		r := &info.Replicas[i]
		switch {
		case r.Joining:
			joining = r
		case r.NodeID == from:
			old = r
		}
	}
	if joining != nil {
		log.Info().Uint64("replica", joining.ReplicaID).Uint64("to", joining.NodeID).Msg("adding a replica")
		if err := e.addToShard(ctx, root, shard, *joining, owner); err != nil {
			return info, err
		}
	}
	if old != nil {
		log.Info().Uint64("replica", old.ReplicaID).Msg("removing the replica")
		if err := e.removeFromShard(ctx, root, shard, *old, info.Replicas); err != nil {
			return info, err
		}
	}
	var oldID, joinedID uint64
	if old != nil {
		oldID = old.ReplicaID
	}
	if joining != nil {
		joinedID = joining.ReplicaID
	}
	if oldID == 0 && joinedID == 0 {
		return info, nil // nothing on from any more, nothing joining: done before
	}
	info, err = e.Mover.FinishMove(ctx, channel, oldID, joinedID)
	if err != nil {
		return nil, fmt.Errorf("record the move: %w", err)
	}
	return info, nil
}

// addToShard makes r a caught-up voting member of the shard (steps 2 and 3).
func (e *Env) addToShard(ctx context.Context, root *actor.RootContext, shard uint64, r store.Replica, owner *actor.PID) error {
	node, ok := e.Registry.Node(r.NodeID)
	if !ok {
		return fmt.Errorf("node %d is not registered", r.NodeID)
	}
	// The new replica runs before it joins the membership. Once the add applies, the shard counts it
	// among its voters: with one of the old replicas dead (a node replaced, or a dead node removed),
	// the two live ones alone are no quorum of four, and the add's answer, the membership reads of a
	// retry, every proposal would wait for a replica nobody starts (seen: moves stalled until their
	// timeout).
	shards := actor.NewPID(node.Actor, ShardsName)
	if err := askUntil(ctx, root, shards, &StartShard{ShardID: shard, ReplicaID: r.ReplicaID, Starter: owner.String(), Owner: owner, Join: true}, remoteStartTimeout, func(v any) string {
		if st, ok := v.(*ShardStarted); ok {
			return st.Err
		}
		return fmt.Sprintf("unexpected answer %T", v)
	}); err != nil {
		return fmt.Errorf("start the new replica on node %d: %w", r.NodeID, err)
	}
	e.Log.Debug().Uint64("shard", shard).Uint64("replica", r.ReplicaID).Msg("replica started; adding it to the shard's membership")
	err := e.retryMembership(ctx, shard, func(ctx context.Context, mem *dragonboat.Membership) error {
		if _, ok := mem.Nodes[r.ReplicaID]; ok {
			return nil
		}
		return e.NodeHost.SyncRequestAddReplica(ctx, shard, r.ReplicaID, node.Raft, mem.ConfigChangeID)
	})
	if err != nil {
		return fmt.Errorf("add replica %d on node %d to shard %d: %w", r.ReplicaID, r.NodeID, shard, err)
	}
	e.Log.Debug().Uint64("shard", shard).Uint64("replica", r.ReplicaID).Msg("replica in the shard's membership; waiting for it to catch up")
	if err := askUntil(ctx, root, shards, &CatchUp{ShardID: shard}, catchUpTimeout+time.Second, func(v any) string {
		if c, ok := v.(*CaughtUp); ok {
			return c.Err
		}
		return fmt.Sprintf("unexpected answer %T", v)
	}); err != nil {
		return fmt.Errorf("new replica on node %d catching up: %w", r.NodeID, err)
	}
	return nil
}

// removeFromShard removes r from the shard's membership and has its node drop it (step 4). Leadership
// leaves r first: a leader removing itself stalls the shard until an election.
func (e *Env) removeFromShard(ctx context.Context, root *actor.RootContext, shard uint64, r store.Replica, replicas []store.Replica) error {
	if leader, _, ok, err := e.NodeHost.GetLeaderID(shard); err == nil && ok && leader == r.ReplicaID {
		for _, o := range replicas {
			if o.ReplicaID != r.ReplicaID && (o.NodeID == e.NodeID || e.Up == nil || e.Up(o.NodeID)) {
				_ = e.NodeHost.RequestLeaderTransfer(shard, o.ReplicaID)
				waitFor(ctx, time.Second, func() bool {
					l, _, ok, err := e.NodeHost.GetLeaderID(shard)
					return err == nil && ok && l != r.ReplicaID
				})
				break
			}
		}
	}
	err := e.retryMembership(ctx, shard, func(ctx context.Context, mem *dragonboat.Membership) error {
		_, voter := mem.Nodes[r.ReplicaID]
		_, nonVoting := mem.NonVotings[r.ReplicaID]
		if !voter && !nonVoting {
			return nil
		}
		return e.NodeHost.SyncRequestDeleteReplica(ctx, shard, r.ReplicaID, mem.ConfigChangeID)
	})
	if r.NodeID == e.NodeID && errors.Is(err, dragonboat.ErrShardNotFound) {
		// This node's replica was removed: applying its own removal unloaded it here (and its answer to
		// the request may never come, hence the retries until the shard was gone).
		err = nil
	}
	if err != nil {
		return fmt.Errorf("remove replica %d on node %d from shard %d: %w", r.ReplicaID, r.NodeID, shard, err)
	}
	// Best effort: the node may be down for good. Its replica is out of the shard either way; data left
	// behind on a node that returns is unused (its replica id is never reused).
	if r.NodeID == e.NodeID {
		if err := e.dropReplica(shard, r.ReplicaID); err != nil {
			e.Log.Warn().Err(err).Uint64("shard", shard).Msg("drop moved replica")
		}
	} else if n, ok := e.Registry.Node(r.NodeID); ok && (e.Up == nil || e.Up(r.NodeID)) {
		root.Send(actor.NewPID(n.Actor, ShardsName), sc.WrapOrSelf(&DropShard{ShardID: shard, ReplicaID: r.ReplicaID}))
	}
	return nil
}

// retryMembership reads the shard's membership and runs step (which returns nil once the membership is
// as wanted, or after a successful change), retrying the transient failures of a membership change
// (another change pending, a stale config change id, a leader election) until ctx ends.
func (e *Env) retryMembership(ctx context.Context, shard uint64, step func(context.Context, *dragonboat.Membership) error) error {
	for {
		// Each attempt has its own deadline: a request whose answer is lost (its replica removed, a
		// leader change) must not hold the whole move.
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		mem, err := e.NodeHost.SyncGetShardMembership(rctx, shard)
		if err == nil {
			err = step(rctx, mem)
		}
		cancel()
		if err == nil {
			return nil
		}
		e.Log.Debug().Err(err).Uint64("shard", shard).Msg("membership change: retrying")
		if !dragonboat.IsTempError(err) && !errors.Is(err, dragonboat.ErrRejected) &&
			!errors.Is(err, dragonboat.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// askUntil requests msg from pid until answered without error (check returns "") or ctx ends.
func askUntil(ctx context.Context, root *actor.RootContext, pid *actor.PID, msg any, each time.Duration, check func(any) string) error {
	var last error
	for {
		res, err := root.RequestFuture(pid, sc.WrapOrSelf(msg), each).Result()
		if err == nil {
			var v any
			if v, err = sc.Unwrap(res); err == nil {
				if s := check(v); s != "" {
					err = errors.New(s)
				} else {
					return nil
				}
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return last
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitFor polls cond every few milliseconds for at most d.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || !pause(ctx, 5*time.Millisecond) {
			return false
		}
	}
	return true
}
