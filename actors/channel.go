package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/client"
	"github.com/lni/dragonboat/v4/config"
	"github.com/rs/zerolog"

	sc "github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/internal/metrics"
	"github.com/sampan-io/sampan/protocol"
	"github.com/sampan-io/sampan/store"
)

// Kind is the cluster kind name of channel actors.
const Kind = "channel"

// Registry is the channel registry and node directory: the metadata Raft group (cluster.Meta).
type Registry interface {
	// Channel returns the channel's shard and replicas, registering the channel if create is set.
	Channel(ctx context.Context, name string, create bool) (*store.ChannelInfo, error)
	// Node returns a node's addresses.
	Node(id uint64) (store.NodeInfo, bool)
}

// Env is what channel actors on a node share.
type Env struct {
	NodeHost *dragonboat.NodeHost
	Registry Registry
	DB       *store.DB
	NodeID   uint64
	// ShardConfig returns the Raft config of a channel shard replica.
	ShardConfig func(shardID, replicaID uint64) config.Config
	// Defaults are the settings every channel gets (proposed when a channel's stored settings differ).
	Defaults store.ChannelConfig
	// IdleTimeout passivates a channel actor after this long without messages.
	IdleTimeout time.Duration
	// ProposalTimeout bounds one proposal; past it the publish is answered CodeTimeout (outcome unknown).
	ProposalTimeout time.Duration
	// StartTimeout bounds activation (shard start + leader election).
	StartTimeout time.Duration
	// Gateways lists the gateway PIDs to announce activations to.
	Gateways func() []*actor.PID
	// Up reports whether a node is believed alive; nil: all are.
	Up func(node uint64) bool
	// UpSince, when set, returns when a node was last seen coming up (zero while down or unknown). A
	// replica node that came back after its replica was started lost that replica (a restarted node
	// starts none by itself), even if no replica check caught it down in between: nil disables that.
	UpSince func(node uint64) time.Time
	// Preferred, when set, names the node that should run the channel's actor (placement). An actor that
	// finds it is not on that node (e.g. the preferred node came back after a failover) hands off: it
	// passivates once idle of proposals, and the next request activates the channel there (at once if
	// gateways are registered with it, so that their subscriptions follow). This keeps one activation
	// per channel and spreads actors and leaders back after failures.
	Preferred func(channel string, replicas []store.Replica) uint64
	// Leaders, when set, tells channel actors of their shard's leader changes (it must be the NodeHost's
	// RaftEventListener).
	Leaders *LeaderEvents
	// HostStarted is when the NodeHost started (its Raft tick clock started), and Tick its RTT; see
	// proposeTimeout. Zero HostStarted: proposals always carry ProposalTimeout.
	HostStarted time.Time
	Tick        time.Duration
	// Probe, when set, checks now whether a node answers (a connection to its actor address), and marks
	// it down in Up when it does not. An activation probes the node of the leader its replica names:
	// after a failover it is often the dead node, which this node's periodic probes have not caught yet.
	Probe func(node uint64) bool
	// Campaign, when set, makes this node's replica of a shard start an election now (cluster.Elector):
	// an activation uses it instead of waiting for Raft's election timer when its replica knows no live
	// leader (see campaignUntilLed).
	Campaign func(shardID, replicaID uint64) bool
	// Mover, when set, lets channel actors move replicas off draining nodes (MoveReplica).
	Mover   Mover
	Metrics *metrics.Metrics
	Log     zerolog.Logger
	// MaxActive bounds the channel shard replicas resident on this node, whether their channel's actor
	// runs here or on another node; 0: no bound.
	MaxActive int

	active    sync.WaitGroup // activations not yet stopped
	residents residents

	startersMu sync.Mutex
	starters   map[uint64]string // shard -> activation that last started this node's replica
	// serving: shard -> the activation on this node that proposes and reads through this node's
	// replica (from its start until it stops). Its replica is never unloaded for another activation.
	serving map[uint64]string
	// startTimes: shard -> when this node last started its replica (proposeTimeout).
	startTimes map[uint64]time.Time

	hotMu sync.Mutex
	hot   map[string]int // channel -> ready activations on this node (two can overlap briefly)
}

// Hot reports whether the channel's actor is active (ready) on this node.
func (e *Env) Hot(channel string) bool {
	e.hotMu.Lock()
	defer e.hotMu.Unlock()
	return e.hot[channel] > 0
}

func (e *Env) setHot(channel string, delta int) {
	e.hotMu.Lock()
	defer e.hotMu.Unlock()
	if e.hot == nil {
		e.hot = map[string]int{}
	}
	if e.hot[channel] += delta; e.hot[channel] <= 0 {
		delete(e.hot, channel)
	}
}

// Wait waits until every channel actor has stopped (after the actor system stopped them), or ctx ends.
// The NodeHost and the store must outlive the actors using them.
func (e *Env) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { e.active.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Env) withDefaults() {
	e.residents.max = e.MaxActive
	if e.Metrics != nil {
		e.residents.gauge = e.Metrics.Resident
	}
	if e.IdleTimeout == 0 {
		e.IdleTimeout = 5 * time.Minute
	}
	if e.ProposalTimeout == 0 {
		e.ProposalTimeout = 10 * time.Second
	}
	if e.StartTimeout == 0 {
		// An activation that cannot get a working shard within this fails, and the next request tries
		// afresh (a second attempt after a stalled one has been seen to succeed at once).
		e.StartTimeout = 10 * time.Second
	}
}

// NewKind returns the channel actor kind bound to env.
func NewKind(env *Env) *pcluster.Kind {
	env.withDefaults()
	props := actor.PropsFromProducer(func() actor.Actor { return &channelActor{env: env} },
		actor.WithReceiverMiddleware(sc.UnwrapMiddleware))
	return pcluster.NewKind(Kind, props)
}

