package store

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/vmihailenco/msgpack/v5"
)

// The metadata state machine: the cluster's single source of truth for node membership and the channel
// registry (channel -> shard id, replicas). It runs as its own small Raft group (MetaShardID) on up to 3
// or 5 nodes. Its state is small (a few hundred bytes per channel), so it lives in memory and is
// snapshotted whole; Dragonboat replays the log after the last snapshot on restart.
//
// Update is deterministic: placement reads only the replicated state (ties broken by node id), and ids
// come from counters in that state, so every replica allocates the same ids and they are never reused.

// MetaShardID is the Raft shard of the metadata group. Channel shards start at FirstChannelShardID.
const MetaShardID uint64 = 1

// NodeInfo is a cluster member as registered in the metadata group.
type NodeInfo struct {
	ID      uint64 `msgpack:"id"`
	Raft    string `msgpack:"raft"`    // Raft address (Dragonboat)
	Client  string `msgpack:"client"`  // client protocol listener
	Actor   string `msgpack:"actor"`   // protoactor remote address
	HTTP    string `msgpack:"http"`    // HTTP listener
	Removed bool   `msgpack:"removed"` // removed from the cluster; its id is never reused
	// Pending: added through the admin API (MetaAddNode) but not started yet, so it has not registered
	// its addresses. Pending nodes get no replicas.
	Pending bool `msgpack:"pending,omitempty"`
	// Draining: being removed. It gets no new replicas, and its replicas are moved to other nodes; once
	// it holds none, MetaRemoveNode marks it Removed.
	Draining bool `msgpack:"draining,omitempty"`
}

// holdsReplicas reports whether new replicas may be placed on the node.
func (n *NodeInfo) holdsReplicas() bool { return !n.Removed && !n.Pending && !n.Draining }

// Replica is one replica of a channel shard.
type Replica struct {
	ReplicaID uint64 `msgpack:"r"`
	NodeID    uint64 `msgpack:"n"`
	// Joining: added to replace a replica on a draining node and not yet confirmed caught up. It starts
	// with Dragonboat's join flag (no initial members) and does not count towards placement of the
	// channel's actor.
	Joining bool `msgpack:"j,omitempty"`
}

// ChannelInfo is a channel's registry entry.
type ChannelInfo struct {
	Name     string    `msgpack:"name"`
	ShardID  uint64    `msgpack:"shard"`
	Replicas []Replica `msgpack:"replicas"`
}

// ReplicaOn returns the channel's replica id on node, or 0.
func (c *ChannelInfo) ReplicaOn(node uint64) uint64 { return ReplicaOn(c.Replicas, node) }

// ReplicaOn returns the id of the replica among replicas that node holds, 0 if none.
func ReplicaOn(replicas []Replica, node uint64) uint64 {
	for _, r := range replicas {
		if r.NodeID == node {
			return r.ReplicaID
		}
	}
	return 0
}

// MetaOp is a metadata command.
type MetaOp uint8

const (
	// MetaRegisterNode adds a node or updates its addresses (a removed node stays removed).
	MetaRegisterNode MetaOp = 1
	// MetaCreateChannel registers a channel if it is new, placing its replicas; the result names it.
	MetaCreateChannel MetaOp = 2
	// MetaAddNode records a node added through the admin API (id and Raft address): it is Pending until
	// it starts and registers.
	MetaAddNode MetaOp = 3
	// MetaDrainNode starts removing a node: it gets no new replicas and its replicas are to be moved.
	MetaDrainNode MetaOp = 4
	// MetaAddReplica gives a channel a Joining replica on another node, to replace its replica on the
	// draining node Node.ID; Avoid lists nodes not to pick (down) unless no other fits. Idempotent: a
	// channel that already has a Joining replica gets no second one. The result names the channel.
	MetaAddReplica MetaOp = 5
	// MetaFinishMove drops the channel's replica Removed and marks replica Joined a full member (either
	// may be 0). The result names the channel.
	MetaFinishMove MetaOp = 6
	// MetaRemoveNode marks a draining node that holds no replica any more Removed.
	MetaRemoveNode MetaOp = 7

	// MetaSetBridgeCursors raises a NATS bridge rule's export cursors (meta_bridge.go). A distant value,
	// so that new membership ops can take the next small numbers.
	MetaSetBridgeCursors MetaOp = 32
)

