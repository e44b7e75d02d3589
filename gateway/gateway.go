package gateway

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/rs/zerolog"

	"github.com/sampan-io/sampan/actors"
	sc "github.com/sampan-io/sampan/cluster"
)

// GatewayName is the registered name of the per-node gateway actor; channel actors address gateways as
// (node address, GatewayName).
const GatewayName = "gateway"

// The gateway actor receives each committed message of a channel once per node and fans it out to the
// local sessions subscribed to that channel. It keeps the channel actor informed of the node's interest:
// it registers when the first local session subscribes, registers again whenever the channel actor
// (re)activates, and unregisters when the last session leaves.

// addSub / removeSub are sent by sessions.
type addSub struct {
	channel string
	session *actor.PID
	// passive: do not register now but wait for the channel's next Activated (a parked consumer
	// member: registering would wake the channel it waits on).
	passive bool
}

type removeSub struct {
	channel string
	session *actor.PID
}

// Tip tells sessions the last committed seq of a channel, so that subscribers catch up on what committed
// while no live delivery reached them (before registration, across passivation).
type Tip struct {
	Channel string
	LastSeq uint64
}

type retryRegister struct{ channel string }

// gatewayResolved answers register's placement lookup (pid nil: no activation could be had).
type gatewayResolved struct {
	channel string
	pid     *actor.PID
	sent    uint64 // channelInterest.sent when the lookup started
}

// refreshTick makes the gateway confirm its registrations (see refreshEvery).
type refreshTick struct{}

// refreshEvery is how often a gateway registers again with the channel actors it is registered with.
// Messages between nodes are at-most-once and a watch only reports what the watcher's own connection
// saw: after a network fault a channel actor may have dropped this gateway (its connection to this
// node broke) while this gateway saw nothing, or a Deliver or Registered answer may have been lost.
// Registering again is idempotent; the answer carries the channel's last seq, which lets sessions
// fetch what they missed. Without it, after partitions and lossy links, subscribers stop short of the
// last message, or stop receiving altogether, until they reconnect.
const refreshEvery = time.Second

// registerTimeout is how long a Register may stay unanswered before it is sent again through placement.
const registerTimeout = 3 * time.Second

type channelInterest struct {
	sessions    map[string]*actor.PID
	actor       *actor.PID // channel actor registered with (or being registered with)
	registered  bool
	registering bool      // a Register (or the placement lookup before it) is pending
	resolving   bool      // the placement lookup runs (register)
	sent        uint64    // Registers sent so far: a lookup's answer is used only if none went out meanwhile
	since       time.Time // when the pending Register (or lookup) was started
}

type gatewayActor struct {
	cl       *pcluster.Cluster
	channels map[string]*channelInterest
	counts   *subscriberCounts // written here, read by the admin API
	log      zerolog.Logger
}

func newGatewayActor(cl *pcluster.Cluster, counts *subscriberCounts, log zerolog.Logger) *gatewayActor {
	return &gatewayActor{cl: cl, channels: map[string]*channelInterest{}, counts: counts, log: log}
}

// subscriberCounts is, by channel, how many of this node's sessions subscribe to it: written by the
// gateway actor as sessions come and go, read by any goroutine (Server.Subscribers) under mu.
type subscriberCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *subscriberCounts) set(channel string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n == 0 {
		delete(c.n, channel)
		return
	}
	c.n[channel] = n
}

func (c *subscriberCounts) get(channel string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[channel]
}

