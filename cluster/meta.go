package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	sm "github.com/lni/dragonboat/v4/statemachine"
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
	Peers    []Peer         // every node of the initial cluster, this one included (empty when joining)
	Replicas int            // replica count of new channels (capped at the node count)
	// Join: this node was added to a running cluster (POST /cluster/nodes) or is listed in --peers beyond
	// the metadata group's initial members. Its metadata replica starts empty and is brought in by the
	// group's leader, first as a non-voting member.
	Join bool
	// DB is the node's store: the on-disk registry keeps its state there.
	DB *store.DB
	// Dir is the node's data dir, where the metadata keeps three small files: the role each metadata
	// replica was created with ("meta-role" for the legacy group, "registry-role"; see writeRole) and the
	// marker of a finished migration ("registry-migrated"). Empty: no files (roles derived from Join and
	// Peers; a migration cannot be resumed after a restart).
	Dir string
	// Up reports whether a node is believed alive (promotion picks live nodes only); nil: all are.
	Up  func(id uint64) bool
	Log zerolog.Logger

	// Legacy makes this node act as a build from before the on-disk registry: it runs the legacy group
	// (creating it on a new data dir), registers without RegistryVersion and never migrates. Only the
	// migration tests set it, to make the data dirs an upgrade starts from.
	Legacy bool
	// ExportBytes is the size of one chunk of a migration's import (store.MetaExportQuery.MaxBytes; 0:
	// 512 KiB). Tests set it small to cut an import into many chunks.
	ExportBytes int
	// Hook, when set, is called before each step of a migration with the step's name (migrate.go);
	// returning false stops the migration there, as if the node had crashed before the step, until it
	// restarts. Only tests set it.
	Hook func(step string) bool
}

// Files in MetaConfig.Dir.
const (
	legacyRoleFile   = "meta-role"
	registryRoleFile = "registry-role"
	migratedFile     = "registry-migrated"
)

func (c *MetaConfig) file(name string) string {
	if c.Dir == "" {
		return ""
	}
	return filepath.Join(c.Dir, name)
}

// Meta is this node's handle on the metadata group: node membership and the channel registry.
type Meta struct {
	nh  *dragonboat.NodeHost
	cfg MetaConfig
	// shard is the metadata shard this node reads and proposes to: store.RegistryShardID, or
	// store.LegacyMetaShardID while the node runs the legacy group and has not switched. Written by
	// StartMeta and, once, by the migration's switch step.
	shard atomic.Uint64
	// switched is closed by the migration's switch step; proposals answered store.ResultMigrated wait
	// for it. Nil when the node started on the registry (or in Legacy mode): nothing to wait for.
	switched chan struct{}
	// migration is the migration's progress (migrate.go), written by its goroutine.
	migration atomic.Pointer[MigrationStatus]
	ready     atomic.Bool
	stop      chan struct{}
	wg        sync.WaitGroup
}

// StartMeta starts this node's metadata replica (or replicas, during a migration) and, in the
// background, registers the node and then waits for the read-index barrier that makes it ready (Ready).
//
// Which group it starts follows from the data dir: a new one, or one whose migration finished, runs
// the on-disk registry; one that holds the legacy group (builds before it) starts that group as before,
// and the registry's too if the migration had started it, and resumes the migration (migrate.go).
func StartMeta(nh *dragonboat.NodeHost, cfg MetaConfig) (*Meta, error) {
	for _, p := range cfg.Peers {
		if p.ID == cfg.Self.ID && p.Raft != cfg.Self.Raft {
			return nil, fmt.Errorf("sampan: --peers gives node %d the raft address %s but this node has %s", p.ID, p.Raft, cfg.Self.Raft)
		}
	}
	if cfg.DB == nil && !cfg.Legacy {
		return nil, errors.New("sampan: the metadata needs the node's store")
	}
	if !cfg.Legacy {
		cfg.Self.Registry = store.RegistryVersion
	}
	m := &Meta{nh: nh, cfg: cfg, stop: make(chan struct{})}
	self := cfg.Self.ID
	legacyHere := nh.HasNodeInfo(store.LegacyMetaShardID, self)
	registryHere := nh.HasNodeInfo(store.RegistryShardID, self)
	_, err := os.Stat(cfg.file(migratedFile))
	migrated := cfg.Dir != "" && err == nil
	switch {
	case cfg.Legacy:
		if registryHere || migrated {
			return nil, errors.New("sampan: this data dir runs the on-disk registry; it cannot run the legacy metadata group")
		}
		if err := m.startLegacy(); err != nil {
			return nil, err
		}
		m.shard.Store(store.LegacyMetaShardID)
	case legacyHere && !migrated:
		if err := m.startLegacy(); err != nil {
			return nil, err
		}
		if registryHere {
			if err := m.startRegistry(nil, false); err != nil {
				return nil, err
			}
		}
		m.shard.Store(store.LegacyMetaShardID)
		m.switched = make(chan struct{})
		m.migration.Store(&MigrationStatus{Step: "starting"})
		m.wg.Add(1)
		go m.migrate(registryHere)
	default:
		if legacyHere { // the migration finished but the node stopped before the legacy data was removed
			if err := m.removeLegacy(); err != nil {
				return nil, err
			}
		}
		initial, join := map[uint64]dragonboat.Target{}, cfg.Join
		isMember := false
		for _, p := range MetaMembers(cfg.Peers) {
			initial[p.ID] = p.Raft
			isMember = isMember || p.ID == self
		}
		if err := m.startRegistry(initial, join || !isMember); err != nil {
			return nil, err
		}
		m.shard.Store(store.RegistryShardID)
	}
	m.wg.Add(1)
	go m.join()
	return m, nil
}

