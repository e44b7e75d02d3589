package broker

import (
	"reflect"
	"testing"
	"time"

	"github.com/sampan-io/sampan/store"
)

// TestReplaceDue: which nodes the metadata leader replaces, from the registry, how long each node
// has been down and the settings.
func TestReplaceDue(t *testing.T) {
	node := func(id uint64, mod ...func(*store.NodeInfo)) store.NodeInfo {
		n := store.NodeInfo{ID: id}
		for _, m := range mod {
			m(&n)
		}
		return n
	}
	draining := func(n *store.NodeInfo) { n.Draining = true }
	removed := func(n *store.NodeInfo) { n.Removed = true }
	pending := func(n *store.NodeInfo) { n.Pending = true }
	four := []store.NodeInfo{node(1), node(2), node(3), node(4)}
	for _, tc := range []struct {
		name     string
		nodes    []store.NodeInfo
		down     map[uint64]time.Duration
		after    time.Duration
		replicas int
		replace  []uint64
		waiting  []uint64
	}{
		{"nobody down", four, nil, 10 * time.Minute, 3, nil, nil},
		{"down, not long enough", four, map[uint64]time.Duration{4: 9 * time.Minute}, 10 * time.Minute, 3, nil, nil},
		{"down past the bound, three live nodes for three replicas", four, map[uint64]time.Duration{4: 10 * time.Minute}, 10 * time.Minute, 3, []uint64{4}, nil},
		{"off", four, map[uint64]time.Duration{4: time.Hour}, 0, 3, nil, nil},
		{"three nodes, one down: nowhere to put a third replica", four[:3], map[uint64]time.Duration{3: time.Hour}, 10 * time.Minute, 3, nil, []uint64{3}},
		{"three nodes, R = 2: the two live ones can hold both", four[:3], map[uint64]time.Duration{3: time.Hour}, 10 * time.Minute, 2, []uint64{3}, nil},
		{"two down past the bound, enough live: both, in id order", []store.NodeInfo{node(5), node(1), node(2), node(3), node(4)},
			map[uint64]time.Duration{5: time.Hour, 2: 11 * time.Minute}, 10 * time.Minute, 3, []uint64{2, 5}, nil},
		{"two down of four: too few live", four, map[uint64]time.Duration{3: time.Hour, 4: time.Hour}, 10 * time.Minute, 3, nil, []uint64{3, 4}},
		{"a second node down but not yet long: it does not count as live", four,
			map[uint64]time.Duration{4: time.Hour, 3: time.Second}, 10 * time.Minute, 3, nil, []uint64{4}},
		{"draining, removed and pending nodes are neither replaced nor live", []store.NodeInfo{node(1), node(2), node(3), node(4, draining), node(5, removed), node(6, pending), node(7)},
			map[uint64]time.Duration{4: time.Hour, 5: time.Hour, 6: time.Hour, 7: time.Hour}, 10 * time.Minute, 3, []uint64{7}, nil},
		{"a single node cluster with R = 1 never replaces its only node", []store.NodeInfo{node(1)}, map[uint64]time.Duration{}, 10 * time.Minute, 1, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := replaceDue(tc.nodes, func(id uint64) time.Duration { return tc.down[id] }, tc.after, tc.replicas)
			if !reflect.DeepEqual(d.Replace, tc.replace) {
				t.Fatalf("replace %v, want %v", d.Replace, tc.replace)
			}
			var waiting []uint64
			for _, n := range tc.nodes {
				if _, ok := d.Waiting[n.ID]; ok {
					waiting = append(waiting, n.ID)
				}
			}
			if !reflect.DeepEqual(waiting, tc.waiting) {
				t.Fatalf("waiting %v (%v), want %v", waiting, d.Waiting, tc.waiting)
			}
		})
	}
}