type proposal struct {
	msg       *Publish
	orig      *Publish          // as received, when oversize items were taken out of msg
	rejected  []*protocol.Error // per item of orig: why it was refused before proposing (nil: proposed)
	start     time.Time
	abandoned bool   // answered "outcome unknown" without waiting for Dragonboat (leader lost, or expired)
	expires   bool   // proposed with a longer timeout than ProposalTimeout: the actor expires it (proposeTimeout)
	expired   bool   // answered "timed out" by the actor at ProposalTimeout
	time      int64  // the proposal timestamp, which the state machine gives every message of the entry
	cmd       []byte // encoded command, kept until answered (a dropped proposal is proposed again)
	done      chan struct{}
	res       dragonboat.RequestResult
	err       error // set when Propose itself failed
}

type proposalDone struct{}

type channelActor struct {
	env          *Env
	cluster      *pcluster.Cluster
	name         string
	shardID      uint64
	session      *client.Session
	ready        bool
	shardStarted bool // this activation started the shard and must stop it
	counted      bool // counted in env.active
	startErr     *protocol.Error

	lastActive      time.Time     // last use (inUse)
	activity        *atomic.Int64 // the shard's activity clock on this node (store.DB.Activity), for the resident bound
	leaderChangedAt time.Time
	knownLeader     uint64
	idleAfter       time.Duration // passivate after this long without messages

	replicas   []store.Replica
	members    map[uint64]string    // replica id -> Raft address
	lagging    map[uint64]uint64    // node -> replica id: replicas not started (node was down)
	started    map[uint64]time.Time // node -> when its replica was last known started by this activation
	checks     int                  // replica checks so far
	announced  map[string]bool      // gateways told of this activation (Activated), by PID
	checkArmed bool
	// pullingUntil: a leadership transfer to replica pullTarget was asked for; proposals wait until it
	// completes or this passes (see requestLeadership).
	pullingUntil time.Time
	pullTarget   uint64
	pinnedUntil  time.Time // an operator moved the leadership: leave it there until then
	redoing      bool      // the oldest proposal was dropped: new ones wait (see redoDropped)
	handingOff   bool      // stopping for the preferred node once in-flight proposals are answered
	moving       bool      // a replica move runs (no passivation or hand-off meanwhile)
	movingSince  time.Time
	phases       phases

	lastSeq  uint64
	lastTime int64
	queue    []*proposal           // proposed (or answered without proposing), in order
	blocked  []*proposal           // not yet accepted by Dragonboat (busy), in order, after everything in queue
	gateways map[string]*actor.PID // by PID key
	log      zerolog.Logger
}

func (a *channelActor) Receive(ctx actor.Context) {
	defer func() {
		// protoactor's default supervision would restart the actor with its state wiped (answers lost,
		// its shard still loaded); stop it instead: shutdown answers what it accepted and stops the shard.
		if r := recover(); r != nil {
			a.env.Log.Error().Str("channel", a.name).Interface("panic", r).Type("message", ctx.Message()).Msg("channel actor failed; stopping it")
			ctx.Stop(ctx.Self())
		}
	}()
	msg := ctx.Message()
	if a.inUse(msg) {
		a.lastActive = time.Now()
		if a.activity != nil {
			a.activity.Store(a.lastActive.UnixNano())
		}
	}
	switch m := msg.(type) {
	case *pcluster.ClusterInit:
		a.env.active.Add(1)
		a.counted = true
		a.cluster = m.Cluster
		a.activate(ctx, m.Identity.Identity)
	case *actor.Stopped:
		if a.counted {
			a.counted = false
			a.env.active.Done()
		}
	case *Publish:
		a.publish(ctx, m)
	case *proposalDone:
		a.complete(ctx, false)
	case *retryBlocked:
		a.retryBlocked(ctx)
	case *Register:
		a.register(ctx, m)
	case *Unregister:
		if a.gateways != nil {
			delete(a.gateways, m.Gateway.String())
		}
	case *Resolve:
		sc.Respond(ctx, a.resolve(m))
	case *Fetch:
		sc.Respond(ctx, a.fetch(m))
	case *actor.Terminated:
		delete(a.gateways, m.Who.String())
	case *idleCheck:
		a.idle(ctx)
	case *Evict:
		if a.ready && !a.moving && len(a.queue) == 0 && len(a.blocked) == 0 {
			a.log.Debug().Msg("channel passivating: too many active channels on this node")
			ctx.Stop(ctx.Self())
		}
	case *replicaCheck:
		a.checkReplicas(ctx)
	case *leaderChanged:
		a.onLeaderChanged(ctx, m)
	case *abandonCheck:
		a.abandonStale(ctx)
	case *expireCheck:
		a.expire(ctx)
	case *ShardStarted:
		a.onShardStarted(m)
	case *MoveReplica:
		a.move(ctx, m)
	case *TransferLeader:
		a.transferLeader(ctx, m)
	case *moveDone:
		a.onMoveDone(ctx, m)
	case *actor.Stopping:
		a.shutdown(ctx)
	}
}