// metaRaftConfig is the Raft config of both metadata groups.
func metaRaftConfig(shard, replica uint64, nonVoting bool) config.Config {
	return config.Config{ShardID: shard, ReplicaID: replica, ElectionRTT: 10, HeartbeatRTT: 1,
		CheckQuorum: true, PreVote: true, SnapshotEntries: 1000, CompactionOverhead: 500, IsNonVoting: nonVoting}
}

// startReplica starts this node's replica of a metadata group: initial members for a new replica
// that is one (empty when join is set or the replica exists already). roleFile records the role the
// replica was created with: Dragonboat must be given that same role on every restart (it replays the
// membership changes since, a promotion among them, from it; replaying "add this replica as
// non-voting" on a replica started as a voter panics).
func (m *Meta) startReplica(shard uint64, initial map[uint64]dragonboat.Target, join bool, roleFile string, start func(map[uint64]dragonboat.Target, bool, config.Config) error) error {
	role := readRole(roleFile)
	switch {
	case m.nh.HasNodeInfo(shard, m.cfg.Self.ID):
		// Restart: Dragonboat has the membership; initial members must then be empty (or match the
		// bootstrap record exactly, which they no longer do once members were added or removed).
		if role == "" {
			role = roleFor(join)
		}
		initial, join = nil, false
	case join:
		initial = nil
		role = roleNonVoting // the leader adds a joining node as non-voting and promotes it later
	default:
		role = roleVoter
	}
	if err := writeRole(roleFile, role); err != nil {
		return err
	}
	err := start(initial, join, metaRaftConfig(shard, m.cfg.Self.ID, role == roleNonVoting))
	if err != nil && !errors.Is(err, dragonboat.ErrShardAlreadyExist) {
		return fmt.Errorf("sampan: start metadata replica (shard %d): %w", shard, err)
	}
	return nil
}

// startLegacy starts (or restarts) this node's replica of the legacy group.
func (m *Meta) startLegacy() error {
	join := m.cfg.Join
	initial := map[uint64]dragonboat.Target{}
	isMember := false
	for _, p := range MetaMembers(m.cfg.Peers) {
		initial[p.ID] = p.Raft
		isMember = isMember || p.ID == m.cfg.Self.ID
	}
	return m.startReplica(store.LegacyMetaShardID, initial, join || !isMember, m.cfg.file(legacyRoleFile),
		func(initial map[uint64]dragonboat.Target, join bool, rc config.Config) error {
			return m.nh.StartReplica(initial, join, store.NewMetaStateMachine, rc)
		})
}

// startRegistry starts (or restarts) this node's replica of the on-disk registry.
func (m *Meta) startRegistry(initial map[uint64]dragonboat.Target, join bool) error {
	return m.startReplica(store.RegistryShardID, initial, join, m.cfg.file(registryRoleFile),
		func(initial map[uint64]dragonboat.Target, join bool, rc config.Config) error {
			return m.nh.StartOnDiskReplica(initial, join, store.NewRegistryStateMachine(m.cfg.DB), rc)
		})
}

// ShardID is the metadata shard this node uses now (store.RegistryShardID once migrated).
func (m *Meta) ShardID() uint64 { return m.shard.Load() }

