package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/vmihailenco/msgpack/v5"
)

// The cluster's metadata: node membership, the channel registry (channel -> shard id, replicas),
// placement and the NATS bridge's export cursors. One Raft group replicates it, on 3 or 5 voters with
// every other node a non-voting member. Two state machines can hold it:
//
//   - the on-disk registry (registry.go) on shard RegistryShardID: the registry lives in the node's
//     pebble store and only the nodes and per-node counters stay in memory. Every data dir created by
//     this build runs it.
//   - the legacy group (this file: MetaState, metaSM) on shard LegacyMetaShardID: everything in memory,
//     snapshotted whole. Data dirs created by builds before the on-disk registry hold it; this build
//     runs it only until the cluster has moved its state into the on-disk registry (meta_migrate.go,
//     docs/decisions/0016-on-disk-registry.md). Dragonboat refuses to reopen a shard with another
//     state machine type, hence the second shard id.
//
// Both apply the same commands with the same code (meta_core.go). Update is deterministic: placement
// reads only the replicated state (ties broken by node id), and ids come from counters in that state,
// so every replica allocates the same ids and they are never reused.

// Shard ids of the metadata groups. Channel shards start at FirstChannelShardID, so neither can collide
// with one.
const (
	// LegacyMetaShardID is the in-memory metadata group of data dirs from builds before the on-disk
	// registry.
	LegacyMetaShardID uint64 = 1
	// RegistryShardID is the on-disk registry's group.
	RegistryShardID uint64 = 2
)

// RegistryVersion is what a node of this build registers as NodeInfo.Registry: it runs the on-disk
// registry, and migrates to it.
const RegistryVersion uint8 = 2

// ResultMigrated is the sm.Result.Value the legacy group answers to every command once it has applied
// MetaMigrate: its state is frozen and moved to RegistryShardID, where the command must go.
const ResultMigrated uint64 = math.MaxUint64 - 1

// ErrMetaMigrated is DecodeMetaResult's error for ResultMigrated.
// ErrOwnerLimit: a MetaCreateChannel for a new channel whose owner already created OwnerLimit.
var ErrOwnerLimit = errors.New("sampan: channel limit reached")

// ownerLimitText starts the rejection text of a create over its owner's limit (DecodeMetaResult).
const ownerLimitText = "owner limit: "

var ErrMetaMigrated = errors.New("sampan: the legacy metadata group moved to the on-disk registry")

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
	// Replaced: drained because it stayed down past cluster.replace_after, not by an operator (set by
	// MetaDrainNode with Node.Replaced); kept once it is Removed.
	Replaced bool `msgpack:"replaced,omitempty"`
	// Registry is the metadata format the node's build runs, set by the node's own MetaRegisterNode:
	// RegistryVersion, or 0 for builds before the on-disk registry (they do not send it). The legacy
	// group migrates only once every member node registered with RegistryVersion.
	Registry uint8 `msgpack:"registry,omitempty"`
	// Migrating is set by MetaImport on every node that held a legacy replica and cleared by the node's
	// own MetaRegisterNode on the registry: until then it may still need the legacy group's log (it may
	// not have applied MetaMigrate yet), so every node keeps its legacy replica while any is Migrating.
	Migrating bool `msgpack:"migrating,omitempty"`
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
	// MetaMigrate (legacy group only) freezes the legacy state where it is applied and names the voters
	// the on-disk registry's group starts with (Migrate). Builds before the on-disk registry answer it
	// "unknown metadata op" and change nothing.
	MetaMigrate MetaOp = 8
	// MetaImport (on-disk registry only) imports one chunk of the frozen legacy state (Import).
	MetaImport MetaOp = 9

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
	// MetaCreateChannel: the user creating the channel, counted against OwnerLimit (0: no bound)
	// when the channel is new. Builds before these fields create the channel without counting it, so
	// every node must run a build that has them before users are given max_channels.
	Owner      string `msgpack:"owner,omitempty"`
	OwnerLimit int    `msgpack:"owner_limit,omitempty"`

	Bridge  *BridgeCursors `msgpack:"bridge,omitempty"`  // MetaSetBridgeCursors
	Migrate *MigrateInfo   `msgpack:"migrate,omitempty"` // MetaMigrate
	Import  *ImportChunk   `msgpack:"import,omitempty"`  // MetaImport
}

// EncodeMetaCommand encodes c for a proposal.
func EncodeMetaCommand(c *MetaCommand) []byte {
	b, err := msgpack.Marshal(c)
	if err != nil {
		panic(err) // plain struct of strings and ints: cannot fail
	}
	return b
}

