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
	// Settings gives a channel its settings (proposed on every activation); nil: the zero settings.
	Settings func(channel string) store.ChannelConfig
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
	// ConsumerSeries, when set, returns the labeled metric series of a consumer the configuration names
	// (nil: the consumer is counted only in the node-wide totals).
	ConsumerSeries func(channel, consumer string) *metrics.ConsumerSeries
	Log            zerolog.Logger
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

// settings are the settings of channel.
func (e *Env) settings(channel string) store.ChannelConfig {
	if e.Settings == nil {
		return store.ChannelConfig{}
	}
	return e.Settings(channel)
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

// channelActor is a channel's virtual actor. Every field is owned by the actor (its mailbox goroutine).
type channelActor struct {
	env          *Env
	cluster      *pcluster.Cluster
	self         *actor.PID
	root         *actor.RootContext
	name         string
	settings     store.ChannelConfig // the channel's settings (Env.Settings), set on activation
	shardID      uint64
	session      *client.Session
	ready        bool
	shardStarted bool // this activation started the shard and must stop it
	counted      bool // counted in env.active
	startErr     *protocol.Error

	lastActive time.Time     // last use (inUse)
	activity   *atomic.Int64 // the shard's activity clock on this node (store.DB.Activity), for the resident bound
	// stateSeen: the activity clock when checkReplicas last read the local replica's state (it is stored
	// after every apply's commit: unchanged, nothing was applied since, and the read is skipped).
	stateSeen int64
	idleAfter time.Duration // passivate after this long without messages

	replicas    []store.Replica
	members     map[uint64]string    // replica id -> Raft address
	lagging     map[uint64]uint64    // node -> replica id: replicas not started (node was down)
	started     map[uint64]time.Time // node -> when its replica was last known started by this activation
	checks      int                  // replica checks so far
	announced   map[string]bool      // gateways told of this activation (Activated), by PID
	checkArmed  bool
	pinnedUntil time.Time // an operator moved the leadership: leave it there until then
	moving      bool      // a replica move runs (no passivation or hand-off meanwhile)
	movingSince time.Time
	stopping    bool // ctx.Stop was called
	// seqCheckArmed: a lastSeqCheck is armed (a publish was answered "may or may not have been stored")
	seqCheckArmed bool
	// job is the activation while it runs (nil after): publishes wait in the pipeline, requests in stash.
	job   *activation
	stash []stashed // requests that came while activating, in order

	lastSeq  uint64
	lastTime int64
	pipe     pipeline              // the proposal pipeline (pipeline.go)
	gateways map[string]*actor.PID // by PID key
	log      zerolog.Logger

	// Durable consumers (consumers.go): the ones loaded, the creates and removals waiting to commit,
	// and the member sessions watched (by PID key). epoch fences this activation's consumer commands
	// (store.ConsumerCommand.Epoch); superseded: the state machine refused one, a newer activation
	// runs the consumers, and this one stops.
	epoch      uint64
	superseded bool
	lease      lease // when this activation may hand out messages (lease.go)
	leaseTick  bool  // a leaseTick is armed
	consumers  map[string]*consumerRun
	creating   map[string]*pendingCreate
	removing   map[string][]*actor.PID
	memberPIDs map[string]bool
}

func (a *channelActor) Receive(ctx actor.Context) {
	defer func() {
		// protoactor's default supervision would restart the actor with its state wiped (answers lost,
		// its shard still loaded); stop it instead: shutdown answers what it accepted and stops the shard.
		if r := recover(); r != nil {
			a.env.Log.Error().Str("channel", a.name).Interface("panic", r).Type("message", ctx.Message()).Msg("channel actor failed; stopping it")
			a.stop(ctx)
		}
	}()
	msg := ctx.Message()
	if a.inUse(msg) {
		a.lastActive = time.Now()
		if a.activity != nil {
			a.activity.Store(a.lastActive.UnixNano())
		}
	}
	if a.stashRequest(ctx, msg) {
		return
	}
	switch m := msg.(type) {
	case *activated:
		a.onActivated(ctx, m.job)
	case *pcluster.ClusterInit:
		a.env.active.Add(1)
		a.counted = true
		a.cluster = m.Cluster
		a.self, a.root = ctx.Self(), ctx.ActorSystem().Root
		a.pipe = pipeline{timeout: a.env.ProposalTimeout, prop: a}
		a.activate(ctx, m.Identity.Identity)
	case *actor.Stopped:
		if a.counted {
			a.counted = false
			a.env.active.Done()
		}
	case *Publish:
		a.publish(ctx, m)
	case *proposalDone:
		a.settle(m.p, m.attempt)
	case *retryBlocked:
		a.pipe.retry(time.Now(), a.leaderNow())
	case *Register:
		a.register(ctx, m)
	case *Unregister:
		if a.gateways != nil {
			delete(a.gateways, sc.PIDKey(m.Gateway))
		}
	case *Resolve:
		sc.Respond(ctx, a.resolve(m))
	case *Fetch:
		sc.Respond(ctx, a.fetch(m))
	case *actor.Terminated:
		delete(a.gateways, sc.PIDKey(m.Who))
		a.membersGone(ctx, m.Who)
	case *ConsumerJoin:
		a.consumerJoin(ctx, m)
	case *ConsumerLeave:
		a.consumerLeave(ctx, m)
	case *ConsumerAck:
		a.consumerAck(ctx, m)
	case *ConsumerAdmin:
		a.consumerAdmin(ctx, m)
	case *consumerTick:
		a.onConsumerTick(ctx, m)
	case *leaseTick:
		a.onLeaseTick(ctx)
	case *leaseRead:
		a.onLeaseRead(ctx, m)
	case *consumerFlush:
		if r := a.consumers[m.name]; r != nil {
			r.flushArmed = false
			a.flushProgress(r)
		}
	case *dlqDone:
		a.onDLQDone(ctx, m)
	case *dlqRetry:
		a.onDLQRetry(m)
	case *idleCheck:
		a.idle(ctx)
	case *lastSeqCheck:
		a.seqCheckArmed = false
		if a.ready {
			_ = a.adoptLastSeq(ctx)
		}
	case *Evict:
		if a.ready && !a.moving && a.pipe.idle() && !a.consumersBusy() {
			a.log.Debug().Msg("channel passivating: too many active channels on this node")
			a.parkMembers(ctx)
			a.stop(ctx)
		}
	case *replicaCheck:
		a.checkReplicas(ctx)
	case *leaderChanged:
		a.pipe.leaderChanged(time.Now(), m.leader)
	case *abandonCheck:
		a.pipe.abandonCheck(time.Now())
	case *expireCheck:
		a.pipe.expireCheck(time.Now())
	case *ShardStarted:
		a.onShardStarted(m)
	case *MoveReplica:
		a.move(ctx, m)
	case *TransferLeader:
		a.transferLeader(ctx, m)
	case *moveDone:
		a.onMoveDone(ctx, m)
	case *actor.Stopping:
		a.stopping = true
		a.shutdown(ctx)
	}
	a.apply(ctx)
}

// inUse tells whether msg is a use of the channel by clients, which keeps it active (idle timeout) and
// resident (the node's bound): publishes, subscribers fetching or resolving, a gateway's first
// interest. Not the actor's own timers and bookkeeping, nor a gateway confirming its registration
// every second, nor replicas answering the periodic restart: those arrive whether or not anyone uses
// the channel, and counting them kept every channel with a subscriber (and, in a cluster, every
// channel) active forever.
func (a *channelActor) inUse(msg any) bool {
	switch m := msg.(type) {
	case *Publish, *Fetch, *Resolve, *TransferLeader, *ConsumerJoin, *ConsumerAck, *ConsumerAdmin:
		return true
	case *Register:
		_, known := a.gateways[sc.PIDKey(m.Gateway)]
		return !known
	}
	return false
}

// Attempt timeouts of reads and of an activation's settings proposal (see retryGrowing). A read on a
// healthy shard takes a few milliseconds; a proposal can wait behind a busy LogDB fsync, so its
// attempts grow to proposeAttempt. The settings proposal's first attempt is short: right after a
// failover it may have gone to the dead leader.
const (
	readAttempt          = 300 * time.Millisecond
	firstSettingsAttempt = 100 * time.Millisecond
	proposeAttempt       = time.Second
)

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
		a.pipe.pull(time.Now(), replica)
	}
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
		if res.Leader != m.To && (!a.pipe.pulling() || a.pipe.pullTarget != replica) {
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
	sendLater(ctx.ActorSystem().Root, ctx.Self(), d, &idleCheck{})
}