// MetaCommand is the payload of a metadata proposal.
type MetaCommand struct {
	Op       MetaOp   `msgpack:"op"`
	Node     NodeInfo `msgpack:"node,omitempty"`
	Channel  string   `msgpack:"channel,omitempty"`
	Replicas int      `msgpack:"replicas,omitempty"` // wanted replica count; capped at the live node count
	Avoid    []uint64 `msgpack:"avoid,omitempty"`    // MetaAddReplica: nodes not to choose if others fit
	Removed  uint64   `msgpack:"removed,omitempty"`  // MetaFinishMove: replica id dropped
	Joined   uint64   `msgpack:"joined,omitempty"`   // MetaFinishMove: replica id now a full member

	Bridge *BridgeCursors `msgpack:"bridge,omitempty"` // MetaSetBridgeCursors
}

// EncodeMetaCommand encodes c for a proposal.
func EncodeMetaCommand(c *MetaCommand) []byte {
	b, err := msgpack.Marshal(c)
	if err != nil {
		panic(err) // plain struct of strings and ints: cannot fail
	}
	return b
}

// Metadata queries for Lookup (nh.SyncRead / StaleRead).
type (
	// MetaChannelQuery -> *ChannelInfo, nil when unknown.
	MetaChannelQuery struct{ Name string }
	// MetaNodesQuery -> []NodeInfo sorted by id (removed ones included).
	MetaNodesQuery struct{}
	// MetaChannelsQuery -> []ChannelInfo sorted by name.
	MetaChannelsQuery struct{}
)

// MetaState is the metadata group's replicated state.
type MetaState struct {
	Nodes         map[uint64]*NodeInfo    `msgpack:"nodes"`
	Channels      map[string]*ChannelInfo `msgpack:"channels"`
	NextShardID   uint64                  `msgpack:"next_shard"`
	NextReplicaID uint64                  `msgpack:"next_replica"`

	// BridgeCursors: NATS bridge export rule -> channel -> last seq exported (meta_bridge.go).
	BridgeCursors map[string]map[string]uint64 `msgpack:"bridge_cursors,omitempty"`

	// load: node -> replicas it holds, derived from Channels (not serialized: rebuilt once after a
	// restore by loads) and kept up to date by every command that changes a replica list, so that
	// placing a channel costs O(nodes), not a scan of every registered channel.
	load map[uint64]int
}

// loads returns the per-node replica counts, counting them once if they are not known yet.
func (s *MetaState) loads() map[uint64]int {
	if s.load == nil {
		s.load = map[uint64]int{}
		for _, ch := range s.Channels {
			for _, r := range ch.Replicas {
				s.load[r.NodeID]++
			}
		}
	}
	return s.load
}

// NewMetaState returns the empty state.
func NewMetaState() *MetaState {
	return &MetaState{Nodes: map[uint64]*NodeInfo{}, Channels: map[string]*ChannelInfo{},
		NextShardID: FirstChannelShardID, NextReplicaID: 1}
}

// Apply applies one command. It returns the channel concerned for MetaCreateChannel.
func (s *MetaState) Apply(c *MetaCommand) (*ChannelInfo, error) {
	switch c.Op {
	case MetaRegisterNode:
		if c.Node.ID == 0 {
			return nil, errors.New("node id 0")
		}
		if old := s.Nodes[c.Node.ID]; old != nil && old.Removed {
			return nil, fmt.Errorf("node %d was removed", c.Node.ID)
		}
		n := c.Node
		n.Removed, n.Pending = false, false
		if old := s.Nodes[c.Node.ID]; old != nil {
			n.Draining = old.Draining // a restart does not cancel a removal
		}
		s.Nodes[n.ID] = &n
		return nil, nil
	case MetaCreateChannel:
		if ch := s.Channels[c.Channel]; ch != nil {
			return ch, nil
		}
		if c.Channel == "" {
			return nil, errors.New("empty channel name")
		}
		nodes := s.place(max(c.Replicas, 1))
		if len(nodes) == 0 {
			return nil, errors.New("no live node to place the channel on")
		}
		ch := &ChannelInfo{Name: c.Channel, ShardID: s.NextShardID}
		s.NextShardID++
		load := s.loads()
		for _, n := range nodes {
			ch.Replicas = append(ch.Replicas, Replica{ReplicaID: s.NextReplicaID, NodeID: n})
			s.NextReplicaID++
			load[n]++
		}
		s.Channels[c.Channel] = ch
		return ch, nil
	case MetaAddNode:
		return nil, s.addNode(c.Node)
	case MetaDrainNode:
		return nil, s.drainNode(c.Node.ID)
	case MetaAddReplica:
		return s.addReplica(c.Channel, c.Node.ID, c.Avoid)
	case MetaFinishMove:
		return s.finishMove(c.Channel, c.Removed, c.Joined)
	case MetaRemoveNode:
		return nil, s.removeNode(c.Node.ID)
	case MetaSetBridgeCursors:
		return nil, s.setBridgeCursors(c.Bridge)
	default:
		return nil, fmt.Errorf("unknown metadata op %d", c.Op)
	}
}