// Channel pages: a query without a limit gets DefaultChannelPage entries, and none gets more than
// MaxChannelPage.
const (
	DefaultChannelPage = 1000
	MaxChannelPage     = 10000
)

// Metadata queries for Lookup (nh.SyncRead / StaleRead). Both state machines answer all of them but
// the migration queries, which each answers only for its own side.
type (
	// MetaChannelQuery -> *ChannelInfo, nil when unknown.
	MetaChannelQuery struct{ Name string }
	// MetaNodesQuery -> []NodeInfo sorted by id (removed ones included).
	MetaNodesQuery struct{}
	// MetaChannelsQuery -> *ChannelPage: the channels whose name starts with Prefix and sorts after
	// After, by name, at most Limit (see DefaultChannelPage).
	MetaChannelsQuery struct {
		Prefix, After string
		Limit         int
	}
	// MetaNodeChannelsQuery -> *ChannelPage: the channels with a replica on Node whose name sorts
	// after After, by name, at most Limit. The on-disk registry answers it from its per-node index.
	MetaNodeChannelsQuery struct {
		Node  uint64
		After string
		Limit int
	}
	// MetaLoadsQuery -> map[uint64]int: node -> channel replicas it holds (nodes holding none left out).
	MetaLoadsQuery struct{}
	// MetaStatsQuery -> MetaStats.
	MetaStatsQuery struct{}
	// MetaOwnedQuery -> int: how many channels Owner created (MetaCommand.Owner).
	MetaOwnedQuery struct{ Owner string }
)

// ChannelPage is one page of a channel listing. Next is the name to pass as After for the next page,
// empty when the listing is complete.
type ChannelPage struct {
	Channels []ChannelInfo
	Next     string
}

// MetaStats counts the registry.
type MetaStats struct {
	Channels uint64
}

// pageLimit clamps a query's limit.
func pageLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultChannelPage
	case n > MaxChannelPage:
		return MaxChannelPage
	}
	return n
}