// join registers this node (retrying while the group has no quorum, e.g. while peers are starting) and
// then passes a read-index barrier: once it returns, this replica has applied everything committed
// before, so the node never serves with stale placement.
func (m *Meta) join() {
	defer m.wg.Done()
	for attempt := 0; ; attempt++ {
		select {
		case <-m.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := m.register(ctx)
		cancel()
		if err == nil {
			m.ready.Store(true)
			m.cfg.Log.Info().Uint64("node", m.cfg.Self.ID).Uint64("shard", m.ShardID()).Msg("joined the cluster metadata")
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

// register proposes this node's registration and then reads through the group (read index) on the
// shard it registered with.
func (m *Meta) register(ctx context.Context) error {
	r, shard, err := m.syncPropose(ctx, &store.MetaCommand{Op: store.MetaRegisterNode, Node: m.cfg.Self})
	if err == nil && r.Value == store.ResultRejected {
		err = fmt.Errorf("%s", r.Data)
	}
	if err == nil {
		_, err = m.nh.SyncRead(ctx, shard, &store.MetaNodesQuery{})
	}
	return err
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

// ErrMigrating is returned for a metadata change made while this node's metadata moves to the
// on-disk registry and the move did not finish within the caller's deadline: retry.
var ErrMigrating = errors.New("sampan: cluster metadata is moving to the on-disk registry; retry")

// Channel returns a channel's registry entry, registering the channel when create is set and it is new.
// A new channel waits until min(Replicas, peers) nodes have registered, so that a cluster starting node
// by node does not create under-replicated channels.
func (m *Meta) Channel(ctx context.Context, name string, create bool) (*store.ChannelInfo, error) {
	return m.channel(ctx, name, create, "", 0)
}

// CreateOwned returns a channel's registry entry, registering the channel for owner when it is new
// unless owner already created limit channels (store.ErrOwnerLimit; limit 0: no bound).
func (m *Meta) CreateOwned(ctx context.Context, name, owner string, limit int) (*store.ChannelInfo, error) {
	return m.channel(ctx, name, true, owner, limit)
}

func (m *Meta) channel(ctx context.Context, name string, create bool, owner string, limit int) (*store.ChannelInfo, error) {
	if !m.Ready() {
		return nil, ErrNotReady
	}
	v, err := m.nh.StaleRead(m.ShardID(), &store.MetaChannelQuery{Name: name})
	if err != nil {
		return nil, err
	}
	if ch := v.(*store.ChannelInfo); ch != nil || !create {
		if ch == nil {
			return nil, store.ErrChannelNotFound
		}
		return ch, nil
	}
	nodes, err := m.Nodes()
	if err != nil {
		return nil, err
	}
	live := 0
	for _, n := range nodes {
		if !n.Removed && !n.Pending && !n.Draining {
			live++
		}
	}
	want := min(max(m.cfg.Replicas, 1), max(len(m.cfg.Peers), live))
	if live < want {
		return nil, fmt.Errorf("sampan: %d of %d nodes have joined; channel %s needs %d replicas", live, len(m.cfg.Peers), name, want)
	}
	return m.proposeChannel(ctx, &store.MetaCommand{Op: store.MetaCreateChannel, Channel: name, Replicas: want,
		Owner: owner, OwnerLimit: limit})
}

// proposeChannel proposes a command whose result is a channel entry.
func (m *Meta) proposeChannel(ctx context.Context, c *store.MetaCommand) (*store.ChannelInfo, error) {
	r, _, err := m.syncPropose(ctx, c)
	if err != nil {
		return nil, err
	}
	return store.DecodeMetaResult(r)
}

// syncPropose proposes c until it is appended or ctx ends, and returns the result and the shard that
// applied it. Busy (not accepted) and not-ready (dropped: no leader, or one transferring) mean the
// command was never appended, so proposing it again cannot apply it twice, even for commands that are
// not idempotent. Without this an election in the metadata group on a loaded machine failed an
// operator's DELETE /cluster/nodes/{id} with 503 (TestClusterAddAndRemoveNode -long, 1 run of 6). A
// command the legacy group answers ResultMigrated (frozen: nothing applied) waits for this node to
// switch to the registry and goes there (ErrMigrating if ctx ends first).
func (m *Meta) syncPropose(ctx context.Context, c *store.MetaCommand) (sm.Result, uint64, error) {
	cmd := store.EncodeMetaCommand(c)
	for {
		shard := m.ShardID()
		r, err := m.nh.SyncPropose(ctx, m.nh.GetNoOPSession(shard), cmd)
		if err == nil && r.Value == store.ResultMigrated && m.switched != nil {
			select {
			case <-m.switched:
				continue
			case <-ctx.Done():
				return r, shard, ErrMigrating
			case <-m.stop:
				return r, shard, ErrMigrating
			}
		}
		if err == nil || !(errors.Is(err, dragonboat.ErrSystemBusy) || errors.Is(err, dragonboat.ErrShardNotReady)) {
			return r, shard, err
		}
		select {
		case <-ctx.Done():
			return r, shard, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// propose proposes a command answered by nothing but success or rejection.
func (m *Meta) propose(ctx context.Context, c *store.MetaCommand) error {
	if !m.Ready() {
		return ErrNotReady
	}
	r, _, err := m.syncPropose(ctx, c)
	if err != nil {
		return err
	}
	if r.Value == store.ResultRejected {
		return &RejectedError{Reason: string(r.Data)}
	}
	return nil
}

// RejectedError is a metadata command the group refused (for example removing a node whose channels have
// nowhere to go). It is the caller's mistake, not a failure of the cluster.
type RejectedError struct{ Reason string }

func (e *RejectedError) Error() string { return "sampan: " + e.Reason }

// AddReplica gives channel a Joining replica on another node to replace its replica on node from (see
// store.MetaAddReplica). avoid lists nodes to pass over if another fits (nodes believed down).
func (m *Meta) AddReplica(ctx context.Context, channel string, from uint64, avoid []uint64) (*store.ChannelInfo, error) {
	return m.proposeChannel(ctx, &store.MetaCommand{Op: store.MetaAddReplica, Channel: channel, Node: store.NodeInfo{ID: from}, Avoid: avoid})
}

// FinishMove records a finished replica move: replica removed is gone, replica joined a full member.
func (m *Meta) FinishMove(ctx context.Context, channel string, removed, joined uint64) (*store.ChannelInfo, error) {
	return m.proposeChannel(ctx, &store.MetaCommand{Op: store.MetaFinishMove, Channel: channel, Removed: removed, Joined: joined})
}

// Nodes returns the registered nodes (this replica's view).
func (m *Meta) Nodes() ([]store.NodeInfo, error) {
	v, err := m.nh.StaleRead(m.ShardID(), &store.MetaNodesQuery{})
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

// Close stops the background registration and migration. The replicas themselves stop with the
// NodeHost.
func (m *Meta) Close() {
	close(m.stop)
	m.wg.Wait()
}

// ChannelPage lists registered channels (this replica's view) by name: those starting with prefix
// that sort after after, at most limit (store.DefaultChannelPage when <= 0, store.MaxChannelPage at
// most). Pass the page's Next as after for the next page.
func (m *Meta) ChannelPage(prefix, after string, limit int) (*store.ChannelPage, error) {
	v, err := m.nh.StaleRead(m.ShardID(), &store.MetaChannelsQuery{Prefix: prefix, After: after, Limit: limit})
	if err != nil {
		return nil, err
	}
	return v.(*store.ChannelPage), nil
}

// NodeChannels lists the channels with a replica on node (this replica's view) by name, a page at a
// time as ChannelPage does. The registry answers it from its per-node index.
func (m *Meta) NodeChannels(node uint64, after string, limit int) (*store.ChannelPage, error) {
	v, err := m.nh.StaleRead(m.ShardID(), &store.MetaNodeChannelsQuery{Node: node, After: after, Limit: limit})
	if err != nil {
		return nil, err
	}
	return v.(*store.ChannelPage), nil
}

// Loads returns node -> channel replicas it holds (this replica's view; placement's counters).
func (m *Meta) Loads() (map[uint64]int, error) {
	v, err := m.nh.StaleRead(m.ShardID(), &store.MetaLoadsQuery{})
	if err != nil {
		return nil, err
	}
	return v.(map[uint64]int), nil
}

// Stats counts the registry (this replica's view).
func (m *Meta) Stats() (store.MetaStats, error) {
	v, err := m.nh.StaleRead(m.ShardID(), &store.MetaStatsQuery{})
	if err != nil {
		return store.MetaStats{}, err
	}
	return v.(store.MetaStats), nil
}

const (
	roleVoter     = "voter"
	roleNonVoting = "non-voting"
)

func roleFor(join bool) string {
	if join {
		return roleNonVoting
	}
	return roleVoter
}

func readRole(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	switch r := strings.TrimSpace(string(b)); r {
	case roleVoter, roleNonVoting:
		return r
	}
	return ""
}

// writeRole records a metadata replica's role durably: it must survive as long as the replica's Raft
// data.
func writeRole(path, role string) error {
	if path == "" || readRole(path) == role {
		return nil
	}
	return writeDurable(path, role+"\n")
}
