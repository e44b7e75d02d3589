package store

import (
	"bytes"
	"fmt"
	"math/rand"
	"reflect"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

func regNode(s *MetaState, id uint64) {
	if _, err := s.Apply(&MetaCommand{Op: MetaRegisterNode, Node: NodeInfo{ID: id, Raft: fmt.Sprintf("n%d:7100", id)}}); err != nil {
		panic(err)
	}
}

func TestMetaPlacementSpreadsAndNeverReusesIDs(t *testing.T) {
	s := NewMetaState()
	for id := uint64(1); id <= 4; id++ {
		regNode(s, id)
	}
	shards := map[uint64]bool{}
	replicas := map[uint64]bool{}
	for i := 0; i < 40; i++ {
		ch, err := s.Apply(&MetaCommand{Op: MetaCreateChannel, Channel: fmt.Sprintf("c%d", i), Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(ch.Replicas) != 3 || shards[ch.ShardID] || ch.ShardID < FirstChannelShardID {
			t.Fatalf("channel %d: %+v", i, ch)
		}
		shards[ch.ShardID] = true
		nodes := map[uint64]bool{}
		for _, r := range ch.Replicas {
			if replicas[r.ReplicaID] || nodes[r.NodeID] {
				t.Fatalf("replica id or node used twice: %+v", ch)
			}
			replicas[r.ReplicaID], nodes[r.NodeID] = true, true
		}
	}
	load := map[uint64]int{}
	for _, ch := range s.Channels {
		for _, r := range ch.Replicas {
			load[r.NodeID]++
		}
	}
	for id, n := range load {
		if n != 30 { // 40 channels x 3 replicas over 4 nodes
			t.Fatalf("node %d holds %d replicas, want 30 (load %v)", id, n, load)
		}
	}
	// Creating again returns the same entry and allocates nothing.
	again, _ := s.Apply(&MetaCommand{Op: MetaCreateChannel, Channel: "c7", Replicas: 3})
	if !reflect.DeepEqual(again, s.Channels["c7"]) || s.NextShardID != FirstChannelShardID+40 {
		t.Fatal("second create of c7 allocated")
	}
}

func TestMetaReplicasCappedAndRemovedNodes(t *testing.T) {
	s := NewMetaState()
	if _, err := s.Apply(&MetaCommand{Op: MetaCreateChannel, Channel: "x", Replicas: 3}); err == nil {
		t.Fatal("placed a channel with no nodes")
	}
	regNode(s, 5)
	ch, err := s.Apply(&MetaCommand{Op: MetaCreateChannel, Channel: "x", Replicas: 3})
	if err != nil || len(ch.Replicas) != 1 || ch.Replicas[0].NodeID != 5 || ch.ReplicaOn(5) == 0 {
		t.Fatalf("%+v %v", ch, err)
	}
	s.Nodes[5].Removed = true
	if _, err := s.Apply(&MetaCommand{Op: MetaRegisterNode, Node: NodeInfo{ID: 5}}); err == nil {
		t.Fatal("a removed node registered again")
	}
	if _, err := s.Apply(&MetaCommand{Op: MetaCreateChannel, Channel: "y", Replicas: 1}); err == nil {
		t.Fatal("placed on a removed node")
	}
}

// TestMetaDeterminism applies one random command sequence to two state machines through Update and
// checks identical results and snapshots; then restores a snapshot into a third and compares.
func TestMetaDeterminism(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		a, b := NewMetaStateMachine(LegacyMetaShardID, 1), NewMetaStateMachine(LegacyMetaShardID, 2)
		for i := uint64(1); i <= 300; i++ {
			var c MetaCommand
			switch rng.Intn(8) {
			case 0:
				c = MetaCommand{Op: MetaRegisterNode, Node: NodeInfo{ID: uint64(1 + rng.Intn(6)), Client: fmt.Sprint(rng.Intn(100))}}
			case 1:
				c = MetaCommand{Op: MetaAddNode, Node: NodeInfo{ID: uint64(1 + rng.Intn(8)), Raft: fmt.Sprint(rng.Intn(8))}}
			case 2:
				c = MetaCommand{Op: []MetaOp{MetaDrainNode, MetaRemoveNode}[rng.Intn(2)], Node: NodeInfo{ID: uint64(1 + rng.Intn(8))}}
			case 3:
				c = MetaCommand{Op: MetaAddReplica, Channel: fmt.Sprintf("ch%d", rng.Intn(80)), Node: NodeInfo{ID: uint64(1 + rng.Intn(8))}, Avoid: []uint64{uint64(rng.Intn(8))}}
			case 4:
				c = MetaCommand{Op: MetaFinishMove, Channel: fmt.Sprintf("ch%d", rng.Intn(80)), Removed: uint64(rng.Intn(40)), Joined: uint64(rng.Intn(40))}
			default:
				c = MetaCommand{Op: MetaCreateChannel, Channel: fmt.Sprintf("ch%d", rng.Intn(80)), Replicas: 1 + rng.Intn(5)}
			}
			e := sm.Entry{Index: i, Cmd: EncodeMetaCommand(&c)}
			ra, _ := a.Update(e)
			rb, _ := b.Update(e)
			if !reflect.DeepEqual(ra, rb) {
				t.Fatalf("seed %d entry %d: results differ: %+v vs %+v", seed, i, ra, rb)
			}
		}
		var sa, sb bytes.Buffer
		_ = a.SaveSnapshot(&sa, nil, nil)
		_ = b.SaveSnapshot(&sb, nil, nil)
		qa, qb := allChannels(t, a), allChannels(t, b)
		if !reflect.DeepEqual(qa, qb) {
			t.Fatalf("seed %d: registries differ", seed)
		}
		c := NewMetaStateMachine(LegacyMetaShardID, 3)
		if err := c.RecoverFromSnapshot(&sa, nil, nil); err != nil {
			t.Fatal(err)
		}
		qc := allChannels(t, c)
		na, _ := a.Lookup(&MetaNodesQuery{})
		nc, _ := c.Lookup(&MetaNodesQuery{})
		if !reflect.DeepEqual(qa, qc) || !reflect.DeepEqual(na, nc) {
			t.Fatalf("seed %d: snapshot restore differs", seed)
		}
	}
}

func TestMetaBadCommandRejected(t *testing.T) {
	m := NewMetaStateMachine(LegacyMetaShardID, 1)
	r, err := m.Update(sm.Entry{Index: 1, Cmd: []byte{0xc1}})
	if err != nil || r.Value != ResultRejected {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := DecodeMetaResult(r); err == nil {
		t.Fatal("rejected result decoded")
	}
}

// TestMetaMoveOffDrainingNode walks a node removal through the commands the drain runs: the node stops
// taking replicas, each of its replicas gets a Joining replacement on the least loaded other node, the
// move finishes, and the node can be marked removed only once it holds nothing.
func TestMetaMoveOffDrainingNode(t *testing.T) {
	s := NewMetaState()
	for id := uint64(1); id <= 3; id++ {
		regNode(s, id)
	}
	for i := 0; i < 6; i++ {
		if _, err := s.Apply(&MetaCommand{Op: MetaCreateChannel, Channel: fmt.Sprintf("c%d", i), Replicas: 3}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Apply(&MetaCommand{Op: MetaDrainNode, Node: NodeInfo{ID: 2}}); err == nil {
		t.Fatal("drained a node whose channels have nowhere to go (3 replicas, 2 other nodes)")
	}
	if _, err := s.Apply(&MetaCommand{Op: MetaAddNode, Node: NodeInfo{ID: 4, Raft: "n1:7100"}}); err == nil {
		t.Fatal("added a node with another node's raft address")
	}
	if _, err := s.Apply(&MetaCommand{Op: MetaAddNode, Node: NodeInfo{ID: 4, Raft: "n4:7100"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(&MetaCommand{Op: MetaDrainNode, Node: NodeInfo{ID: 2}}); err == nil {
		t.Fatal("drained while the only other node is pending (not started)")
	}
	regNode(s, 4)
	if _, err := s.Apply(&MetaCommand{Op: MetaDrainNode, Node: NodeInfo{ID: 2}}); err != nil {
		t.Fatal(err)
	}
	if ch, _ := s.Apply(&MetaCommand{Op: MetaCreateChannel, Channel: "new", Replicas: 3}); ch.ReplicaOn(2) != 0 {
		t.Fatalf("placed a new channel on the draining node: %+v", ch)
	}
	if _, err := s.Apply(&MetaCommand{Op: MetaRemoveNode, Node: NodeInfo{ID: 2}}); err == nil {
		t.Fatal("removed a node that still holds replicas")
	}
	for i := 0; i < 6; i++ {
		name := fmt.Sprintf("c%d", i)
		ch, err := s.Apply(&MetaCommand{Op: MetaAddReplica, Channel: name, Node: NodeInfo{ID: 2}, Avoid: []uint64{4}})
		if err != nil {
			t.Fatal(err)
		}
		// Node 4 is the only node without a replica: chosen even though avoided.
		joining := ch.Replicas[len(ch.Replicas)-1]
		if !joining.Joining || joining.NodeID != 4 || len(ch.Replicas) != 4 {
			t.Fatalf("%s: %+v", name, ch)
		}
		again, _ := s.Apply(&MetaCommand{Op: MetaAddReplica, Channel: name, Node: NodeInfo{ID: 2}})
		if len(again.Replicas) != 4 {
			t.Fatalf("second add during a move added again: %+v", again)
		}
		ch, _ = s.Apply(&MetaCommand{Op: MetaFinishMove, Channel: name, Removed: ch.ReplicaOn(2), Joined: joining.ReplicaID})
		if len(ch.Replicas) != 3 || ch.ReplicaOn(2) != 0 || ch.ReplicaOn(4) != joining.ReplicaID || ch.Replicas[2].Joining {
			t.Fatalf("%s after the move: %+v", name, ch)
		}
	}
	if _, err := s.Apply(&MetaCommand{Op: MetaRemoveNode, Node: NodeInfo{ID: 2}}); err != nil {
		t.Fatal(err)
	}
	if !s.Nodes[2].Removed {
		t.Fatal("node 2 not marked removed")
	}
	if _, err := s.Apply(&MetaCommand{Op: MetaAddNode, Node: NodeInfo{ID: 2, Raft: "n2:7100"}}); err == nil {
		t.Fatal("a removed node id was reused")
	}
}

// TestMetaLoadCountersMatchRecount: the per-node replica counts placement uses equal a recount of the
// registry after random sequences of creates, replica moves (add, finish) and node drains, including
// across a snapshot and restore (where they are rebuilt).
func TestMetaLoadCountersMatchRecount(t *testing.T) {
	recount := func(s *MetaState) map[uint64]int {
		m := map[uint64]int{}
		for _, ch := range s.Channels {
			for _, r := range ch.Replicas {
				m[r.NodeID]++
			}
		}
		return m
	}
	check := func(t *testing.T, s *MetaState, step int) {
		t.Helper()
		want, got := recount(s), map[uint64]int{}
		for id, n := range s.loads() {
			if n != 0 {
				got[id] = n
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: counters %v, recount %v", step, got, want)
		}
	}
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		s := NewMetaState()
		for id := uint64(1); id <= 5; id++ {
			regNode(s, id)
		}
		for step := 0; step < 300; step++ {
			name := fmt.Sprintf("c%d", rng.Intn(60))
			switch op := rng.Intn(10); {
			case op < 5:
				_, _ = s.Apply(&MetaCommand{Op: MetaCreateChannel, Channel: name, Replicas: 1 + rng.Intn(3)})
			case op < 7:
				if ch := s.Channels[name]; ch != nil {
					from := ch.Replicas[rng.Intn(len(ch.Replicas))].NodeID
					_, _ = s.Apply(&MetaCommand{Op: MetaAddReplica, Channel: name, Node: NodeInfo{ID: from}})
				}
			case op < 9:
				if ch := s.Channels[name]; ch != nil {
					var joined, removed uint64
					for _, r := range ch.Replicas {
						if r.Joining {
							joined = r.ReplicaID
						} else if removed == 0 || rng.Intn(2) == 0 {
							removed = r.ReplicaID
						}
					}
					if joined != 0 {
						_, _ = s.Apply(&MetaCommand{Op: MetaFinishMove, Channel: name, Removed: removed, Joined: joined})
					}
				}
			default:
				var buf bytes.Buffer
				sm := &metaSM{state: s}
				if err := sm.SaveSnapshot(&buf, nil, nil); err != nil {
					t.Fatal(err)
				}
				if err := sm.RecoverFromSnapshot(&buf, nil, nil); err != nil {
					t.Fatal(err)
				}
				s = sm.state
			}
			check(t, s, step)
		}
	}
}

// TestMetaFinishMoveKeepsLastReplica: a finish-move that would remove a channel's only replica (never
// sent by the drain, but a late or hand-made command could be) is refused and changes nothing.
func TestMetaFinishMoveKeepsLastReplica(t *testing.T) {
	s := NewMetaState()
	regNode(s, 1)
	ch, err := s.Apply(&MetaCommand{Op: MetaCreateChannel, Channel: "solo", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	only := ch.Replicas[0].ReplicaID
	if _, err := s.Apply(&MetaCommand{Op: MetaFinishMove, Channel: "solo", Removed: only}); err == nil {
		t.Fatal("the only replica was removed")
	}
	if got := s.Channels["solo"].Replicas; len(got) != 1 || got[0].ReplicaID != only || s.loads()[1] != 1 {
		t.Fatalf("replicas after the refused command: %+v, load %v", got, s.loads())
	}
}

// looker is a state machine's Lookup.
type looker interface {
	Lookup(any) (any, error)
}

// allChannels pages through the whole registry of a metadata state machine.
func allChannels(t testing.TB, m looker) []ChannelInfo {
	t.Helper()
	var out []ChannelInfo
	after := ""
	for {
		v, err := m.Lookup(&MetaChannelsQuery{After: after, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		p := v.(*ChannelPage)
		out = append(out, p.Channels...)
		if p.Next == "" {
			return out
		}
		after = p.Next
	}
}
