package actors

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lni/dragonboat/v4/client"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/rs/zerolog"

	sc "github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/protocol"
	"github.com/sampan-io/sampan/store"
)

// Activation: bringing a channel's shard up when its actor starts (a wake or a create). It looks the
// channel up in the registry (registering it if new), starts the replicas here and on the other replica
// nodes, waits for a leader (campaigning for it, election.go), reads the channel's state and proposes
// its settings: milliseconds when all goes well, seconds when nodes are slow or down. It runs beside the
// actor, on its own goroutine, so the actor's mailbox keeps moving: publishes wait in the pipeline,
// requests that need the shard wait in a stash, and a stop cancels it. The job owns its fields until it
// reports back (activated), and the actor owns them after.

// activation is one activation job.
type activation struct {
	env      *Env
	name     string
	self     *actor.PID
	root     *actor.RootContext
	log      zerolog.Logger
	ctx      context.Context // cancelled when the actor stops first (and when the job ends)
	cancel   context.CancelFunc
	deadline time.Time // the job fails past it (Env.StartTimeout)
	// state: actRunning until the job reports (actReported) or the actor stops first (actCancelled):
	// whoever moves it from running owns the outcome.
	state atomic.Int32

	// The outcome, written by the job before it reports.
	err          error
	shardID      uint64
	replicas     []store.Replica
	members      map[uint64]string
	lagging      map[uint64]uint64
	started      map[uint64]time.Time
	serving      bool // this activation was recorded as serving the shard on this node
	session      *client.Session
	lastSeq      uint64
	lastTime     int64
	epoch        uint64    // the channel's epoch its settings made (store.StateResult.Epoch)
	free         bool      // the activation before released the channel (store.StateResult.Free)
	settled      time.Time // when the settings' answer came
	leader       uint64    // the shard's leader replica when the job ended
	pulledAt     time.Time // when it asked for the leadership to come here (zero: it did not)
	mine         uint64
	phases       phases
	startedAtJob time.Time
}

const (
	actRunning int32 = iota
	actReported
	actCancelled
)

// activated reports an activation job's end to its actor.
type activated struct{ job *activation }

// stashed is a request that came while the activation ran, answered once it ends.
type stashed struct {
	msg    any
	sender *actor.PID
}

func (a *channelActor) activate(ctx actor.Context, name string) {
	a.name = name
	a.settings = a.env.settings(name)
	a.gateways = map[string]*actor.PID{}
	a.log = a.env.Log.With().Str("channel", name).Logger()
	if err := protocol.ValidateChannel(name); err != nil {
		a.startErr = asProtoErr(err)
		a.stopSoon(ctx)
		return
	}
	j := &activation{env: a.env, name: name, self: ctx.Self(), root: ctx.ActorSystem().Root, log: a.log, startedAtJob: time.Now()}
	// No deadline on ctx itself: Dragonboat derives its timeouts from a context's deadline, and the
	// reads and proposals of the activation need stretched ones (proposeTimeout).
	j.ctx, j.cancel = context.WithCancel(context.Background())
	j.deadline = j.startedAtJob.Add(a.env.StartTimeout)
	a.job = j
	a.env.active.Add(1) // the job uses the NodeHost until it ends, even after the actor stopped
	go func() {
		defer a.env.active.Done()
		j.err = j.run()
		j.cancel()
		if j.state.CompareAndSwap(actRunning, actReported) {
			j.root.Send(j.self, &activated{job: j})
			return
		}
		j.release(j.root) // the actor stopped meanwhile: undo what the job did
	}()
}