func (a *channelActor) activate(ctx actor.Context, name string) {
	a.name = name
	a.gateways = map[string]*actor.PID{}
	a.log = a.env.Log.With().Str("channel", name).Logger()
	start := time.Now()
	if err := protocol.ValidateChannel(name); err != nil {
		a.startErr = asProtoErr(err)
		a.stopSoon(ctx)
		return
	}
	if err := a.startShard(ctx); err != nil {
		a.log.Error().Err(err).Msg("channel activation failed")
		a.env.setServing(a.shardID, ctx.Self(), false)
		a.stopRemoteReplicas(ctx)
		a.startErr = protocol.NewError(protocol.CodeUnavailable, "channel %s unavailable: %v", name, err)
		a.stopSoon(ctx)
		return
	}
	a.ready, a.shardStarted = true, true
	a.env.setHot(name, 1)
	a.env.Metrics.Activations.Inc()
	a.env.Metrics.ActiveChannels.Inc()
	a.env.Metrics.ActivationTime.Observe(time.Since(start).Seconds())
	ev := a.log.Debug()
	if time.Since(start) > time.Second {
		ev = a.log.Info() // slow: say where the time went
	}
	ev.Uint64("shard", a.shardID).Dur("took", time.Since(start)).Str("phases", a.phases.String()).Uint64("last_seq", a.lastSeq).Msg("channel activated")
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

// inUse tells whether msg is a use of the channel by clients, which keeps it active (idle timeout) and
// resident (the node's bound): publishes, subscribers fetching or resolving, a gateway's first
// interest. Not the actor's own timers and bookkeeping, nor a gateway confirming its registration
// every second, nor replicas answering the periodic restart: those arrive whether or not anyone uses
// the channel, and counting them kept every channel with a subscriber (and, in a cluster, every
// channel) active forever.
func (a *channelActor) inUse(msg any) bool {
	switch m := msg.(type) {
	case *Publish, *Fetch, *Resolve, *TransferLeader:
		return true
	case *Register:
		_, known := a.gateways[m.Gateway.String()]
		return !known
	}
	return false
}

// Attempt timeouts of activation's read and proposals (see retryTemp). A read on a healthy shard takes
// a few milliseconds; a proposal can wait behind a busy LogDB fsync, so it gets longer.
const (
	readAttempt      = 300 * time.Millisecond
	firstReadAttempt = 100 * time.Millisecond
	proposeAttempt   = time.Second
	// A transfer to this node that did not finish in leadHere's wait can drop the first proposal.
	firstProposeAttempt = 200 * time.Millisecond
)

type abandonCheck struct{}

// abandonAfter is how long proposals made before a leader change may stay pending before they are
// answered "outcome unknown": Dragonboat loses proposals forwarded to a leader that died and would only
// time them out after ProposalTimeout, holding every later ack of the channel behind them.
const abandonAfter = 250 * time.Millisecond

func (a *channelActor) onLeaderChanged(ctx actor.Context, m *leaderChanged) {
	// Only a move to another leader strands forwarded proposals; "no leader" (an election running) and
	// the same leader again in a new term do not by themselves.
	if m.leader == 0 || m.leader == a.knownLeader {
		return
	}
	a.knownLeader = m.leader
	a.leaderChangedAt = time.Now()
	if len(a.queue) > 0 {
		self, root := ctx.Self(), ctx.ActorSystem().Root
		time.AfterFunc(abandonAfter, func() { root.Send(self, &abandonCheck{}) })
	}
}

// abandonStale answers (timeout, outcome unknown) the proposals at the head of the queue that were made
// before the last leader change and are still pending after abandonAfter. If one did commit, its seq
// simply is not delivered live: subscribers read it from the store when they see the gap.
func (a *channelActor) abandonStale(ctx actor.Context) {
	changed := a.leaderChangedAt
	if time.Since(changed) < abandonAfter {
		return // a later change re-armed the check
	}
	for _, p := range a.queue {
		if !p.start.Before(changed) {
			break
		}
		select {
		case <-p.done:
		default:
			p.abandoned = true
		}
	}
	a.complete(ctx, false)
}

// campaignUntilLed waits until the shard has a leader on a node that is up, carrying out what
// electionStep decides at each look at the local replica (see there).
func (a *channelActor) campaignUntilLed(mine uint64, deadline time.Time) error {
	el := election{mine: mine, start: time.Now(), deadline: deadline, canCampaign: a.env.Campaign != nil, canProbe: a.env.Probe != nil}
	for _, r := range a.replicas {
		if r.ReplicaID == mine && r.Joining {
			el.canCampaign = false // a joining (non-voting) replica cannot be elected
		}
	}
	for {
		var obs leaderView
		leader, _, ok, err := a.env.NodeHost.GetLeaderID(a.shardID)
		obs.running = err == nil
		if err == nil && ok {
			obs.leader, obs.leaderNode, obs.leaderUp = leader, a.replicaNode(leader), a.replicaUp(leader)
		}
		switch step := el.step(time.Now(), obs); step {
		case electionLed:
			return nil
		case electionTimedOut:
			return errors.New("no raft leader before start timeout")
		case electionProbe:
			if !a.env.Probe(obs.leaderNode) {
				a.log.Debug().Uint64("leader_node", obs.leaderNode).Msg("the shard's leader does not answer; campaigning")
			}
		case electionCampaign:
			a.env.Campaign(a.shardID, mine)
			a.env.Metrics.Campaigns.Inc()
		case electionWait:
			time.Sleep(500 * time.Microsecond)
		}
	}
}

// leadHere moves the shard's leadership to this node, so proposals start where the leader is (a
// follower forwards each one: ~1 ms more per publish). It runs during activation, before any publish is
// proposed, because Raft drops the proposals in flight during a transfer. Best effort: after a short
// wait the channel serves from a follower.
func (a *channelActor) leadHere(mine uint64) {
	nh := a.env.NodeHost
	leader, _, ok, err := nh.GetLeaderID(a.shardID)
	if err != nil || !ok || leader == mine {
		return
	}
	a.requestLeadership(mine)
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if leader, _, ok, err := nh.GetLeaderID(a.shardID); err == nil && ok && leader == mine {
			return
		}
	}
}

// pullHold bounds how long proposals wait for a leadership transfer this activation asked for. Dragonboat
// aborts a transfer after an election timeout (20 ticks); the rest is slack for a loaded machine.
const pullHold = 500 * time.Millisecond

// requestLeadership asks for the shard's leadership to move to replica (this node's, or another for an
// operator's transfer), and holds new proposals until it has (or pullHold passed): while the leader
// transfers it drops proposals, and one forwarded from a follower is dropped without an answer, so its
// publish would hang for the whole ProposalTimeout if the transfer is then aborted. Proposals made
// before the request are safe: they travel to the leader ahead of the request on the same connection.
func (a *channelActor) requestLeadership(replica uint64) {
	if err := a.env.NodeHost.RequestLeaderTransfer(a.shardID, replica); err == nil {
		a.pullTarget, a.pullingUntil = replica, time.Now().Add(pullHold)
	}
}