func (g *gatewayActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		g.scheduleRefresh(ctx)
	case *refreshTick:
		now := time.Now()
		for name, ci := range g.channels {
			switch {
			case ci.registering && now.Sub(ci.since) > registerTimeout:
				ci.registering = false
				g.register(ctx, name, ci, nil) // the answer was lost: ask placement afresh
			case ci.registered && !ci.registering && ci.actor != nil:
				g.register(ctx, name, ci, ci.actor)
			}
		}
		g.scheduleRefresh(ctx)
	case *addSub:
		ci := g.channels[m.channel]
		if ci == nil {
			ci = &channelInterest{sessions: map[string]*actor.PID{}}
			g.channels[m.channel] = ci
		}
		ci.sessions[m.session.String()] = m.session
		g.counts.set(m.channel, len(ci.sessions))
		if !m.passive && !ci.registered && !ci.registering {
			g.register(ctx, m.channel, ci, nil)
		}
	case *removeSub:
		ci := g.channels[m.channel]
		if ci == nil {
			return
		}
		delete(ci.sessions, m.session.String())
		g.counts.set(m.channel, len(ci.sessions))
		if len(ci.sessions) == 0 {
			if ci.actor != nil {
				sc.Send(ctx, ci.actor, &actors.Unregister{Channel: m.channel, Gateway: ctx.Self()})
				ctx.Unwatch(ci.actor)
			}
			delete(g.channels, m.channel)
		}
	case *actors.Deliver:
		if ci := g.channels[m.Channel]; ci != nil {
			for _, s := range ci.sessions {
				ctx.Send(s, m)
			}
		}
	case *actors.Activated:
		// Register again even with the same PID: an actor restarted by its supervisor lost its interest set.
		if ci := g.channels[m.Channel]; ci != nil {
			g.log.Debug().Str("channel", m.Channel).Str("actor", m.Actor.String()).Msg("gateway: channel activated; registering")
			g.register(ctx, m.Channel, ci, m.Actor)
		}
	case *actors.Registered:
		ci := g.channels[m.Channel]
		if ci == nil {
			return
		}
		ci.registering = false
		if m.Err != nil {
			g.log.Debug().Str("channel", m.Channel).Err(m.Err).Msg("register interest failed; retrying")
			g.retryLater(ctx, m.Channel)
			return
		}
		ci.registered = true
		if ci.actor == nil || !ci.actor.Equal(m.Actor) {
			g.log.Debug().Str("channel", m.Channel).Str("actor", m.Actor.String()).Uint64("last_seq", m.LastSeq).Msg("gateway: registered")
		}
		ci.actor = m.Actor
		tip := &Tip{Channel: m.Channel, LastSeq: m.LastSeq}
		for _, s := range ci.sessions {
			ctx.Send(s, tip)
		}
	case *gatewayResolved:
		ci := g.channels[m.channel]
		if ci == nil {
			return
		}
		ci.resolving = false
		if m.sent != ci.sent {
			return // a Register went out meanwhile (Activated): its answer or timeout decides what follows
		}
		if m.pid == nil {
			g.log.Debug().Str("channel", m.channel).Msg("gateway: no activation from placement; retrying")
			ci.registering = false
			g.retryLater(ctx, m.channel)
			return
		}
		g.register(ctx, m.channel, ci, m.pid)
	case *retryRegister:
		if ci := g.channels[m.channel]; ci != nil && !ci.registered && !ci.registering {
			g.register(ctx, m.channel, ci, nil)
		}
	case *actor.DeadLetterResponse:
		// A Register reached an actor that had just passivated: try the next activation.
		for name, ci := range g.channels {
			if ci.registering && ci.actor != nil && ci.actor.Equal(m.Target) {
				ci.registering = false
				g.retryLater(ctx, name)
			}
		}
	case *NodeDown:
		for name, ci := range g.channels {
			if ci.actor != nil && ci.actor.Address == m.Address {
				ci.registered, ci.registering = false, false
				// Register with the next activation (which also announces itself with Activated).
				g.retryLater(ctx, name)
			}
		}
	case *actor.Terminated:
		// The channel passivated. Its next activation announces itself with Activated; until then nothing
		// commits, so there is nothing to deliver and no reason to wake it. (If it was a second
		// activation and the first serves on, the first announces itself again within 5 s.)
		for name, ci := range g.channels {
			if ci.actor != nil && ci.actor.Equal(m.Who) {
				g.log.Debug().Str("channel", name).Str("actor", m.Who.String()).Stringer("why", m.Why).Msg("gateway: channel actor terminated")
				ci.registered = false
				if m.Why == actor.TerminatedReason_AddressTerminated {
					// Not a passivation: the link to the actor's node broke (the node died, or a network
					// partition). The actor may live on, has dropped this gateway (it watches it), and will
					// not announce itself again: register again, through placement, until one answers.
					// Otherwise subscribers on a node cut off for half a second never receive live
					// messages again.
					ci.registering = false
					g.retryLater(ctx, name)
				}
			}
		}
	}
}

func (g *gatewayActor) register(ctx actor.Context, channel string, ci *channelInterest, pid *actor.PID) {
	if pid == nil {
		// Through placement, beside the actor: a lookup can take a metadata proposal and a round trip
		// to another node, and the node's one gateway must not make every channel wait behind it. The
		// answer comes back as gatewayResolved.
		ci.registering, ci.since = true, time.Now()
		if !ci.resolving {
			ci.resolving = true
			self, root, cl, sent := ctx.Self(), ctx.ActorSystem().Root, g.cl, ci.sent
			go func() {
				root.Send(self, &gatewayResolved{channel: channel, pid: cl.Get(channel, actors.Kind), sent: sent})
			}()
		}
		return
	}
	ci.sent++
	if ci.actor != nil && !ci.actor.Equal(pid) {
		ctx.Unwatch(ci.actor)
	}
	ci.actor = pid
	ci.registering, ci.since = true, time.Now()
	ctx.Watch(pid)
	sc.Request(ctx, pid, &actors.Register{Channel: channel, Gateway: ctx.Self()})
}

func (g *gatewayActor) scheduleRefresh(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(refreshEvery, func() { root.Send(self, &refreshTick{}) }) // a dead letter once stopped
}

func (g *gatewayActor) retryLater(ctx actor.Context, channel string) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(50*time.Millisecond, func() { root.Send(self, &retryRegister{channel: channel}) })
}