// onActivated adopts the job's outcome: the channel serves, or the activation failed.
func (a *channelActor) onActivated(ctx actor.Context, j *activation) {
	if a.job != j {
		return
	}
	a.adopt(j)
	stash := a.stash
	a.stash = nil
	defer func() {
		// Requests that waited are handled now, with their senders (Respond answers them).
		for _, s := range stash {
			ctx.RequestWithCustomSender(ctx.Self(), s.msg, s.sender)
		}
	}()
	if j.err != nil {
		a.log.Error().Err(j.err).Msg("channel activation failed")
		j.release(ctx)
		a.startErr = protocol.NewError(protocol.CodeUnavailable, "channel %s unavailable: %v", a.name, j.err)
		a.failBlocked(ctx, a.pipe.takeBlocked(), a.startErr)
		a.stopSoon(ctx)
		return
	}
	a.ready, a.shardStarted = true, true
	if !j.pulledAt.IsZero() {
		a.pipe.pull(j.pulledAt, j.mine) // proposals wait for the transfer leadHere asked for
	}
	a.pipe.knownLeader = j.leader
	a.pipe.activated(time.Now(), a.leaderNow())
	a.env.setHot(a.name, 1)
	a.env.Metrics.Activations.Inc()
	a.env.Metrics.ActiveChannels.Inc()
	took := time.Since(j.startedAtJob)
	a.env.Metrics.ActivationTime.Observe(took.Seconds())
	ev := a.log.Debug()
	if took > time.Second {
		ev = a.log.Info() // slow: say where the time went
	}
	ev.Uint64("shard", a.shardID).Dur("took", took).Str("phases", j.phases.String()).Uint64("last_seq", a.lastSeq).Msg("channel activated")
	a.announce(ctx, false)
	a.idleAfter = a.env.IdleTimeout
	a.armIdle(ctx, a.idleAfter)
	a.armReplicaCheck(ctx)
	if a.env.Leaders != nil {
		a.env.Leaders.register(a.shardID, ctx.Self())
	}
	a.activity = a.env.DB.Activity(a.shardID)
	a.activity.Store(nowNanos())
}

// adopt takes over the job's outcome.
func (a *channelActor) adopt(j *activation) {
	a.job = nil
	a.shardID, a.replicas, a.members, a.lagging, a.started = j.shardID, j.replicas, j.members, j.lagging, j.started
	a.session, a.lastSeq, a.lastTime, a.epoch = j.session, j.lastSeq, j.lastTime, j.epoch
	a.lease = newLease(j.settled, j.free)
	if !j.free && j.err == nil {
		a.env.Metrics.LeaseWaits.Inc()
	}
}

// stopActivation runs when the actor stops while its activation runs: it cancels the job, which undoes
// its work itself, or, when the job has already reported (its activated message still in the mailbox),
// undoes it here.
func (a *channelActor) stopActivation() {
	j := a.job
	if j == nil {
		return
	}
	j.cancel()
	if j.state.CompareAndSwap(actRunning, actCancelled) {
		a.job = nil
		return
	}
	a.adopt(j)
	j.release(a.root)
}

// release undoes a job: this node stops serving the shard and the replicas it started are unloaded
// (each only if no other activation relies on it: Env.stopReplica).
func (j *activation) release(ctx actor.SenderContext) {
	if j.serving {
		j.env.setServing(j.shardID, j.self, false)
		j.env.stopReplica(j.shardID, j.self.String())
	}
	stopRemoteReplicas(ctx, j.env, j.self, j.shardID, j.replicas)
}

// stashRequest keeps a request that needs the shard until the activation ends; it reports whether msg
// was stashed.
func (a *channelActor) stashRequest(ctx actor.Context, msg any) bool {
	if a.job == nil {
		return false
	}
	switch msg.(type) {
	case *Register, *Resolve, *Fetch, *TransferLeader, *MoveReplica, *ConsumerJoin, *ConsumerAck, *ConsumerLeave, *ConsumerAdmin:
		a.stash = append(a.stash, stashed{msg: msg, sender: ctx.Sender()})
		return true
	}
	return false
}