// holdForLeadership reports whether a proposal should wait for the leadership transfer in flight.
func (a *channelActor) holdForLeadership() bool {
	if a.pullingUntil.IsZero() {
		return false
	}
	if time.Now().Before(a.pullingUntil) {
		if leader, _, ok, err := a.env.NodeHost.GetLeaderID(a.shardID); err != nil || !ok || leader != a.pullTarget {
			return true
		}
	}
	a.pullingUntil = time.Time{}
	return false
}

// TransferLeader asks a channel's actor to move the shard's leadership to node To's replica (an
// operator's request). The actor asks Raft and holds new proposals meanwhile, then leaves the leadership
// there for transferPin before it pulls it back to its own node again. Answered with LeaderTransferred
// once asked; the caller watches the leader.
type TransferLeader struct {
	Channel string
	To      uint64
}

// LeaderTransferred answers TransferLeader: Leader is the node leading the shard when asked (To once
// the transfer is done); Err is set when the transfer cannot be made.
type LeaderTransferred struct {
	Channel string
	Leader  uint64
	Err     string
}

// transferPin is how long an operator's leadership transfer is left alone by pullLeadership.
const transferPin = time.Minute

func (a *channelActor) transferLeader(ctx actor.Context, m *TransferLeader) {
	res := &LeaderTransferred{Channel: a.name}
	switch replica := store.ReplicaOn(a.replicas, m.To); {
	case !a.ready:
		res.Err = a.unavailable().Error()
	case replica == 0:
		res.Err = fmt.Sprintf("node %d holds no replica of %s", m.To, a.name)
	default:
		if m.To != a.env.NodeID {
			a.pinnedUntil = time.Now().Add(transferPin)
		} else {
			a.pinnedUntil = time.Time{}
		}
		leader, _, ok, err := a.env.NodeHost.GetLeaderID(a.shardID)
		if err == nil && ok {
			for _, r := range a.replicas {
				if r.ReplicaID == leader {
					res.Leader = r.NodeID
				}
			}
		}
		if res.Leader != m.To && (a.pullingUntil.IsZero() || a.pullTarget != replica) {
			a.requestLeadership(replica)
		}
	}
	sc.Respond(ctx, res)
}

// stopSoon keeps a failed activation around briefly so queued requests get a clear error instead of
// triggering an activation storm, then stops so a later request retries.
func (a *channelActor) stopSoon(ctx actor.Context) {
	a.idleAfter = time.Second
	a.armIdle(ctx, a.idleAfter)
}

// idleCheck drives passivation. protoactor's SetReceiveTimeout is not used: its timer callback and the
// mailbox goroutine write the same timer field without synchronisation (a data race the race detector
// reports, and a possible nil dereference), so the actor keeps its own clock and a plain timer that
// only sends it a message.
type idleCheck struct{}

func (a *channelActor) armIdle(ctx actor.Context, d time.Duration) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(d, func() { root.Send(self, &idleCheck{}) })
}

// startShard starts (or reopens) the channel's shard replicas, here and on the other replica nodes, and
// waits until the shard has a leader.
func (a *channelActor) startShard(ctx actor.Context) error {
	env := a.env
	a.phases.start = time.Now()
	deadline := time.Now().Add(env.StartTimeout)
	rctx, cancel := context.WithDeadline(context.Background(), deadline)
	info, err := env.Registry.Channel(rctx, a.name, true)
	cancel()
	if err != nil {
		return err
	}
	shardID := info.ShardID
	a.shardID, a.replicas, a.lagging, a.started = shardID, info.Replicas, map[uint64]uint64{}, map[uint64]time.Time{}
	mine := info.ReplicaOn(env.NodeID)
	if mine == 0 {
		return fmt.Errorf("node %d holds no replica of channel %s", env.NodeID, a.name)
	}
	if err := a.setMembers(info.Replicas); err != nil {
		return err
	}
	// The other replicas must run for the shard to elect a leader: Raft messages for a shard that is not
	// started on the receiving host are dropped.
	a.phases.mark("registry")
	if err := a.startRemoteReplicas(ctx, info, deadline); err != nil {
		return err
	}
	a.phases.mark("remote-replicas")
	// The local replica may already run: started for an activation on another node that has since
	// died or moved. startReplica treats that as success. From here on this activation relies on it,
	// whichever activation started it last (see Env.stopReplica).
	env.setServing(shardID, ctx.Self(), true)
	for _, r := range info.Replicas {
		if r.NodeID == env.NodeID {
			if err := env.startReplica(ctx, a.startMsg(ctx, r)); err != nil {
				return err
			}
		}
	}
	a.phases.mark("local-replica")
	a.session = env.NodeHost.GetNoOPSession(shardID)
	// Wait for a leader on a node that is up: right after a failover this replica can still name the
	// dead leader until the election it is part of completes.
	if err := a.campaignUntilLed(mine, deadline); err != nil {
		env.stopReplica(shardID, ctx.Self().String())
		return err
	}
	// A linearizable read: right after a restart Dragonboat may still be replaying the log, and a stale
	// LastSeq would make "new" subscriptions start in the past. It comes before asking for the
	// leadership because it also proves a live leader: right after a failover the leader named above
	// can be the dead one (its node not yet seen down), and a transfer asked of it waited in vain
	// (300 ms) before the read waited for the election anyway. Its first attempts are short: a read
	// the dead leader dropped is retried as soon as the new one may be elected.
	a.phases.mark("leader")
	var v any
	err = retryGrowing(deadline, firstReadAttempt, readAttempt, a.clockStretch(), func(ctx context.Context) (err error) {
		v, err = env.NodeHost.SyncRead(ctx, shardID, &store.StateQuery{})
		return err
	})
	if err != nil {
		env.stopReplica(shardID, ctx.Self().String())
		leader, _, _, _ := env.NodeHost.GetLeaderID(shardID)
		return fmt.Errorf("read the channel state (leader replica %d): %w", leader, err)
	}
	a.phases.mark("read")
	a.leadHere(mine)
	a.phases.mark("lead-here")
	if leader, _, ok, err := env.NodeHost.GetLeaderID(shardID); err == nil && ok {
		a.knownLeader = leader
	}
	st := v.(store.ChannelState)
	a.lastSeq, a.lastTime = st.LastSeq, max(st.LastTime, st.Clock)
	var cmds []*store.Command
	if !st.Configured || st.Config != env.Defaults {
		// Settings are part of the replicated state (retention must be applied identically on every
		// replica), so a change of defaults reaches a channel as a proposal.
		cmds = append(cmds, &store.Command{Op: store.OpConfigure, Time: a.nextTime(), Config: &env.Defaults})
	}
	if len(cmds) == 0 && (env.Defaults.MaxAge > 0 || env.Defaults.DedupeWindow > 0) {
		// Age retention and dedupe expiry advance only with proposal time: catch up on the time the
		// channel spent cold (a Configure advances it too).
		cmds = append(cmds, &store.Command{Op: store.OpTick, Time: a.nextTime()})
	}
	for _, c := range cmds {
		// Configure and Tick are idempotent: a proposal that timed out (dropped during a leader
		// transfer) is simply made again.
		err := retryGrowing(time.Now().Add(env.ProposalTimeout), firstProposeAttempt, proposeAttempt, a.clockStretch(), func(ctx context.Context) error {
			_, err := env.NodeHost.SyncPropose(ctx, a.session, store.EncodeCommand(nil, c))
			return err
		})
		if err != nil {
			env.stopReplica(shardID, ctx.Self().String())
			return fmt.Errorf("propose channel settings: %w", err)
		}
	}
	a.phases.mark("settings")
	return nil
}

