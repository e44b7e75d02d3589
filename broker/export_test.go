package broker

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sampan-io/sampan/actors"
	sc "github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/store"
)

// ActAsOtherActivation does to this node's replica of channel what a second activation of the channel
// on another node does when it starts and then stops: StartShard, then StopShard, both as that
// activation. It returns nil if the replica still runs afterwards.
func (b *Broker) ActAsOtherActivation(ctx context.Context, channel string) error {
	info, err := b.metaPtr.Load().Channel(ctx, channel, false)
	if err != nil {
		return err
	}
	root, shards := b.actors.System.Root, actor.NewPID(b.actors.System.Address(), actors.ShardsName)
	other := "elsewhere/" + channel
	ask := func(msg any) (any, error) {
		res, err := root.RequestFuture(shards, msg, 5*time.Second).Result()
		if err != nil {
			return nil, err
		}
		return sc.Unwrap(res)
	}
	v, err := ask(&actors.StartShard{ShardID: info.ShardID, ReplicaID: info.ReplicaOn(b.cfg.NodeID), Starter: other})
	if err != nil {
		return err
	}
	if st := v.(*actors.ShardStarted); st.Err != "" {
		return errors.New(st.Err)
	}
	root.Send(shards, &actors.StopShard{ShardID: info.ShardID, Starter: other})
	// The shard manager handles its messages in order: this answer comes after the stop took effect.
	v, err = ask(&actors.CatchUp{ShardID: info.ShardID})
	if err != nil {
		return err
	}
	if c := v.(*actors.CaughtUp); c.Err != "" {
		return errors.New(c.Err)
	}
	return nil
}

// UnloadReplica unloads this node's replica of channel behind its activation's back.
func (b *Broker) UnloadReplica(ctx context.Context, channel string) error {
	info, err := b.metaPtr.Load().Channel(ctx, channel, false)
	if err != nil {
		return err
	}
	return b.nh.StopShard(info.ShardID)
}

// TransferBehindActor asks Dragonboat to move channel's leadership to node's replica directly, not through
// the channel's actor (which would hold new proposals while it runs), as a leadership move the actor did
// not ask for does (a replica move, Dragonboat itself).
func (b *Broker) TransferBehindActor(ctx context.Context, channel string, node uint64) error {
	info, err := b.metaPtr.Load().Channel(ctx, channel, false)
	if err != nil {
		return err
	}
	return b.nh.RequestLeaderTransfer(info.ShardID, info.ReplicaOn(node))
}

// Config returns the configuration the broker was started with (to restart it on the same data dir).
func (b *Broker) Config() Config { return b.cfg }

// MetaReplicas reports whether this node holds data of the legacy metadata group and of the on-disk
// registry's group.
func (b *Broker) MetaReplicas() (legacy, registry bool) {
	return b.nh.HasNodeInfo(store.LegacyMetaShardID, b.cfg.NodeID), b.nh.HasNodeInfo(store.RegistryShardID, b.cfg.NodeID)
}

// PublishBehindActor stores payload in channel through its shard directly, as a publish whose
// result its activation never saw does (another activation's, or one answered "timeout" that
// committed after all).
func (b *Broker) PublishBehindActor(ctx context.Context, channel string, payload []byte) error {
	info, err := b.metaPtr.Load().Channel(ctx, channel, false)
	if err != nil {
		return err
	}
	cmd := store.EncodeCommand(nil, &store.Command{Op: store.OpPublish, Time: time.Now().UnixNano(), Msgs: []store.PublishItem{{Payload: payload}}})
	_, err = b.nh.SyncPropose(ctx, b.nh.GetNoOPSession(info.ShardID), cmd)
	return err
}

// ActAsNewerActivation proposes channel's settings to its shard directly, as a second activation of
// the channel (started elsewhere, say after a partition) does when it starts: the channel's epoch
// moves on, and the running activation's next consumer command is refused as superseded.
func (b *Broker) ActAsNewerActivation(ctx context.Context, channel string) error {
	info, err := b.metaPtr.Load().Channel(ctx, channel, false)
	if err != nil {
		return err
	}
	cfg := b.env.Settings(channel)
	cmd := store.EncodeCommand(nil, &store.Command{Op: store.OpConfigure, Time: time.Now().UnixNano(), Config: &cfg})
	_, err = b.nh.SyncPropose(ctx, b.nh.GetNoOPSession(info.ShardID), cmd)
	return err
}