// failStash answers the requests that waited for an activation that did not come to serve (the actor
// stopped first).
func (a *channelActor) failStash(ctx actor.Context) {
	e := a.unavailable()
	for _, s := range a.stash {
		var res any
		switch m := s.msg.(type) {
		case *Register:
			res = &Registered{Channel: a.name, Err: e}
		case *Resolve:
			res = &Resolved{Channel: a.name, ID: m.ID, Err: e}
		case *Fetch:
			res = &Fetched{Channel: a.name, ID: m.ID, Err: e}
		case *TransferLeader:
			res = &LeaderTransferred{Channel: a.name, Err: e.Error()}
		case *MoveReplica:
			res = &ReplicaMoved{Channel: a.name, Err: e.Error()}
		case *ConsumerAdmin:
			res = &ConsumerAdminResult{Channel: a.name, Err: e.Error()}
		case *ConsumerJoin:
			sc.Send(ctx, m.ReplyTo, &ConsumerJoined{Channel: a.name, Sid: m.Sid, Err: e})
		case *ConsumerAck:
			for _, it := range m.Acks {
				if it.Req != 0 && m.ReplyTo != nil {
					sc.Send(ctx, m.ReplyTo, &ConsumerAcked{Channel: a.name, Req: it.Req, Err: e})
				}
			}
		}
		if res != nil && s.sender != nil {
			sc.Send(ctx, s.sender, res)
		}
	}
	a.stash = nil
}

// run starts (or reopens) the channel's shard replicas, here and on the other replica nodes, and
// waits until the shard has a leader.
func (j *activation) run() error {
	env := j.env
	j.phases.start = time.Now()
	deadline := j.deadline
	rctx, cancel := context.WithDeadline(j.ctx, deadline)
	info, err := env.Registry.Channel(rctx, j.name, true)
	cancel()
	if err != nil {
		return err
	}
	shardID := info.ShardID
	j.shardID, j.replicas, j.lagging, j.started = shardID, info.Replicas, map[uint64]uint64{}, map[uint64]time.Time{}
	mine := info.ReplicaOn(env.NodeID)
	if mine == 0 {
		return fmt.Errorf("node %d holds no replica of channel %s", env.NodeID, j.name)
	}
	j.mine = mine
	if j.members, err = membersOf(env.Registry, j.name, info.Replicas); err != nil {
		return err
	}
	// The other replicas must run for the shard to elect a leader: Raft messages for a shard that is not
	// started on the receiving host are dropped.
	j.phases.mark("registry")
	if err := j.startRemoteReplicas(info); err != nil {
		return err
	}
	j.phases.mark("remote-replicas")
	if err := j.ctx.Err(); err != nil {
		return err
	}
	// The local replica may already run: started for an activation on another node that has since
	// died or moved. startReplica treats that as success. From here on this activation relies on it,
	// whichever activation started it last (see Env.stopReplica).
	env.setServing(shardID, j.self, true)
	j.serving = true
	for _, r := range info.Replicas {
		if r.NodeID == env.NodeID {
			if err := env.startReplica(j.ctx, j.root, startMsgFor(j.self, shardID, j.members, r)); err != nil {
				return err
			}
		}
	}
	j.phases.mark("local-replica")
	j.session = env.NodeHost.GetNoOPSession(shardID)
	// Wait for a leader on a node that is up: right after a failover this replica can still name the
	// dead leader until the election it is part of completes.
	if err := j.campaignUntilLed(mine, deadline); err != nil {
		return err
	}
	// The channel's settings, proposed on every activation (Configure is idempotent: the node's defaults
	// are the channel's settings, and a change of defaults reaches a channel this way; retention must be
	// applied identically on every replica, so settings are part of the replicated state). It also
	// advances the channel's clock over the time it spent cold (age retention, dedupe expiry), and its
	// answer is the channel's state once it applied: as current as a linearizable read, which it
	// replaces (right after a restart Dragonboat may still be replaying the log, and a stale LastSeq
	// would make "new" subscriptions start in the past). It comes before asking for the leadership
	// because it also proves a live leader: right after a failover the leader named above can be the
	// dead one (its node not yet seen down), and a transfer asked of it would wait in vain. Its first
	// attempts are short: a proposal the dead leader dropped is made again as soon as the new one may be
	// elected.
	j.phases.mark("leader")
	var res sm.Result
	settings := env.settings(j.name)
	cmd := store.EncodeCommand(nil, &store.Command{Op: store.OpConfigure, Time: j.nextTime(), Config: &settings})
	err = retryGrowing(j.ctx, deadline, firstSettingsAttempt, proposeAttempt, clockStretch(env, shardID), func(ctx context.Context) (err error) {
		res, err = env.NodeHost.SyncPropose(ctx, j.session, cmd)
		return err
	})
	if err != nil {
		leader, _, _, _ := env.NodeHost.GetLeaderID(shardID)
		return fmt.Errorf("propose channel settings (leader replica %d): %w", leader, err)
	}
	st, err := store.DecodeStateResult(res)
	if err != nil {
		return fmt.Errorf("channel settings: %w", err)
	}
	j.lastSeq, j.lastTime, j.epoch = st.LastSeq, max(j.lastTime, st.LastTime, st.Clock), st.Epoch
	j.free, j.settled = st.Free, time.Now()
	j.phases.mark("settings")
	j.leadHere(mine)
	j.phases.mark("lead-here")
	if leader, _, ok, err := env.NodeHost.GetLeaderID(shardID); err == nil && ok {
		j.leader = leader
	}
	return nil
}