// setMembers records the replicas and the initial members of the shard: every replica but those joining
// (a joining replica learns the members from the leader).
func (a *channelActor) setMembers(replicas []store.Replica) error {
	members := map[uint64]string{}
	for _, r := range replicas {
		if r.Joining {
			continue
		}
		n, ok := a.env.Registry.Node(r.NodeID)
		if !ok {
			return fmt.Errorf("replica node %d of channel %s is not registered", r.NodeID, a.name)
		}
		members[r.ReplicaID] = n.Raft
	}
	a.replicas, a.members = replicas, members
	return nil
}

// announce tells every live node's gateway not told yet that this activation serves the channel, so
// that gateways whose sessions subscribe to it register. Called at activation and at every replica
// check: a node that was down (or looked down) when the channel activated is told once it is back.
// Without that its gateway waits for an Activated that never comes and its subscribers stall until
// they reconnect.
//
// With again every live gateway is told, even those told before: a gateway that has registered since
// with a second activation of the channel (placement differed during a fault) is left waiting for an
// Activated when that one stops, while this one serves on; an Activated can also be lost (at-most-once
// between nodes). A gateway already registered here just registers again.
func (a *channelActor) announce(ctx actor.Context, again bool) {
	live := map[string]bool{}
	if a.announced == nil {
		a.announced = map[string]bool{}
	}
	for _, gw := range a.env.Gateways() {
		k := gw.String()
		live[k] = true
		if again || !a.announced[k] {
			if !a.announced[k] {
				a.log.Debug().Str("gateway", k).Msg("announcing the activation")
			}
			a.announced[k] = true
			sc.Send(ctx, gw, &Activated{Channel: a.name, Actor: ctx.Self()})
		}
	}
	for k := range a.announced {
		if !live[k] {
			delete(a.announced, k) // down now: told again when it is back
		}
	}
}

// startMsg asks for replica r to be started on its node on behalf of this activation.
func (a *channelActor) startMsg(ctx actor.Context, r store.Replica) *StartShard {
	m := &StartShard{ShardID: a.shardID, ReplicaID: r.ReplicaID, Starter: ctx.Self().String(), Owner: ctx.Self(), Join: r.Joining}
	if !r.Joining {
		m.Members = a.members
	}
	return m
}

func (a *channelActor) state() (store.ChannelState, error) {
	v, err := a.env.NodeHost.StaleRead(a.shardID, &store.StateQuery{})
	if err != nil {
		return store.ChannelState{}, err
	}
	return v.(store.ChannelState), nil
}

// replicaNode returns the node holding replica id (0: not a known replica).
func (a *channelActor) replicaNode(replica uint64) uint64 {
	for _, r := range a.replicas {
		if r.ReplicaID == replica {
			return r.NodeID
		}
	}
	return 0
}

// replicaUp reports whether the node holding replica id is believed alive.
func (a *channelActor) replicaUp(replica uint64) bool {
	for _, r := range a.replicas {
		if r.ReplicaID == replica {
			return r.NodeID == a.env.NodeID || a.env.Up == nil || a.env.Up(r.NodeID)
		}
	}
	return false
}

// nextTime is the proposal timestamp: the wall clock, never going backwards within a channel.
func (a *channelActor) nextTime() int64 {
	now := time.Now().UnixNano()
	if now < a.lastTime {
		now = a.lastTime
	}
	a.lastTime = now
	return now
}

func (a *channelActor) publish(ctx actor.Context, m *Publish) {
	if !a.ready {
		a.failBatch(ctx, m, a.unavailable())
		return
	}
	p := &proposal{msg: m, start: time.Now(), done: make(chan struct{})}
	if limit := a.env.Defaults.MaxBytes; limit > 0 {
		// A message larger than the channel's byte limit would get a seq and be deleted at once, with
		// everything older: refuse it instead.
		p.msg, p.rejected = splitOversize(m, limit)
		if p.rejected != nil {
			p.orig = m
		}
		m = p.msg
	}
	if len(m.Items) == 0 {
		// Nothing to propose; answered in turn so answers for a channel keep their order.
		close(p.done)
		a.queue = append(a.queue, p)
		a.complete(ctx, false)
		return
	}
	p.time = a.nextTime()
	p.cmd = store.EncodeCommand(nil, &store.Command{Op: store.OpPublish, Time: p.time, Msgs: m.Items})
	if len(a.blocked) > 0 || !a.propose(ctx, p) {
		a.block(ctx, p)
	}
}

