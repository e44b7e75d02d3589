package cluster

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
)

// ActivatorName is the registered name of each node's activator actor.
const ActivatorName = "sampan-activator" // protoactor remote already registers "activator"

// PlacementLookup is a protoactor IdentityLookup that activates a virtual actor on the node Sampan's
// placement chooses, instead of a rendezvous hash over members: a channel actor must run on a node that
// holds a replica of its shard (Dragonboat proposals are only accepted there), which only the metadata
// group knows. Target names the node (its actor address) for an identity; that node's activator actor
// spawns the actor once and answers its PID.
//
// It does not cache PIDs: callers (sessions, gateways) keep the PIDs they use and watch them, and ask
// again only after a termination.
type PlacementLookup struct {
	Target  func(identity, kind string) (actorAddr string, err error)
	Timeout time.Duration

	cl        *pcluster.Cluster
	activator *actor.PID
}

// Setup implements pcluster.IdentityLookup.
func (p *PlacementLookup) Setup(cl *pcluster.Cluster, _ []string, _ bool) {
	p.cl = cl
	if p.Timeout == 0 {
		// An activator answers as soon as it has spawned (before the actor's start-up), so only a dead
		// or unreachable node takes longer; the caller then asks again and placement, by then aware the
		// node is down, picks another.
		p.Timeout = 500 * time.Millisecond
	}
	pid, err := cl.ActorSystem.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &activator{cl: cl, grains: map[string]*actor.PID{}, keys: map[string]string{}}
	}), ActivatorName)
	if err != nil {
		panic(fmt.Sprintf("sampan: spawn activator: %v", err))
	}
	p.activator = pid
}

// Get implements pcluster.IdentityLookup. It returns nil when the target cannot be chosen or reached.
func (p *PlacementLookup) Get(ci *pcluster.ClusterIdentity) *actor.PID {
	addr, err := p.Target(ci.Identity, ci.Kind)
	if err != nil {
		p.cl.Logger().Debug("no placement", "identity", ci.Identity, "error", err)
		return nil
	}
	target := actor.NewPID(addr, ActivatorName)
	if addr == p.cl.ActorSystem.Address() {
		target = p.activator
	}
	res, err := p.cl.ActorSystem.Root.RequestFuture(target, &pcluster.ActivationRequest{ClusterIdentity: ci}, p.Timeout).Result()
	if err != nil {
		return nil
	}
	if r, ok := res.(*pcluster.ActivationResponse); ok && !r.Failed {
		return r.Pid
	}
	return nil
}

// RemovePid implements pcluster.IdentityLookup; there is no cache to clean.
func (p *PlacementLookup) RemovePid(*pcluster.ClusterIdentity, *actor.PID) {}

// Shutdown implements pcluster.IdentityLookup: it stops every local activation and waits for them.
func (p *PlacementLookup) Shutdown() {
	if p.activator != nil {
		_ = p.cl.ActorSystem.Root.PoisonFuture(p.activator).Wait()
	}
}

// activator spawns the local activations of virtual actors, at most one per identity. Its fields are
// owned by its actor.
type activator struct {
	cl     *pcluster.Cluster
	grains map[string]*actor.PID // identity key -> its activation
	keys   map[string]string     // an activation's PID Id -> its identity key (a Terminated is O(1))
}

func (a *activator) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pcluster.ActivationRequest:
		key := m.ClusterIdentity.AsKey()
		if pid := a.grains[key]; pid != nil {
			ctx.Respond(&pcluster.ActivationResponse{Pid: pid})
			return
		}
		kind := a.cl.GetClusterKind(m.ClusterIdentity.Kind)
		if kind == nil {
			ctx.Respond(&pcluster.ActivationResponse{Failed: true})
			return
		}
		pid, err := ctx.SpawnNamed(pcluster.WithClusterIdentity(kind.Props, m.ClusterIdentity), m.ClusterIdentity.Identity+"$"+fmt.Sprint(time.Now().UnixNano()))
		if err != nil {
			ctx.Respond(&pcluster.ActivationResponse{Failed: true})
			return
		}
		a.grains[key] = pid
		a.keys[pid.Id] = key
		ctx.Respond(&pcluster.ActivationResponse{Pid: pid})
	case *actor.Terminated:
		// Children are local: a PID's Id names one activation.
		if key, ok := a.keys[m.Who.Id]; ok {
			delete(a.keys, m.Who.Id)
			if pid := a.grains[key]; pid != nil && pid.Equal(m.Who) {
				delete(a.grains, key)
			}
		}
	case *actor.Stopping:
		// Children are stopped by protoactor after Stopping; stop them ourselves to wait for each, so the
		// node's Raft and store outlive every channel actor's shutdown.
		futures := make([]actor.Future, 0, len(a.grains))
		for _, pid := range a.grains {
			futures = append(futures, ctx.PoisonFuture(pid))
		}
		for _, f := range futures {
			_ = f.Wait()
		}
	}
}