// nextTime is the proposal timestamp: the wall clock, never going backwards within a channel.
func (j *activation) nextTime() int64 {
	j.lastTime = max(time.Now().UnixNano(), j.lastTime)
	return j.lastTime
}

// wait waits d or until the job is cancelled; false: cancelled.
func (j *activation) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-j.ctx.Done():
		return false
	}
}

// campaignUntilLed waits until the shard has a leader on a node that is up, carrying out what the
// election core decides at each look at the local replica (election.go).
func (j *activation) campaignUntilLed(mine uint64, deadline time.Time) error {
	env := j.env
	el := election{mine: mine, start: time.Now(), deadline: deadline, canCampaign: env.Campaign != nil, canProbe: env.Probe != nil}
	for _, r := range j.replicas {
		if r.ReplicaID == mine && r.Joining {
			el.canCampaign = false // a joining (non-voting) replica cannot be elected
		}
	}
	for {
		var obs leaderView
		leader, _, ok, err := env.NodeHost.GetLeaderID(j.shardID)
		obs.running = err == nil
		if err == nil && ok {
			obs.leader, obs.leaderNode, obs.leaderUp = leader, replicaNode(j.replicas, leader), replicaUp(env, j.replicas, leader)
		}
		switch step := el.step(time.Now(), obs); step {
		case electionLed:
			return nil
		case electionTimedOut:
			return errors.New("no raft leader before start timeout")
		case electionProbe:
			if !env.Probe(obs.leaderNode) {
				j.log.Debug().Uint64("leader_node", obs.leaderNode).Msg("the shard's leader does not answer; campaigning")
			}
		case electionCampaign:
			env.Campaign(j.shardID, mine)
			env.Metrics.Campaigns.Inc()
		case electionWait:
			if !j.wait(500 * time.Microsecond) {
				return j.ctx.Err()
			}
		}
	}
}

// leadHere moves the shard's leadership to this node, so proposals start where the leader is (a
// follower forwards each one: ~1 ms more per publish). It runs during activation, before any publish is
// proposed, because Raft drops the proposals in flight during a transfer. Best effort: after a short
// wait the channel serves from a follower (and its proposals wait for the transfer: pipeline.pull).
func (j *activation) leadHere(mine uint64) {
	nh := j.env.NodeHost
	leader, _, ok, err := nh.GetLeaderID(j.shardID)
	if err != nil || !ok || leader == mine {
		return
	}
	if nh.RequestLeaderTransfer(j.shardID, mine) != nil {
		return
	}
	j.pulledAt = time.Now()
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
		if leader, _, ok, err := nh.GetLeaderID(j.shardID); err == nil && ok && leader == mine {
			return
		}
		if !j.wait(2 * time.Millisecond) {
			return
		}
	}
}

