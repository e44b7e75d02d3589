package cluster

import (
	"context"
	"fmt"

	"github.com/sampan-io/sampan/store"
)

// The metadata group's part in the NATS bridge: who runs it (the group's leader) and its export
// cursors (store/meta_bridge.go).

// Leader reports whether this node currently leads the metadata group, as its replica sees it. Two
// nodes can both believe it for a moment during a leader change; the bridge tolerates that (cursors only
// move forward, exports are at-least-once).
func (m *Meta) Leader() bool {
	if !m.Ready() {
		return false
	}
	leader, _, ok, err := m.nh.GetLeaderID(m.ShardID())
	return err == nil && ok && leader == m.cfg.Self.ID // metadata replica ids are node ids
}

// BridgeCursors returns an export rule's cursors (channel -> last exported seq). It is a linearizable
// read: a node that just became leader sees every cursor its predecessor saved.
func (m *Meta) BridgeCursors(ctx context.Context, rule string) (map[string]uint64, error) {
	if !m.Ready() {
		return nil, ErrNotReady
	}
	v, err := m.nh.SyncRead(ctx, m.ShardID(), &store.MetaBridgeCursorsQuery{Rule: rule})
	if err != nil {
		return nil, fmt.Errorf("sampan: read bridge cursors: %w", err)
	}
	return v.(map[string]uint64), nil
}

// SaveBridgeCursors raises an export rule's cursors to the given seqs (a cursor never moves back) once
// committed on a quorum of the metadata group. ctx must have a deadline.
func (m *Meta) SaveBridgeCursors(ctx context.Context, rule string, cursors map[string]uint64) error {
	c := &store.MetaCommand{Op: store.MetaSetBridgeCursors, Bridge: &store.BridgeCursors{Rule: rule, Cursors: cursors}}
	if err := m.propose(ctx, c); err != nil {
		return fmt.Errorf("sampan: save bridge cursors: %w", err)
	}
	return nil
}