// propose hands p to Dragonboat. It returns false, leaving p untouched, when Dragonboat is temporarily
// too busy (its proposal queue is paused while the LogDB catches up): the caller retries it shortly
// rather than failing a publish that only met back-pressure.
func (a *channelActor) propose(ctx actor.Context, p *proposal) bool {
	if a.handingOff || (time.Since(p.start) < a.env.ProposalTimeout && (a.redoing || a.holdForLeadership())) {
		return false
	}
	timeout, expires := a.proposeTimeout(a.env.ProposalTimeout)
	rs, err := a.env.NodeHost.Propose(a.session, p.cmd, timeout)
	if err != nil && dragonboat.IsTempError(err) && time.Since(p.start) < a.env.ProposalTimeout {
		return false
	}
	if err == nil && expires {
		p.expires = true
		a.armExpire(ctx)
	}
	a.queue = append(a.queue, p)
	if err != nil {
		p.cmd = nil
		p.err = err
		close(p.done)
		a.complete(ctx, false)
		if errors.Is(err, dragonboat.ErrShardNotFound) {
			// This node's replica is gone (moved away, or unloaded under us): this activation can never
			// propose again. Stop, so the next publish activates the channel where a replica runs.
			a.log.Warn().Msg("channel's replica no longer runs on this node; stopping the activation")
			ctx.Stop(ctx.Self())
		}
		return true
	}
	a.await(ctx, p, rs)
	return true
}

// tickGuard is how long after this node started its replica of a shard a proposal may meet the
// replica's proposal clock not yet set (see proposeTimeout): a few ticks, with room for a loaded machine.
const tickGuard = time.Second

// proposeTimeout returns the timeout to give Dragonboat for a proposal that should time out after
// want, and whether the actor must expire it itself. Dragonboat times proposals on a per-replica clock
// that a new replica starts at 0 and that jumps to the NodeHost's tick count (ticks since the NodeHost
// started) at the replica's first tick: a proposal made before that gets a deadline of want in ticks
// from 0 and is answered "timed out" at the first tick, though it was queued and may well commit. With
// activations no longer waiting for an election, the first publish often comes before that tick
// (measured: 1-3 wakes in 100 answered "timed out" within ~10 ms). So a proposal made soon after this
// node started the replica gets a timeout longer than the NodeHost's uptime, which no clock jump can
// reach, and the actor answers it "timed out" itself at want (expireCheck), as Dragonboat would have.
func (a *channelActor) proposeTimeout(want time.Duration) (time.Duration, bool) {
	if a.env.HostStarted.IsZero() || time.Since(a.env.startedAt(a.shardID)) > tickGuard {
		return want, false
	}
	return want + time.Since(a.env.HostStarted) + 2*a.env.Tick, true
}

// clockStretch is how much longer than wanted a read or proposal made now must tell Dragonboat it may
// take, for the same reason as proposeTimeout (its caller then cancels it at the wanted time).
func (a *channelActor) clockStretch() time.Duration {
	t, _ := a.proposeTimeout(0)
	return t
}

type expireCheck struct{}

func (a *channelActor) armExpire(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(a.env.ProposalTimeout+time.Millisecond, func() { root.Send(self, &expireCheck{}) })
}

// expire answers "timed out" the proposals proposeTimeout left to the actor that are pending past
// ProposalTimeout.
func (a *channelActor) expire(ctx actor.Context) {
	for _, p := range a.queue {
		if !p.expires || p.abandoned || time.Since(p.start) < a.env.ProposalTimeout {
			continue
		}
		select {
		case <-p.done:
		default:
			p.abandoned, p.expired = true, true
		}
	}
	a.complete(ctx, false)
}

// await waits for rs beside the actor and tells it when p is done.
func (a *channelActor) await(ctx actor.Context, p *proposal, rs *dragonboat.RequestState) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	go func() {
		p.res = <-rs.ResultC()
		rs.Release()
		close(p.done)
		root.Send(self, &proposalDone{})
	}()
}

// Proposals Dragonboat reports dropped (a leader drops proposals while it transfers leadership, a
// follower while it knows no leader) were never appended: proposing them again cannot store anything
// twice. But a proposal after a dropped one may have gone through, and proposing the dropped one again
// would then store it after a later publish of the same connection, breaking publish order. So when
// the oldest unanswered proposal was dropped, the actor holds new proposals and waits until every
// later one is answered: if all of them were dropped too (the usual case: a transfer drops everything
// in flight), all are proposed again, in order; if any of them went through (or its outcome is
// unknown), the dropped one is answered "unavailable; retry" and the client's retry comes after.
// Found by the bench (16 publishers): a dropped proposal was answered before its own notice arrived.
//
// redoDropped reports whether the oldest proposal is pending again (proposed again, or waiting for the
// later ones to be answered) rather than to be answered now.
func (a *channelActor) redoDropped(ctx actor.Context) (pending bool) {
	p := a.queue[0]
	if p.abandoned || p.err != nil || p.cmd == nil || !p.res.Dropped() || time.Since(p.start) >= a.env.ProposalTimeout {
		return false
	}
	for _, q := range a.queue[1:] {
		if q.abandoned {
			return false // outcome unknown: it may have been stored
		}
		select {
		case <-q.done:
		default:
			a.redoing = true // hold new proposals meanwhile (propose)
			return true
		}
		if q.err == nil && len(q.msg.Items) > 0 && !q.res.Dropped() {
			return false
		}
	}
	a.redoing = false
	for _, q := range a.queue {
		if q.err != nil || q.cmd == nil || len(q.msg.Items) == 0 {
			continue
		}
		timeout, expires := a.proposeTimeout(max(a.env.ProposalTimeout-time.Since(q.start), time.Millisecond))
		rs, err := a.env.NodeHost.Propose(a.session, q.cmd, timeout)
		if err != nil {
			q.err = err
			continue
		}
		if expires {
			q.expires = true
			a.armExpire(ctx)
		}
		a.env.Metrics.Reproposed.Inc()
		q.done = make(chan struct{})
		a.await(ctx, q, rs)
	}
	return true
}