// setMembers records the replicas and the initial members of the shard.
func (a *channelActor) setMembers(replicas []store.Replica) error {
	members, err := membersOf(a.env.Registry, a.name, replicas)
	if err != nil {
		return err
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
		k := sc.PIDKey(gw)
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
	return startMsgFor(ctx.Self(), a.shardID, a.members, r)
}

func (a *channelActor) state() (store.ChannelState, error) {
	v, err := a.env.NodeHost.StaleRead(a.shardID, &store.StateQuery{})
	if err != nil {
		return store.ChannelState{}, err
	}
	return v.(store.ChannelState), nil
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

func (a *channelActor) register(ctx actor.Context, m *Register) {
	if !a.ready {
		sc.Respond(ctx, &Registered{Channel: a.name, Err: a.unavailable()})
		return
	}
	key := sc.PIDKey(m.Gateway)
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
		a.stop(ctx)
		return
	}
	if rest := a.idleAfter - time.Since(a.lastActive); rest > 0 || a.moving || !a.pipe.idle() || a.consumersBusy() {
		// Active since the timer was armed, or proposals in flight: not idle yet.
		a.armIdle(ctx, max(rest, a.idleAfter/4))
		return
	}
	a.log.Debug().Uint64("last_seq", a.lastSeq).Msg("channel passivating")
	a.parkMembers(ctx)
	a.stop(ctx)
}

// shutdown runs when the actor stops (passivation or node shutdown): every accepted publish is answered
// before the shard stops, so a clean stop never leaves a client without an outcome.
func (a *channelActor) shutdown(ctx actor.Context) {
	a.stopActivation()
	a.failStash(ctx)
	a.drain(ctx)
	a.consumersStopped()
	if a.env.Leaders != nil {
		a.env.Leaders.unregister(a.shardID, ctx.Self())
	}
	a.release()
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

// release records in the channel that this activation hands out nothing any more, so that the next
// one need not wait out its consumer lease (lease.go). Best effort, bounded by releaseTimeout: without
// it the next activation waits leaseWait before delivering.
func (a *channelActor) release() {
	if !a.ready || !a.shardStarted || a.superseded || a.epoch == 0 || a.session == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	cmd := store.EncodeCommand(nil, &store.Command{Op: store.OpTick, Time: a.nextTime(), Release: a.epoch})
	if _, err := a.env.NodeHost.SyncPropose(ctx, a.session, cmd); err != nil {
		a.log.Debug().Err(err).Msg("channel release not recorded: the next activation waits out the lease")
	}
}

// releaseTimeout bounds release, which runs while the actor stops.
const releaseTimeout = 500 * time.Millisecond

// stop stops the actor (once).
func (a *channelActor) stop(ctx actor.Context) {
	if !a.stopping {
		a.stopping = true
		ctx.Stop(ctx.Self())
	}
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
