package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sampan-io/sampan/actors"
	"github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/store"
)

// Adding and removing nodes. Adding records the node and makes it a non-voting member of the metadata
// group (the node then starts with --join, registers, and takes new channels; the metadata group
// promotes it to a voter when it has fewer than it wants). Removing marks the node draining; the node
// leading the metadata group then moves each of its channel replicas to another node, channel by
// channel (cold ones are activated for it), and marks it removed once it holds none, which also takes
// it out of the metadata group. Every step is recorded in the metadata group and re-checked each
// round, so a drain survives the restart or failover of the node driving it.

// drainProgress is what the drain of one node has left to do, as the driver last saw it.
type drainProgress struct {
	Left    int    `json:"replicas_left"`
	LastErr string `json:"last_error,omitempty"`
}

type drains struct {
	running atomic.Bool
	mu      sync.Mutex
	byNode  map[uint64]drainProgress
}

func (d *drains) set(node uint64, p drainProgress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byNode == nil {
		d.byNode = map[uint64]drainProgress{}
	}
	d.byNode[node] = p
}

func (d *drains) get(node uint64) (drainProgress, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.byNode[node]
	return p, ok
}

// controller runs the membership reconciliation every second on every node (only the metadata leader
// changes anything) and, on the leader, the drains of nodes being removed.
func (b *Broker) controller() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.stopMembers:
			return
		case <-t.C:
		}
		m := b.metaPtr.Load()
		if !m.Ready() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := m.ReconcileMembership(ctx); err != nil {
			b.log.Debug().Err(err).Msg("metadata membership reconciliation")
		}
		cancel()
		if m.Leader() {
			b.replaceRound(m)
		}
		if m.Leader() && b.drains.running.CompareAndSwap(false, true) {
			go func() {
				defer b.drains.running.Store(false)
				b.drainRound(m)
			}()
		}
	}
}

// drainRound moves the replicas of every draining node once (those that fail are retried next round)
// and marks the nodes left without replicas removed.
func (b *Broker) drainRound(m *cluster.Meta) {
	nodes, err := m.Nodes()
	if err != nil {
		return
	}
	for _, n := range nodes {
		if !n.Draining {
			continue
		}
		loads, err := m.Loads()
		if err != nil {
			return
		}
		prog := drainProgress{Left: loads[n.ID]}
		if prog.Left == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := m.MarkRemoved(ctx, n.ID)
			cancel()
			if err == nil {
				b.log.Info().Uint64("node", n.ID).Msg("node removed: its channels live on other nodes")
			} else {
				prog.LastErr = err.Error()
			}
			b.drains.set(n.ID, prog)
			continue
		}
		b.drains.set(n.ID, prog)
		b.log.Info().Uint64("node", n.ID).Int("channels", prog.Left).Msg("moving channel replicas off a node being removed")
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			next = make(chan string)
		)
		// A few moves at once (cluster.moves_parallel): each streams a replica to a new node, so a few
		// in parallel use the links without starving the channels' own traffic.
		for i := 0; i < b.cfg.Cluster.MovesParallel; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for name := range next {
					err := b.moveChannel(name, n.ID)
					mu.Lock()
					if err != nil {
						prog.LastErr = fmt.Sprintf("%s: %v", name, err)
						b.log.Warn().Err(err).Str("channel", name).Uint64("node", n.ID).Msg("replica move failed; retrying later")
					} else {
						prog.Left--
					}
					b.drains.set(n.ID, prog)
					mu.Unlock()
				}
			}()
		}
		// The node's channels a page at a time from the registry's per-node index: moved ones leave it,
		// and the next page starts after the last name fed, so a failed move waits for the next round.
	feed:
		for after := ""; ; {
			page, err := m.NodeChannels(n.ID, after, 256)
			if err != nil {
				break
			}
			for _, ch := range page.Channels {
				if !m.Leader() {
					break feed // the new leader's controller takes over
				}
				select {
				case next <- ch.Name:
				case <-b.stopMembers:
					break feed
				}
			}
			if after = page.Next; after == "" {
				break
			}
		}
		close(next)
		wg.Wait()
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// moveChannel asks the channel's actor (activating it if cold) to move its replica off node from.
func (b *Broker) moveChannel(name string, from uint64) error {
	pid := b.actors.Cluster.Get(name, actors.Kind)
	if pid == nil {
		return fmt.Errorf("channel %s could not be activated", name)
	}
	res, err := b.actors.System.Root.RequestFuture(pid, cluster.WrapOrSelf(&actors.MoveReplica{Channel: name, From: from}), 3*time.Minute).Result()
	if err != nil {
		return err
	}
	v, err := cluster.Unwrap(res)
	if err != nil {
		return err
	}
	mv, ok := v.(*actors.ReplicaMoved)
	if !ok {
		return fmt.Errorf("unexpected answer %T", v)
	}
	if mv.Err != "" {
		return errors.New(mv.Err)
	}
	return nil
}