// startRemoteReplicas asks every other replica node to start its replica and returns as soon as a quorum
// of replicas (this one included) runs: the shard can then elect a leader and commit. Nodes that have not
// answered by then are left to the replica check, which starts their replica when they answer
// (StartShard is idempotent).
func (j *activation) startRemoteReplicas(info *store.ChannelInfo) error {
	type answer struct {
		node uint64
		err  error
	}
	deadline := j.deadline
	quorum := len(info.Replicas)/2 + 1
	started := 1 // this node's replica, started by the caller
	answers := make(chan answer, len(info.Replicas))
	asked := 0
	for _, r := range info.Replicas {
		if r.NodeID == j.env.NodeID {
			continue
		}
		j.lagging[r.NodeID] = r.ReplicaID // until it answers
		// Asked even when believed down: a probe that flapped under load must not leave the shard
		// without a quorum (the answers are awaited in parallel, and only until a quorum runs).
		n, _ := j.env.Registry.Node(r.NodeID)
		// Never negative: a protoactor future with a negative timeout never times out.
		fut := j.root.RequestFuture(actor.NewPID(n.Actor, ShardsName), sc.WrapOrSelf(startMsgFor(j.self, j.shardID, j.members, r)),
			max(0, min(time.Until(deadline), remoteStartTimeout)))
		asked++
		go func(node uint64) {
			res, err := fut.Result()
			if err == nil {
				var v any
				if v, err = sc.Unwrap(res); err == nil {
					if st, ok := v.(*ShardStarted); !ok {
						err = fmt.Errorf("unexpected answer %T", v)
					} else if st.Err != "" {
						err = errors.New(st.Err)
					}
				}
			}
			answers <- answer{node, err}
		}(r.NodeID)
	}
	var firstErr error
	for ; asked > 0 && started < quorum; asked-- {
		var ans answer
		select {
		case ans = <-answers:
		case <-j.ctx.Done():
			return j.ctx.Err()
		}
		if ans.err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("start replica on node %d: %w", ans.node, ans.err)
			}
			j.log.Warn().Err(ans.err).Uint64("node", ans.node).Msg("replica not started")
			continue
		}
		delete(j.lagging, ans.node)
		j.started[ans.node] = time.Now()
		started++
	}
	if started < quorum {
		if firstErr == nil {
			firstErr = fmt.Errorf("only %d of %d replicas of %s could be started", started, len(info.Replicas), j.name)
		}
		return firstErr
	}
	return nil
}

// membersOf returns the initial members of a shard with these replicas: every replica but those joining
// (a joining replica learns the members from the leader), by Raft address.
func membersOf(reg Registry, channel string, replicas []store.Replica) (map[uint64]string, error) {
	members := map[uint64]string{}
	for _, r := range replicas {
		if r.Joining {
			continue
		}
		n, ok := reg.Node(r.NodeID)
		if !ok {
			return nil, fmt.Errorf("replica node %d of channel %s is not registered", r.NodeID, channel)
		}
		members[r.ReplicaID] = n.Raft
	}
	return members, nil
}

// startMsgFor asks for replica r of shard to be started on its node on behalf of activation self.
func startMsgFor(self *actor.PID, shard uint64, members map[uint64]string, r store.Replica) *StartShard {
	m := &StartShard{ShardID: shard, ReplicaID: r.ReplicaID, Starter: self.String(), Owner: self, Join: r.Joining}
	if !r.Joining {
		m.Members = members
	}
	return m
}

// replicaNode returns the node holding replica id (0: not a known replica).
func replicaNode(replicas []store.Replica, replica uint64) uint64 {
	for _, r := range replicas {
		if r.ReplicaID == replica {
			return r.NodeID
		}
	}
	return 0
}

// replicaUp reports whether the node holding replica id is believed alive.
func replicaUp(env *Env, replicas []store.Replica, replica uint64) bool {
	for _, r := range replicas {
		if r.ReplicaID == replica {
			return r.NodeID == env.NodeID || env.Up == nil || env.Up(r.NodeID)
		}
	}
	return false
}
