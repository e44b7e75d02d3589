package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/client"
	"github.com/lni/dragonboat/v4/config"
	"github.com/rs/zerolog"

	"github.com/sampan-io/sampan/store"
)

// Peer is a node named in --peers: its id and Raft address.
type Peer struct {
	ID   uint64
	Raft string
}

// ParsePeers parses "1@host:port,2@host:port".
func ParsePeers(s string) ([]Peer, error) {
	var out []Peer
	seen := map[uint64]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		idStr, addr, ok := strings.Cut(part, "@")
		id, err := strconv.ParseUint(idStr, 10, 64)
		if !ok || err != nil || id == 0 || addr == "" {
			return nil, fmt.Errorf("sampan: peer %q: want ID@HOST:PORT with ID >= 1", part)
		}
		if seen[id] {
			return nil, fmt.Errorf("sampan: peer id %d listed twice", id)
		}
		seen[id] = true
		out = append(out, Peer{ID: id, Raft: addr})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// MaxMetaReplicas bounds the metadata group: beyond 5 voters every metadata write waits on more fsyncs
// for no gain in availability that matters here.
const MaxMetaReplicas = 5

// MetaMembers returns the peers that hold a replica of the metadata group: all of them up to 3, else 3
// or 5 (an odd count), the lowest ids first.
func MetaMembers(peers []Peer) []Peer {
	n := len(peers)
	switch {
	case n >= 5:
		n = 5
	case n == 4:
		n = 3
	}
	return peers[:n]
}

// MetaConfig configures a node's part in the metadata group.
type MetaConfig struct {
	Self     store.NodeInfo // this node's id and addresses, registered in the group
	Peers    []Peer         // every node of the initial cluster, this one included
	Replicas int            // replica count of new channels (capped at the node count)
	Log      zerolog.Logger
}

// Meta is this node's handle on the metadata group: node membership and the channel registry.
type Meta struct {
	nh      *dragonboat.NodeHost
	cfg     MetaConfig
	session *client.Session
	ready   atomic.Bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// StartMeta starts this node's metadata replica and, in the background, registers the node and then
// waits for the read-index barrier that makes it ready (Ready).
func StartMeta(nh *dragonboat.NodeHost, cfg MetaConfig) (*Meta, error) {
	members := MetaMembers(cfg.Peers)
	initial := map[uint64]dragonboat.Target{}
	isMember := false
	for _, p := range members {
		initial[p.ID] = p.Raft
		if p.ID == cfg.Self.ID {
			isMember = true
			if p.Raft != cfg.Self.Raft {
				return nil, fmt.Errorf("sampan: --peers gives node %d the raft address %s but this node has %s", p.ID, p.Raft, cfg.Self.Raft)
			}
		}
	}
	if !isMember {
		return nil, fmt.Errorf("sampan: node %d is not among the first %d peers (the metadata group); clusters of more than %d nodes are not supported yet", cfg.Self.ID, MaxMetaReplicas, MaxMetaReplicas)
	}
	rc := config.Config{ShardID: store.MetaShardID, ReplicaID: cfg.Self.ID, ElectionRTT: 10, HeartbeatRTT: 1,
		CheckQuorum: true, PreVote: true, SnapshotEntries: 1000, CompactionOverhead: 500}
	err := nh.StartReplica(initial, false, store.NewMetaStateMachine, rc)
	if err != nil && !errors.Is(err, dragonboat.ErrShardAlreadyExist) {
		return nil, fmt.Errorf("sampan: start metadata replica: %w", err)
	}
	m := &Meta{nh: nh, cfg: cfg, session: nh.GetNoOPSession(store.MetaShardID), stop: make(chan struct{})}
	m.wg.Add(1)
	go m.join()
	return m, nil
}

// join registers this node (retrying while the group has no quorum, e.g. while peers are starting) and
// then passes a read-index barrier: once it returns, this replica has applied everything committed
// before, so the node never serves with stale placement.
func (m *Meta) join() {
	defer m.wg.Done()
	cmd := store.EncodeMetaCommand(&store.MetaCommand{Op: store.MetaRegisterNode, Node: m.cfg.Self})
	for attempt := 0; ; attempt++ {
		select {
		case <-m.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		r, err := m.nh.SyncPropose(ctx, m.session, cmd)
		if err == nil && r.Value == store.ResultRejected {
			err = fmt.Errorf("%s", r.Data)
		}
		if err == nil {
			_, err = m.nh.SyncRead(ctx, store.MetaShardID, &store.MetaNodesQuery{})
		}
		cancel()
		if err == nil {
			m.ready.Store(true)
			m.cfg.Log.Info().Uint64("node", m.cfg.Self.ID).Msg("joined the cluster metadata")
			return
		}
		if attempt%10 == 9 {
			m.cfg.Log.Warn().Err(err).Msg("waiting for the metadata group (are the peers up?)")
		}
		select {
		case <-m.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Ready reports whether this node is registered and has caught up with the metadata log.
func (m *Meta) Ready() bool { return m.ready.Load() }

// WaitReady blocks until Ready or ctx ends.
func (m *Meta) WaitReady(ctx context.Context) error {
	for !m.Ready() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// ErrNotReady is returned while the node has not joined the metadata group yet.
var ErrNotReady = errors.New("sampan: cluster metadata not ready")

// Channel returns a channel's registry entry, registering the channel when create is set and it is new.
// A new channel waits until min(Replicas, peers) nodes have registered, so that a cluster starting node
// by node does not create under-replicated channels.
func (m *Meta) Channel(ctx context.Context, name string, create bool) (*store.ChannelInfo, error) {
	if !m.Ready() {
		return nil, ErrNotReady
	}
	v, err := m.nh.StaleRead(store.MetaShardID, &store.MetaChannelQuery{Name: name})
	if err != nil {
		return nil, err
	}
	if ch := v.(*store.ChannelInfo); ch != nil || !create {
		if ch == nil {
			return nil, store.ErrChannelNotFound
		}
		return ch, nil
	}
	want := min(max(m.cfg.Replicas, 1), len(m.cfg.Peers))
	nodes, err := m.Nodes()
	if err != nil {
		return nil, err
	}
	live := 0
	for _, n := range nodes {
		if !n.Removed {
			live++
		}
	}
	if live < want {
		return nil, fmt.Errorf("sampan: %d of %d nodes have joined; channel %s needs %d replicas", live, len(m.cfg.Peers), name, want)
	}
	r, err := m.nh.SyncPropose(ctx, m.session, store.EncodeMetaCommand(&store.MetaCommand{Op: store.MetaCreateChannel, Channel: name, Replicas: want}))
	if err != nil {
		return nil, err
	}
	return store.DecodeMetaResult(r)
}

// Nodes returns the registered nodes (this replica's view).
func (m *Meta) Nodes() ([]store.NodeInfo, error) {
	v, err := m.nh.StaleRead(store.MetaShardID, &store.MetaNodesQuery{})
	if err != nil {
		return nil, err
	}
	return v.([]store.NodeInfo), nil
}

// Node returns one registered node.
func (m *Meta) Node(id uint64) (store.NodeInfo, bool) {
	nodes, err := m.Nodes()
	if err != nil {
		return store.NodeInfo{}, false
	}
	for _, n := range nodes {
		if n.ID == id {
			return n, true
		}
	}
	return store.NodeInfo{}, false
}

// Close stops the background join. The replica itself stops with the NodeHost.
func (m *Meta) Close() {
	close(m.stop)
	m.wg.Wait()
}

// Channels returns the channel registry (this replica's view), sorted by name.
func (m *Meta) Channels() ([]store.ChannelInfo, error) {
	v, err := m.nh.StaleRead(store.MetaShardID, &store.MetaChannelsQuery{})
	if err != nil {
		return nil, err
	}
	return v.([]store.ChannelInfo), nil
}
