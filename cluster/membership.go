package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sampan-io/sampan/store"
)

// Membership changes of the cluster. Two records must agree: the node registry in the metadata state
// (who is a member, who is being removed) and the metadata Raft group's own membership (who holds a
// metadata replica, voting or not). The registry leads; the group's leader reconciles the Raft
// membership towards it (ReconcileMembership), one change at a time, so that a crash between the two
// steps of any change is repaired by the next round instead of leaving them apart.

// AddNode adds a node to the cluster: it is recorded Pending in the registry and added to the metadata
// group as a non-voting member, so that once it starts (with --join) it receives the metadata. It
// answers a RejectedError for an id that exists with another address or was removed.
func (m *Meta) AddNode(ctx context.Context, id uint64, raft string) error {
	if err := m.propose(ctx, &store.MetaCommand{Op: store.MetaAddNode, Node: store.NodeInfo{ID: id, Raft: raft}}); err != nil {
		return err
	}
	return m.ensureMember(ctx, id, raft)
}

// DrainNode starts removing a node: it gets no new replicas, and the node leading the metadata group
// moves its channel replicas to other nodes before marking it removed (see the broker's drain).
func (m *Meta) DrainNode(ctx context.Context, id uint64) error {
	return m.propose(ctx, &store.MetaCommand{Op: store.MetaDrainNode, Node: store.NodeInfo{ID: id}})
}

// ReplaceNode starts removing a node that stayed down (cluster.replace_after): DrainNode, with the
// node marked replaced.
func (m *Meta) ReplaceNode(ctx context.Context, id uint64) error {
	return m.propose(ctx, &store.MetaCommand{Op: store.MetaDrainNode, Node: store.NodeInfo{ID: id, Replaced: true}})
}

// MarkRemoved marks a drained node (one that holds no replica any more) removed.
func (m *Meta) MarkRemoved(ctx context.Context, id uint64) error {
	return m.propose(ctx, &store.MetaCommand{Op: store.MetaRemoveNode, Node: store.NodeInfo{ID: id}})
}

// ensureMember adds id to the metadata group as a non-voting member unless it is a member already.
func (m *Meta) ensureMember(ctx context.Context, id uint64, raft string) error {
	mem, err := m.nh.SyncGetShardMembership(ctx, m.ShardID())
	if err != nil {
		return err
	}
	if _, ok := mem.Nodes[id]; ok {
		return nil
	}
	if _, ok := mem.NonVotings[id]; ok {
		return nil
	}
	if _, ok := mem.Removed[id]; ok {
		return &RejectedError{Reason: fmt.Sprintf("node %d was removed from the metadata group; node ids are never reused", id)}
	}
	return m.nh.SyncRequestAddNonVoting(ctx, m.ShardID(), id, raft, mem.ConfigChangeID)
}

// metaVoters is how many voters the metadata group wants with n nodes: all of them up to 3, then 3 or 5
// (an odd count: a fourth voter adds fsyncs but no fault tolerance).
func metaVoters(n int) int {
	switch {
	case n >= MaxMetaReplicas:
		return MaxMetaReplicas
	case n == 4:
		return 3
	}
	return n
}

// ReconcileMembership makes one step towards the metadata group's Raft membership the registry asks for.
// It only changes anything on the group's leader; call it periodically on every node. It reports
// whether it made a change.
//
// In order: static peers (--peers beyond the first 5) and added nodes that are not members yet join as
// non-voting; removed nodes leave; then, while the group has fewer voters than metaVoters(nodes), the
// lowest-id live, registered non-voting member is promoted. Draining nodes are never promoted.
func (m *Meta) ReconcileMembership(ctx context.Context) (bool, error) {
	if m.frozen() {
		return false, nil // the legacy group's membership stays as MetaMigrate recorded it
	}
	shard := m.ShardID()
	mem, err := m.nh.SyncGetShardMembership(ctx, shard)
	if err != nil {
		return false, err
	}
	if !m.Leader() {
		return false, nil
	}
	nodes, err := m.Nodes()
	if err != nil {
		return false, err
	}
	byID := map[uint64]store.NodeInfo{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	member := func(id uint64) bool {
		_, v := mem.Nodes[id]
		_, nv := mem.NonVotings[id]
		return v || nv
	}
	wanted := map[uint64]string{}
	for _, p := range m.cfg.Peers {
		if n, ok := byID[p.ID]; !ok || !n.Removed {
			wanted[p.ID] = p.Raft
		}
	}
	for _, n := range nodes {
		if !n.Removed {
			wanted[n.ID] = n.Raft
		}
	}
	for _, id := range sortedIDs(wanted) {
		if _, gone := mem.Removed[id]; gone || member(id) {
			continue
		}
		m.cfg.Log.Info().Uint64("node", id).Str("raft", wanted[id]).Msg("adding node to the metadata group (non-voting)")
		return true, m.nh.SyncRequestAddNonVoting(ctx, shard, id, wanted[id], mem.ConfigChangeID)
	}
	for _, n := range nodes {
		if n.Removed && member(n.ID) {
			m.cfg.Log.Info().Uint64("node", n.ID).Msg("removing node from the metadata group")
			return true, m.nh.SyncRequestDeleteReplica(ctx, shard, n.ID, mem.ConfigChangeID)
		}
	}
	eligible := 0
	for _, n := range nodes {
		if !n.Removed && !n.Pending && !n.Draining {
			eligible++
		}
	}
	if len(mem.Nodes) >= metaVoters(eligible) {
		return false, nil
	}
	for _, id := range sortedIDs(mem.NonVotings) {
		n, ok := byID[id]
		if !ok || n.Removed || n.Pending || n.Draining || (m.cfg.Up != nil && !m.cfg.Up(id)) {
			continue
		}
		m.cfg.Log.Info().Uint64("node", id).Msg("promoting node to a voter of the metadata group")
		// RequestAddReplica on a non-voting member promotes it (its address is kept).
		return true, m.nh.SyncRequestAddReplica(ctx, shard, id, n.Raft, mem.ConfigChangeID)
	}
	return false, nil
}

// frozen reports whether this node still uses the legacy group and its replica applied MetaMigrate.
func (m *Meta) frozen() bool {
	if m.switched == nil || m.ShardID() != store.LegacyMetaShardID {
		return false
	}
	info, err := m.legacyMigration()
	return err != nil || info != nil
}

func sortedIDs[V any](m map[uint64]V) []uint64 {
	out := make([]uint64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// IsRejected reports whether err is a metadata command the group refused.
func IsRejected(err error) bool {
	var r *RejectedError
	return errors.As(err, &r)
}

// Roles returns the metadata group's voting and non-voting members as this node knows them (empty
// when the group cannot be read within a second).
func (m *Meta) Roles() (voters, nonVoting map[uint64]bool) {
	voters, nonVoting = map[uint64]bool{}, map[uint64]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	mem, err := m.nh.SyncGetShardMembership(ctx, m.ShardID())
	if err != nil {
		return voters, nonVoting
	}
	for id := range mem.Nodes {
		voters[id] = true
	}
	for id := range mem.NonVotings {
		nonVoting[id] = true
	}
	return voters, nonVoting
}
