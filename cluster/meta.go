package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/client"
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
	// RoleFile records the role this node's metadata replica was created with: "voter" (an initial
	// member) or "non-voting" (joined). Dragonboat must be given that same role on every restart: it
	// replays the membership changes since (a promotion among them) from it, and replaying "add this
	// replica as non-voting" on a replica started as a voter panics. Empty: derived from Join and Peers.
	RoleFile string
	// Up reports whether a node is believed alive (promotion picks live nodes only); nil: all are.
	Up  func(id uint64) bool
	// RTTMillisecond is the NodeHost's tick (0: 50).
	RTTMillisecond uint64
	Log            zerolog.Logger
}

const metaElectionMs = 500

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
	initial := map[uint64]dragonboat.Target{}
	for _, p := range cfg.Peers {
		if p.ID == cfg.Self.ID && p.Raft != cfg.Self.Raft {
			return nil, fmt.Errorf("sampan: --peers gives node %d the raft address %s but this node has %s", p.ID, p.Raft, cfg.Self.Raft)
		}
	}
	isMember := false
	for _, p := range MetaMembers(cfg.Peers) {
		initial[p.ID] = p.Raft
		isMember = isMember || p.ID == cfg.Self.ID
	}
	// The metadata group elects within ~500 ms of its leader going quiet, whatever the tick.
	rtt := cfg.RTTMillisecond
	if rtt == 0 {
		rtt = 50
	}
	rc := config.Config{ShardID: store.MetaShardID, ReplicaID: cfg.Self.ID, ElectionRTT: max(3, metaElectionMs/rtt), HeartbeatRTT: 1,
		CheckQuorum: true, PreVote: true, SnapshotEntries: 1000, CompactionOverhead: 500}
	join := cfg.Join || !isMember
	role := readRole(cfg.RoleFile)
	switch {
	case nh.HasNodeInfo(store.MetaShardID, cfg.Self.ID):
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
	rc.IsNonVoting = role == roleNonVoting
	if err := writeRole(cfg.RoleFile, role); err != nil {
		return nil, err
	}
	err := nh.StartReplica(initial, join, store.NewMetaStateMachine, rc)
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
	return m.proposeChannel(ctx, &store.MetaCommand{Op: store.MetaCreateChannel, Channel: name, Replicas: want})
}

// proposeChannel proposes a command whose result is a channel entry.
func (m *Meta) proposeChannel(ctx context.Context, c *store.MetaCommand) (*store.ChannelInfo, error) {
	r, err := m.syncPropose(ctx, c)
	if err != nil {
		return nil, err
	}
	return store.DecodeMetaResult(r)
}

// syncPropose proposes c until it is appended or ctx ends. Busy (not accepted) and not-ready (dropped:
// no leader, or one transferring) mean the command was never appended, so proposing it again cannot
// apply it twice, even for commands that are not idempotent. Without this an election in the metadata
// group on a loaded machine failed an operator's DELETE /cluster/nodes/{id} with 503
// (TestClusterAddAndRemoveNode -long, 1 run of 6).
func (m *Meta) syncPropose(ctx context.Context, c *store.MetaCommand) (sm.Result, error) {
	cmd := store.EncodeMetaCommand(c)
	for {
		r, err := m.nh.SyncPropose(ctx, m.session, cmd)
		if err == nil || !(errors.Is(err, dragonboat.ErrSystemBusy) || errors.Is(err, dragonboat.ErrShardNotReady)) {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// propose proposes a command answered by nothing but success or rejection.
func (m *Meta) propose(ctx context.Context, c *store.MetaCommand) error {
	if !m.Ready() {
		return ErrNotReady
	}
	r, err := m.syncPropose(ctx, c)
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

// writeRole records the metadata role atomically (rename), fsynced: it must survive as long as the
// replica's Raft data.
func writeRole(path, role string) error {
	if path == "" || readRole(path) == role {
		return nil
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("sampan: write %s: %w", tmp, err)
	}
	_, err = f.WriteString(role + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("sampan: write %s: %w", path, err)
	}
	return nil
}
