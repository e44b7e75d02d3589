package store

import (
	"bytes"
	"reflect"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

func TestBridgeCursorsOnlyMoveForwardAndSurviveSnapshots(t *testing.T) {
	m := NewMetaStateMachine(LegacyMetaShardID, 1).(*metaSM)
	set := func(rule string, c map[string]uint64) sm.Result {
		r, err := m.Update(sm.Entry{Cmd: EncodeMetaCommand(&MetaCommand{Op: MetaSetBridgeCursors, Bridge: &BridgeCursors{Rule: rule, Cursors: c}})})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	set("r1", map[string]uint64{"a": 5, "b": 2})
	set("r1", map[string]uint64{"a": 3, "b": 7}) // a late, older write must not move a back
	set("r2", map[string]uint64{"a": 1})
	if r := set("", map[string]uint64{"a": 1}); r.Value != ResultRejected {
		t.Fatalf("cursors without a rule applied: %+v", r)
	}
	get := func(m *metaSM, rule string) map[string]uint64 {
		v, err := m.Lookup(&MetaBridgeCursorsQuery{Rule: rule})
		if err != nil {
			t.Fatal(err)
		}
		return v.(map[string]uint64)
	}
	if got := get(m, "r1"); !reflect.DeepEqual(got, map[string]uint64{"a": 5, "b": 7}) {
		t.Fatalf("r1 cursors %v", got)
	}
	if got := get(m, "none"); len(got) != 0 {
		t.Fatalf("unknown rule: %v", got)
	}
	var buf bytes.Buffer
	if err := m.SaveSnapshot(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	m2 := NewMetaStateMachine(LegacyMetaShardID, 2).(*metaSM)
	if err := m2.RecoverFromSnapshot(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := get(m2, "r1"); !reflect.DeepEqual(got, map[string]uint64{"a": 5, "b": 7}) {
		t.Fatalf("r1 cursors after snapshot %v", got)
	}
	if got := get(m2, "r2"); !reflect.DeepEqual(got, map[string]uint64{"a": 1}) {
		t.Fatalf("r2 cursors after snapshot %v", got)
	}
}