type retryBlocked struct{}

// block queues p behind the proposals waiting for Dragonboat to accept them (order is kept: nothing is
// proposed while older ones wait).
func (a *channelActor) block(ctx actor.Context, p *proposal) {
	a.blocked = append(a.blocked, p)
	if len(a.blocked) == 1 {
		a.armRetry(ctx)
	}
}

func (a *channelActor) armRetry(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(2*time.Millisecond, func() { root.Send(self, &retryBlocked{}) })
}

func (a *channelActor) retryBlocked(ctx actor.Context) {
	for len(a.blocked) > 0 {
		if !a.propose(ctx, a.blocked[0]) {
			a.armRetry(ctx)
			return
		}
		a.blocked[0] = nil
		a.blocked = a.blocked[1:]
	}
	a.blocked = nil
}

// complete answers finished proposals at the head of the queue, in order. With wait it blocks until
// every proposal has finished (shutdown).
func (a *channelActor) complete(ctx actor.Context, wait bool) {
	var deliver []store.Message
	for len(a.queue) > 0 {
		p := a.queue[0]
		if wait && !p.abandoned {
			<-p.done
		} else if !p.abandoned {
			select {
			case <-p.done:
			default:
				goto out
			}
			if a.redoDropped(ctx) {
				goto out
			}
		}
		a.redoing = false
		a.queue[0] = nil
		a.queue = a.queue[1:]
		deliver = a.finish(ctx, p, deliver)
	}
out:
	if len(a.queue) == 0 {
		a.queue = nil
		if a.handingOff && !wait {
			ctx.Stop(ctx.Self())
		}
	}
	if len(deliver) > 0 {
		d := &Deliver{Channel: a.name, Msgs: deliver, LastSeq: a.lastSeq}
		for _, gw := range a.gateways {
			sc.Send(ctx, gw, d)
		}
	}
}

func (a *channelActor) finish(ctx actor.Context, p *proposal, deliver []store.Message) []store.Message {
	m := p.msg
	p.cmd = nil
	res := &PublishResult{Channel: a.name, Batch: m.Batch, Results: make([]PubResult, len(m.Items))}
	var perr *protocol.Error
	switch {
	case len(m.Items) == 0:
	case p.expired:
		perr = protocol.NewError(protocol.CodeTimeout, "publish timed out: it may or may not have been stored")
	case p.abandoned:
		perr = protocol.NewError(protocol.CodeTimeout, "the channel's Raft leader changed: publish may or may not have been stored")
	case p.err != nil:
		perr = proposeError(p.err)
	case p.res.Completed():
		r := p.res.GetResult()
		pr, err := store.DecodePublishResult(r.Data)
		if err != nil || len(pr.Seqs) != len(m.Items) {
			perr = protocol.NewError(protocol.CodeInternal, "bad publish result")
			break
		}
		a.env.Metrics.AckLatency.Observe(time.Since(p.start).Seconds())
		for i, it := range m.Items {
			res.Results[i] = PubResult{Req: m.Reqs[i], Seq: pr.Seqs[i], Dup: pr.Dup[i]}
			if !pr.Dup[i] {
				if pr.Seqs[i] > a.lastSeq {
					a.lastSeq = pr.Seqs[i]
				}
				deliver = append(deliver, store.Message{Seq: pr.Seqs[i], Time: p.time, Headers: it.Headers, Payload: it.Payload})
			}
		}
		a.env.Metrics.Acks.Add(float64(len(m.Items)))
	case p.res.Timeout():
		perr = protocol.NewError(protocol.CodeTimeout, "publish timed out: it may or may not have been stored")
	case p.res.Terminated():
		perr = protocol.NewError(protocol.CodeTimeout, "channel shard stopped: publish may or may not have been stored")
	default:
		perr = protocol.NewError(protocol.CodeUnavailable, "publish dropped or rejected by raft; retry")
	}
	if perr != nil {
		for i := range m.Items {
			res.Results[i] = PubResult{Req: m.Reqs[i], Err: perr}
		}
		a.env.Metrics.PublishErrors.Add(float64(len(m.Items)))
	}
	p.merge(res)
	if m.ReplyTo != nil {
		sc.Send(ctx, m.ReplyTo, res)
	}
	return deliver
}

// merge puts the refused items back among the results, in the order the client sent them (answers for
// a channel keep publish order).
func (p *proposal) merge(res *PublishResult) {
	if p.orig == nil {
		return
	}
	out := make([]PubResult, 0, len(p.orig.Reqs))
	j := 0
	for i, req := range p.orig.Reqs {
		if e := p.rejected[i]; e != nil {
			out = append(out, PubResult{Req: req, Err: e})
		} else {
			out = append(out, res.Results[j])
			j++
		}
	}
	res.Batch = p.orig.Batch
	res.Results = out
}

// splitOversize takes out the items whose stored size exceeds maxBytes. rejected is nil when none does.
func splitOversize(m *Publish, maxBytes uint64) (*Publish, []*protocol.Error) {
	var rejected []*protocol.Error
	for i, it := range m.Items {
		if size := store.MsgSize(it.Headers, it.Payload); size > maxBytes {
			if rejected == nil {
				rejected = make([]*protocol.Error, len(m.Items))
			}
			rejected[i] = protocol.NewError(protocol.CodePayloadTooLarge,
				"message of %d bytes exceeds the channel's retention max_bytes %d", size, maxBytes)
		}
	}
	if rejected == nil {
		return m, nil
	}
	n := &Publish{Channel: m.Channel, Batch: m.Batch, ReplyTo: m.ReplyTo}
	for i, it := range m.Items {
		if rejected[i] == nil {
			n.Items = append(n.Items, it)
			n.Reqs = append(n.Reqs, m.Reqs[i])
		}
	}
	return n, rejected
}