// DecodeMetaResult returns the channel a command whose result names one (MetaCreateChannel,
// MetaAddReplica, MetaFinishMove) created or found.
func DecodeMetaResult(r sm.Result) (*ChannelInfo, error) {
	switch r.Value {
	case ResultRejected:
		if bytes.HasPrefix(r.Data, []byte(ownerLimitText)) {
			return nil, fmt.Errorf("%w: %s", ErrOwnerLimit, r.Data)
		}
		return nil, fmt.Errorf("sampan: metadata command rejected: %s", r.Data)
	case ResultMigrated:
		return nil, ErrMetaMigrated
	}
	var ch ChannelInfo
	if err := msgpack.Unmarshal(r.Data, &ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// metaResult turns what a command did into its sm.Result.
func metaResult(ch *ChannelInfo, err error) sm.Result {
	if err != nil {
		return sm.Result{Value: ResultRejected, Data: []byte(err.Error())}
	}
	if ch == nil {
		return sm.Result{}
	}
	b, _ := msgpack.Marshal(ch)
	return sm.Result{Value: ch.ShardID, Data: b}
}

// MetaState is the legacy group's replicated state, all in memory.
type MetaState struct {
	Nodes         map[uint64]*NodeInfo    `msgpack:"nodes"`
	Channels      map[string]*ChannelInfo `msgpack:"channels"`
	NextShardID   uint64                  `msgpack:"next_shard"`
	NextReplicaID uint64                  `msgpack:"next_replica"`

	// BridgeCursors: NATS bridge export rule -> channel -> last seq exported (meta_bridge.go).
	BridgeCursors map[string]map[string]uint64 `msgpack:"bridge_cursors,omitempty"`

	// Migrated is set by MetaMigrate: from then on the state is frozen (every command is answered
	// ResultMigrated) and moves to the on-disk registry (meta_migrate.go). Builds before it drop the
	// field when they decode a snapshot, but they never apply MetaMigrate (they reject the op).
	Migrated *MigrateInfo `msgpack:"migrated,omitempty"`

	// Owned: user -> channels it created (MetaCommand.Owner). The move to the on-disk registry does
	// not carry it: a user starts from 0 there.
	Owned map[string]int `msgpack:"owned,omitempty"`

	// held: node -> replicas it holds, derived from Channels (not serialized: rebuilt once after a
	// restore by loads) and kept up to date by every command that changes a replica list, so that
	// placing a channel costs O(nodes), not a scan of every registered channel.
	held map[uint64]int
}

// loads returns the per-node replica counts, counting them once if they are not known yet.
func (s *MetaState) loads() map[uint64]int {
	if s.held == nil {
		s.held = map[uint64]int{}
		for _, ch := range s.Channels {
			for _, r := range ch.Replicas {
				s.held[r.NodeID]++
			}
		}
	}
	return s.held
}

// NewMetaState returns the empty state.
func NewMetaState() *MetaState {
	return &MetaState{Nodes: map[uint64]*NodeInfo{}, Channels: map[string]*ChannelInfo{},
		NextShardID: FirstChannelShardID, NextReplicaID: 1}
}

// Apply applies one command. It returns the channel concerned for the commands whose result names one.
// Once the state is frozen by MetaMigrate it refuses every command with ErrMetaMigrated.
func (s *MetaState) Apply(c *MetaCommand) (*ChannelInfo, error) { return s.applyAt(c, 0) }

// applyAt applies the command of log entry index.
func (s *MetaState) applyAt(c *MetaCommand, index uint64) (*ChannelInfo, error) {
	if s.Migrated != nil {
		return nil, ErrMetaMigrated
	}
	if c.Op == MetaMigrate {
		return nil, s.migrate(c.Migrate, index)
	}
	return applyMeta(s, c)
}

// metaTxn over the maps (meta_core.go). The legacy state is changed in place: Update applies one
// command at a time and a failed command changes nothing before it fails.

func (s *MetaState) nodeList() []*NodeInfo {
	out := make([]*NodeInfo, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *MetaState) node(id uint64) *NodeInfo {
	if n := s.Nodes[id]; n != nil {
		c := *n
		return &c
	}
	return nil
}

func (s *MetaState) putNode(n *NodeInfo)          { s.Nodes[n.ID] = n }
func (s *MetaState) load(id uint64) int           { return s.loads()[id] }
func (s *MetaState) addLoad(id uint64, delta int) { s.loads()[id] += delta }

func (s *MetaState) owned(owner string) (int, error) { return s.Owned[owner], nil }

func (s *MetaState) addOwned(owner string) error {
	if s.Owned == nil {
		s.Owned = map[string]int{}
	}
	s.Owned[owner]++
	return nil
}

func (s *MetaState) allocShard() uint64 {
	s.NextShardID++
	return s.NextShardID - 1
}

func (s *MetaState) allocReplica() uint64 {
	s.NextReplicaID++
	return s.NextReplicaID - 1
}

func (s *MetaState) channel(name string) (*ChannelInfo, error) {
	if ch := s.Channels[name]; ch != nil {
		return ch.clone(), nil
	}
	return nil, nil
}

func (s *MetaState) putChannel(_, ch *ChannelInfo) error {
	s.Channels[ch.Name] = ch
	return nil
}

func (s *MetaState) channelsOn(node uint64, fn func(*ChannelInfo) bool) error {
	for _, name := range s.sortedNames() {
		if ch := s.Channels[name]; ch.ReplicaOn(node) != 0 && !fn(ch) {
			return nil
		}
	}
	return nil
}

// sortedNames lists the channels by name: an error naming "the first" channel must name the same one
// on every replica.
func (s *MetaState) sortedNames() []string {
	out := make([]string, 0, len(s.Channels))
	for name := range s.Channels {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Lookup answers a metadata query from the state. names, when not nil, is the state's channel names
// in order (the frozen state's, computed once).
func (s *MetaState) lookup(q any, names []string) (any, error) {
	switch q := q.(type) {
	case *MetaChannelQuery:
		if ch := s.Channels[q.Name]; ch != nil {
			return ch.clone(), nil
		}
		return (*ChannelInfo)(nil), nil
	case MetaChannelQuery:
		return s.lookup(&q, names)
	case *MetaNodesQuery, MetaNodesQuery:
		out := make([]NodeInfo, 0, len(s.Nodes))
		for _, n := range s.nodeList() {
			out = append(out, *n)
		}
		return out, nil
	case *MetaChannelsQuery:
		if names == nil {
			names = s.sortedNames()
		}
		return s.page(names, q.Prefix, q.After, q.Limit, 0), nil
	case MetaChannelsQuery:
		return s.lookup(&q, names)
	case *MetaNodeChannelsQuery:
		if names == nil {
			names = s.sortedNames()
		}
		return s.page(names, "", q.After, q.Limit, q.Node), nil
	case MetaNodeChannelsQuery:
		return s.lookup(&q, names)
	case *MetaLoadsQuery, MetaLoadsQuery:
		out := map[uint64]int{}
		for id, n := range s.loads() {
			if n != 0 {
				out[id] = n
			}
		}
		return out, nil
	case *MetaStatsQuery, MetaStatsQuery:
		return MetaStats{Channels: uint64(len(s.Channels))}, nil
	case *MetaOwnedQuery:
		return s.Owned[q.Owner], nil
	case MetaOwnedQuery:
		return s.Owned[q.Owner], nil
	case *MetaBridgeCursorsQuery:
		return s.bridgeCursors(q.Rule), nil
	case *MetaMigrationQuery, MetaMigrationQuery:
		if s.Migrated == nil {
			return (*MigrateInfo)(nil), nil
		}
		m := *s.Migrated
		return &m, nil
	default:
		return nil, fmt.Errorf("unknown metadata query %T", q)
	}
}

// page lists the channels of names (sorted) that start with prefix, sort after after and, with node
// not 0, hold a replica on node.
func (s *MetaState) page(names []string, prefix, after string, limit int, node uint64) *ChannelPage {
	limit = pageLimit(limit)
	start := max(after, prefix)
	i, _ := slices.BinarySearch(names, start)
	p := &ChannelPage{}
	for ; i < len(names) && strings.HasPrefix(names[i], prefix); i++ {
		name := names[i]
		if name == after {
			continue
		}
		ch := s.Channels[name]
		if node != 0 && ch.ReplicaOn(node) == 0 {
			continue
		}
		if len(p.Channels) == limit {
			p.Next = p.Channels[limit-1].Name
			break
		}
		p.Channels = append(p.Channels, *ch.clone())
	}
	return p
}

// metaSM is the Dragonboat IStateMachine of the legacy group around MetaState.
type metaSM struct {
	mu    sync.RWMutex
	state *MetaState

	// export is built once the state is frozen and the export is asked for (meta_migrate.go); names is
	// the channel names in order for listings, valid while it has as many names as the state has
	// channels (the legacy state never deletes one). cacheMu guards both; RecoverFromSnapshot resets
	// them with the state. Lock order: cacheMu before mu.
	cacheMu sync.Mutex
	export  *legacyExport
	names   []string
}

// NewMetaStateMachine is the Dragonboat factory for the legacy metadata group (LegacyMetaShardID).
func NewMetaStateMachine(shardID, replicaID uint64) sm.IStateMachine {
	return &metaSM{state: NewMetaState()}
}

// Update implements sm.IStateMachine. A command that cannot apply (bad op, removed node) is answered
// with Value ResultRejected and the error text in Data; the entry still counts as applied. Once frozen
// every command is answered ResultMigrated.
func (m *metaSM) Update(e sm.Entry) (sm.Result, error) {
	var c MetaCommand
	if err := msgpack.Unmarshal(e.Cmd, &c); err != nil {
		return sm.Result{Value: ResultRejected, Data: []byte(err.Error())}, nil
	}
	m.mu.Lock()
	ch, err := m.state.applyAt(&c, e.Index)
	m.mu.Unlock()
	if errors.Is(err, ErrMetaMigrated) {
		return sm.Result{Value: ResultMigrated}, nil
	}
	return metaResult(ch, err), nil
}

// Lookup implements sm.IStateMachine.
func (m *metaSM) Lookup(q any) (any, error) {
	if eq, ok := q.(*MetaExportQuery); ok {
		return m.exportChunk(eq)
	}
	var names []string
	switch q.(type) {
	case *MetaChannelsQuery, MetaChannelsQuery, *MetaNodeChannelsQuery, MetaNodeChannelsQuery:
		names = m.sortedNames()
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if names != nil && len(names) != len(m.state.Channels) {
		names = nil // a create or a restore in between: lookup sorts its own
	}
	return m.state.lookup(q, names)
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
	m.cacheMu.Lock()
	m.export, m.names = nil, nil
	m.cacheMu.Unlock()
	return nil
}

// sortedNames returns the state's channel names in order, sorting them only when channels were added
// since the last call.
func (m *metaSM) sortedNames() []string {
	m.cacheMu.Lock()
	defer m.cacheMu.Unlock()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.names) != len(m.state.Channels) {
		m.names = m.state.sortedNames()
	}
	return m.names
}

// Close implements sm.IStateMachine.
func (m *metaSM) Close() error { return nil }