// AddNodeRequest is the body of POST /cluster/nodes.
type AddNodeRequest struct {
	ID   uint64 `json:"id"`
	Raft string `json:"raft"`
}

// httpAddNode: POST /cluster/nodes {"id": N, "raft": "host:port"}. The node is then started with --join.
func (b *Broker) httpAddNode(w http.ResponseWriter, r *http.Request) {
	m := b.metaOrErr(w)
	if m == nil {
		return
	}
	var req AddNodeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ID == 0 || req.Raft == "" {
		writeErr(w, http.StatusBadRequest, errors.New(`body must be {"id": NODE_ID >= 1, "raft": "HOST:PORT"}`))
		return
	}
	if _, port, err := net.SplitHostPort(req.Raft); err != nil || port == "0" {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("raft address %q: want HOST:PORT with a fixed port", req.Raft))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := m.AddNode(ctx, req.ID, req.Raft); err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	b.log.Info().Uint64("node", req.ID).Str("raft", req.Raft).Msg("node added; start it with --join")
	for _, n := range b.nodeStatuses(m) {
		if n.ID == req.ID {
			writeJSON(w, http.StatusCreated, n)
			return
		}
	}
	writeJSON(w, http.StatusCreated, NodeStatus{ID: req.ID, Raft: req.Raft, State: "pending"})
}

// httpRemoveNode: DELETE /cluster/nodes/{id}. Answers 202 once the removal is recorded; the node's
// state in GET /cluster/nodes goes draining -> removed as its replicas move.
func (b *Broker) httpRemoveNode(w http.ResponseWriter, r *http.Request) {
	m := b.metaOrErr(w)
	if m == nil {
		return
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("node id %q: want a number >= 1", r.PathValue("id")))
		return
	}
	n, ok := m.Node(id)
	switch {
	case !ok:
		writeErr(w, http.StatusNotFound, fmt.Errorf("node %d is not a member", id))
		return
	case n.Removed:
		writeJSON(w, http.StatusOK, NodeStatus{ID: id, Raft: n.Raft, State: "removed", Removed: true})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := m.DrainNode(ctx, id); err != nil {
		writeErr(w, statusOf(err), err)
		return
	}
	for _, n := range b.nodeStatuses(m) {
		if n.ID == id {
			writeJSON(w, http.StatusAccepted, n)
			return
		}
	}
	writeErr(w, http.StatusNotFound, fmt.Errorf("node %d is not a member", id))
}

func statusOf(err error) int {
	switch {
	case cluster.IsRejected(err):
		return http.StatusConflict
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusServiceUnavailable
}

// nodeStatuses is GET /cluster/nodes.
func (b *Broker) nodeStatuses(m *cluster.Meta) []NodeStatus {
	nodes, err := m.Nodes()
	if err != nil {
		return nil
	}
	// Replicas from the placement counters; leaders among the channel shards running here (their
	// members' Raft addresses name the nodes): neither reads the registry channel by channel.
	replicas, _ := m.Loads()
	byRaft := map[string]uint64{}
	for _, n := range nodes {
		byRaft[n.Raft] = n.ID
	}
	led := map[uint64]int{}
	for _, si := range b.channelShards() {
		if si.LeaderID != 0 {
			if id, ok := byRaft[si.Replicas[si.LeaderID]]; ok {
				led[id]++
			}
		}
	}
	voters, nonVoting := m.Roles()
	out := make([]NodeStatus, 0, len(nodes))
	for _, n := range nodes {
		st := NodeStatus{ID: n.ID, Raft: n.Raft, Client: n.Client, HTTP: n.HTTP, Up: !n.Removed && !n.Pending && b.up(n.ID),
			Removed: n.Removed, State: nodeState(n), Replicas: replicas[n.ID], ChannelsLed: led[n.ID]}
		switch {
		case voters[n.ID]:
			st.Meta = "voter"
		case nonVoting[n.ID]:
			st.Meta = "non-voting"
		}
		if n.Draining {
			if p, ok := b.drains.get(n.ID); ok {
				st.Drain = &p
			}
		}
		out = append(out, st)
	}
	return out
}

func nodeState(n store.NodeInfo) string {
	switch {
	case n.Removed && n.Replaced:
		return "replaced"
	case n.Removed:
		return "removed"
	case n.Draining && n.Replaced:
		return "replacing"
	case n.Draining:
		return "draining"
	case n.Pending:
		return "pending"
	}
	return "active"
}
