package store

import (
	"errors"
	"fmt"
	"slices"
	"sort"
)

// The metadata commands' semantics, written once over metaTxn and shared by both metadata state
// machines: the legacy in-memory group (MetaState, LegacyMetaShardID) and the on-disk registry
// (registrySM, RegistryShardID). Sharing them is what lets a cluster move from one to the other with
// nothing changed but where the state lives, and lets one model test drive both.
//
// Determinism: a command reads only the transaction's state; nodes are visited in id order and
// channels in name order wherever the first one found decides an outcome or an error's text.

// metaTxn is the state a metadata command reads and writes. Errors from its methods are storage
// failures (wrapped in storageError by the on-disk implementation): they halt the replica instead of
// rejecting the command, since another replica whose disk did not fail would have applied it.
type metaTxn interface {
	// nodeList returns the registered nodes sorted by id. Read only: change a node with putNode.
	nodeList() []*NodeInfo
	// node returns a copy of a registered node, nil if unknown.
	node(id uint64) *NodeInfo
	putNode(n *NodeInfo)
	// load is the number of channel replicas node id holds; addLoad changes it.
	load(id uint64) int
	addLoad(id uint64, delta int)
	allocShard() uint64
	allocReplica() uint64
	// channel returns a copy of a channel's entry the caller may change and putChannel back; nil if
	// unknown.
	channel(name string) (*ChannelInfo, error)
	// putChannel stores ch, which replaces old (nil for a new channel).
	putChannel(old, ch *ChannelInfo) error
	// channelsOn calls fn with each channel holding a replica on node, in name order, until fn says stop.
	channelsOn(node uint64, fn func(ch *ChannelInfo) (more bool)) error
	// raiseCursors raises a bridge rule's cursors to the given seqs (max per channel).
	raiseCursors(rule string, cursors map[string]uint64) error
	// owned is how many channels owner created; addOwned counts one more.
	owned(owner string) (int, error)
	addOwned(owner string) error
}

// storageError marks a failure of the store under a command (not the command's fault).
type storageError struct{ err error }

func (e storageError) Error() string { return "store: registry: " + e.err.Error() }
func (e storageError) Unwrap() error { return e.err }

// applyMeta applies one membership, channel or bridge command. It returns the channel concerned for
// the commands whose result names one.
func applyMeta(t metaTxn, c *MetaCommand) (*ChannelInfo, error) {
	switch c.Op {
	case MetaRegisterNode:
		if c.Node.ID == 0 {
			return nil, errors.New("node id 0")
		}
		old := t.node(c.Node.ID)
		if old != nil && old.Removed {
			return nil, fmt.Errorf("node %d was removed", c.Node.ID)
		}
		n := c.Node
		n.Removed, n.Pending, n.Migrating = false, false, false
		if old != nil {
			n.Draining = old.Draining // a restart does not cancel a removal
		}
		t.putNode(&n)
		return nil, nil
	case MetaCreateChannel:
		ch, err := t.channel(c.Channel)
		if err != nil || ch != nil {
			return ch, err
		}
		if c.Channel == "" {
			return nil, errors.New("empty channel name")
		}
		if c.Owner != "" {
			n, err := t.owned(c.Owner)
			if err != nil {
				return nil, err
			}
			if c.OwnerLimit > 0 && n >= c.OwnerLimit {
				return nil, fmt.Errorf("%suser %q created %d channels, its maximum", ownerLimitText, c.Owner, n)
			}
		}
		nodes := place(t, max(c.Replicas, 1))
		if len(nodes) == 0 {
			return nil, errors.New("no live node to place the channel on")
		}
		ch = &ChannelInfo{Name: c.Channel, ShardID: t.allocShard()}
		for _, n := range nodes {
			ch.Replicas = append(ch.Replicas, Replica{ReplicaID: t.allocReplica(), NodeID: n})
			t.addLoad(n, 1)
		}
		if c.Owner != "" {
			if err := t.addOwned(c.Owner); err != nil {
				return nil, err
			}
		}
		return ch, t.putChannel(nil, ch)
	case MetaAddNode:
		return nil, addNode(t, c.Node)
	case MetaDrainNode:
		return nil, drainNode(t, c.Node.ID, c.Node.Replaced)
	case MetaAddReplica:
		return addReplica(t, c.Channel, c.Node.ID, c.Avoid)
	case MetaFinishMove:
		return finishMove(t, c.Channel, c.Removed, c.Joined)
	case MetaRemoveNode:
		return nil, removeNode(t, c.Node.ID)
	case MetaSetBridgeCursors:
		if c.Bridge == nil || c.Bridge.Rule == "" {
			return nil, errors.New("bridge cursors without a rule")
		}
		return nil, t.raiseCursors(c.Bridge.Rule, c.Bridge.Cursors)
	default:
		return nil, fmt.Errorf("unknown metadata op %d", c.Op)
	}
}

