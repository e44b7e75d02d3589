package testkit

import (
	"reflect"
	"testing"
)

func TestScheduleIsReproducible(t *testing.T) {
	nodes := []NodeID{1, 2, 3, 4, 5}
	a, b := NewSchedule(42, nodes, 50), NewSchedule(42, nodes, 50)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different schedules:\n%v\n%v", a, b)
	}
	if c := NewSchedule(43, nodes, 50); reflect.DeepEqual(a.Steps, c.Steps) {
		t.Fatal("seeds 42 and 43 gave the same schedule")
	}
	seen := map[FaultKind]bool{}
	for _, st := range a.Steps {
		seen[st.Kind] = true
		if st.Hold <= 0 || st.Calm <= 0 {
			t.Fatalf("step without hold or calm: %v", st)
		}
		switch st.Kind {
		case FaultPartition:
			if len(st.Groups) != 2 || len(st.Groups[0]) < 1 || len(st.Groups[0]) > 2 || len(st.Groups[0])+len(st.Groups[1]) != 5 {
				t.Fatalf("partition is not a minority of 1-2 against the rest: %v", st)
			}
		case FaultSlowLink, FaultDropRate:
			if st.A == st.B || st.A == 0 || st.B == 0 {
				t.Fatalf("link fault on a bad pair: %v", st)
			}
			if st.Kind == FaultDropRate && (st.P < 0.1 || st.P > 0.5) {
				t.Fatalf("drop rate out of range: %v", st)
			}
		default:
			if st.Node < 1 || st.Node > 5 {
				t.Fatalf("fault on an unknown node: %v", st)
			}
		}
	}
	if len(seen) != len(AllFaults) {
		t.Fatalf("50 steps drew only %v", seen)
	}
	if only := NewSchedule(7, nodes, 10, FaultCrash); only.Steps[3].Kind != FaultCrash {
		t.Fatalf("kinds not honoured: %v", only)
	}
}
