package broker

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/store"
)

// Replacing nodes that stay down. The metadata leader's controller asks replaceDue every round; a
// node it names is marked draining as `sampan cluster remove` would, so the drain machinery gives
// each of its channels, hot or cold, a replica on a live node (add, catch up, remove the dead one)
// and marks the node removed once it holds none.

// replaceDecision is what replaceDue decided about the nodes down past the bound.
type replaceDecision struct {
	Replace []uint64 // to mark draining now, in id order
	// Waiting names a node down past the bound that cannot be replaced yet, and why (logged by the
	// controller when it changes).
	Waiting map[uint64]string
}

// replaceDue decides which nodes to replace: those down (as this node's probes see them) for at
// least after, unless too few live nodes would remain to hold replicas replicas of each channel
// (the move needs a node without one). Pure: the nodes of the registry, how long each has been down
// (0: up) and the settings in; after <= 0 replaces nothing.
func replaceDue(nodes []store.NodeInfo, downFor func(id uint64) time.Duration, after time.Duration, replicas int) replaceDecision {
	var d replaceDecision
	if after <= 0 {
		return d
	}
	live, members := 0, 0
	var due []uint64
	for _, n := range nodes {
		if n.Removed || n.Pending || n.Draining {
			continue
		}
		members++
		switch down := downFor(n.ID); {
		case down == 0:
			live++
		case down >= after:
			due = append(due, n.ID)
		}
	}
	if len(due) == 0 {
		return d
	}
	sort.Slice(due, func(i, j int) bool { return due[i] < due[j] })
	// Channels have min(replicas, members) replicas; each needs a live node without one of its
	// replicas to move to, so at least that many live nodes.
	want := min(replicas, members)
	if live < want {
		d.Waiting = map[uint64]string{}
		for _, id := range due {
			d.Waiting[id] = fmt.Sprintf("%d live nodes, channels have %d replicas: nowhere to put a replacement", live, want)
		}
		return d
	}
	d.Replace = due
	return d
}

// replaceRound marks draining, as replaced, the nodes down past cluster.replace_after (the
// controller's goroutine, on the metadata leader); the drain rounds then move their replicas.
func (b *Broker) replaceRound(m *cluster.Meta) {
	after := time.Duration(b.cfg.Cluster.ReplaceAfter)
	if after <= 0 || b.live == nil {
		return
	}
	nodes, err := m.Nodes()
	if err != nil {
		return
	}
	now := time.Now()
	downFor := func(id uint64) time.Duration {
		if id == b.cfg.NodeID {
			return 0
		}
		return b.live.DownFor(id, now)
	}
	d := replaceDue(nodes, downFor, after, b.cfg.Replicas)
	for id, why := range d.Waiting {
		if b.replaceWaiting[id] != why {
			b.log.Warn().Uint64("node", id).Dur("down", downFor(id)).Str("reason", why).Msg("node down past cluster.replace_after cannot be replaced yet")
		}
	}
	b.replaceWaiting = d.Waiting
	for _, id := range d.Replace {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := m.ReplaceNode(ctx, id)
		cancel()
		if err != nil {
			b.log.Warn().Err(err).Uint64("node", id).Msg("replacing a node down past cluster.replace_after")
			continue
		}
		b.Metrics.NodesReplaced.Inc()
		b.log.Warn().Uint64("node", id).Dur("down", downFor(id)).Msg("node down past cluster.replace_after: its channels get replicas on live nodes, then it is removed")
	}
}