func (a *channelActor) register(ctx actor.Context, m *Register) {
	if !a.ready {
		sc.Respond(ctx, &Registered{Channel: a.name, Err: a.unavailable()})
		return
	}
	key := m.Gateway.String()
	if _, ok := a.gateways[key]; !ok {
		a.log.Debug().Str("gateway", key).Uint64("last_seq", a.lastSeq).Msg("gateway registered")
		a.gateways[key] = m.Gateway
		ctx.Watch(m.Gateway)
	}
	sc.Respond(ctx, &Registered{Channel: a.name, Actor: ctx.Self(), LastSeq: a.lastSeq})
}

func (a *channelActor) resolve(m *Resolve) *Resolved {
	r := &Resolved{Channel: a.name, ID: m.ID}
	if !a.ready {
		r.Err = a.unavailable()
		return r
	}
	r.LastSeq = a.lastSeq
	switch m.Start {
	case protocol.StartNew:
		r.StartSeq = a.lastSeq + 1
	case protocol.StartEarliest, protocol.StartSeq:
		st, err := a.state()
		if err != nil {
			r.Err = protocol.NewError(protocol.CodeUnavailable, "read channel state: %v", err)
			return r
		}
		r.StartSeq = st.FirstSeq
		if m.Start == protocol.StartSeq && m.Seq > st.FirstSeq {
			r.StartSeq = m.Seq
		}
	case protocol.StartTime:
		v, err := a.env.NodeHost.StaleRead(a.shardID, &store.SeqForTimeQuery{Time: m.Time})
		if err != nil {
			r.Err = protocol.NewError(protocol.CodeUnavailable, "read channel state: %v", err)
			return r
		}
		r.StartSeq = v.(uint64)
	default:
		r.Err = protocol.NewError(protocol.CodeInvalidArgument, "unknown start position %d", m.Start)
	}
	return r
}

func (a *channelActor) fetch(m *Fetch) *Fetched {
	r := &Fetched{Channel: a.name, ID: m.ID}
	if !a.ready {
		r.Err = a.unavailable()
		return r
	}
	v, err := a.env.NodeHost.StaleRead(a.shardID, &store.FetchQuery{From: m.From, MaxMsgs: m.MaxMsgs, MaxBytes: m.MaxBytes})
	if err != nil {
		r.Err = protocol.NewError(protocol.CodeUnavailable, "read channel: %v", err)
		return r
	}
	fr := v.(*store.FetchResult)
	r.Msgs, r.FirstSeq, r.LastSeq = fr.Msgs, fr.FirstSeq, fr.LastSeq
	return r
}

func (a *channelActor) idle(ctx actor.Context) {
	if !a.ready {
		// A failed activation stops after its delay however busy clients keep it: the next request
		// then activates the channel afresh.
		ctx.Stop(ctx.Self())
		return
	}
	if rest := a.idleAfter - time.Since(a.lastActive); rest > 0 || a.moving || len(a.queue) > 0 || len(a.blocked) > 0 {
		// Active since the timer was armed, or proposals in flight: not idle yet.
		a.armIdle(ctx, max(rest, a.idleAfter/4))
		return
	}
	a.log.Debug().Uint64("last_seq", a.lastSeq).Msg("channel passivating")
	ctx.Stop(ctx.Self())
}

// shutdown runs when the actor stops (passivation or node shutdown): every accepted publish is answered
// before the shard stops, so a clean stop never leaves a client without an outcome.
func (a *channelActor) shutdown(ctx actor.Context) {
	a.complete(ctx, true) // older than anything blocked: answered first
	if a.handingOff {
		// Handing off under load: what is blocked was never proposed, and the sessions that sent it
		// resend every unanswered batch, in order, to the next activation when they see this one
		// terminate (gateway/publish.go): left unanswered, the hand-off costs publishers nothing.
		a.blocked = nil
	}
	for _, p := range a.blocked {
		res := failedResult(p.msg, protocol.NewError(protocol.CodeUnavailable, "channel stopping; publish not stored, retry"))
		p.merge(res)
		if p.msg.ReplyTo != nil {
			sc.Send(ctx, p.msg.ReplyTo, res)
		}
	}
	a.blocked = nil
	if a.env.Leaders != nil {
		a.env.Leaders.unregister(a.shardID, ctx.Self())
	}
	if a.shardStarted {
		a.env.setHot(a.name, -1)
		a.env.Metrics.ActiveChannels.Dec()
		a.env.setServing(a.shardID, ctx.Self(), false)
		a.env.stopReplica(a.shardID, ctx.Self().String())
		a.stopRemoteReplicas(ctx)
	}
	a.log.Debug().Uint64("last_seq", a.lastSeq).Bool("shard_started", a.shardStarted).Msg("channel actor stopped")
	a.ready, a.shardStarted = false, false
}

func (a *channelActor) unavailable() *protocol.Error {
	if a.startErr != nil {
		return a.startErr
	}
	return protocol.NewError(protocol.CodeUnavailable, "channel %s is not active", a.name)
}

func (a *channelActor) failBatch(ctx actor.Context, m *Publish, e *protocol.Error) {
	a.env.Metrics.PublishErrors.Add(float64(len(m.Items)))
	if m.ReplyTo != nil {
		sc.Send(ctx, m.ReplyTo, failedResult(m, e))
	}
}

func failedResult(m *Publish, e *protocol.Error) *PublishResult {
	res := &PublishResult{Channel: m.Channel, Batch: m.Batch, Results: make([]PubResult, len(m.Items))}
	for i := range m.Items {
		res.Results[i] = PubResult{Req: m.Reqs[i], Err: e}
	}
	return res
}

func proposeError(err error) *protocol.Error {
	if dragonboat.IsTempError(err) {
		return protocol.NewError(protocol.CodeUnavailable, "channel busy: %v; retry", err)
	}
	return protocol.NewError(protocol.CodeUnavailable, "propose: %v", err)
}

func asProtoErr(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	return protocol.NewError(protocol.CodeInternal, "%v", err)
}