// place picks the n nodes that may hold replicas holding the fewest (ties: lowest node id), skipping
// the nodes in skip.
func (s *MetaState) place(n int, skip ...uint64) []uint64 {
	load := map[uint64]int{}
	var live []uint64
	held := s.loads()
	for id, node := range s.Nodes {
		if node.holdsReplicas() && !slices.Contains(skip, id) {
			live = append(live, id)
			load[id] = held[id]
		}
	}
	sort.Slice(live, func(i, j int) bool {
		if load[live[i]] != load[live[j]] {
			return load[live[i]] < load[live[j]]
		}
		return live[i] < live[j]
	})
	if n > len(live) {
		n = len(live)
	}
	out := append([]uint64(nil), live[:n]...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (s *MetaState) addNode(n NodeInfo) error {
	if n.ID == 0 || n.Raft == "" {
		return errors.New("a node needs an id >= 1 and a raft address")
	}
	if old := s.Nodes[n.ID]; old != nil {
		switch {
		case old.Removed:
			return fmt.Errorf("node %d was removed; node ids are never reused", n.ID)
		case old.Raft != n.Raft:
			return fmt.Errorf("node %d already exists with raft address %s", n.ID, old.Raft)
		}
		return nil // added twice: nothing to do
	}
	for _, o := range s.Nodes {
		if o.Raft == n.Raft && !o.Removed {
			return fmt.Errorf("raft address %s belongs to node %d", n.Raft, o.ID)
		}
	}
	s.Nodes[n.ID] = &NodeInfo{ID: n.ID, Raft: n.Raft, Pending: true}
	return nil
}

// drainNode refuses a removal that would leave some channel fewer nodes than it has replicas: the
// replicas are re-created elsewhere before the node goes, so that no channel drops below its count.
func (s *MetaState) drainNode(id uint64) error {
	n := s.Nodes[id]
	if n == nil || n.Removed {
		return fmt.Errorf("node %d is not a member", id)
	}
	if n.Draining {
		return nil
	}
	others := 0
	for _, o := range s.Nodes {
		if o.ID != id && o.holdsReplicas() {
			others++
		}
	}
	if others == 0 {
		return fmt.Errorf("node %d is the last node that can hold channels", id)
	}
	for _, ch := range s.sortedChannels() {
		if ch.ReplicaOn(id) != 0 && len(ch.Replicas) > others {
			return fmt.Errorf("channel %s has %d replicas and only %d other nodes can hold them: add a node first", ch.Name, len(ch.Replicas), others)
		}
	}
	n.Draining = true
	return nil
}

func (s *MetaState) addReplica(channel string, from uint64, avoid []uint64) (*ChannelInfo, error) {
	ch := s.Channels[channel]
	if ch == nil {
		return nil, fmt.Errorf("channel %s not found", channel)
	}
	for _, r := range ch.Replicas {
		if r.Joining {
			return ch, nil // a move is already under way
		}
	}
	if ch.ReplicaOn(from) == 0 {
		return ch, nil // moved already
	}
	holders := make([]uint64, 0, len(ch.Replicas)+len(avoid))
	for _, r := range ch.Replicas {
		holders = append(holders, r.NodeID)
	}
	to := s.place(1, append(holders, avoid...)...)
	if len(to) == 0 {
		to = s.place(1, holders...)
	}
	if len(to) == 0 {
		return nil, fmt.Errorf("no node can take a replica of %s", channel)
	}
	ch.Replicas = append(ch.Replicas, Replica{ReplicaID: s.NextReplicaID, NodeID: to[0], Joining: true})
	s.NextReplicaID++
	s.loads()[to[0]]++
	return ch, nil
}

func (s *MetaState) finishMove(channel string, removed, joined uint64) (*ChannelInfo, error) {
	ch := s.Channels[channel]
	if ch == nil {
		return nil, fmt.Errorf("channel %s not found", channel)
	}
	if removed != 0 && len(ch.Replicas) == 1 && ch.Replicas[0].ReplicaID == removed {
		// A late or hand-made command: the drain protocol never removes a channel's last replica.
		return nil, fmt.Errorf("replica %d is the only replica of %s", removed, channel)
	}
	load := s.loads()
	out := ch.Replicas[:0]
	for _, r := range ch.Replicas {
		if r.ReplicaID == removed && removed != 0 {
			load[r.NodeID]--
			continue
		}
		if r.ReplicaID == joined {
			r.Joining = false
		}
		out = append(out, r)
	}
	ch.Replicas = out
	return ch, nil
}

// sortedChannels lists the channels by name: an error naming "the first" channel must name the same
// one on every replica.
func (s *MetaState) sortedChannels() []*ChannelInfo {
	out := make([]*ChannelInfo, 0, len(s.Channels))
	for _, ch := range s.Channels {
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *MetaState) removeNode(id uint64) error {
	n := s.Nodes[id]
	if n == nil {
		return fmt.Errorf("node %d is not a member", id)
	}
	if n.Removed {
		return nil
	}
	if !n.Draining && !n.Pending {
		return fmt.Errorf("node %d is not being removed", id)
	}
	for _, ch := range s.sortedChannels() {
		if ch.ReplicaOn(id) != 0 {
			return fmt.Errorf("node %d still holds a replica of %s", id, ch.Name)
		}
	}
	n.Removed, n.Draining, n.Pending = true, false, false
	return nil
}

// Lookup answers a metadata query from the state.
func (s *MetaState) Lookup(q any) (any, error) {
	switch q := q.(type) {
	case *MetaChannelQuery:
		if ch := s.Channels[q.Name]; ch != nil {
			c := *ch
			c.Replicas = append([]Replica(nil), ch.Replicas...)
			return &c, nil
		}
		return (*ChannelInfo)(nil), nil
	case MetaChannelQuery:
		return s.Lookup(&q)
	case *MetaNodesQuery, MetaNodesQuery:
		out := make([]NodeInfo, 0, len(s.Nodes))
		for _, n := range s.Nodes {
			out = append(out, *n)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		return out, nil
	case *MetaChannelsQuery, MetaChannelsQuery:
		out := make([]ChannelInfo, 0, len(s.Channels))
		for _, c := range s.Channels {
			cc := *c
			cc.Replicas = append([]Replica(nil), c.Replicas...)
			out = append(out, cc)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	case *MetaBridgeCursorsQuery:
		return s.bridgeCursors(q.Rule), nil
	default:
		return nil, fmt.Errorf("unknown metadata query %T", q)
	}
}

// metaSM is the Dragonboat IStateMachine around MetaState.
type metaSM struct {
	mu    sync.RWMutex
	state *MetaState
}

// NewMetaStateMachine is the Dragonboat factory for the metadata shard.
func NewMetaStateMachine(shardID, replicaID uint64) sm.IStateMachine {
	return &metaSM{state: NewMetaState()}
}

// Update implements sm.IStateMachine. A command that cannot apply (bad op, removed node) is answered
// with Value ResultRejected and the error text in Data; the entry still counts as applied.
func (m *metaSM) Update(e sm.Entry) (sm.Result, error) {
	var c MetaCommand
	if err := msgpack.Unmarshal(e.Cmd, &c); err != nil {
		return sm.Result{Value: ResultRejected, Data: []byte(err.Error())}, nil
	}
	m.mu.Lock()
	ch, err := m.state.Apply(&c)
	m.mu.Unlock()
	if err != nil {
		return sm.Result{Value: ResultRejected, Data: []byte(err.Error())}, nil
	}
	if ch == nil {
		return sm.Result{}, nil
	}
	b, _ := msgpack.Marshal(ch)
	return sm.Result{Value: ch.ShardID, Data: b}, nil
}

// DecodeMetaResult returns the channel a MetaCreateChannel proposal created or found.
func DecodeMetaResult(r sm.Result) (*ChannelInfo, error) {
	if r.Value == ResultRejected {
		return nil, fmt.Errorf("sampan: metadata command rejected: %s", r.Data)
	}
	var ch ChannelInfo
	if err := msgpack.Unmarshal(r.Data, &ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// Lookup implements sm.IStateMachine.
func (m *metaSM) Lookup(q any) (any, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.state.Lookup(q)
}

// SaveSnapshot implements sm.IStateMachine: the whole state in msgpack.
func (m *metaSM) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	m.mu.RLock()
	b, err := msgpack.Marshal(m.state)
	m.mu.RUnlock()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// RecoverFromSnapshot implements sm.IStateMachine.
func (m *metaSM) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	st := NewMetaState()
	if err := msgpack.Unmarshal(b, st); err != nil {
		return err
	}
	m.mu.Lock()
	m.state = st
	m.mu.Unlock()
	return nil
}

// Close implements sm.IStateMachine.
func (m *metaSM) Close() error { return nil }