// place picks the n nodes that may hold replicas holding the fewest (ties: lowest node id), skipping
// the nodes in skip. It reads the per-node counters, so it costs O(nodes) however many channels exist.
func place(t metaTxn, n int, skip ...uint64) []uint64 {
	var live []*NodeInfo
	for _, node := range t.nodeList() {
		if node.holdsReplicas() && !slices.Contains(skip, node.ID) {
			live = append(live, node)
		}
	}
	sort.SliceStable(live, func(i, j int) bool { return t.load(live[i].ID) < t.load(live[j].ID) }) // stable: ids ascend
	n = min(n, len(live))
	out := make([]uint64, n)
	for i := range out {
		out[i] = live[i].ID
	}
	slices.Sort(out)
	return out
}

func addNode(t metaTxn, n NodeInfo) error {
	if n.ID == 0 || n.Raft == "" {
		return errors.New("a node needs an id >= 1 and a raft address")
	}
	if old := t.node(n.ID); old != nil {
		switch {
		case old.Removed:
			return fmt.Errorf("node %d was removed; node ids are never reused", n.ID)
		case old.Raft != n.Raft:
			return fmt.Errorf("node %d already exists with raft address %s", n.ID, old.Raft)
		}
		return nil // added twice: nothing to do
	}
	for _, o := range t.nodeList() {
		if o.Raft == n.Raft && !o.Removed {
			return fmt.Errorf("raft address %s belongs to node %d", n.Raft, o.ID)
		}
	}
	t.putNode(&NodeInfo{ID: n.ID, Raft: n.Raft, Pending: true})
	return nil
}

// drainNode refuses a removal that would leave some channel fewer nodes than it has replicas: the
// replicas are re-created elsewhere before the node goes, so that no channel drops below its count.
// It visits only the node's own channels (channelsOn), not the whole registry.
func drainNode(t metaTxn, id uint64, replaced bool) error {
	n := t.node(id)
	if n == nil || n.Removed {
		return fmt.Errorf("node %d is not a member", id)
	}
	if n.Draining {
		return nil
	}
	others := 0
	for _, o := range t.nodeList() {
		if o.ID != id && o.holdsReplicas() {
			others++
		}
	}
	if others == 0 {
		return fmt.Errorf("node %d is the last node that can hold channels", id)
	}
	var refused error
	if err := t.channelsOn(id, func(ch *ChannelInfo) bool {
		if len(ch.Replicas) > others {
			refused = fmt.Errorf("channel %s has %d replicas and only %d other nodes can hold them: add a node first", ch.Name, len(ch.Replicas), others)
			return false
		}
		return true
	}); err != nil {
		return err
	}
	if refused != nil {
		return refused
	}
	n.Draining, n.Replaced = true, replaced
	t.putNode(n)
	return nil
}

func addReplica(t metaTxn, channel string, from uint64, avoid []uint64) (*ChannelInfo, error) {
	ch, err := t.channel(channel)
	if err != nil {
		return nil, err
	}
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
	to := place(t, 1, append(holders, avoid...)...)
	if len(to) == 0 {
		to = place(t, 1, holders...)
	}
	if len(to) == 0 {
		return nil, fmt.Errorf("no node can take a replica of %s", channel)
	}
	old := ch.clone()
	ch.Replicas = append(ch.Replicas, Replica{ReplicaID: t.allocReplica(), NodeID: to[0], Joining: true})
	t.addLoad(to[0], 1)
	return ch, t.putChannel(old, ch)
}

func finishMove(t metaTxn, channel string, removed, joined uint64) (*ChannelInfo, error) {
	ch, err := t.channel(channel)
	if err != nil {
		return nil, err
	}
	if ch == nil {
		return nil, fmt.Errorf("channel %s not found", channel)
	}
	if removed != 0 && len(ch.Replicas) == 1 && ch.Replicas[0].ReplicaID == removed {
		// A late or hand-made command: the drain protocol never removes a channel's last replica.
		return nil, fmt.Errorf("replica %d is the only replica of %s", removed, channel)
	}
	old := ch.clone()
	out := ch.Replicas[:0]
	for _, r := range ch.Replicas {
		if r.ReplicaID == removed && removed != 0 {
			t.addLoad(r.NodeID, -1)
			continue
		}
		if r.ReplicaID == joined {
			r.Joining = false
		}
		out = append(out, r)
	}
	ch.Replicas = out
	return ch, t.putChannel(old, ch)
}

func removeNode(t metaTxn, id uint64) error {
	n := t.node(id)
	if n == nil {
		return fmt.Errorf("node %d is not a member", id)
	}
	if n.Removed {
		return nil
	}
	if !n.Draining && !n.Pending {
		return fmt.Errorf("node %d is not being removed", id)
	}
	var holds string
	if err := t.channelsOn(id, func(ch *ChannelInfo) bool { holds = ch.Name; return false }); err != nil {
		return err
	}
	if holds != "" {
		return fmt.Errorf("node %d still holds a replica of %s", id, holds)
	}
	n.Removed, n.Draining, n.Pending = true, false, false
	t.putNode(n)
	return nil
}

// clone returns a deep copy of the entry.
func (c *ChannelInfo) clone() *ChannelInfo {
	out := *c
	out.Replicas = slices.Clone(c.Replicas)
	return &out
}
